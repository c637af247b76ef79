"""Make mnistopt's packaged real-digit sample (``load_dataset("mnist-sample")``).

Reads the official MNIST files (the first 10,000 training images and the 10,000
test images, as in ``../shared/data/mnist``), checks the test files against
MNIST's published MD5 sums and the training labels against the full official
label file, and writes ``src/mnistopt/_sample/mnist-sample.npz``: the first 600
images of each class in file order from the training images (6,000) and the
first 200 of each class from the test images (2,000), uint8 in the layout of
Keras' ``mnist.npz``. Deterministic: rerunning it rewrites the same bytes.

    python scripts/make_mnist_sample.py [--data ../shared/data/mnist]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "mnistopt" / "_sample" / "mnist-sample.npz"
TRAIN_PER_CLASS, TEST_PER_CLASS = 600, 200
MD5 = {  # MNIST's published sums of the official files
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
}


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    magic, n = struct.unpack(">II", raw[:8])
    dims = (n, *struct.unpack(">II", raw[8:16])) if magic == 2051 else (n,)
    start = 16 if magic == 2051 else 8
    return np.frombuffer(raw[start:], np.uint8).reshape(dims)


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` images of each class, in file order."""
    picked = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)])
    return np.sort(picked)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    for name, md5 in MD5.items():
        got = hashlib.md5((args.data / name).read_bytes()).hexdigest()
        if got != md5:
            raise SystemExit(f"{name}: md5 {got}, expected MNIST's {md5}")
    x_train = read_idx(args.data / "train-images-first10k-idx3-ubyte.gz")
    y_train = read_idx(args.data / "train-labels-first10k-idx1-ubyte.gz")
    if not np.array_equal(y_train, read_idx(args.data / "train-labels-idx1-ubyte.gz")[: len(y_train)]):
        raise SystemExit("the first-10k training labels differ from the official label file")
    x_test, y_test = read_idx(args.data / "t10k-images-idx3-ubyte.gz"), read_idx(args.data / "t10k-labels-idx1-ubyte.gz")
    tr, te = first_per_class(y_train, TRAIN_PER_CLASS), first_per_class(y_test, TEST_PER_CLASS)
    arrays = {"x_train": x_train[tr], "y_train": y_train[tr], "x_test": x_test[te], "y_test": y_test[te],
              "train_index": tr.astype(np.uint16), "test_index": te.astype(np.uint16)}
    # A zip with fixed timestamps, so the same images give the same bytes.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for key, a in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(a), allow_pickle=False)
            z.writestr(info, npy.getvalue(), compresslevel=9)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buf.getvalue())
    print(json.dumps({"file": str(args.out), "bytes": args.out.stat().st_size,
                      "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                      "train": int(len(tr)), "test": int(len(te))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
