"""The reference notebook's optimisation study on the baseline 784-128-64-10: Adam vs SGD
(with and without momentum) vs RMSProp, then dropout (0.2, 0.5) and L2 weight decay (1e-4,
1e-3) ablations with Adam; 10 epochs, batch 32, the same seed and data for every variant.

    python benchmarks/optimizer_comparison.py --data ../shared/data/mnist --out runs/optimizers

Prints one row per variant (train, final and best validation, test accuracy, test loss,
time); writes comparison-curves.png (every variant's validation accuracy and loss in one
figure), comparison.md, comparison.html and comparison.json.
"""

from __future__ import annotations

import _common


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/optimizers")
    p.add_argument("--epochs", type=int, default=10)
    args, clock, data = _common.start(p)
    import dataclasses

    from mnistopt.report.data import comparison_rows
    from mnistopt.report.render import comparison_markdown, write_comparison
    from mnistopt.reference import compare_training, optimizer_study

    variants = {k: dataclasses.replace(s, epochs=args.epochs) for k, s in optimizer_study().items()}
    results = compare_training(variants, data, seed=args.seed, progress=lambda name, r: _common.say(
        f"{name}: val {r.val_accuracy:.4f} test {r.test_accuracy:.4f} ({r.wall_time_s:.1f} s)"))
    runs = {k: r.to_dict() for k, r in results.items()}
    files = write_comparison(runs, args.out, title="Optimizers and regularisation on 784-128-64-10",
                             dataset=data.describe())
    print(comparison_markdown(comparison_rows(runs)))
    _common.say("wrote: " + ", ".join(str(p) for p in files.values()))
    return _common.finish(clock)


if __name__ == "__main__":
    raise SystemExit(main())
