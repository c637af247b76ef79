"""Fuzzed inputs (Hypothesis): IDX and .npz files with random headers, payloads, dtypes, shapes and
truncations, and random command lines. Every case ends in a valid dataset or a mnistopt error (one
line; exit status 2 on the command line): never another exception, a hang or a huge allocation.

The number of cases is bounded (``max_examples`` below) so CI stays fast;
``pytest tests/test_fuzz.py --hypothesis-show-statistics`` prints how many each test tried.
The cases are derandomized, as every property test's (tests/conftest.py: the same ones every run, so
CI is reproducible); to explore new ones, run with ``MNISTOPT_FUZZ_RANDOM=1`` (and
``--hypothesis-seed=N`` to repeat a run).
"""

import gzip
import io
import re
import shutil
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mnistopt import Dataset, load_dataset
from mnistopt.cli import main
from mnistopt.data import read_idx
from mnistopt.errors import MnistoptError

IDX_CASES, NPZ_CASES, CLI_CASES = 1000, 500, 400
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: Far more than any case here needs: the files are at most a few kilobytes, so a reader that
#: believed a header's dimensions (up to 2^32 each) instead of the bytes present would blow it.
MAX_PEAK_BYTES = 64 * 2**20

def bounded(call):
    """``call()``'s outcome (a value or a MnistoptError), with the peak memory it allocated."""
    tracemalloc.start()
    try:
        try:
            outcome = call()
        except MnistoptError as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def one_line(exc: MnistoptError) -> bool:
    text = str(exc)
    return bool(text.strip()) and "\n" not in text and "Traceback" not in text


# -- IDX files -------------------------------------------------------------------------------------

dims = st.lists(st.one_of(st.integers(0, 40), st.integers(0, 2**32 - 1)), min_size=0, max_size=5)


