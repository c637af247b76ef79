"""Choose search defaults on a development split: never on the official test set.

    python benchmarks/defaults.py --data ../shared/data/mnist --variant new --variant old --json

The training files are split three ways (stratified, seeded): train, validation (which
selects each search's model, as always) and a development split that stands in for the
test set (``Dataset.development_split``: 10% of the training split). On MNIST-10k that is
8,100 train / 1,000 validation / 900 development images; the official 10,000 test images
are not loaded into any decision. Each variant runs the default search of each budget with
its settings; the script prints, per variant and budget, the selected model, its validation
and development accuracy and the wall time. The last line is JSON (``--json``).

Variants (``--variant``, repeatable; default: all):

* ``old``: the 0.1 defaults (no augmentation, no label smoothing, constant/cosine schedules,
  batch 32-128, 25 epochs);
* ``new``: the current defaults of ``search_under_budget`` (whatever they are when run);
* ``new-30``: the current defaults with ``max_epochs=30``;
* ``new-45``: the current defaults with ``max_epochs=45``;
* ``new-60``: the current defaults with ``max_epochs=60`` (what a longer top rung buys: small
  models' epochs are cheap, so a budget-aware epoch count could spend it there);
* ``new-noaug``: the current defaults with ``augment="none"`` (what augmentation adds);
* ``new-refit``: the current defaults with ``refit=True``.
"""

from __future__ import annotations

import sys
import time

import _common

BUDGETS = [4034, 72842, 93322]


def variants():
    from mnistopt import Choice, SearchSpace

    old_space = SearchSpace(augment="none", label_smoothing=0.0, lr_schedule=Choice("constant", "cosine"),
                            batch_size=Choice(32, 64, 128))
    return {
        "old": dict(space=old_space, max_epochs=25, refit=False),
        "new": dict(),
        "new-30": dict(max_epochs=30),
        "new-45": dict(max_epochs=45),
        "new-60": dict(max_epochs=60),
        "new-noaug": dict(space=SearchSpace(augment="none")),
        "new-refit": dict(refit=True),
    }


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/defaults")
    p.add_argument("--budget", type=int, nargs="+", default=BUDGETS, metavar="N")
    p.add_argument("--variant", action="append", default=None, help="see the module docstring (repeatable)")
    p.add_argument("--max-trials", type=int, default=None, help="trials per budget (default: the tuner's)")
    p.add_argument("--budget-kind", default="params", help="params (default), nonzero or bytes")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args, clock, data = _common.start(p)
    from mnistopt import search_under_budget

    dev = data.development_split()
    _common.say(f"development split: {dev.source}: " + ", ".join(f"{k} {v:,}" for k, v in dev.sizes.items()))
    table = variants()
    chosen = args.variant or list(table)
    unknown = [v for v in chosen if v not in table]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose among {list(table)}")
    out: dict = {"data": dev.describe(), "variants": {}}
    for name in chosen:
        start = time.perf_counter()
        result = search_under_budget(args.budget, dev, directory=f"{args.out}/{name}", seed=args.seed,
                                     max_trials=args.max_trials, overwrite=True, budget_kind=args.budget_kind,
                                     **table[name])
        wall = time.perf_counter() - start
        rows = {}
        for b in args.budget:
            best = result.best(b)
            r = best.record
            rows[str(b)] = {"spec": r.spec.to_dict(), "architecture": r.spec.architecture, "params": r.params,
                            "val_accuracy": r.val_accuracy, "dev_accuracy": r.test_accuracy,
                            "trials": sum(1 for x in result.records if x.budget == b)}
            print(f"{name:10s} {b:>7,}  {r.spec.architecture:24s} aug={r.spec.augment:7s} "
                  f"ls={r.spec.label_smoothing:.2f} {r.spec.optimizer}/{r.spec.lr_schedule} bs={r.spec.batch_size} "
                  f"val {r.val_accuracy:.4f}  dev {r.test_accuracy:.4f}  trials {rows[str(b)]['trials']}")
        print(f"{name:10s} wall {wall:.0f} s")
        sys.stdout.flush()
        out["variants"][name] = {"budgets": rows, "wall_s": wall}
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
