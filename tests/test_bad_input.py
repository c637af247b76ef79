"""Every bad input, wherever it enters (Python API and CLI): a typed mnistopt error whose message
names the argument, the value received, what was expected and how to fix it; on the command line
one line on stderr and exit status 2."""

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_main

from mnistopt import MLPSpec, build_model, compress_model, load_dataset, load_model, search_under_budget
from mnistopt.artifacts import write_c_array
from mnistopt.errors import (ArgumentError, BudgetError, DataError, DataNotFoundError, InvalidTypeError,
                             ModelNotFoundError, OutputDirError, SpecError)
from mnistopt.report import hypervolume, pareto_mask
from conftest import synthetic_arrays, write_idx_dir

ARRAYS = synthetic_arrays(200, 50)


def with_(key, value, **more):
    return {**ARRAYS, key: value, **more}


def images_with(value):
    x = ARRAYS["x_train"].astype(np.float32) / 255
    x[3, 4, 5] = value
    return with_("x_train", x)


def idx_dir(tmp_path, damage):
    d = write_idx_dir(tmp_path / "idx", ARRAYS)
    f = sorted(d.glob("train-images*"))[0]
    f.write_bytes(damage(f.read_bytes()))
    return d


def pickled_npz(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x_train=np.array([{"a": 1}] * 3, dtype=object), y_train=ARRAYS["y_train"],
             x_test=ARRAYS["x_test"], y_test=ARRAYS["y_test"])
    return path


@pytest.fixture(scope="module")
def small():
    return load_dataset(ARRAYS)


@pytest.fixture(scope="module")
def model():
    return build_model(MLPSpec(hidden=(8,), pool=True, epochs=1))


def search(budget, **kw):
    return lambda tmp, ds, m: search_under_budget(budget, ds, directory=tmp / "s", **kw)


def load(source):
    return lambda tmp, ds, m: load_dataset(source(tmp) if callable(source) else source)


def compress(model=None, **kw):
    return lambda tmp, ds, m: compress_model(m if model is None else model, ds, tmp / "c", **kw)


def distributed(**kw):
    return lambda tmp, ds, m: search_under_budget(**{"budget": 3000, "directory": tmp, **kw},
                                                  dataset="no-such-dataset-is-loaded")


def touch(path):
    path.write_text("hello")
    return path


def bad_magic(tmp):
    d = write_idx_dir(tmp / "m", ARRAYS, gz=False)
    (d / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x09" + b"\x00" * 20)
    return d


def unwritable(tmp):
    (tmp / "f").write_text("")
    return tmp / "f" / "sub"


def two_input_model():
    import keras

    a, b = keras.Input((28, 28)), keras.Input((28, 28))
    return keras.Model([a, b], keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Add()([a, b]))))


def flat_model(shape, classes=10):
    import keras

    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes)], name="flat")


