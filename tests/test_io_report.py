import json
import os

import numpy as np
import pytest

from mnistopt.errors import OutputDirError
from mnistopt._io import atomic_write_json, atomic_write_text, ensure_dir
from mnistopt.report.classification import classification_summary
from mnistopt.report.data import curves_data
from mnistopt.report.plots import plot_confusion_matrix, plot_training_curves


def test_atomic_write_replaces_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["r.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")
    with pytest.raises(ValueError):
        atomic_write_json(target, {"x": float("nan")})  # NaN is not valid JSON
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["r.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(OutputDirError, match="not writable"):
        ensure_dir(locked)


def test_output_dir_under_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirError, match=r"`out` directory .* cannot be created"):
        ensure_dir(blocker / "sub")


def test_classification_summary_matches_counts():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2])
    s = classification_summary(y_true, y_pred)
    cm = np.array(s["confusion_matrix"])
    assert cm.sum() == 7 and np.trace(cm) == 5
    assert cm[0, 1] == 1 and cm[2, 0] == 1
    assert s["accuracy"] == pytest.approx(5 / 7)
    assert s["report"]["1"]["precision"] == pytest.approx(2 / 3)
    assert "precision" in s["report_text"]


def test_curves_data_and_plots(tmp_path):
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6],
               "accuracy": [0.6, 0.8, 0.9], "val_accuracy": [0.55, 0.75, 0.8]}
    data = curves_data(history)
    assert data["epochs"] == [1, 2, 3]
    assert data["panels"]["loss"]["validation"] == [1.1, 0.7, 0.6]
    png = plot_training_curves(history, tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png = plot_confusion_matrix([[3, 1], [0, 4]], tmp_path / "cm.png")
    assert png.stat().st_size > 1000
