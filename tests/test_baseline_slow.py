"""The reference baseline, for real, on MNIST-10k (about 30 s on 2 cores)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_baseline_cli_on_mnist_10k(mnist_dir, tmp_path):
    out = tmp_path / "baseline"
    proc = subprocess.run(
        [sys.executable, "-m", "mnistopt", "baseline", "--data", str(mnist_dir), "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["params"] == 109_386
    assert metrics["epochs_run"] == 10
    assert metrics["dataset"]["sizes"] == {"train": 9000, "val": 1000, "test": 10000}
    assert metrics["test_accuracy"] >= 0.94
    assert metrics["train_accuracy"] > metrics["test_accuracy"]
    for name in ("model.keras", "curves.png", "confusion_matrix.png",
                 "classification_report.txt", "classification_report.json"):
        assert (out / name).is_file(), name
    assert "epoch 10/10" in proc.stderr
