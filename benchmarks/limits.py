"""A search under device limits: every trial within them, and what the limits cost in accuracy.

    python benchmarks/limits.py --data ../shared/data/mnist --docs

Runs ``mnistopt search --family mlp cnn --budget 4034 --limit macs=100000 --limit arena=4096``
(default settings otherwise) and times it. Every completed trial's record is checked against the
budget and both limits (parameters, MACs, and the arena of its int8-io file, by arithmetic), and
the selected model is exported as an int8-io ``.tflite`` file and measured on itself (bytes, tensor
arena, latency, test accuracy), so the arithmetic arena is compared with the file's. Models are
selected on validation accuracy; the official test set is read once for the selected model and
once for its file, and chooses nothing. ``--unconstrained`` also runs the MLP search without limits
(the default search at the budget) for comparison.
"""

from __future__ import annotations

import sys
import time

import _common

LIMITS = {"macs": 100_000, "arena": 4096}


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/limits")
    p.add_argument("--budget", type=int, default=4034, metavar="N")
    p.add_argument("--limit", action="append", default=None, metavar="NAME=VALUE",
                   help="limits (default: macs=100000 arena=4096)")
    p.add_argument("--unconstrained", action="store_true", help="also run the default MLP search without limits")
    p.add_argument("--max-trials", type=int, default=None, help="trials (default: the library's)")
    p.add_argument("--max-epochs", type=int, default=None, help="epochs of a fully trained trial (default: auto)")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args, clock, data = _common.start(p)
    from mnistopt import Choice, Limits, SearchSpace, search_under_budget
    from mnistopt.footprint import int8_arena
    from mnistopt.report.render import write_report
    from mnistopt.search import compress_selected

    limits = Limits.parse(args.limit) if args.limit else Limits(LIMITS)
    runs = {"mlp+cnn, limits": (Choice("mlp", "cnn"), limits)}
    if args.unconstrained:
        runs["mlp, no limits"] = ("mlp", Limits())
    out: dict = {"data": data.describe(), "budget": args.budget, "limits": limits.to_dict(), "searches": {}}
    rows = []
    for name, (family, lims) in runs.items():
        directory = f"{args.out}/{name.replace(', ', '-').replace('+', '-').replace(' ', '-')}"
        start = time.perf_counter()
        result = search_under_budget(args.budget, data, space=SearchSpace(family=family), limits=lims,
                                     directory=directory, seed=args.seed, overwrite=True,
                                     progress=lambda e: _common.say(str(e)), max_trials=args.max_trials,
                                     max_epochs=args.max_epochs or "auto")
        wall = time.perf_counter() - start
        stages = compress_selected(result, data, directory, quantize=["int8-io"], sparsity=[], seed=args.seed)
        write_report(result, directory)
        done = [r for r in result.records if r.status == "completed"]
        within = [r for r in done if r.params <= args.budget and lims.fits(r.spec)
                  and (not lims or r.arena_bytes == int8_arena(r.spec))]
        r = result.best(args.budget).record
        f = next(s for s in stages.records if s.stage == "int8-io")
        row = {"search": name, "trials": len(result.records), "completed": len(done), "within": len(within),
               "families": sorted({x.family for x in done}), "architecture": r.spec.architecture, "family": r.family,
               "params": r.params, "macs": r.macs, "arena_arithmetic": int8_arena(r.spec), "val_accuracy": r.val_accuracy,
               "test_accuracy": r.test_accuracy, "file_test_accuracy": f.test_accuracy, "bytes": f.bytes,
               "arena_bytes": f.arena_bytes, "latency_us": f.latency_us, "wall_s": wall,
               "retrain_epochs": r.retrain_epochs}
        rows.append(row)
        out["searches"][name] = row
        _common.say(f"{name}: {row['completed']}/{row['trials']} trials completed, {row['within']} within the limits, "
                    f"{wall / 60:.1f} min")
        sys.stdout.flush()

    print(f"Search at {args.budget:,} parameters under {limits.describe()} (the arena: the model's int8-io file's). "
          f"Selected on validation; test read once for the selected model and once for its int8-io file.\n")
    print("| search | trials (completed) | completed within budget and limits | families trained | selected | "
          "params | MACs | arena: arithmetic / file | int8-io bytes | latency µs | val accuracy | test accuracy | "
          "int8-io test accuracy | wall time |")
    print("|:---|---:|---:|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['search']} | {r['trials']} ({r['completed']}) | {r['within']} | {', '.join(r['families'])} | "
              f"{r['architecture']} | {r['params']:,} | {r['macs']:,} | {r['arena_arithmetic']:,} / "
              f"{r['arena_bytes']:,} | {r['bytes']:,} | {r['latency_us']:.1f} | {r['val_accuracy']:.4f} | "
              f"{r['test_accuracy']:.4f} | {r['file_test_accuracy']:.4f} | {r['wall_s'] / 60:.1f} min |")
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