@st.composite
def idx_files(draw):
    """Bytes of an IDX-like file: a magic number (valid, near-valid or random), dimensions (small or
    huge), a payload (the right length, shorter or longer), optionally truncated anywhere."""
    ndims = draw(dims)
    magic = draw(st.one_of(st.sampled_from([2049, 2051, 0x0803, 0x0901, 0x08000000]),
                           st.just(0x0800 + len(ndims)), st.integers(0, 2**32 - 1)))
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in ndims)
    size = int(np.prod([min(d, 50) for d in ndims], dtype=np.int64)) if ndims else 1
    payload = draw(st.one_of(st.just(min(size, 4096)), st.integers(0, 4096)))  # files stay a few KB
    raw = header + bytes(draw(st.binary(min_size=min(payload, 64), max_size=min(payload, 64)))) * (
        payload // 64 + 1)
    raw = raw[:len(header) + payload]
    cut = draw(st.one_of(st.none(), st.integers(0, len(raw))))
    return raw if cut is None else raw[:cut]


@settings(max_examples=IDX_CASES, **FUZZ)
@given(raw=idx_files(), gz=st.booleans(), expected=st.sampled_from([None, 2049, 2051]),
       corrupt=st.booleans())
def test_fuzzed_idx_files_read_or_fail_cleanly(tmp_path, raw, gz, expected, corrupt):
    path = tmp_path / ("f-idx.gz" if gz else "f-idx")
    data = gzip.compress(raw, mtime=0) if gz else raw
    if gz and corrupt:  # a damaged gzip stream: bytes flipped in the middle, or cut short
        data = data[: len(data) // 2] if len(data) % 2 else data[:10] + bytes(b ^ 0xFF for b in data[10:20]) + data[20:]
    path.write_bytes(data)
    outcome, peak = bounded(lambda: read_idx(path, expected_magic=expected))
    assert peak < MAX_PEAK_BYTES
    event("read" if isinstance(outcome, np.ndarray) else "refused")
    if isinstance(outcome, MnistoptError):
        assert one_line(outcome) and str(path) in str(outcome)
    else:  # a valid file: the header's dimensions hold exactly the bytes present
        assert outcome.dtype == np.uint8 and outcome.size == len(raw) - 4 - 4 * raw[3]
        assert expected is None or int.from_bytes(raw[:4], "big") == expected


# -- whole datasets from IDX directories and .npz files ---------------------------------------------

DTYPES = ["uint8", "int8", "int64", "float32", "float64", "bool", "complex64", "<U2", "object"]


@st.composite
def arrays(draw, images: bool, n: int, good: bool):
    """An array for one key: with ``good``, the right layout (``n`` 8x8 uint8 images or ``n``
    labels) and values mostly in range; otherwise any dtype and often any shape."""
    dtype = "uint8" if good else draw(st.sampled_from(["uint8", "float32"] + DTYPES))
    right = (n, 8, 8) if images else (n,)
    shape = right if good else draw(st.one_of(st.just(right), st.lists(st.integers(0, 9), max_size=4).map(tuple)))
    count = int(np.prod(shape, dtype=np.int64))
    small = st.integers(0, 255 if images else 9)
    anything = st.one_of(small, st.integers(-3, 300), st.floats(allow_nan=True, allow_infinity=True))
    values = draw(st.lists(small if good else anything, min_size=min(count, 8), max_size=min(count, 8)))
    flat = np.resize(np.asarray(values if values else [0], dtype=object), count)
    if dtype == "object":
        return flat.reshape(shape)
    with np.errstate(all="ignore"):
        try:
            return flat.astype(np.float64).astype(dtype).reshape(shape)
        except (ValueError, OverflowError, TypeError):
            return np.zeros(shape, dtype=dtype)


@st.composite
def npz_files(draw):
    every = {"x_train", "y_train", "x_test", "y_test"}
    keys = every if draw(st.booleans()) else draw(st.sets(st.sampled_from(sorted(every | {"extra"}))))
    n = {"train": draw(st.integers(0, 40)), "test": draw(st.integers(0, 12))}
    good = draw(st.booleans())
    buf = io.BytesIO()
    contents = {k: draw(arrays(images=k.startswith("x"), n=n.get(k.split("_")[-1], 3), good=good))
                for k in sorted(keys)}
    if contents:
        np.savez(buf, **contents)
    else:
        buf.write(b"PK\x05\x06" + bytes(18))  # an empty zip archive
    data = buf.getvalue()
    damage = draw(st.sampled_from(["none", "none", "none", "truncate", "flip", "garbage"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip" and len(data) > 40:
        at = draw(st.integers(0, len(data) - 8))
        data = data[:at] + bytes(b ^ 0x5A for b in data[at:at + 8]) + data[at + 8:]
    elif damage == "garbage":
        data = draw(st.binary(max_size=256))
    return data


@settings(max_examples=NPZ_CASES, **FUZZ)
@given(data=npz_files(), num_classes=st.sampled_from([None, 2, 10]))
def test_fuzzed_npz_files_load_or_fail_cleanly(tmp_path, data, num_classes):
    path = tmp_path / "data.npz"
    path.write_bytes(data)
    outcome, peak = bounded(lambda: load_dataset(path=path, num_classes=num_classes))
    assert peak < MAX_PEAK_BYTES
    event("loaded" if isinstance(outcome, Dataset) else f"refused: {type(outcome).__name__}")
    if isinstance(outcome, MnistoptError):
        assert one_line(outcome)
    else:
        assert isinstance(outcome, Dataset)
        for split in ("train", "val", "test"):
            x, y = getattr(outcome, f"x_{split}"), getattr(outcome, f"y_{split}")
            assert len(x) == len(y) and x.dtype == np.float32
            assert np.all(np.isfinite(x)) and x.min() >= 0.0 and x.max() <= 1.0
            assert y.min() >= 0 and y.max() < outcome.num_classes
        # the class count is the stated one, or read from the labels; every class has training images
        assert num_classes is None or outcome.num_classes == num_classes
        assert set(np.unique(np.concatenate([outcome.y_train, outcome.y_val]))) == set(range(outcome.num_classes))
        assert outcome.label_offset in (0, 1) and len(outcome.class_names) == outcome.num_classes


@settings(max_examples=IDX_CASES // 5, **FUZZ)
@given(files=st.lists(idx_files(), min_size=4, max_size=4), names=st.permutations(range(4)))
def test_fuzzed_idx_directories_load_or_fail_cleanly(tmp_path, files, names):
    folder = tmp_path / "idx"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    standard = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte"]
    for raw, i in zip(files, names):
        (folder / standard[i]).write_bytes(raw)
    outcome, peak = bounded(lambda: load_dataset(path=folder))
    assert peak < MAX_PEAK_BYTES
    assert isinstance(outcome, Dataset) or one_line(outcome)


# -- command lines -----------------------------------------------------------------------------------

WORDS = ["search", "baseline", "compress", "report", "export", "--budget", "--sweep", "--points", "--tuner",
         "--max-trials", "--max-epochs", "--time-limit", "--budget-kind", "--quantize", "--sparsity", "--seed",
         "--data", "--dataset", "--out", "--compress", "--refit", "--distributed", "--oracle", "--epochs",
         "--c-array", "--name", "-q", "random", "hyperband", "auto", "bytes", "nonzero", "int8", "int8-io",
         "mnist", "fashion_mnist", "0", "-1", "1", "3", "4034", "1e9", "nan", "inf", "0.5", "1.5", "", " ",
         "x" * 300, "é", "\x00", "--", "-", "chief", "localhost:0"]


@settings(max_examples=CLI_CASES, **FUZZ)
@given(argv=st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=10),
       command=st.sampled_from(["search", "baseline", "compress", "report", "export", None]))
def test_fuzzed_command_lines_end_in_exit_0_or_2(tmp_path, capsys, argv, command):
    """Random argument strings: help (0) or one line on stderr and exit status 2. ``--data`` points
    nowhere useful and ``--out`` into the test's folder, so no case reaches training."""
    args = ([command] if command else []) + argv
    args = [a.replace("\x00", "") for a in args]  # the OS cannot pass NUL bytes in arguments
    args = [str(tmp_path / "out") if prev == "--out" else a for prev, a in zip([None, *args], args)]
    args += ["--data", str(tmp_path / "no-data-here")] if "--data" not in args else []
    try:
        status = main(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        status = exc.code
    err = capsys.readouterr().err
    assert status in (0, 2), (args, err[-2000:])
    if status == 2:  # progress lines may come first; the last line is the error, and no traceback
        last = err.strip().splitlines()[-1] if err.strip() else ""
        assert "Traceback" not in err and re.match(r"mnistopt( [a-z]+)?: error: \S", last), (args, err[-2000:])



@settings(max_examples=40, **FUZZ)
@given(input_shape=st.lists(st.integers(1, 40), min_size=1, max_size=4).map(tuple),
       outputs=st.lists(st.integers(1, 12), min_size=1, max_size=2).map(tuple),
       images=st.tuples(st.integers(1, 40), st.integers(1, 40)))
def test_fuzzed_model_layouts_are_described_or_refused_cleanly(input_shape, outputs, images):
    """Any model input and output shape, against any image size: described and fed, or one typed line."""
    import keras

    from mnistopt.models import describe_model

    inputs = keras.Input(input_shape)
    flat = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    head = keras.layers.Reshape(outputs)(keras.layers.Dense(int(np.prod(outputs)))(flat))
    model = keras.Model(inputs, head)
    try:
        info = describe_model(model)
    except MnistoptError as exc:
        assert one_line(exc)
        event("model refused")
        return
    assert info.params == model.count_params() and info.num_classes == outputs[0] >= 2
    assert len(info.input_shape) in (1, 2) or info.input_shape[-1] == 1
    x = np.zeros((2, *images), np.float32)
    try:
        fed = info.images(x)
    except MnistoptError as exc:
        assert one_line(exc) and images[0] * images[1] != np.prod(input_shape)
        event("images refused")
        return
    assert fed.shape == (2, *input_shape)
    event("fed")
