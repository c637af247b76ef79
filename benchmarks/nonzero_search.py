"""What the non-zero search's defaults select, by k-fold cross-validation of whole searches.

    python benchmarks/nonzero_search.py --data ../shared/data/mnist --folds 5 --docs

A search selects on its validation split, so a default of the search (a dimension of its space, a
Hyperband setting) is judged by what the search then selects, on images no part of it saw. Each
fold of the training files (``Dataset.folds(k, validation_fraction=0.1)``: every training image
is held out once; the official test set is never loaded) runs ``search_under_budget`` at a
non-zero budget (default 4,034) with each variant's settings, on the fold's training part split
into train and validation; the selected model, pruned to the budget, is scored on the held-out
part. Variants are compared with the reference by paired differences across folds (and search
seeds, ``--search-seeds``) and their 95% t-interval. The reference is the search as it was before
this comparison: the defaults, with the trial's own model shipped (``retrain_factor=1``; the
non-zero kind now trains its selected model again, the last variant, which this comparison chose).
Each fold's search is kept in ``--out``; a finished one is read back on a rerun with the same
settings.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import _common
from cnn_defaults import t_interval


def variants():
    """Each variant's keywords for ``search_under_budget`` (on top of the non-zero kind)."""
    from mnistopt import Choice, SearchSpace

    shipped = dict(retrain_factor=1)  # the trial's own model ships, as it did when these were first run
    return {
        REFERENCE: shipped,
        "no dropout": dict(space=SearchSpace(dropout=0.0), **shipped),
        "sparsity up to 0.95": dict(space=SearchSpace(sparsity=Choice(0.0, 0.5, 0.75, 0.9, 0.95)), **shipped),
        "Adam, cosine only": dict(space=SearchSpace(optimizer="adam", lr_schedule="cosine"), **shipped),
        "Hyperband factor 3": dict(hyperband_factor=3, **shipped),
        "selected model trained again, 2x epochs": dict(retrain_factor=2),
    }


