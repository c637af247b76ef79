"""The reference baseline: 784-128-64-10, Adam 1e-3, sparse categorical cross-entropy,
10 epochs, batch 32, with its curves, confusion matrix and classification report.

    python benchmarks/baseline.py --data ../shared/data/mnist --out runs/bench-baseline

Prints train / validation / test accuracy, test loss and wall time; writes metrics.json,
model.keras, curves.png, confusion_matrix.png, classification_report.{txt,json} and
summary.md. Train accuracy is the number comparable with the reference notebook's
(training-set) figures; test accuracy is the honest one.
"""

from __future__ import annotations

import _common


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/bench-baseline")
    p.add_argument("--epochs", type=int, default=10)
    args, clock, data = _common.start(p)
    import dataclasses
    from pathlib import Path

    from mnistopt import MLPSpec
    from mnistopt.reference import run_baseline

    spec = dataclasses.replace(MLPSpec.baseline(), epochs=args.epochs)
    result, files = run_baseline(data, args.out, spec=spec, seed=args.seed,
                                 progress=lambda event: _common.say(str(event)))
    table = (
        "| model | params | epochs | train accuracy | val accuracy | test accuracy | test loss | training time |\n"
        "|:---|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {spec.architecture} | {result.params:,} | {result.epochs_run} | {result.train_accuracy:.4f} | "
        f"{result.val_accuracy:.4f} | {result.test_accuracy:.4f} | {result.test_loss:.4f} | "
        f"{result.wall_time_s:.1f} s |\n"
    )
    summary = (f"# Baseline\n\nData: {data.name} from `{data.source}`: "
               + ", ".join(f"{k} {v:,}" for k, v in data.sizes.items()) + ".\n\n" + table
               + "\n![accuracy and loss per epoch](curves.png)\n\n![test confusion matrix](confusion_matrix.png)\n\n"
               "```\n" + Path(files["classification_report_txt"]).read_text() + "```\n")
    files["summary"] = Path(args.out) / "summary.md"
    files["summary"].write_text(summary)
    print(table)
    print(Path(files["classification_report_txt"]).read_text())
    _common.say("wrote: " + ", ".join(str(p) for p in files.values()))
    return _common.finish(clock)


if __name__ == "__main__":
    raise SystemExit(main())
