"""Confusion matrix and per-class precision/recall/F1, as plain data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["classification_summary"]


def classification_summary(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Confusion matrix and scikit-learn's classification report for predictions.

    Returns:
        ``{"labels", "class_names", "confusion_matrix" (rows: true class,
        columns: predicted), "report" (dict), "report_text", "accuracy"}``.

    Example:
        >>> s = classification_summary([0, 1, 1, 2], [0, 1, 2, 2])
        >>> s["confusion_matrix"]
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
        >>> s["accuracy"]
        0.75
    """
    from sklearn.metrics import classification_report, confusion_matrix

    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    n = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    if class_names is not None:
        n = max(n, len(class_names))
    labels = list(range(n))
    names = list(class_names) if class_names is not None else [str(i) for i in labels]
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    kwargs = dict(labels=labels, target_names=names, zero_division=0, digits=4)
    return {
        "labels": labels,
        "class_names": names,
        "confusion_matrix": cm.tolist(),
        "report": classification_report(y_true, y_pred, output_dict=True, **kwargs),
        "report_text": classification_report(y_true, y_pred, **kwargs),
        "accuracy": float(np.mean(y_true == y_pred)),
    }
