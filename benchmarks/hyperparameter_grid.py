"""The reference notebook's learning-rate x batch-size grid on the baseline MLP:
learning rates 1e-4 / 1e-3 / 1e-2 x batch sizes 32 / 64 / 128, 10 epochs each (KerasTuner's
grid tuner), with the summary and the best combination (chosen on validation accuracy).

    python benchmarks/hyperparameter_grid.py --data ../shared/data/mnist --out runs/grid

Prints the grid of validation accuracies and the best combination; writes grid.md,
grid.json, grid.png (heat map) and the full report (report.{json,md,html}).
"""

from __future__ import annotations

import _common


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/grid")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    args, clock, data = _common.start(p)
    from mnistopt.reference import reference_grid_search
    from mnistopt.report.data import grid_summary
    from mnistopt.report.render import grid_markdown, write_grid_report, write_report

    result = reference_grid_search(data, directory=args.out, overwrite=args.overwrite, seed=args.seed,
                                   epochs=args.epochs, progress=lambda event: _common.say(str(event)))
    files = {**{f"grid-{k}": v for k, v in write_grid_report(result, args.out).items()},
             **write_report(result, args.out)}
    print(grid_markdown(grid_summary(result)))
    _common.say("wrote: " + ", ".join(str(p) for p in files.values() if str(p).endswith((".md", ".html", ".png"))))
    return _common.finish(clock)


if __name__ == "__main__":
    raise SystemExit(main())
