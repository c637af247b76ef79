"""The real-digit sample shipped as package data (issue 16): what it holds, where it comes from,
that it is chosen by name only, and that a non-editable install carries it."""

import hashlib
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from mnistopt import load_dataset
from mnistopt.errors import DataError, DataNotFoundError, InvalidTypeError
from conftest import REPO, shared_mnist_dir


def test_the_sample_loads_by_name_offline_class_balanced(monkeypatch, tmp_path):
    monkeypatch.setenv("MNISTOPT_DATA", str(tmp_path / "elsewhere"))  # not read for the sample
    ds = load_dataset("mnist-sample")
    assert ds.name == "mnist-sample" and "package data" in ds.source
    assert ds.sizes == {"train": 5400, "val": 600, "test": 2000}
    assert np.bincount(ds.y_test).tolist() == [200] * 10
    assert np.bincount(np.concatenate([ds.y_train, ds.y_val])).tolist() == [600] * 10
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert load_dataset("MNIST_sample").checksum == ds.checksum
    with pytest.raises(InvalidTypeError, match="takes no `path`"):
        load_dataset("mnist-sample", path=tmp_path)


def test_mnist_is_never_answered_with_the_sample(monkeypatch, tmp_path):
    monkeypatch.delenv("MNISTOPT_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))  # an empty cache
    with pytest.raises(DataNotFoundError):
        load_dataset("mnist", download=False)
    with pytest.raises(DataError, match="Nothing else was tried"):
        load_dataset("mnist", path=tmp_path)  # an empty folder is not the sample either


@pytest.mark.skipif(shared_mnist_dir() is None, reason="needs the official MNIST files in ../shared")
def test_the_sample_is_official_images_and_its_script_remakes_it_byte_for_byte(tmp_path):
    shipped = REPO / "src" / "mnistopt" / "_sample" / "mnist-sample.npz"
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "make_mnist_sample.py"), "--data",
                          str(shared_mnist_dir()), "--out", str(tmp_path / "s.npz")],
                         capture_output=True, text=True, timeout=120, check=True)
    made = json.loads(out.stdout)
    assert (tmp_path / "s.npz").read_bytes() == shipped.read_bytes()
    assert made["bytes"] <= 2 * 1024 * 1024 and made["train"] == 6000 and made["test"] == 2000
    official = np.load(shared_mnist_dir() / "mnist-10k.npz")
    with np.load(shipped) as s:
        assert np.array_equal(s["x_train"], official["x_train"][s["train_index"]])
        assert np.array_equal(s["y_test"], official["y_test"][s["test_index"]])
        assert np.array_equal(s["x_test"], official["x_test"][s["test_index"]])


@pytest.mark.slow
def test_a_built_wheel_carries_the_sample_and_its_notice(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, timeout=600, capture_output=True)
    (wheel,) = tmp_path.glob("mnistopt-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {"mnistopt/_sample/mnist-sample.npz", "mnistopt/_sample/NOTICE.md"} <= names
        data = z.read("mnistopt/_sample/mnist-sample.npz")
    shipped = (REPO / "src" / "mnistopt" / "_sample" / "mnist-sample.npz").read_bytes()
    assert hashlib.sha256(data).digest() == hashlib.sha256(shipped).digest()
    assert "CC BY-SA 3.0" in (REPO / "src" / "mnistopt" / "_sample" / "NOTICE.md").read_text() or \
        "Share Alike 3.0" in (REPO / "src" / "mnistopt" / "_sample" / "NOTICE.md").read_text()
