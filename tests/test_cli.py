import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_main, synthetic_arrays, write_idx_dir

from mnistopt import load_dataset
from mnistopt.cli import main


def _npz(tmp_path, n_train=300):
    path = tmp_path / "tiny.npz"
    np.savez(path, **synthetic_arrays(n_train=n_train, n_test=100))
    return path


def test_baseline_writes_every_artifact(tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["baseline", "--data", str(_npz(tmp_path)), "--out", str(out), "--epochs", "1"])
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "train_accuracy", "params", "history", "spec", "dataset"):
        assert key in metrics
    assert metrics["params"] == 109_386 and metrics["epochs_run"] == 1
    assert metrics["dataset"]["sizes"] == {"train": 270, "val": 30, "test": 100}
    report = json.loads((out / "classification_report.json").read_text())
    assert np.array(report["confusion_matrix"]).sum() == 100
    assert "precision" in (out / "classification_report.txt").read_text()
    for png in ("curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert (out / "model.keras").stat().st_size > 100_000
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err  # progress is shown
    assert "test accuracy" in captured.out


def test_saved_model_reloads_and_predicts_like_reported(tmp_path):
    import keras

    out = tmp_path / "out"
    assert main(["baseline", "--data", str(_npz(tmp_path)), "--out", str(out), "--epochs", "1", "-q"]) == 0
    model = keras.models.load_model(out / "model.keras", safe_mode=True)
    metrics = json.loads((out / "metrics.json").read_text())
    arrays = synthetic_arrays(n_train=300, n_test=100)
    predicted = model.predict(arrays["x_test"] / 255.0, verbose=0).argmax(1)
    assert np.mean(predicted == arrays["y_test"]) == pytest.approx(metrics["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize(
    "args,match",
    [
        (["baseline", "--data", "/no/such/dir", "--out", "{tmp}/o"], "`path` '/no/such/dir' does not exist"),
        (["baseline", "--data", "{npz}", "--out", "{tmp}/o", "--epochs", "0"], "`epochs` must be an integer >= 1"),
        (["baseline", "--data", "{npz}", "--out", "{npz}/sub"], "cannot be created"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--preset", "reference-grid", "--family", "cnn"],
         "--family applies to budget searches"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--budget", "4034", "--family", "rnn"],
         "invalid choice: 'rnn'"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--budget", "300", "--family", "cnn"],
         "smallest CNN"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--budget", "4034", "--retrain-factor", "0"],
         "`retrain_factor` must be an integer in [1, 100]"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--budget", "4034", "--retrain-factor", "twice"],
         "--retrain-factor"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--budget", "4034", "--limit", "ram=4096"],
         "Unknown limit 'ram'"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--budget", "4034", "--limit", "macs"], "NAME=VALUE"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--budget", "4034", "--device", "{tmp}/board.json"],
         "No device profile"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--preset", "reference-grid", "--limit", "macs=1000"],
         "--limit and --device apply to budget searches"),
        (["search", "--data", "{npz}", "--out", "{tmp}/o", "--budget", "4034", "--limit", "arena=500"],
         "within the limits (arena <= 500 bytes)"),
    ],
)
def test_errors_exit_2_with_one_line_and_no_traceback(tmp_path, args, match, capsys, monkeypatch):
    """In this process (``cli.main``, as ``python -m mnistopt`` calls it; the process itself is checked by
    test_bad_input.py's subprocess tests), so each row costs no TensorFlow start-up."""
    npz = _npz(tmp_path)
    argv = [a.format(tmp=tmp_path, npz=npz) for a in args]
    status, stderr = run_main(argv, capsys, monkeypatch, MNISTOPT_DATA="", KERAS_HOME=str(tmp_path / "kh"))
    assert status == 2, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("mnistopt: error:")]
    assert len(lines) == 1 and match in stderr
    assert "Traceback" not in stderr


def test_data_alone_is_the_data_whatever_the_folder_and_env_say(tmp_path):
    """Issue 13: `--data fashion-mnist/` with $MNISTOPT_DATA pointing at other data and Keras' cache
    holding MNIST: the search trains on the named folder and result.json says so."""
    other = write_idx_dir(tmp_path / "other" / "mnist", synthetic_arrays(seed=1))
    cache = tmp_path / "kh" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", **synthetic_arrays(seed=2))
    data = write_idx_dir(tmp_path / "fashion-mnist", synthetic_arrays(seed=3))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "mnistopt", "search", "--budget", "3000", "--data", str(data), "--out", str(out),
         "--tuner", "random", "--max-trials", "1", "--max-epochs", "1", "-q"],
        capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "MNISTOPT_DATA": str(other), "KERAS_HOME": str(tmp_path / "kh")})
    assert proc.returncode == 0, proc.stderr
    assert "Downloading" not in proc.stderr
    # with TensorFlow's log level left to the CLI, none of its C++ start-up lines (absl's "E0000 ...
    # failed call to cuInit" on a machine without a GPU, oneDNN notes) reach the user's terminal
    assert not [line for line in proc.stderr.splitlines() if re.match(r"[EIWF]\d{4} |WARNING: All log", line)], \
        proc.stderr
    described = json.loads((out / "result.json").read_text())["dataset"]
    assert described["source"] == str(data) and described["name"] == "fashion-mnist"
    assert described["checksum"] == load_dataset(data).checksum != load_dataset(other).checksum