# (id, call(tmp_path, dataset, model), error type, built-in it must also be, regex on the message)
CASES = [
    ("budget-zero", search(0), BudgetError, ValueError, r"`budget` must be an integer in \[1, .*Received: budget=0\. Pass"),
    ("budget-negative", search(-5), BudgetError, ValueError, r"Received: budget=-5\. Pass a value in that range"),
    ("budget-float", search(4034.5), InvalidTypeError, TypeError, r"`budget` must be an integer\. Received: budget=4034\.5 \(type float\)\. Pass a whole number"),
    ("budget-nan", search(math.nan), InvalidTypeError, TypeError, r"Received: budget=nan \(type float\)"),
    ("budget-bool", search(True), InvalidTypeError, TypeError, r"Received: budget=True \(type bool\)"),
    ("budget-string", search("4034"), InvalidTypeError, TypeError, r"Received: budget='4034' \(type str\)"),
    ("budget-absurd", search(10**12), BudgetError, ValueError, r"integer in \[1, 1000000000\]\. Received: budget=1000000000000"),
    ("budget-below-minimum", search(10), BudgetError, ValueError, r"budget=10 is below the minimum of this search space: \d+ parameters.*Raise the budget"),
    ("unknown-dataset", load("cifar100"), DataNotFoundError, ValueError, r"Dataset 'cifar100' is neither a known name \(mnist, fashion_mnist\).*Pass a dataset name"),
    ("missing-path", load(lambda tmp: tmp / "nowhere.npz"), DataNotFoundError, FileNotFoundError, r"nowhere\.npz' is neither.*Pass"),
    ("missing-data-path", lambda tmp, ds, m: load_dataset("mnist", path=tmp / "nowhere"), DataNotFoundError, FileNotFoundError, r"`path` '.*nowhere' does not exist \(looking for the 'mnist' dataset\)\. Pass an existing directory"),
    ("truncated-gzip", load(lambda tmp: idx_dir(tmp, lambda raw: raw[: len(raw) // 2])), DataError, ValueError, r"train-images.*corrupt or truncated gzip data.*Download the file again"),
    ("wrong-idx-magic", load(bad_magic), DataError, ValueError, r"magic"),
    ("labels-start-high", load(with_("y_train", np.full(200, 12))), DataError, ValueError, r"train labels start at 12; expected class ids 0\.\.K-1 \(or 1\.\.K, as EMNIST letters\)\. Renumber"),
    ("labels-out-of-num-classes", lambda tmp, ds, m: load_dataset(with_("y_train", np.arange(200) % 12), num_classes=10), DataError, ValueError, r"train labels must lie in 0\.\.9 \(or 1\.\.10\) for num_classes=10; found 32 out of range \(e\.g\. 10\)\. Check the labels file, or leave num_classes unset"),
    ("class-without-training-images", load(with_("y_train", np.where(ARRAYS["y_train"] == 3, 4, ARRAYS["y_train"]))), DataError, ValueError, r"the train labels run 0\.\.9, but class\(es\) 3 have no training image\. Every class needs training images"),
    ("num-classes-more-than-the-data", lambda tmp, ds, m: load_dataset(ARRAYS, num_classes=12), DataError, ValueError, r"the train labels run 0\.\.11, but class\(es\) 10, 11 have no training image.*pass the num_classes the data has"),
    ("test-label-never-in-training", load(with_("y_test", np.where(ARRAYS["y_test"] == 9, 10, ARRAYS["y_test"]))), DataError, ValueError, r"test label\(s\) 10 never appear in the training split \(5 test images\); a model cannot learn"),
    ("one-class", load(with_("y_train", np.zeros(200, np.int64))), DataError, ValueError, r"every train label is 0: a classifier needs at least two classes"),
    ("labels-negative", load(with_("y_train", np.arange(200) % 10 - 1)), DataError, ValueError, r"train labels must be class ids >= 0; found 20 negative \(e\.g\. -1\)"),
    ("labels-not-integer", load(with_("y_train", np.arange(200) / 7)), DataError, ValueError, r"train labels must be whole numbers.*Pass integer labels 0\.\.K-1"),
    ("count-mismatch", load(with_("y_train", ARRAYS["y_train"][:150])), DataError, ValueError, r"200 images in <x_train array> but 150 labels.*Pair each"),
    ("images-wrong-shape", load(with_("x_train", np.zeros((200, 784), np.uint8))), DataError, ValueError, r"shape \(N, height, width\); got \(200, 784\)\. Reshape"),
    ("images-nan", load(images_with(np.nan)), DataError, ValueError, r"NaN or infinite values \(1 of 200 images\)\. Drop or repair"),
    ("images-inf", load(images_with(np.inf)), DataError, ValueError, r"NaN or infinite values \(1 of 200 images\)"),
    ("empty-dataset", load(with_("x_train", np.zeros((0, 28, 28), np.uint8), y_train=np.zeros(0, np.uint8))), DataError, ValueError, r"the train split holds no images\. Pass"),
    ("pickled-npz", load(pickled_npz), DataError, ValueError, r"objects\.npz: holds pickled Python objects, which mnistopt refuses.*numpy\.savez"),
    ("output-dir-unwritable", lambda tmp, ds, m: search_under_budget(3000, ds, directory=unwritable(tmp)), OutputDirError, OSError, r"`directory` directory '.*f/sub' cannot be created.*Choose a directory"),
    ("sparsity-one", compress(sparsity=[1.0]), ArgumentError, ValueError, r"`sparsity` must be a finite number in the range \[0\.01, 0\.99\]\. Received: sparsity=1\.0\. Pass"),
    ("sparsity-negative", compress(sparsity=[-0.1]), ArgumentError, ValueError, r"Received: sparsity=-0\.1"),
    ("sparsity-in-search", search(3000, compress={"sparsity": [1.5]}), ArgumentError, ValueError, r"Received: sparsity=1\.5"),
    ("unknown-tuner", search(3000, tuner="genetic"), ArgumentError, ValueError, r"`tuner` must be one of \['hyperband', 'bayesian', 'random', 'grid'\]\. Received: tuner='genetic'\. Pick"),
    ("unknown-quantization", compress(quantize=["int4"]), ArgumentError, ValueError, r"`quantize` entries must be among \['dynamic', 'float16', 'int8', 'int8-io'\]\. Received: 'int4'"),
    ("model-is-a-path", compress(model="model.keras"), InvalidTypeError, TypeError, r"`model` must be a loaded Keras model, not a path\. Received: model='model\.keras'\. Load it with mnistopt\.load_model\(path\)"),
    ("model-not-keras", compress(model=42), InvalidTypeError, TypeError, r"`model` must be a Keras 3 model \(a classifier of one image input\)\. Received: int"),
    ("model-two-inputs", lambda tmp, ds, m: compress_model(two_input_model(), ds, tmp), SpecError, ValueError, r"has 2 inputs and 1 outputs; mnistopt compresses models that take one image and give one vector"),
    ("model-other-image-size", lambda tmp, ds, m: compress_model(flat_model((14, 14)), ds, tmp), DataError, ValueError, r"images have shape \(28, 28\) but model 'flat' takes inputs of shape \(14, 14\)\. Pass data whose images have 196 pixels"),
    ("model-other-class-count", lambda tmp, ds, m: compress_model(flat_model((28, 28), classes=5), ds, tmp), ArgumentError, ValueError, r"Model 'flat' scores 5 classes but the dataset has 10\. Pass the data the model was trained for"),
    ("c-array-file-missing", lambda tmp, ds, m: write_c_array(tmp / "none.tflite", tmp / "fw"), ModelNotFoundError, FileNotFoundError, r"No \.tflite file at '.*none\.tflite'\. Pass a file written by mnistopt"),
    ("c-array-not-tflite", lambda tmp, ds, m: write_c_array(touch(tmp / "notes.tflite"), tmp / "fw"), SpecError, ValueError, r"notes\.tflite' is not a TensorFlow Lite file.*Pass a \.tflite file"),
    ("model-file-missing", lambda tmp, ds, m: load_model(tmp / "missing.keras"), ModelNotFoundError, FileNotFoundError, r"No model file at .*missing\.keras\. Pass a \.keras file"),
    ("model-file-not-keras", lambda tmp, ds, m: load_model(touch(tmp / "notes.txt")), SpecError, ValueError, r"notes\.txt is not a \.keras file\. Pass a model saved with model\.save\(\)"),
    # distributed options fail before any data is read (the dataset name below would not load)
    ("distributed-role", distributed(distributed="boss", oracle="h:1"), ArgumentError, ValueError, r"`distributed` must be one of \['chief', 'worker'\]"),
    ("distributed-no-oracle", distributed(distributed="chief"), ArgumentError, ValueError, r"`oracle` must be 'HOST:PORT'.*Received: oracle=None"),
    ("distributed-oracle-no-port", distributed(distributed="chief", oracle="localhost"), ArgumentError, ValueError, r"Received: oracle='localhost'"),
    ("distributed-oracle-port", distributed(distributed="worker", oracle="h:99999"), ArgumentError, ValueError, r"port in \[1, 65535\].*oracle='h:99999'"),
    ("distributed-worker-id", distributed(distributed="worker", oracle="h:80", worker_id="chief-2"), ArgumentError, ValueError, r"`worker_id` must be .*'chief'"),
    ("distributed-timeout", distributed(distributed="chief", oracle="h:80", trial_timeout=0), ArgumentError, ValueError, r"`trial_timeout` must be a finite number"),
    ("distributed-oracle-alone", distributed(oracle="h:80"), ArgumentError, ValueError, r"`oracle` needs distributed='chief' or 'worker'"),
    ("distributed-time-limit", distributed(distributed="chief", oracle="h:80", time_limit=60), ArgumentError, ValueError, r"`time_limit` applies to a search in one process.*time_limit=60\.0 with distributed='chief'"),
    ("time-limit-zero", search(3000, time_limit=0), ArgumentError, ValueError, r"`time_limit` must be a finite number.*Received: time_limit=0"),
    ("distributed-ports", distributed(distributed="chief", oracle="h:65534", budget=[3000, 4000, 5000]), ArgumentError, ValueError, r"i-th budget at port \+ i: 3 budgets from port 65534 run past 65535.*oracle='h:65534'"),
    ("distributed-no-directory", distributed(distributed="chief", oracle="h:80", directory=None), ArgumentError, ValueError, r"needs `directory`.*directory=None"),
    ("pareto-lengths", lambda tmp, ds, m: pareto_mask([1, 2], [0.5]), ArgumentError, ValueError, r"`sizes` and `accuracies` must be 1-D and equally long"),
    ("pareto-nan", lambda tmp, ds, m: pareto_mask([1, np.nan], [0.5, 0.6]), ArgumentError, ValueError, r"must be finite numbers"),
    ("hypervolume-zero-size", lambda tmp, ds, m: hypervolume([0, 2], [0.5, 0.6]), ArgumentError, ValueError, r"needs positive sizes"),
]


@pytest.mark.parametrize("call, error, builtin, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_typed_error_that_says_how_to_fix_it(tmp_path, small, model, call, error, builtin, match):
    with pytest.raises(error, match=match) as info:
        call(tmp_path, small, model)
    assert isinstance(info.value, builtin)  # `except ValueError` (TypeError, OSError) in user code still works


@pytest.mark.parametrize("dtype", ["uint8", "float32", "int64"])
def test_images_without_pixels_are_a_data_error(dtype):
    """Found by tests/test_fuzz.py in CI: 40 images of shape (8, 0) reached NumPy's min() of nothing."""
    with pytest.raises(DataError, match=r"train images have shape \(8, 0\): no pixels"):
        load_dataset(with_("x_train", np.zeros((len(ARRAYS["y_train"]), 8, 0), dtype=dtype)))


def test_idx_header_with_a_zero_beside_huge_dimensions_is_a_data_error(tmp_path):
    """Found by tests/test_fuzz.py: no payload, yet a shape NumPy cannot hold."""
    import struct

    from mnistopt.data import read_idx

    path = tmp_path / "odd-idx"
    path.write_bytes(struct.pack(">IIIII", 0x0804, 0, 2**32 - 1, 2**32 - 1, 2**32 - 1))
    with pytest.raises(DataError, match=r"describe no array NumPy can hold"):
        read_idx(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, **ARRAYS)
    path.chmod(0)
    with pytest.raises(DataError, match=r"data\.npz"):
        load_dataset(path)


def cli(*args, env_extra=None):
    env = {"PATH": "/usr/bin:/bin", "MNISTOPT_DATA": "", "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "mnistopt", *args], capture_output=True, text=True, env=env,
                          timeout=300)


CLI_CASES = [
    ("budget-zero", ["search", "--budget", "0", "--data", "{npz}"], r"`budget` must be an integer in \[1, 1000000000\]\. Received: budget=0"),
    ("budget-float", ["search", "--budget", "4034.5", "--data", "{npz}"], r"argument --budget: invalid int value: '4034\.5'\. See `mnistopt search --help`"),
    ("num-classes-disagrees", ["search", "--budget", "4034", "--data", "{npz}", "--num-classes", "5"], r"train labels must lie in 0\.\.4 \(or 1\.\.5\) for num_classes=5"),
    ("budget-nan", ["search", "--budget", "nan", "--data", "{npz}"], r"invalid int value: 'nan'"),
    ("budget-below-minimum", ["search", "--budget", "10", "--data", "{npz}"], r"budget=10 is below the minimum"),
    ("unknown-dataset", ["search", "--budget", "3000", "--dataset", "cifar"], r"Dataset 'cifar' is neither"),
    ("missing-path", ["search", "--budget", "3000", "--data", "/no/such/file.npz"], r"`path` '/no/such/file\.npz' does not exist\. Pass an existing"),
    ("empty-data-folder", ["search", "--budget", "3000", "--data", "{empty}"], r"No dataset in `path` '.*empty': it is empty\. Expected .*Nothing else was tried"),
    ("name-disagrees", ["search", "--budget", "3000", "--data", "{npz_dir}", "--dataset", "fashion_mnist"], r"named 'fashion_mnist' but `path` '.*mnist\.npz' holds 'mnist'"),
    ("truncated-gzip", ["search", "--budget", "3000", "--data", "{gz}"], r"corrupt or truncated gzip data"),
    ("pickled-npz", ["search", "--budget", "3000", "--data", "{pickled}"], r"holds pickled Python objects"),
    ("output-dir-unwritable", ["search", "--budget", "3000", "--data", "{npz}", "--out", "{file}/sub"], r"cannot be created"),
    ("unknown-tuner", ["search", "--budget", "3000", "--data", "{npz}", "--tuner", "genetic"], r"Received: tuner='genetic'"),
    ("sparsity", ["search", "--budget", "3000", "--data", "{npz}", "--compress", "--sparsity", "1.0"], r"Received: sparsity=1\.0"),
    ("budget-kind", ["search", "--budget", "3000", "--data", "{npz}", "--budget-kind", "kilobytes"], r"argument --budget-kind: invalid choice"),
    ("unknown-quantization", ["compress", "{model}", "--data", "{npz}", "--quantize", "int4"], r"Received: 'int4'"),
    ("model-not-keras", ["compress", "{model}", "--data", "{npz}"], r"Cannot load .*model\.keras as a Keras model in safe mode"),
    ("model-file-missing", ["compress", "{missing}", "--data", "{npz}"], r"No model file at .*missing\.keras"),
    ("model-file-not-keras", ["compress", "{file}", "--data", "{npz}"], r"file is not a \.keras file"),
    ("export-not-tflite", ["export", "{file}", "--c-array", "{empty}/model"], r"is not a TensorFlow Lite file"),
    ("export-no-out", ["export", "{file}"], r"the following arguments are required: --c-array"),
    ("control-characters", ["search", "--budget", "3000", "--data", "{npz}", "line\rfeed\nx"],
     r"unrecognized arguments: line\\rfeed\\nx\."),  # found by tests/test_fuzz.py: escaped, still one line
]


@pytest.mark.parametrize("args, match", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, args, match, capsys, monkeypatch):
    np.savez(tmp_path / "d.npz", **ARRAYS)
    (tmp_path / "file").write_text("")
    (tmp_path / "model.keras").write_text("not a model")
    (tmp_path / "empty").mkdir()
    (tmp_path / "npz_dir").mkdir()
    np.savez(tmp_path / "npz_dir" / "mnist.npz", **ARRAYS)
    paths = {"npz": tmp_path / "d.npz", "gz": idx_dir(tmp_path, lambda raw: raw[:100]),
             "empty": tmp_path / "empty", "npz_dir": tmp_path / "npz_dir",
             "pickled": pickled_npz(tmp_path), "file": tmp_path / "file", "model": tmp_path / "model.keras",
             "missing": tmp_path / "missing.keras"}
    argv = [a.format(**paths) for a in args]
    if "--out" not in argv and argv[0] in ("search", "compress"):
        argv += ["--out", str(tmp_path / "out")]
    # in this process (cli.main, what `python -m mnistopt` runs): no TensorFlow start-up per row; the
    # process itself (exit status, stderr) is checked by the subprocess tests below
    status, stderr = run_main([*argv, "-q"], capsys, monkeypatch, MNISTOPT_DATA="",
                              KERAS_HOME=str(tmp_path / "keras-home"))
    assert status == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnistopt: error: "), stderr
    assert "Traceback" not in stderr
    assert re.search(match, lines[0]), lines[0]


def test_cli_debug_shows_the_traceback(tmp_path):
    proc = cli("search", "--budget", "0", "--data", "/no/such/file.npz", "--debug")
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "mnistopt: error:" in proc.stderr


def lambda_model(path):
    """A .keras file holding Python code (a Lambda layer): what safe mode exists to refuse."""
    import keras

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(10, activation="softmax")])
    model.save(path)
    return path


@pytest.mark.parametrize("make, error, match", [
    (lambda p: lambda_model(p / "code.keras"), SpecError, r"code\.keras as a Keras model in safe mode.*Lambda layers\) are refused"),
    (lambda p: (p / "text.keras").write_text("hello") and p / "text.keras", SpecError, r"Cannot load .*text\.keras"),
    (lambda p: (p / "weights.h5").write_text("x") and p / "weights.h5", SpecError, r"weights\.h5 is not a \.keras file"),
    (lambda p: p / "missing.keras", ModelNotFoundError, r"No model file at .*missing\.keras"),
    (lambda p: 3.5, InvalidTypeError, r"`path` must be a file path\. Received: path=3\.5"),
], ids=["lambda-code", "not-a-model", "wrong-suffix", "missing", "not-a-path"])
def test_load_model_is_safe_mode_and_refuses_what_is_not_a_model(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        load_model(make(tmp_path))


def test_load_model_round_trips_an_mnistopt_model(tmp_path, model):
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    x = ARRAYS["x_test"][:5].astype(np.float32) / 255
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_cli_compress_refuses_a_model_holding_code(tmp_path):
    np.savez(tmp_path / "d.npz", **ARRAYS)
    proc = cli("compress", str(lambda_model(tmp_path / "code.keras")), "--data", str(tmp_path / "d.npz"),
               "--out", str(tmp_path / "out"), "-q")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "in safe mode" in lines[0], proc.stderr


@pytest.mark.parametrize("make, match", [
    (two_input_model, r"mnistopt: error: Model '.*' has 2 inputs and 1 outputs; mnistopt compresses models that take one"),
    (lambda: flat_model((14, 14)), r"mnistopt: error: The images have shape \(28, 28\) but model 'flat' takes inputs of "
                                   r"shape \(14, 14\)"),
], ids=["two-inputs", "other-image-size"])
def test_cli_compress_of_a_model_that_does_not_fit_is_one_line_and_exit_2(tmp_path, capsys, make, match):
    from mnistopt.cli import main

    np.savez(tmp_path / "d.npz", **ARRAYS)
    make().save(tmp_path / "m.keras")
    assert main(["compress", str(tmp_path / "m.keras"), "--data", str(tmp_path / "d.npz"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match(match, err[0]), err
