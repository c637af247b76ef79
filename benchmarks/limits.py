"""A search under device limits on TensorFlow Lite Micro: every trial within them, and what they cost in accuracy.

    python benchmarks/limits.py --data ../shared/data/mnist --unconstrained --device-files --docs

Runs ``mnistopt search --family mlp cnn --budget 4034 --limit macs=100000 --limit arena=4096``
(default settings otherwise) and times it. Every trained trial's int8-io file was run by the search
on TensorFlow Lite Micro (the ``tflite-micro`` package's interpreter): each completed trial's record
is checked here against the budget, both limits, and the arena TFLM measured on its file. The search
writes the selected model's int8-io file and measures it (bytes, TFLM's arena, latency, test
accuracy on LiteRT and on TFLM). Models are selected on validation accuracy; the official test set
is read once for the selected model and once per file, and chooses nothing. ``--unconstrained``
also runs the default MLP search without limits (for comparison); ``--device-files`` runs the
default MLP search with ``--compress --quantize int8-io`` (a device target: the space holds only
activations TFLM runs) and reports, for every int8-io file it wrote, whether TFLM runs it.
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
    p.add_argument("--device-files", action="store_true",
                   help="also run the default MLP search with --compress --quantize int8-io")
    p.add_argument("--max-trials", type=int, default=None, help="trials (default: the library's)")
    p.add_argument("--max-epochs", type=int, default=None, help="epochs of a fully trained trial (default: auto)")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args, clock, data = _common.start(p)
    from mnistopt import Choice, Limits, SearchSpace, search_under_budget
    from mnistopt.footprint import TFLM_ACTIVATIONS, tflm_arena
    from mnistopt.report.render import write_report
    from mnistopt.search import compress_selected

    limits = Limits.parse(args.limit) if args.limit else Limits(LIMITS)
    runs = {"mlp+cnn, limits": (Choice("mlp", "cnn"), limits, False)}
    if args.unconstrained:
        runs["mlp, no limits"] = ("mlp", Limits(), False)
    if args.device_files:
        runs["mlp, --compress --quantize int8-io"] = ("mlp", Limits(), True)
    out: dict = {"data": data.describe(), "budget": args.budget, "limits": limits.to_dict(), "searches": {}}
    rows, files = [], []
    for name, (family, lims, device_files) in runs.items():
        directory = f"{args.out}/{name.replace(', ', '-').replace('+', '-').replace(' ', '-').replace('--', '')}"
        start = time.perf_counter()
        result = search_under_budget(args.budget, data, space=SearchSpace(family=family), limits=lims,
                                     directory=directory, seed=args.seed, overwrite=True,
                                     compress={"quantize": ["int8-io"]} if device_files else False,
                                     progress=lambda e: _common.say(str(e)), max_trials=args.max_trials,
                                     max_epochs=args.max_epochs or "auto")
        wall = time.perf_counter() - start
        stages = [x for x in result.records if x.is_compression_stage]
        if not any(x.stage == "int8-io" for x in stages):  # no device target: its device file measured here
            stages = compress_selected(result, data, directory, quantize=["int8-io"], sparsity=[],
                                       seed=args.seed).records
        write_report(result, directory)
        trials = [x for x in result.records if not x.is_compression_stage]
        done = [x for x in trials if x.status == "completed"]
        on_tflm = [x for x in done if x.tflm_arena_bytes is not None]
        within = [x for x in done if x.params <= args.budget and lims.fits(x.spec)
                  and (not lims or x.tflm_arena_bytes is not None and x.tflm_arena_bytes <= lims.get("arena", 1e12))]
        r = result.best(args.budget).record
        f = next(x for x in stages if x.stage == "int8-io")
        row = {"search": name, "trials": len(trials), "completed": len(done), "within": len(within),
               "on_tflm": len(on_tflm) if lims else None,
               "max_trial_arena": max((x.tflm_arena_bytes for x in on_tflm), default=None),
               "activations": sorted({x.spec.activation for x in done}),
               "families": sorted({x.family for x in done}), "architecture": r.spec.architecture, "family": r.family,
               "params": r.params, "macs": r.macs, "arena_arithmetic": tflm_arena(r.spec)
               if r.spec.activation in TFLM_ACTIVATIONS else None, "val_accuracy": r.val_accuracy,
               "test_accuracy": r.test_accuracy, "file_test_accuracy": f.test_accuracy,
               "tflm_test_accuracy": f.tflm_test_accuracy, "bytes": f.bytes, "arena_bytes": f.arena_bytes,
               "tflm_arena_bytes": f.tflm_arena_bytes, "tflm_reason": f.tflm_reason, "latency_us": f.latency_us,
               "wall_s": wall, "retrain_epochs": r.retrain_epochs}
        rows.append(row)
        out["searches"][name] = row
        if device_files:
            files += [{"stage": x.stage, "runs": x.tflm_reason is None, "reason": x.tflm_reason,
                       "tflm_arena_bytes": x.tflm_arena_bytes, "test_accuracy": x.test_accuracy,
                       "tflm_test_accuracy": x.tflm_test_accuracy} for x in stages if x.stage.endswith("int8-io")]
            out["device_files"] = files
        _common.say(f"{name}: {row['completed']}/{row['trials']} trials completed, {row['within']} within the limits, "
                    f"{wall / 60:.1f} min")
        sys.stdout.flush()

    print(f"Search at {args.budget:,} parameters; the limits: {limits.describe()} (the arena: what TensorFlow Lite "
          f"Micro allocates for the model's int8-io file, by arithmetic before training and measured by TFLM's "
          f"interpreter on every trained trial's file). Selected on validation; test read once for the selected "
          f"model and once per file.\n")
    print("| search | trials (completed) | completed within budget and limits | trial files run on TFLM (largest "
          "arena) | activations | families trained | selected | params | MACs | TFLM arena: arithmetic / measured "
          "| int8-io bytes | latency µs | val accuracy | test accuracy | int8-io test accuracy: LiteRT / TFLM | "
          "wall time |")
    print("|:---|---:|---:|---:|:---|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        tflm = "" if r["on_tflm"] is None else f"{r['on_tflm']} ({r['max_trial_arena']:,} B)"
        measured = f"{r['tflm_arena_bytes']:,}" if r["tflm_arena_bytes"] is not None else \
            f"does not run ({r['tflm_reason']})"
        arithmetic = f"{r['arena_arithmetic']:,}" if r["arena_arithmetic"] is not None else "-"
        on_device = f"{r['tflm_test_accuracy']:.4f}" if r["tflm_test_accuracy"] is not None else "-"
        print(f"| {r['search']} | {r['trials']} ({r['completed']}) | {r['within']} | {tflm} | "
              f"{', '.join(r['activations'])} | {', '.join(r['families'])} | {r['architecture']} | {r['params']:,} | "
              f"{r['macs']:,} | {arithmetic} / {measured} | {r['bytes']:,} | {r['latency_us']:.1f} | "
              f"{r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | {r['file_test_accuracy']:.4f} / {on_device} | "
              f"{r['wall_s'] / 60:.1f} min |")
    if files:
        print("\nEvery int8-io file of the search with `--compress --quantize int8-io` (the selected model's, and its "
              "pruned models'):\n")
        print("| file | runs on TFLM | TFLM arena bytes | test accuracy: LiteRT / TFLM |")
        print("|:---|:---|---:|---:|")
        for x in files:
            print(f"| {x['stage']} | {'yes' if x['runs'] else 'no: ' + x['reason']} | "
                  f"{'' if x['tflm_arena_bytes'] is None else format(x['tflm_arena_bytes'], ',')} | "
                  f"{x['test_accuracy']:.4f} / "
                  f"{'-' if x['tflm_test_accuracy'] is None else format(x['tflm_test_accuracy'], '.4f')} |")
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
