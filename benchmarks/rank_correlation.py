"""Does a short training predict a long one? The justification for Hyperband's schedule.

    python benchmarks/rank_correlation.py --data ../shared/data/mnist [--json]

Trains --trials random configurations of the default search space at each budget for the
full --max-epochs (25, no early stopping), then reports Spearman's rank correlation between
each configuration's validation accuracy after the epochs where Hyperband (factor 5) cuts
(1 and 5) and after the last epoch, plus how often the final top-quarter configurations
survive a cut that keeps the top fifth. A high correlation at epoch 1 or 5 means Hyperband
loses little by judging configurations early.
"""

from __future__ import annotations

import tempfile

import _common


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/rank_correlation")
    p.add_argument("--budget", type=int, nargs="+", default=[4034, 72842], metavar="N")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--max-epochs", type=int, default=25)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args, clock, data = _common.start(p)
    import numpy as np

    from mnistopt import search_under_budget
    from mnistopt.records import TrialStatus

    rungs = [e for e in (1, 5) if e < args.max_epochs]
    out = {"max_epochs": args.max_epochs, "trials": args.trials, "budgets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        result = search_under_budget(args.budget, data, tuner="random", max_trials=args.trials,
                                     max_epochs=args.max_epochs, patience=None, directory=tmp, seed=args.seed,
                                     progress=lambda e: _common.say(str(e)))
    for budget in args.budget:
        curves = [r.history["val_accuracy"] for r in result.for_budget(budget)
                  if r.status is TrialStatus.COMPLETED and len(r.history.get("val_accuracy", [])) == args.max_epochs]
        final = np.array([c[-1] for c in curves])
        row = {"configurations": len(curves)}
        top = set(np.argsort(-final)[: max(1, len(final) // 4)])
        for e in rungs:
            early = np.array([c[e - 1] for c in curves])
            kept = set(np.argsort(-early)[: max(1, len(early) // 5)])
            row[f"spearman_epoch_{e}"] = spearman(early, final)
            row[f"top_quarter_kept_at_epoch_{e}"] = len(top & kept) / len(kept)
        out["budgets"][str(budget)] = row
    print(f"Spearman rank correlation of validation accuracy after epoch e with epoch {args.max_epochs} "
          f"({args.trials} random configurations per budget, data {data.name} {data.sizes}):\n")
    header = "| budget | configurations | " + " | ".join(f"rho, epoch {e}" for e in rungs) + " | " + " | ".join(
        f"top-fifth at epoch {e} in final top quarter" for e in rungs) + " |"
    print(header)
    print("|---:|---:|" + "---:|" * (2 * len(rungs)))
    for budget, row in out["budgets"].items():
        print(f"| {int(budget):,} | {row['configurations']} | "
              + " | ".join(f"{row[f'spearman_epoch_{e}']:.2f}" for e in rungs) + " | "
              + " | ".join(f"{row[f'top_quarter_kept_at_epoch_{e}']:.0%}" for e in rungs) + " |")
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
