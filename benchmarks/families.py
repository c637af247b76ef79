"""MLP against CNN at the reference budgets: the most accurate model of each family, and its price.

    python benchmarks/families.py --data ../shared/data/mnist --docs

Runs the default search (``mnistopt search --budget 4034 72842 93322``) once per family: MLPs (the
default space), CNNs (``--family cnn``) and, at 4,034 only, both in one search (``--family mlp
cnn``), with default settings, and times each search. Each family's selected model is then
exported as an int8-io ``.tflite`` file (int8 weights, activations, input and output: what a
microcontroller runs) and measured on itself: bytes, tensor arena, single-image latency on this
machine, test accuracy. A selected CNN is trained again for twice its trial's epochs and ships
(``retrain_factor="auto"``); its validation accuracy is shown beside the trial's that chose it.
Models are selected on validation accuracy; the official test set is
read once per selected model and per file, and chooses nothing.
"""

from __future__ import annotations

import sys
import time

import _common

BUDGETS = [4034, 72842, 93322]


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/families")
    p.add_argument("--budget", type=int, nargs="+", default=BUDGETS, metavar="N")
    p.add_argument("--family", nargs="+", default=["mlp", "cnn", "mlp+cnn"], choices=["mlp", "cnn", "mlp+cnn"],
                   help="searches to run (mlp+cnn: one search of both families, at the smallest budget only)")
    p.add_argument("--max-trials", type=int, default=None, help="trials per budget (default: the library's)")
    p.add_argument("--max-epochs", type=int, default=None, help="epochs of a fully trained trial (default: auto)")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args, clock, data = _common.start(p)
    from mnistopt import Choice, SearchSpace, search_under_budget
    from mnistopt.report.render import write_report
    from mnistopt.search import compress_selected

    out: dict = {"data": data.describe(), "searches": {}}
    rows = []
    for name in args.family:
        families = name.split("+")
        budgets = args.budget if len(families) == 1 else sorted(args.budget)[:1]
        directory = f"{args.out}/{name}"
        start = time.perf_counter()
        result = search_under_budget(budgets, data, space=SearchSpace(family=Choice(*families)), directory=directory,
                                     seed=args.seed, overwrite=True, progress=lambda e: _common.say(str(e)),
                                     max_trials=args.max_trials, max_epochs=args.max_epochs or "auto")
        wall = time.perf_counter() - start
        stages = compress_selected(result, data, directory, quantize=["int8-io"], sparsity=[], seed=args.seed)
        write_report(result, directory)
        files = {r.budget: r for r in stages.records if r.stage == "int8-io"}
        trials = {b: sum(1 for r in result.records if r.budget == b) for b in budgets}
        out["searches"][name] = {"wall_s": wall, "trials": trials, "budgets": {}}
        for b in budgets:
            r, f = result.selected[b].record, files[b]
            row = {"search": name, "budget": b, "family": r.family, "architecture": r.spec.architecture,
                   "params": r.params, "macs": r.macs, "val_accuracy": r.val_accuracy, "test_accuracy": r.test_accuracy,
                   "int8_io_test_accuracy": f.test_accuracy,
                   "retrain_epochs": r.retrain_epochs, "retrain_val_accuracy": r.retrain_val_accuracy, "bytes": f.bytes, "arena_bytes": f.arena_bytes,
                   "tflm_arena_bytes": f.tflm_arena_bytes, "tflm_reason": f.tflm_reason,
                   "tflm_test_accuracy": f.tflm_test_accuracy,
                   "latency_us": f.latency_us, "trials": trials[b],
                   "others": [fam for fam in result.info.get("families", {}).get(str(b), [])]}
            rows.append(row)
            out["searches"][name]["budgets"][str(b)] = row
        _common.say(f"{name}: {sum(trials.values())} trials in {wall / 60:.1f} min")
        sys.stdout.flush()

    print("Selected model of each search (the trial's validation accuracy chose; a selected CNN is then trained "
          "again for twice its trial's epochs and that model ships; test read once per shipped model and per file). The int8-io "
          "file is the selected model exported with int8 weights, activations, input and output, measured on "
          "itself; latency is one image on this machine's CPU (LiteRT).\n")
    print("| budget | search | selected | params | MACs | val accuracy | retrained: epochs, val | test accuracy | "
          "int8-io test accuracy: LiteRT / TFLM | int8-io bytes | arena bytes: activations / TFLM | latency µs |")
    print("|---:|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["budget"], r["search"])):
        again = (f"{r['retrain_epochs']}, {r['retrain_val_accuracy']:.4f}" if r["retrain_epochs"] else "no")
        on_tflm = "-" if r["tflm_test_accuracy"] is None else f"{r['tflm_test_accuracy']:.4f}"
        tflm_arena = f"{r['tflm_arena_bytes']:,}" if r["tflm_arena_bytes"] is not None else \
            f"does not run on TFLM ({r['tflm_reason']})"
        print(f"| {r['budget']:,} | {r['search']} | {r['architecture']} | {r['params']:,} | {r['macs']:,} | "
              f"{r['val_accuracy']:.4f} | {again} | {r['test_accuracy']:.4f} | {r['int8_io_test_accuracy']:.4f} / "
              f"{on_tflm} | {r['bytes']:,} | {r['arena_bytes']:,} / {tflm_arena} | {r['latency_us']:,.1f} |")
    print("\n| search | budgets | trials | wall time |\n|:---|:---|---:|---:|")
    for name, s in out["searches"].items():
        print(f"| {name} | {', '.join(f'{b:,}' for b in s['trials'])} | {sum(s['trials'].values())} | "
              f"{s['wall_s'] / 60:.1f} min |")
    mixed = [r for r in rows if r["search"] == "mlp+cnn"]
    for r in mixed:
        print(f"\nThe search of both families at {r['budget']:,}: each family's best trial (validation) and its "
              f"int8-io file (arena, latency; file validation accuracy):\n\n| family | model | params | MACs | val accuracy | "
              f"int8-io file val accuracy | bytes | arena bytes | latency µs |\n|:---|:---|---:|---:|---:|---:|---:|---:|---:|")
        for f in r["others"]:
            print(f"| {f['family']}{' (selected)' if f['selected'] else ''} | {f['architecture']} | {f['params']:,} | "
                  f"{f['macs']:,} | {f['val_accuracy']:.4f} | {f['file_val_accuracy']:.4f} | {f['bytes']:,} | "
                  f"{f['arena_bytes']:,} | {f['latency_us']:,.1f} |")
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
