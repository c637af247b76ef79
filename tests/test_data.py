import gzip

import numpy as np
import pytest
from conftest import idx_bytes, synthetic_arrays, write_idx, write_idx_dir

from mnistopt import load_dataset
from mnistopt.errors import DataError, DataNotFoundError
from mnistopt.data import read_idx, stratified_split


# -- the real shared files ---------------------------------------------------


def test_shared_mnist_10k_loads_by_name_from_env(shared_dir, monkeypatch):
    monkeypatch.setenv("MNISTOPT_DATA", str(shared_dir))
    ds = load_dataset("mnist")
    assert ds.sizes == {"train": 9000, "val": 1000, "test": 10000}
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape[1:] == (28, 28)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() == 1.0
    assert set(np.unique(ds.y_test)) == set(range(10))
    assert ds.source.endswith("mnist")


def test_shared_npz_and_idx_agree(shared_dir):
    from_idx = load_dataset(shared_dir)
    from_npz = load_dataset(shared_dir / "mnist-10k.npz")
    np.testing.assert_array_equal(from_idx.x_train, from_npz.x_train)
    np.testing.assert_array_equal(from_idx.y_val, from_npz.y_val)
    np.testing.assert_array_equal(from_idx.x_test, from_npz.x_test)


def test_split_is_stratified_seeded_and_disjoint(mnist_dir):
    a = load_dataset("mnist", path=mnist_dir, seed=1)
    b = load_dataset("mnist", path=mnist_dir, seed=1)
    c = load_dataset("mnist", path=mnist_dir, seed=2)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_train, c.y_train)
    # Class shares in validation follow the training data's shares.
    full = np.concatenate([a.y_train, a.y_val])
    share_full = np.bincount(full, minlength=10) / len(full)
    share_val = np.bincount(a.y_val, minlength=10) / len(a.y_val)
    assert np.abs(share_full - share_val).max() < 0.002
    # No training image is reused in validation.
    train_rows = {row.tobytes() for row in (a.x_train * 255).astype(np.uint8)}
    assert not any(row.tobytes() in train_rows for row in (a.x_val * 255).astype(np.uint8))


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.33])
def test_stratified_split_sizes_are_exact(fraction):
    labels = np.random.default_rng(0).integers(0, 10, 997)
    train_idx, val_idx = stratified_split(labels, fraction, seed=0)
    assert len(val_idx) == round(fraction * 997)
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(997))


# -- formats -------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory(tmp_path, gz):
    arrays = synthetic_arrays()
    ds = load_dataset(write_idx_dir(tmp_path / "d", arrays, gz=gz), validation_fraction=0.2)
    assert ds.sizes == {"train": 160, "val": 40, "test": 50}
    np.testing.assert_allclose(ds.x_test, arrays["x_test"] / 255.0, rtol=1e-6)


def test_explicit_idx_paths(tmp_path):
    arrays = synthetic_arrays()
    d = write_idx_dir(tmp_path, arrays, gz=False)
    ds = load_dataset([d / "train-images-idx3-ubyte", d / "train-labels-idx1-ubyte",
                       d / "t10k-images-idx3-ubyte", d / "t10k-labels-idx1-ubyte"])
    assert ds.sizes["test"] == 50


def test_full_size_keras_npz(tmp_path):
    """A 60k mnist.npz in Keras' layout loads (synthetic pixels, real shapes)."""
    arrays = synthetic_arrays(n_train=60_000, n_test=10_000)
    np.savez_compressed(tmp_path / "mnist.npz", **arrays)
    ds = load_dataset("mnist", path=tmp_path)
    assert ds.sizes == {"train": 54_000, "val": 6_000, "test": 10_000}


