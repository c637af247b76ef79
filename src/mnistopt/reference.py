"""The reference notebook's experiments and figures, as mnistopt runs them.

* :data:`REFERENCE`: the notebook's three MLPs and their (training-set) accuracy and loss;
* :func:`run_baseline`: the 784-128-64-10 baseline, trained and saved with its curves,
  confusion matrix and classification report (:func:`save_training_run`);
* :func:`reference_grid_search`: its learning-rate x batch-size grid;
* :func:`optimizer_study` and :func:`compare_training`: its optimizer comparison.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from ._env import environment
from ._io import atomic_write_json, atomic_write_text, atomic_write_with, ensure_dir
from .data import Dataset
from .records import SearchResult
from .report.classification import classification_summary
from .report.plots import plot_confusion_matrix, plot_training_curves
from .report.data import REFERENCE
from .search import TrialProgress, search_under_budget
from .space import SearchSpace
from .spec import MLPSpec
from .training import EpochProgress, TrainResult, predict_classes, train

__all__ = ["REFERENCE", "save_training_run", "run_baseline", "reference_grid_search", "optimizer_study",
           "compare_training"]

logger = logging.getLogger(__name__)


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
    summary = classification_summary(dataset.y_test, y_pred, dataset.class_names)
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


def optimizer_study(base: MLPSpec | None = None) -> dict[str, MLPSpec]:
    """The reference notebook's optimisation study, as named variants of ``base``
    (default: the baseline 784-128-64-10, 10 epochs, batch 32).

    Adam, SGD and RMSProp at Keras' default learning rates (SGD also with momentum
    0.9), then Adam with dropout 0.2 / 0.5 and with L2 weight decay 1e-4 / 1e-3.

    Example:
        >>> study = optimizer_study()
        >>> list(study)[:4]
        ['adam', 'sgd', 'sgd+momentum', 'rmsprop']
        >>> study["sgd"].learning_rate, study["adam+dropout-0.5"].dropout
        (0.01, 0.5)
    """
    base = base or MLPSpec.baseline()
    adam = dataclasses.replace(base, optimizer="adam", learning_rate=1e-3)
    return {
        "adam": adam,
        "sgd": dataclasses.replace(base, optimizer="sgd", learning_rate=0.01, momentum=0.0),
        "sgd+momentum": dataclasses.replace(base, optimizer="sgd", learning_rate=0.01, momentum=0.9),
        "rmsprop": dataclasses.replace(base, optimizer="rmsprop", learning_rate=1e-3),
        "adam+dropout-0.2": dataclasses.replace(adam, dropout=0.2),
        "adam+dropout-0.5": dataclasses.replace(adam, dropout=0.5),
        "adam+l2-1e-4": dataclasses.replace(adam, l2=1e-4),
        "adam+l2-1e-3": dataclasses.replace(adam, l2=1e-3),
    }


def compare_training(
    variants: Mapping[str, MLPSpec],
    dataset: Dataset,
    *,
    seed: int = 0,
    progress: Callable[[str, TrainResult], None] | None = None,
) -> dict[str, TrainResult]:
    """Train every variant with the same seed and data; results in the given order.

    ``progress(name, result)`` is called after each. Render the outcome with
    :func:`mnistopt.report.render.write_comparison` (validation curves in one figure,
    and a table).

    Example:
        >>> results = compare_training(optimizer_study(), load_dataset("mnist"))  # doctest: +SKIP
        >>> {k: round(r.val_accuracy, 3) for k, r in results.items()}  # doctest: +SKIP
    """
    out: dict[str, TrainResult] = {}
    for name, spec in variants.items():
        out[name] = train(spec, dataset, seed=seed)
        if progress is not None:
            progress(name, out[name])
    return out


def reference_grid_search(
    dataset: str | os.PathLike | Dataset | None = None,
    *,
    directory: str | os.PathLike | None = None,
    overwrite: bool = False,
    seed: int = 0,
    epochs: int = 10,
    data_path: str | os.PathLike | None = None,
    progress: Callable[[TrialProgress], None] | None = None,
) -> SearchResult:
    """The reference notebook's experiment: lr {1e-4, 1e-3, 1e-2} x batch {32, 64, 128}.

    Runs KerasTuner's grid tuner over the baseline 784-128-64-10 MLP,
    ``epochs`` (10) epochs per combination, no early stopping. Each record's
    ``spec.learning_rate``/``spec.batch_size`` and ``val_accuracy`` give the
    table; ``result.best(MLPSpec.baseline().params)`` (109,386) the best combination.

    Example:
        >>> result = reference_grid_search("mnist")  # doctest: +SKIP
        >>> len(result.records)  # doctest: +SKIP
        9
    """
    return search_under_budget(
        MLPSpec.baseline().params, dataset, tuner="grid", max_epochs=epochs, seed=seed, directory=directory,
        overwrite=overwrite, space=SearchSpace.reference_grid(), patience=None, data_path=data_path,
        progress=progress, epoch_images=None,  # the notebook's epochs: full passes, on any data size
    )