REFERENCE = "defaults, trial's model ships (reference)"


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/nonzero_search")
    p.add_argument("--folds", type=int, default=5, metavar="K")
    p.add_argument("--budget", type=int, default=4034, metavar="N", help="non-zero weights (default 4,034)")
    p.add_argument("--variant", nargs="+", default=None, metavar="NAME", help="variants to run (default: all)")
    p.add_argument("--max-trials", type=int, default=None, metavar="N",
                   help="trials per search (default: the schedule's)")
    p.add_argument("--max-epochs", default="auto", metavar="N", help="top rung's epochs (default: auto)")
    p.add_argument("--search-seeds", type=int, nargs="+", default=None, metavar="S",
                   help="each fold's search runs once per seed (default: --seed): more pairs, a narrower interval")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args, clock, data = _common.start(p)
    seeds = args.search_seeds or [args.seed]
    from mnistopt import search_under_budget

    table = variants()
    names = args.variant or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; choose among {list(table)}")
    names = [REFERENCE] + [n for n in names if n != REFERENCE]
    shorter = {k: v for k, v in (("max_trials", args.max_trials),
                                 ("max_epochs", None if args.max_epochs == "auto" else int(args.max_epochs))) if v}
    folds = data.folds(args.folds, seed=args.seed, validation_fraction=0.1)
    _common.say(f"{args.folds} folds: train {folds[0].sizes['train']:,} / val {folds[0].sizes['val']:,} / held out "
                f"{folds[0].sizes['test']:,}")

    def run(name, i, fold, seed):
        """The search of fold ``i`` under variant ``name`` and ``seed``: what it selected and how it scored held
        out."""
        folder = "defaults (reference)" if name == REFERENCE else name  # the reference's folder from the first runs
        slug = re.sub(r"[^A-Za-z0-9]+", "_", folder).strip("_")
        tag = f"fold{i + 1}" + ("" if seed == args.seed else f"-seed{seed}")
        kept = Path(args.out) / str(args.budget) / slug / f"{tag}.json"
        kwargs = {**shorter, **table[name]}
        # retrain_factor=1 was the default when the first folds were kept: left out of the key, so they are read back
        key = {"variant": {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in kwargs.items()
                           if (k, v) != ("retrain_factor", 1)},
               "folds": args.folds, "seed": seed, "budget": args.budget, "data": data.describe()["checksum"]}
        if kept.exists() and json.loads(kept.read_text())["key"] == key:
            read_back.append(tag)
            return json.loads(kept.read_text())["row"]
        start = time.perf_counter()
        result = search_under_budget(args.budget, fold, budget_kind="nonzero", directory=kept.parent / tag,
                                     overwrite=True, seed=seed, **kwargs)
        wall = time.perf_counter() - start
        best = result.best(args.budget).record
        ranked = [r for r in result.records if r.budget == args.budget and r.val_accuracy is not None]
        assert all(r.nonzero_params <= args.budget for r in ranked)
        row = {"architecture": best.spec.architecture, "params": best.params, "nonzero": best.nonzero_params,
               "stage": best.stage, "val": best.val_accuracy, "held_out": best.test_accuracy, "wall_s": wall,
               "trials": len([r for r in result.records if r.budget == args.budget])}
        kept.write_text(json.dumps({"key": key, "row": row}))
        return row

    read_back: list[str] = []
    rows = {name: [] for name in names}
    for seed in seeds:
        for i, fold in enumerate(folds):  # fold by fold, so a partial run already pairs every variant
            for name in names:
                rows[name].append(run(name, i, fold, seed))
                r = rows[name][-1]
                _common.say(f"fold {i + 1} seed {seed} {name}: {r['architecture']} {r['stage']} val {r['val']:.4f} "
                            f"held out {r['held_out']:.4f} ({r['trials']} trials, {r['wall_s']:.0f} s)")

    reference = [r["held_out"] for r in rows[names[0]]]
    print(f"{args.folds}-fold cross-validation of whole searches over {data.name}'s "
          f"{data.sizes['train'] + data.sizes['val']:,} training images (official test set unused): each fold's "
          f"search trains on {folds[0].sizes['train']:,} images, selects on {folds[0].sizes['val']:,} and its selected "
          f"model is scored on the {folds[0].sizes['test']:,} held out; budget {args.budget:,} non-zero weights"
          + (f"; each fold searched with seeds {', '.join(map(str, seeds))} ({len(seeds) * args.folds} pairs)"
             if len(seeds) > 1 else "") + ".\n")
    print("| variant | mean held-out accuracy | paired difference | 95% interval | verdict | selected (sparsity) per "
          "search | trials | s per search |")
    print("|:---|---:|---:|:---|:---|:---|---:|---:|")
    out = {"data": data.describe(), "folds": args.folds, "budget": args.budget, "variants": {}}
    for name in names:
        scores = [r["held_out"] for r in rows[name]]
        mean = sum(scores) / len(scores)
        diff = interval = verdict = ""
        entry = {"folds": rows[name]}
        if name != names[0]:
            d, low, high = t_interval([a - b for a, b in zip(scores, reference)])
            entry.update(difference=d, interval=[low, high])
            diff, interval = f"{d:+.4f}", f"[{low:+.4f}, {high:+.4f}]"
            verdict = "better" if low > 0 else "worse" if high < 0 else "cannot tell"
        stages = ", ".join(r["stage"].removeprefix("sparse-") if r["stage"] != "trained" else "0"
                           for r in rows[name])
        trials = sum(r["trials"] for r in rows[name]) / len(rows[name])
        wall = sum(r["wall_s"] for r in rows[name]) / len(rows[name])
        print(f"| {name} | {mean:.4f} | {diff} | {interval} | {verdict} | {stages} | {trials:.0f} | {wall:.0f} |")
        out["variants"][name] = entry
    if read_back:
        total = sum(len(r) for r in rows.values())
        print(f"\n{len(read_back)} of the {total} searches were read back from {args.out} (kept by an earlier run with "
              f"the same settings); s per search is each search's own wall time when it ran.")
    sys.stdout.flush()
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