def test_keras_cache_is_used(tmp_path, monkeypatch):
    cache = tmp_path / "kh" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", **synthetic_arrays())
    monkeypatch.delenv("MNISTOPT_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    ds = load_dataset("mnist", download=False)
    assert ds.source == str(cache / "mnist.npz")


def test_float_images_and_mapping_input():
    arrays = synthetic_arrays()
    arrays["x_train"] = arrays["x_train"].astype(np.float64) / 255.0
    ds = load_dataset(arrays)
    assert ds.x_train.dtype == np.float32 and ds.x_train.max() <= 1.0


def test_not_found_lists_every_place_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("MNISTOPT_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("fashion_mnist", download=False)
    message = str(info.value)
    assert "--data: not given" in message and "$MNISTOPT_DATA: not set" in message
    assert "Keras cache" in message and "download=False" in message
    assert "--data PATH" in message and "\n" not in message
    assert isinstance(info.value, FileNotFoundError)


# -- an explicit location is the data (issue 13) -------------------------------


@pytest.fixture
def no_fallback(tmp_path, monkeypatch, mnist_like_elsewhere):
    """$MNISTOPT_DATA and Keras' cache both hold readable (other) data, and Keras' download fails the
    test: whatever an explicit location yields cannot have come from anywhere else."""
    import mnistopt.data

    monkeypatch.setenv("MNISTOPT_DATA", str(mnist_like_elsewhere))
    cache = tmp_path / "kh" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", **synthetic_arrays(seed=7))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))

    def download(name):
        raise AssertionError(f"Keras' downloader was called for {name!r}")

    monkeypatch.setattr(mnistopt.data, "_download", download)
    return mnist_like_elsewhere


@pytest.fixture
def mnist_like_elsewhere(tmp_path):
    return write_idx_dir(tmp_path / "elsewhere" / "mnist", synthetic_arrays(seed=5))


@pytest.mark.parametrize("folder", ["fashion-mnist", "mnist", "digits", "fashion_mnist"])
def test_an_explicit_folder_loads_whatever_it_is_called(tmp_path, no_fallback, folder):
    arrays = synthetic_arrays(seed=3)
    d = write_idx_dir(tmp_path / "data" / folder, arrays)
    ds = load_dataset(path=d)
    assert ds.source == str(d) and ds.name == folder
    np.testing.assert_allclose(ds.x_test, arrays["x_test"] / 255.0, rtol=1e-6)
    assert load_dataset(d).checksum == ds.checksum != load_dataset(path=no_fallback).checksum


def test_env_alone_is_the_data_whatever_its_folder_is_called(tmp_path, no_fallback, monkeypatch):
    d = write_idx_dir(tmp_path / "fashion-mnist", synthetic_arrays(seed=3))
    monkeypatch.setenv("MNISTOPT_DATA", str(d))
    assert load_dataset().source == str(d) and load_dataset().name == "fashion-mnist"


@pytest.mark.parametrize("how", ["path=", "positional", "env", "named"])
def test_an_explicit_empty_folder_fails_at_once_with_no_fallback(tmp_path, no_fallback, monkeypatch, how):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not data")
    call = {"path=": lambda: load_dataset(path=empty), "positional": lambda: load_dataset(empty),
            "env": lambda: load_dataset(), "named": lambda: load_dataset("mnist", path=empty)}[how]
    if how == "env":
        monkeypatch.setenv("MNISTOPT_DATA", str(empty))
    with pytest.raises(DataError, match=r"No dataset in .*empty'.*holds 1 entry \(notes.txt\).*Expected.*"
                                        r"t10k-images-idx3-ubyte.*Nothing else was tried") as info:
        call()
    assert "\n" not in str(info.value)


def test_a_name_chooses_between_named_files_and_never_returns_another(tmp_path, no_fallback):
    d = tmp_path / "both"
    d.mkdir()
    np.savez(d / "mnist.npz", **synthetic_arrays(seed=1))
    np.savez(d / "fashion_mnist.npz", **synthetic_arrays(seed=2))
    assert load_dataset("fashion_mnist", path=d).source == str(d / "fashion_mnist.npz")
    assert load_dataset("mnist", path=d).source == str(d / "mnist.npz")
    sub = write_idx_dir(tmp_path / "cache-like" / "fashion-mnist", synthetic_arrays(seed=4))
    assert load_dataset("fashion_mnist", path=sub.parent).source == str(sub)


@pytest.mark.parametrize("layout", ["npz-in-folder", "npz-file", "folder-name"])
def test_a_name_that_disagrees_with_the_path_is_one_line(tmp_path, no_fallback, layout):
    if layout == "folder-name":
        target = write_idx_dir(tmp_path / "mnist", synthetic_arrays())
    else:
        (tmp_path / "d").mkdir()
        np.savez(tmp_path / "d" / "mnist.npz", **synthetic_arrays())
        target = tmp_path / "d" if layout == "npz-in-folder" else tmp_path / "d" / "mnist.npz"
    with pytest.raises(DataError, match=r"named 'fashion_mnist' but `path` .* holds 'mnist'\. Drop the name") as info:
        load_dataset("fashion_mnist", path=target)
    assert "\n" not in str(info.value)


def test_the_checksum_names_the_images_not_the_format(shared_dir):
    assert load_dataset(shared_dir).checksum == load_dataset(shared_dir / "mnist-10k.npz").checksum
    assert load_dataset(shared_dir).describe()["checksum"].startswith("sha256:")


def test_unknown_name_or_missing_path():
    with pytest.raises(DataNotFoundError, match="neither a known name"):
        load_dataset("cifar10")


# -- corrupt data: each raises DataError naming the file and the problem --------


def _dir_with(tmp_path, name, content: bytes):
    d = write_idx_dir(tmp_path / "d", synthetic_arrays())
    (d / name).write_bytes(content)
    return d


def test_truncated_gzip(tmp_path):
    d = write_idx_dir(tmp_path / "d", synthetic_arrays())
    f = d / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-200])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        load_dataset(d)


