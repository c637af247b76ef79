"""Matplotlib figures (Agg backend) drawn from plain data.

Each figure has a data step (tested) and a drawing step that writes a PNG
atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_with

__all__ = ["curves_data", "plot_training_curves", "plot_confusion_matrix"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def curves_data(history: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Per-epoch series for the accuracy and loss panels.

    Example:
        >>> d = curves_data({"loss": [0.5, 0.3], "val_loss": [0.6, 0.4],
        ...                  "accuracy": [0.8, 0.9], "val_accuracy": [0.7, 0.85]})
        >>> d["epochs"], sorted(d["panels"])
        ([1, 2], ['accuracy', 'loss'])
    """
    n = max((len(v) for v in history.values()), default=0)
    panels: dict[str, dict[str, list[float]]] = {}
    for metric in ("accuracy", "loss"):
        series = {}
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in history:
                series[label] = [float(v) for v in history[key]]
        if series:
            panels[metric] = series
    return {"epochs": list(range(1, n + 1)), "panels": panels}


def _save(fig, path: str | os.PathLike) -> Path:
    plt = _pyplot()
    try:
        return atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"), ".png")
    finally:
        plt.close(fig)


def plot_training_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy and loss per epoch, train beside validation, as a PNG."""
    plt = _pyplot()
    data = curves_data(history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for label, values in data["panels"].get(metric, {}).items():
            ax.plot(data["epochs"][: len(values)], values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], path: str | os.PathLike, class_names: Sequence[str] | None = None, title: str = ""
) -> Path:
    """Confusion matrix heat map (rows true, columns predicted) with counts, as a PNG."""
    plt = _pyplot()
    cm = np.asarray(matrix)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(cm))]
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    return _save(fig, path)
