"""The accuracy-versus-size curve: a budget sweep, the files a device runs, and what they cost.

    python benchmarks/sweep.py --data ../shared/data/mnist --out runs/sweep [--json]

Searches ``budget_sweep(--min, --max, --points)`` with the default settings (what
``mnistopt search --sweep MIN MAX --points N`` does), then exports every selected model as
float32, int8 and int8-io files (``--quantize``; no pruning), each measured on itself, and writes
the report. Prints one row per budget (architecture, parameters, MACs, test accuracy with half its
95% Wilson interval, each file's bytes, test accuracy, tensor arena and single-image latency)
and the wall time of each step; with --json the last line is one JSON object. Rerunning with the
same --out resumes (finished trials and stages are kept, so a rerun reprints the same table in
seconds). About 16 minutes on a 2-core CPU with MNIST-10k.
"""

from __future__ import annotations

import time

import _common


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/sweep")
    p.add_argument("--min", type=int, default=1000, help="smallest budget (default: 1000)")
    p.add_argument("--max", type=int, default=128_000, help="largest budget (default: 128000)")
    p.add_argument("--points", type=int, default=8, help="geometric budgets, both ends included (default: 8)")
    p.add_argument("--max-epochs", type=int, default=None, help="epochs of a fully trained trial (default: the library's)")
    p.add_argument("--quantize", nargs="*", default=["int8", "int8-io"], metavar="MODE",
                   help="post-training quantization modes besides float32 (default: int8 int8-io)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args, clock, data = _common.start(p)
    from mnistopt import budget_sweep, search_under_budget
    from mnistopt.report.data import report_data
    from mnistopt.report.render import write_report

    budgets = budget_sweep(args.min, args.max, args.points)
    _common.say("budgets: " + ", ".join(f"{b:,}" for b in budgets))
    options = dict(directory=args.out, seed=args.seed, progress=lambda event: _common.say(str(event)),
                   **({} if args.max_epochs is None else {"max_epochs": args.max_epochs}))
    started = time.perf_counter()
    search_under_budget(budgets, data, **options)
    search_s = time.perf_counter() - started
    result = search_under_budget(budgets, data, compress={"quantize": args.quantize, "sparsity": []}, **options)
    compress_s = time.perf_counter() - started - search_s
    write_report(result, args.out)
    report = report_data(result)
    files = {(r["budget"], r["stage"]): r for r in report["records"] if r.get("bytes")}
    modes = ["float32", *args.quantize]
    print(f"Sweep {', '.join(f'{b:,}' for b in budgets)} (data {data.name}: "
          + ", ".join(f"{k} {v:,}" for k, v in data.sizes.items())
          + "; selection on validation accuracy, test accuracy measured once)\n")
    print("| budget | selected | params | MACs | test accuracy | "
          + " | ".join(f"{m} bytes | {m} test accuracy | {m} arena bytes | {m} latency µs" for m in modes)
          + " |\n|---:|:---|---:|---:|---:|" + "---:|" * 4 * len(modes))
    rows = []
    for s in sorted(report["selected"], key=lambda s: s["budget"]):
        low, high = s["test_interval"]
        cells = [f"{s['budget']:,}", s["architecture"], f"{s['params']:,}", f"{s['macs']:,}",
                 f"{s['test_accuracy']:.4f} +- {(high - low) / 2:.4f}"]
        stages = {}
        for m in modes:
            f = files.get((s["budget"], m))
            stages[m] = None if f is None else {k: f[k] for k in ("bytes", "test_accuracy", "arena_bytes",
                                                                  "latency_us")}
            cells += (["", "", "", ""] if f is None else
                      [f"{f['bytes']:,}", f"{f['test_accuracy']:.4f}", f"{f['arena_bytes']:,}", f"{f['latency_us']:.1f}"])
        print("| " + " | ".join(cells) + " |")
        rows.append({"budget": s["budget"], "architecture": s["architecture"], "params": s["params"],
                     "macs": s["macs"], "test_accuracy": s["test_accuracy"], "test_interval": s["test_interval"],
                     "files": stages})
    short = report["fronts"]["params"]["short"]
    print(f"\nsearch {search_s:.0f} s, files {compress_s:.0f} s (a resumed run counts only its own time); "
          f"{short} short Hyperband trial(s) kept off the fronts")
    return _common.finish(clock, {"budgets": budgets, "rows": rows, "search_s": search_s, "compress_s": compress_s,
                                  "short_trials": short} if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