def test_not_gzip_at_all(tmp_path):
    d = _dir_with(tmp_path, "t10k-labels-idx1-ubyte.gz", b"this is not gzip data")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip"):
        load_dataset(d)


def test_truncated_idx_payload(tmp_path):
    data = idx_bytes(np.zeros((10, 28, 28)), 2051)[:-100]
    d = _dir_with(tmp_path, "train-images-idx3-ubyte.gz", gzip.compress(data))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: header says dimensions \(10, 28, 28\).*truncated"):
        load_dataset(d)


def test_wrong_magic(tmp_path):
    data = b"\x12\x34\x08\x03" + idx_bytes(np.zeros((2, 28, 28)), 2051)[4:]
    d = _dir_with(tmp_path, "train-images-idx3-ubyte.gz", gzip.compress(data))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: wrong IDX magic number"):
        load_dataset(d)


def test_swapped_images_and_labels(tmp_path):
    d = write_idx_dir(tmp_path / "d", synthetic_arrays())
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros(50), 2049)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: wrong IDX magic number 2049; expected 2051"):
        load_dataset(d)


def test_label_out_of_range(tmp_path):
    arrays = synthetic_arrays()
    arrays["y_train"][7] = 12
    d = write_idx_dir(tmp_path / "d", arrays)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: the train labels run 0..12, but class\(es\) 10, 11 "
                                        r"have no training image"):
        load_dataset(d)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: train labels must lie in 0..9 \(or 1..10\) for "
                                        r"num_classes=10; found 1 out of range \(e.g. 12\)"):
        load_dataset(d, num_classes=10)


def test_count_mismatch(tmp_path):
    arrays = synthetic_arrays()
    arrays["y_test"] = arrays["y_test"][:40]
    d = write_idx_dir(tmp_path / "d", arrays)
    with pytest.raises(DataError, match=r"test images and labels disagree in count: 50 images .* but 40 labels"):
        load_dataset(d)


def test_pickled_npz_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    arrays = synthetic_arrays()
    arrays["y_train"] = np.array([Evil()] * 200, dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(DataError, match=r"evil.npz: holds pickled Python objects, which mnistopt refuses"):
        load_dataset(tmp_path / "evil.npz")
    assert not marker.exists()


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "x.npz", images=np.zeros((3, 28, 28)))
    with pytest.raises(DataError, match=r"x.npz: missing arrays \['x_train', 'y_train', 'x_test', 'y_test'\]"):
        load_dataset(tmp_path / "x.npz")


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("x_train", np.full((200, 28, 28), np.nan), "NaN or infinite"),
        ("x_test", np.full((50, 28, 28), np.inf), "NaN or infinite"),
        ("x_train", np.zeros((200, 784)), r"must have shape \(N, height, width\)"),
        ("x_test", np.zeros((50, 20, 20)), "both splits need the same image size"),
        ("y_train", np.arange(200) % 10 + 0.5, "whole numbers"),
        ("y_train", np.array(["a"] * 200), "expected integers"),
        ("x_test", np.zeros((0, 28, 28), np.uint8), "holds no images"),
        ("x_train", np.full((200, 28, 28), 300.0), r"pixel values span"),
    ],
)
def test_bad_arrays(key, value, match):
    arrays = synthetic_arrays()
    arrays[key] = value
    with pytest.raises(DataError, match=match):
        load_dataset(arrays)


