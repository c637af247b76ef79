"""Train-and-save workflows: one call writes everything a run produces."""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from ._io import atomic_write_json, atomic_write_text, atomic_write_with, ensure_dir
from .data import Dataset
from .report.classification import classification_summary
from .report.plots import plot_confusion_matrix, plot_training_curves
from .spec import MLPSpec
from .training import EpochProgress, TrainResult, predict_classes, train

__all__ = ["save_training_run", "run_baseline", "environment"]

logger = logging.getLogger(__name__)


def environment() -> dict[str, str]:
    """Versions of Python and the libraries that shape the numbers."""
    import importlib.metadata as md

    out = {"mnistopt": __version__, "python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("tensorflow", "keras", "numpy", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def save_training_run(result: TrainResult, dataset: Dataset, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write a trained model's artifacts to ``out_dir``.

    Files: ``metrics.json``, ``model.keras``, ``curves.png`` (accuracy and
    loss per epoch), ``confusion_matrix.png`` and the classification report as
    ``classification_report.txt`` / ``.json`` (both on the test split). Every
    file is written atomically.

    Returns:
        The path of each file, by role.
    """
    out = ensure_dir(out_dir)
    y_pred = predict_classes(result.model, dataset.x_test)
    summary = classification_summary(dataset.y_test, y_pred)
    title = f"{result.spec.architecture} ({result.params:,} params) on {dataset.name}"
    paths = {
        "model": atomic_write_with(out / "model.keras", lambda tmp: result.model.save(tmp), ".keras"),
        "curves": plot_training_curves(result.history, out / "curves.png", title=title),
        "confusion_matrix": plot_confusion_matrix(
            summary["confusion_matrix"], out / "confusion_matrix.png", summary["class_names"],
            title=f"test confusion matrix, accuracy {summary['accuracy']:.4f}",
        ),
        "classification_report_txt": atomic_write_text(out / "classification_report.txt", summary["report_text"]),
        "classification_report_json": atomic_write_json(
            out / "classification_report.json",
            {"split": "test", **{k: summary[k] for k in ("accuracy", "labels", "confusion_matrix", "report")}},
        ),
    }
    metrics = {
        **result.to_dict(),
        "dataset": dataset.describe(),
        "environment": environment(),
        "note": "train_accuracy is measured on the train split after training; test_accuracy on the "
        "held-out test split, which chose nothing.",
    }
    paths["metrics"] = atomic_write_json(out / "metrics.json", metrics)
    logger.info("wrote %s", ", ".join(p.name for p in paths.values()))
    return paths


def run_baseline(
    dataset: Dataset,
    out_dir: str | os.PathLike,
    *,
    spec: MLPSpec | None = None,
    seed: int = 0,
    progress: Callable[[EpochProgress], None] | None = None,
) -> tuple[TrainResult, dict[str, Path]]:
    """Train the reference baseline (or ``spec``) and save its artifacts.

    Example:
        >>> result, files = run_baseline(load_dataset("mnist"), "runs/baseline")  # doctest: +SKIP
        >>> round(result.test_accuracy, 2)  # doctest: +SKIP
        0.95
    """
    ensure_dir(out_dir)
    result = train(spec or MLPSpec.baseline(), dataset, seed=seed, progress=progress)
    return result, save_training_run(result, dataset, out_dir)
