"""Prune while training, or after? The non-zero search's pruning schedule, by k-fold cross-validation.

    python benchmarks/sparse_training.py --data ../shared/data/mnist --folds 5 --docs

At a budget of non-zero weights (default 4,034), models several times wider than the budget
are pruned to it by magnitude, with per-layer densities in proportion to fan-in + fan-out
(Erdos-Renyi). Each model trains with the same fixed settings (Adam at 3e-3 with cosine decay,
batch 64, +-1 pixel shifts) on the same folds (``Dataset.folds``: every training image is held
out once; the official test set is never loaded) and is scored on its held-out part, pruned to
the budget. The reference prunes while training, as a non-zero search trial does
(``NonzeroBudget.pruning``, a :class:`~mnistopt.training.GradualPruning`): sparsity grows along
a cubic from after the first epoch to two thirds of the epochs, then the sparse model trains on.
The variants end the ramp at a third or at nine tenths of the epochs, train dense and then
prune in 4 fine-tuning epochs with tfmot (what a non-zero trial did before), or train half as
many epochs (30 for an MLP: a non-zero search's top rung at every budget until now). A last
table compares ways to prune a trained dense model (the compression stage, ``--sparsity 0.9``):
tfmot in 4 fine-tuning epochs against mnistopt's trainer with the same schedule in 4 or 12. Each fold's result
is kept in ``--out`` and reused on a rerun with the same settings.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from pathlib import Path

import _common
from cnn_defaults import t_interval

#: The models pruned to the budget: (name, family, shape).
MODELS = {
    "wide MLP (91% sparse)": ("mlp", dict(hidden=(200, 100), crop=4, pool=True)),
    "wider MLP (95% sparse)": ("mlp", dict(hidden=(300, 150), crop=4, pool=True)),
    "narrow MLP (50% sparse)": ("mlp", dict(hidden=(42, 37), crop=2, pool=True)),
    "CNN (75% sparse)": ("cnn", dict(kernels=(5, 5), ratios=(1, 2), head="flatten", padding="valid")),
}
#: The compression stage's model (the 93,322-parameter MLP selected at that budget) and the
#: fine-tuning epochs compared (tfmot runs the first only: what `compress --sparsity` did).
STAGE_MODEL = dict(hidden=(286, 157, 115), crop=4, pool=True)
STAGE_EPOCHS = (4, 12)

#: Each variant: where the ramp ends (a share of the epochs; None: dense training, then tfmot) and
#: the share of the epochs it trains.
VARIANTS = {"gradual, 2/3 (reference)": (2 / 3, 1.0), "gradual, 1/3": (1 / 3, 1.0), "gradual, 9/10": (0.9, 1.0),
            "dense, then tfmot 4 epochs": (None, 1.0), "gradual, 2/3, half the epochs": (2 / 3, 0.5)}


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/sparse_training")
    p.add_argument("--folds", type=int, default=5, metavar="K")
    p.add_argument("--budget", type=int, default=4034, metavar="N", help="non-zero weights (default 4,034)")
    p.add_argument("--epochs", type=int, default=60, metavar="N", help="MLP epochs (CNNs train half as many)")
    p.add_argument("--model", nargs="+", default=list(MODELS), choices=list(MODELS), metavar="NAME")
    p.add_argument("--stage-sparsity", type=float, default=0.9, metavar="S",
                   help="also compare ways to prune a trained dense model to S (the compression stage; 0: skip)")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args, clock, data = _common.start(p)
    import keras

    from mnistopt import MLPSpec
    from mnistopt.build import build_model
    from mnistopt.cnn import widest_cnn
    from mnistopt.compress import prune_magnitude
    from mnistopt.compress.sparsity import count_nonzero, enforce_nonzero
    from mnistopt.kinds import NonzeroBudget
    from mnistopt.training import evaluate_arrays, fit_model

    budget, kind = args.budget, NonzeroBudget()
    folds = data.folds(args.folds, seed=args.seed)
    training = dict(optimizer="adam", learning_rate=3e-3, lr_schedule="cosine", batch_size=64, augment="shift1",
                    input_shape=data.image_shape, num_classes=data.num_classes)

    def spec_of(family, shape):
        if family == "mlp":
            return MLPSpec(**shape, epochs=args.epochs, **training)
        shape = dict(shape)
        return widest_cnn(4 * budget, shape.pop("kernels"), shape.pop("ratios"), **shape, epochs=args.epochs // 2,
                          **training)

    def score(spec, fold, end):
        keras.backend.clear_session()
        keras.utils.set_random_seed(args.seed)
        model = build_model(spec)
        if end is None:  # dense training, then tfmot's pruning with 4 fine-tuning epochs
            fit_model(model, spec, fold, epochs=spec.epochs, seed=args.seed)
            model = prune_magnitude(model, spec, fold, nonzero_budget=budget, epochs=4, seed=args.seed).model
        else:
            pruning = kind.pruning(spec, {}, budget, epochs=spec.epochs)
            pruning = dataclasses.replace(pruning, end=max(pruning.begin, round(spec.epochs * end)))
            fit_model(model, spec, fold, epochs=spec.epochs, seed=args.seed, pruning=pruning)
            pruning.apply(model, pruning.end)
            enforce_nonzero(model, budget)
        assert count_nonzero(model) <= budget
        return float(evaluate_arrays(model, fold.x_val, fold.y_val)[1])

    def table(rows, scores, reference=None):
        reference = reference or next(iter(rows))
        print("| variant | mean held-out accuracy | paired difference | 95% interval | verdict | s per fold |")
        print("|:---|---:|---:|:---|:---|---:|")
        for variant, row in rows.items():
            mean = sum(row["folds"]) / len(row["folds"])
            if variant == reference:
                diff = interval = verdict = ""
            else:
                d, low, high = t_interval([a - b for a, b in zip(scores[variant], scores[reference])])
                row.update(difference=d, interval=[low, high])
                diff, interval = f"{d:+.4f}", f"[{low:+.4f}, {high:+.4f}]"
                verdict = "better" if low > 0 else "worse" if high < 0 else "cannot tell"
            print(f"| {variant} | {mean:.4f} | {diff} | {interval} | {verdict} | {row['wall_s'] / len(folds):.0f} |")
        print()
        sys.stdout.flush()

    def cached(tag, key, compute):
        """A variant's per-fold accuracies, kept in --out and reused on a rerun with the same key."""
        kept = Path(args.out) / (re.sub(r"[^A-Za-z0-9]+", "_", tag).strip("_") + ".json")
        if kept.exists() and json.loads(kept.read_text())["key"] == key:
            _common.say(f"{tag}: kept from {kept}")
            return json.loads(kept.read_text())["row"]
        accs, start = [], time.perf_counter()
        for i, fold in enumerate(folds):
            accs.append(compute(i, fold))
            _common.say(f"{tag}: fold {i + 1} {accs[-1]:.4f}")
        row = {"folds": accs, "wall_s": time.perf_counter() - start}
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(json.dumps({"key": key, "row": row}))
        return row

    out = {"data": data.describe(), "folds": args.folds, "budget": budget, "models": {}}
    print(f"{args.folds}-fold cross-validation over {data.name}'s {data.sizes['train'] + data.sizes['val']:,} training "
          f"images (official test set unused); pruned to {budget:,} non-zero weights; Adam 3e-3 cosine, batch 64, "
          f"shift1; MLPs {args.epochs} epochs, CNNs {args.epochs // 2}.\n")
    for name in args.model:
        family, shape = MODELS[name]
        spec = spec_of(family, shape)
        scores, rows = {}, {}
        for variant, (end, share) in VARIANTS.items():
            trained = dataclasses.replace(spec, epochs=max(1, round(spec.epochs * share)))
            key = {"spec": trained.to_dict(), "folds": args.folds, "seed": args.seed, "budget": budget, "end": end,
                   "data": data.describe()["checksum"]}
            rows[variant] = cached(f"{name}-{variant}", key, lambda i, fold: score(trained, fold, end))
            scores[variant] = rows[variant]["folds"]
        print(f"### {name}: {spec.architecture}, {spec.params:,} parameters pruned to {budget:,} non-zero\n")
        table(rows, scores)
        out["models"][name] = {"architecture": spec.architecture, "params": spec.params, "variants": rows}

    if args.stage_sparsity:  # the compression stage: a trained dense model pruned afterwards
        from mnistopt.compress.sparsity import prune_gradually

        s = args.stage_sparsity
        spec = MLPSpec(**STAGE_MODEL, epochs=args.epochs // 2, **training)
        dense_models = {}

        def dense(i, fold):
            if i not in dense_models:
                keras.backend.clear_session()
                keras.utils.set_random_seed(args.seed)
                dense_models[i] = build_model(spec)
                fit_model(dense_models[i], spec, fold, epochs=spec.epochs, seed=args.seed)
            return dense_models[i]

        def staged(how, epochs):
            def compute(i, fold):
                model = dense(i, fold)
                if how is not None:
                    prune = prune_magnitude if how == "tfmot" else prune_gradually
                    model = prune(model, spec, fold, s, epochs=epochs, seed=args.seed).model
                    assert count_nonzero(model) < (1 - s + 0.01) * spec.params
                return float(evaluate_arrays(model, fold.x_val, fold.y_val)[1])
            return compute

        reference = f"tfmot, {STAGE_EPOCHS[0]} epochs (reference)"
        stages = {"dense, not pruned": (None, 0), reference: ("tfmot", STAGE_EPOCHS[0]),
                  **{f"gradual, {e} epochs": ("gradual", e) for e in STAGE_EPOCHS}}
        rows, scores = {}, {}
        for variant, (how, epochs) in stages.items():
            key = {"spec": spec.to_dict(), "folds": args.folds, "seed": args.seed, "sparsity": s, "how": how,
                   "epochs": epochs, "data": data.describe()["checksum"]}
            rows[variant] = cached(f"stage-{variant}", key, staged(how, epochs))
            scores[variant] = rows[variant]["folds"]
        print(f"### The compression stage: {spec.architecture} ({spec.params:,} parameters, the 93,322 MLP's shape) "
              f"trained dense for {spec.epochs} epochs, then pruned to {s:.0%} sparsity\n")
        print("(s per fold: the pruning alone; the dense row, the dense training.)\n")
        table(rows, scores, reference)
        out["stage"] = {"architecture": spec.architecture, "sparsity": s, "variants": rows}
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
