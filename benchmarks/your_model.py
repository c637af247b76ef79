"""Your model: two classifiers trained and saved by plain Keras, compressed by ``mnistopt compress``.

    python benchmarks/your_model.py --data ../shared/data/mnist --out runs/your_model [--epochs N]

Trains, with plain Keras and default layer names, the reference notebook's MLP (``(28, 28)``
input, Flatten, Dense 128 / 64 ReLU, softmax; Adam, sparse categorical cross-entropy, batch 32)
and keras.io's "simple MNIST convnet" (``(28, 28, 1)`` input, Conv2D 32 and 64 with max pooling,
dropout, softmax; Adam, categorical cross-entropy, batch 128) on the training split of --data
(the same stratified 90% that mnistopt trains on), saves each as a ``.keras`` file, then runs

    mnistopt compress MODEL.keras --data DATA --sparsity 0.5 --quantize dynamic int8 int8-io --qat

on each, as a user would, plus structured pruning (``--units``: the MLP to 50,000 parameters, the
convnet to 20,000). Prints each command's model line and stages, and one row per stage
and model: bytes, gzip bytes, non-zero weights and the file's own validation and test accuracy
(every stage is measured on its .tflite file; nothing is chosen on the test set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _common


def notebook_mlp():
    import keras

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, 32, False


def simple_convnet():
    import keras

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model, 128, True


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/your_model")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: 10 for the MLP, 15 for the "
                   "convnet, as their sources train them)")
    p.add_argument("--fine-tune-epochs", default=None, help="passed to mnistopt compress (default: its own)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args, clock, data = _common.start(p)
    import keras
    import numpy as np

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # the compressions read the data this script read
    where = (["--dataset", args.dataset] if args.dataset else []) + (["--data", args.data] if args.data else [])
    rows = []
    for name, make, epochs, units in (("notebook_mlp", notebook_mlp, 10, 50_000),
                                      ("simple_convnet", simple_convnet, 15, 20_000)):
        keras.utils.set_random_seed(args.seed)
        model, batch, one_hot = make()
        x = data.x_train if model.input_shape[1:] == (28, 28) else data.x_train[..., np.newaxis]
        y = keras.utils.to_categorical(data.y_train, 10) if one_hot else data.y_train
        started = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=args.epochs or epochs, verbose=0)
        _common.say(f"{name}: trained {args.epochs or epochs} epochs in {time.perf_counter() - started:.0f} s")
        path = out / f"{name}.keras"
        model.save(path)
        command = [sys.executable, "-m", "mnistopt", "compress", str(path), *where, "--out",
                   str(out / name), "--sparsity", "0.5", "--quantize", "dynamic", "int8", "int8-io", "--qat",
                   "--units", str(units), "--seed", str(args.seed)]
        if args.fine_tune_epochs:
            command += ["--fine-tune-epochs", args.fine_tune_epochs]
        _common.say("$ mnistopt " + " ".join(command[3:]))
        proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if proc.returncode != 0:
            _common.say(proc.stderr[-3000:])
            return proc.returncode
        model_line = next(line for line in proc.stderr.splitlines() if line.startswith("model: "))
        print(f"- {name}: {model_line}")
        for line in proc.stdout.splitlines():
            if line.startswith(("stages run:", "skipped")):
                print(f"  - {line}")
        result = json.loads((out / name / "result.json").read_text())
        for r in result["records"]:
            rows.append({"model": name, "stage": r["stage"], "architecture": r["architecture"], "params": r["params"],
                         "nonzero": r["nonzero_params"], "macs": r["macs"], "bytes": r["bytes"],
                         "gzip_bytes": r["gzip_bytes"], "val_accuracy": r["val_accuracy"],
                         "test_accuracy": r["test_accuracy"]})
    print("\n| model | stage | params | non-zero | MACs | bytes | gzip bytes | val accuracy | test accuracy |\n"
          "|:---|:---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['architecture']} | {r['stage']} | {r['params']:,} | {r['nonzero']:,} | {r['macs']:,} | "
              f"{r['bytes']:,} | {r['gzip_bytes']:,} | {r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} |")
    for name in ("notebook_mlp", "simple_convnet"):
        by = {r["stage"]: r for r in rows if r["model"] == name}
        drop = (by["float32"]["test_accuracy"] - by["int8-io"]["test_accuracy"]) * 100
        print(f"\n{name}: the int8-io file is {by['int8-io']['bytes']:,} B against the float32 file's "
              f"{by['float32']['bytes']:,} B; its test accuracy is {abs(drop):.2f} points "
              f"{'below' if drop > 0 else 'above' if drop < 0 else 'equal to'} the float32 file's")
    return _common.finish(clock, {"rows": rows} if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