def test_read_idx_reports_short_file(tmp_path):
    f = tmp_path / "x-idx1-ubyte"
    f.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="only 2 bytes"):
        read_idx(f)


def test_ambiguous_directory(tmp_path):
    d = write_idx_dir(tmp_path / "d", synthetic_arrays())
    write_idx_dir(d, synthetic_arrays(), tag="-other")
    with pytest.raises(DataError, match="several train image files"):
        load_dataset(d)


def test_validation_fraction_checked():
    with pytest.raises(ValueError, match=r"`validation_fraction` must be a finite number in the range \(0.0, 1.0\)"):
        load_dataset(synthetic_arrays(), validation_fraction=1.0)


def test_the_class_count_is_read_from_the_training_labels(tmp_path):
    arrays = synthetic_arrays(400, 100)
    arrays["y_train"] = np.arange(400) % 20  # 20 classes, as EMNIST or Kuzushiji-49 have more than ten
    arrays["y_test"] = np.arange(100) % 20
    ds = load_dataset(write_idx_dir(tmp_path / "twenty", arrays))
    assert ds.num_classes == 20 and ds.label_offset == 0 and ds.describe()["num_classes"] == 20
    assert set(np.unique(ds.y_train)) == set(range(20)) and ds.class_names[-1] == "19"
    assert ds.describe_classes() == "20 classes"
    assert load_dataset(write_idx_dir(tmp_path / "twenty2", arrays), num_classes=20).num_classes == 20


def test_labels_numbered_from_one_are_read_as_from_zero_and_kept_for_reports(tmp_path):
    arrays = synthetic_arrays(400, 100)
    arrays["y_train"] = arrays["y_train"] + 1  # 1..10, as EMNIST letters number their classes
    arrays["y_test"] = arrays["y_test"] + 1
    ds = load_dataset(arrays, seed=3)
    zero = load_dataset(synthetic_arrays(400, 100), seed=3)
    assert ds.num_classes == 10 and ds.label_offset == 1 and ds.describe()["label_offset"] == 1
    # each label moved by exactly one, image for image: nothing else changed
    assert np.array_equal(ds.y_train, zero.y_train) and np.array_equal(ds.y_test, zero.y_test)
    assert np.array_equal(ds.x_train, zero.x_train)
    assert ds.class_names == tuple(str(i) for i in range(1, 11))
    assert ds.describe_classes() == "10 classes (labels 1..10, read as 0..9)"
    assert load_dataset(arrays, num_classes=10).label_offset == 1  # stated: still read as 1..10


def test_a_search_on_twenty_classes_and_on_labels_from_one_from_the_cli(tmp_path, capsys):
    import json

    from mnistopt.cli import main

    for name, shift, classes in (("twenty", 0, 20), ("from-one", 1, 10)):
        arrays = synthetic_arrays(600, 200)
        arrays["y_train"] = np.arange(600) % classes + shift
        arrays["y_test"] = np.arange(200) % classes + shift
        data = write_idx_dir(tmp_path / name, arrays)
        out = tmp_path / f"run-{name}"
        assert main(["search", "--budget", "20000", "--data", str(data), "--out", str(out), "--tuner", "random",
                     "--max-trials", "1", "--max-epochs", "1"]) == 0
        err = capsys.readouterr().err
        assert f"; {classes} classes" in err
        result = json.loads((out / "result.json").read_text())
        assert result["dataset"]["num_classes"] == classes and result["dataset"]["label_offset"] == shift
        (record,) = [r for r in result["records"] if r["selected"]]
        assert record["spec"]["num_classes"] == classes and record["params"] <= 20000
        report = json.loads((out / "report.json").read_text())
        classification = report["selected"][0]["classification"]
        assert len(classification["confusion_matrix"]) == classes
        assert classification["class_names"] == [str(i + shift) for i in range(classes)]  # the files' numbers
    # the reference baseline takes the data's class count at its output
    assert main(["baseline", "--data", str(tmp_path / "twenty"), "--out", str(tmp_path / "base"), "--epochs", "1",
                 "-q"]) == 0
    metrics = json.loads((tmp_path / "base" / "metrics.json").read_text())
    assert metrics["params"] == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 20 + 20
