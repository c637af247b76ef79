"""Choose the convolutional family's defaults by k-fold cross-validation over the training files.

    python benchmarks/cnn_defaults.py --data ../shared/data/mnist --folds 5 --docs

The training files (train + validation: 10,000 images on MNIST-10k) are cut into ``--folds``
stratified parts (``Dataset.folds``); each fold trains on the others and is scored on its own
part, so every training image is a development image once and the official test set is never
loaded. At each budget, a reference CNN (the widest of its shape, ``mnistopt.cnn.widest_cnn``)
and variants that each change one design choice train with the same fixed settings (Adam at
3e-3 with cosine decay, batch 64, +-1 pixel shifts, ``--epochs`` epochs) on the same folds with
the same seed (a 3-block CNN of 5x5 kernels leaves no feature map of a 28x28 image without
padding, so at 72,842 the third block keeps 3x3). The last variants train the reference two and
three times as long (the cosine schedule stretched with it). Each fold's result is kept in ``--out``
(``BUDGET/VARIANT.json``): a rerun with the same settings reuses it. The table gives each variant's mean held-out accuracy and its paired difference
from the reference: the mean over folds and its 95% t-interval. A choice is a default when its
interval lies above zero; where the interval spans zero, the simpler choice stays and the
search may still sample the other.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import _common

#: Per budget: the reference shape, then each variant as the fields it changes.
QUESTIONS = {
    4034: (dict(kernels=(3, 3), ratios=(1, 2), head="flatten", padding="valid"),
           {"padding same": dict(padding="same"), "kernel 5": dict(kernels=(5, 5)),
            "separable block 2": dict(separable=(False, True)), "stride, not pool": dict(downsample=("stride",) * 2),
            "gap head": dict(head="gap"), "3 blocks": dict(kernels=(3, 3, 3), ratios=(1, 2, 4)),
            "batch norm": dict(batch_norm=True), "2x epochs": dict(epochs_factor=2), "3x epochs": dict(epochs_factor=3)}),
    72842: (dict(kernels=(3, 3, 3), ratios=(1, 2, 4), head="gap", padding="valid"),
            {"padding same": dict(padding="same"), "kernel 5 (blocks 1-2)": dict(kernels=(5, 5, 3)),
             "separable blocks 2-3": dict(separable=(False, True, True)),
             "stride, not pool": dict(downsample=("stride",) * 3), "flatten head": dict(head="flatten"),
             "batch norm": dict(batch_norm=True), "2x epochs": dict(epochs_factor=2), "3x epochs": dict(epochs_factor=3)}),
}


def t_interval(diffs):
    """Mean of paired differences and its 95% t-interval."""
    import numpy as np
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean())
    half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return mean, mean - half, mean + half


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/cnn_defaults")
    p.add_argument("--folds", type=int, default=5, metavar="K")
    p.add_argument("--epochs", type=int, default=20, metavar="N")
    p.add_argument("--budget", type=int, nargs="+", default=list(QUESTIONS), choices=list(QUESTIONS), metavar="N")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args, clock, data = _common.start(p)
    from mnistopt import train
    from mnistopt.cnn import widest_cnn

    folds = data.folds(args.folds, seed=args.seed)
    _common.say(f"{args.folds} folds of {data.name}'s training files: " + ", ".join(
        f"train {f.sizes['train']:,} / held out {f.sizes['val']:,}" for f in folds[:1]) + " each")
    training = dict(optimizer="adam", learning_rate=3e-3, lr_schedule="cosine", batch_size=64, augment="shift1",
                    epochs=args.epochs, input_shape=data.image_shape, num_classes=data.num_classes)
    out = {"data": data.describe(), "folds": args.folds, "epochs": args.epochs, "budgets": {}}
    print(f"{args.folds}-fold cross-validation over {data.name}'s {sum(data.sizes[s] for s in ('train', 'val')):,} "
          f"training images (official test set unused); {args.epochs} epochs, Adam 3e-3 cosine, batch 64, shift1.\n")
    for budget in args.budget:
        reference, variants = QUESTIONS[budget]
        rows, scores = {}, {}
        for name, change in {"reference": {}, **variants}.items():
            shape = {**reference, **change}
            trained = {**training, "epochs": training["epochs"] * shape.pop("epochs_factor", 1)}
            spec = widest_cnn(budget, shape.pop("kernels"), shape.pop("ratios"), separable=shape.pop("separable", None),
                              downsample=shape.pop("downsample", None), **shape, **trained)
            kept = Path(args.out) / str(budget) / f"{name.replace(' ', '_')}.json"
            key = {"spec": spec.to_dict(), "folds": args.folds, "seed": args.seed, "data": data.describe()["checksum"]}
            if kept.exists() and json.loads(kept.read_text())["key"] == key:
                rows[name] = json.loads(kept.read_text())["row"]
                scores[name] = rows[name]["folds"]
                _common.say(f"{budget:,} {name}: kept from {kept}")
                continue
            accs, start = [], time.perf_counter()
            for i, fold in enumerate(folds):
                result = train(spec, fold, seed=args.seed, evaluate_test=False)
                accs.append(float(result.history["val_accuracy"][-1]))
                _common.say(f"{budget:,} {name}: fold {i + 1} {accs[-1]:.4f}")
            scores[name] = accs
            rows[name] = {"architecture": spec.architecture, "params": spec.params, "macs": spec.macs,
                          "folds": accs, "wall_s": time.perf_counter() - start}
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps({"key": key, "row": rows[name]}))
        print(f"### budget {budget:,}\n")
        print("| variant | model | params | MACs | mean held-out accuracy | paired difference | 95% interval | "
              "verdict | s per fold |")
        print("|:---|:---|---:|---:|---:|---:|:---|:---|---:|")
        for name, row in rows.items():
            mean = sum(row["folds"]) / len(row["folds"])
            if name == "reference":
                diff = interval = verdict = ""
            else:
                d, low, high = t_interval([a - b for a, b in zip(scores[name], scores["reference"])])
                row.update(difference=d, interval=[low, high])
                diff, interval = f"{d:+.4f}", f"[{low:+.4f}, {high:+.4f}]"
                verdict = "better" if low > 0 else "worse" if high < 0 else "cannot tell"
            print(f"| {name} | {row['architecture']} | {row['params']:,} | {row['macs']:,} | {mean:.4f} | {diff} | "
                  f"{interval} | {verdict} | {row['wall_s'] / len(folds):.0f} |")
        print()
        sys.stdout.flush()
        out["budgets"][str(budget)] = rows
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
