"""Any class count: the default search on MNIST-format IDX datasets of 20 classes and of labels 1..10.

    python benchmarks/classes.py --data ../shared/data/mnist --out runs/classes [--budget 20000]

Writes two IDX datasets made from the MNIST files at --data (gzipped, in the four standard
file names), then runs ``mnistopt search --budget B --data DIR`` on each with the default
settings, as a user would from the command line:

- ``twenty``: the digits as they are (classes 0-9) and the same images turned a quarter turn
  (classes 10-19), in the train and the test split alike, so twice the images and 20 classes;
- ``from-one``: the digits with their labels numbered 1..10 (as EMNIST letters number theirs).

Prints the data line each search printed (the class count it read) and one row per dataset:
classes, the selected model, its validation and test accuracy (test measured once, for what
validation chose) and the search's wall time. About 5 minutes on a 2-core CPU with MNIST-10k.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import _common

_NAMES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
          "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as an IDX file: magic 0x0000080N, one big-endian uint32 per dimension, the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def raw_arrays(path: str | None) -> dict[str, np.ndarray]:
    """The MNIST files' images (uint8) and labels, as they are in the files (each images file paired
    with the labels file of the same count: a folder may also hold all 60,000 training labels)."""
    from mnistopt.data import read_idx

    folder = Path(path or os.environ["MNISTOPT_DATA"])
    found = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        (images,) = sorted(folder.glob(f"{stem}-images*"))
        found[f"x_{split}"] = read_idx(images)
        labels = [read_idx(f) for f in sorted(folder.glob(f"{stem}-labels*"))]
        (found[f"y_{split}"],) = [y for y in labels if len(y) == len(found[f"x_{split}"])]
    return found


def variants(raw: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    turned = {k: np.rot90(raw[k], k=1, axes=(1, 2)) for k in ("x_train", "x_test")}
    return {
        "twenty": {"x_train": np.concatenate([raw["x_train"], turned["x_train"]]),
                   "y_train": np.concatenate([raw["y_train"], raw["y_train"] + 10]),
                   "x_test": np.concatenate([raw["x_test"], turned["x_test"]]),
                   "y_test": np.concatenate([raw["y_test"], raw["y_test"] + 10])},
        "from-one": {**raw, "y_train": raw["y_train"] + 1, "y_test": raw["y_test"] + 1},
    }


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/classes")
    p.add_argument("--budget", type=int, default=20_000, help="parameter budget (default: 20000)")
    p.add_argument("--max-epochs", default=None, help="passed to mnistopt search (default: the library's)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args, clock, _ = _common.start(p, load_data=False)
    out = Path(args.out)
    rows = []
    raw = raw_arrays(args.data)
    _common.describe_data(f"two IDX datasets made from {Path(args.data or os.environ['MNISTOPT_DATA']).name} "
                          f"({len(raw['y_train']):,} training and {len(raw['y_test']):,} test images)")
    for name, arrays in variants(raw).items():
        folder = out / f"data-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        for key, file in _NAMES.items():
            write_idx(folder / file, arrays[key])
        run = out / f"search-{name}"
        command = [sys.executable, "-m", "mnistopt", "search", "--budget", str(args.budget), "--data", str(folder),
                   "--out", str(run), "--seed", str(args.seed)] + (
            ["--max-epochs", args.max_epochs] if args.max_epochs else [])
        _common.say("$ mnistopt " + " ".join(command[3:]))
        started = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            _common.say(proc.stderr[-3000:])
            return proc.returncode
        data_line = next(line for line in proc.stderr.splitlines() if line.startswith("data: "))
        print(f"- {name}: {data_line}")
        result = json.loads((run / "result.json").read_text())
        (chosen,) = [r for r in result["records"] if r["selected"]]
        rows.append({"dataset": name, "num_classes": result["dataset"]["num_classes"],
                     "label_offset": result["dataset"]["label_offset"], "sizes": result["dataset"]["sizes"],
                     "architecture": chosen["architecture"], "params": chosen["params"],
                     "trials": sum(1 for r in result["records"] if r["stage"] == "dense"),
                     "val_accuracy": chosen["val_accuracy"], "test_accuracy": chosen["test_accuracy"],
                     "wall_s": round(wall, 1)})
    print(f"\nThe search at {args.budget:,} parameters (selection on validation accuracy; test accuracy "
          f"measured once):\n")
    print("| dataset | classes | labels in the files | train / val / test | selected | params | trials | "
          "val accuracy | test accuracy | wall time |\n|:---|---:|:---|:---|:---|---:|---:|---:|---:|---:|")
    for r in rows:
        k, off = r["num_classes"], r["label_offset"]
        sizes = " / ".join(f"{v:,}" for v in r["sizes"].values())
        print(f"| {r['dataset']} | {k} | {off}..{k - 1 + off} | {sizes} | {r['architecture']} | {r['params']:,} | "
              f"{r['trials']} | {r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | {r['wall_s'] / 60:.1f} min |")
    return _common.finish(clock, {"budget": args.budget, "rows": rows} if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
