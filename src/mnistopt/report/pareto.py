"""Pareto fronts of accuracy versus size: what does each parameter (or byte) buy?

Pure NumPy. Size is minimised, accuracy maximised. The front is chosen on
*validation* accuracy by default; the test set never chooses anything, it is
only reported for the models on the front.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .._checks import check_choice
from ..errors import ArgumentError
from ..records import TrialStatus

__all__ = ["SizeAxis", "SIZE_AXES", "SIZE_FIELDS", "pareto_mask", "pareto_front", "front_candidates", "hypervolume"]


@dataclasses.dataclass(frozen=True)
class SizeAxis:
    """A record field that a front can be drawn over: a size, or what running the model costs."""

    field: str  #: the record's field
    name: str  #: how plots and tables name it
    front: bool = True  #: whether a report draws a front over it
    file_only: bool = False  #: only an exported ``.tflite`` file has it


#: Every size axis, declared once: the report's fronts, the plots' labels and the records' fields
#: come from here.
SIZE_AXES = (
    SizeAxis("params", "parameters"),
    SizeAxis("nonzero_params", "non-zero weights"),
    SizeAxis("bytes", ".tflite file bytes", file_only=True),
    SizeAxis("gzip_bytes", "gzipped .tflite bytes", front=False, file_only=True),
    SizeAxis("macs", "multiply-accumulates per image"),
    SizeAxis("arena_bytes", "tensor arena bytes (activations)", file_only=True),
    SizeAxis("latency_us", "latency per image (µs, one thread)", file_only=True),
)
#: Record fields a front can be drawn over.
SIZE_FIELDS = tuple(a.field for a in SIZE_AXES)


def pareto_mask(sizes: Sequence[float], accuracies: Sequence[float]) -> np.ndarray:
    """Which points no other point dominates (smaller or equal size and higher or equal
    accuracy, strictly better in one).

    Points that tie exactly are all kept. Runs in ``O(n log n)``.

    Example:
        >>> pareto_mask([100, 200, 150, 300], [0.90, 0.95, 0.89, 0.95]).tolist()
        [True, True, False, False]
    """
    x = np.asarray(sizes, dtype=float)
    y = np.asarray(accuracies, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ArgumentError(f"`sizes` and `accuracies` must be 1-D and equally long. Received: {x.shape} and {y.shape}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ArgumentError("`sizes` and `accuracies` must be finite numbers.")
    order = np.lexsort((-y, x))  # by size, then best accuracy first
    mask = np.zeros(len(x), dtype=bool)
    best = -np.inf
    i = 0
    while i < len(order):  # one group of equal sizes at a time
        j = i
        while j < len(order) and x[order[j]] == x[order[i]]:
            j += 1
        group = order[i:j]
        top = y[group[0]]
        if top > best:  # better than every smaller model: the group's best points are on the front
            mask[group[y[group] == top]] = True
            best = top
        i = j
    return mask


def front_candidates(records: Iterable[Any], x: str = "params", y: str = "val_accuracy") -> list[Any]:
    """The records a front over ``x`` can hold: completed, with both ``x`` and ``y`` known."""
    return [r for r in records if TrialStatus(getattr(r, "status", TrialStatus.COMPLETED)) is TrialStatus.COMPLETED
            and getattr(r, x, None) is not None and getattr(r, y, None) is not None]


def pareto_front(records: Iterable[Any], x: str = "params", y: str = "val_accuracy") -> list[Any]:
    """The records on the accuracy-versus-size front, smallest first.

    Args:
        records: :class:`~mnistopt.TrialRecord` objects (failed ones and those
            without the ``x`` or ``y`` field, e.g. no ``bytes`` for a trial
            that was never exported, are left out).
        x: the size, one of :data:`SIZE_FIELDS`.
        y: the accuracy that chooses the front; keep ``"val_accuracy"`` so the
            test set chooses nothing.

    Example:
        >>> from mnistopt import TrialRecord
        >>> rs = [TrialRecord(budget=1, trial_id=str(i), status="completed", spec=None, params=p, val_accuracy=a)
        ...       for i, (p, a) in enumerate([(4034, 0.94), (72842, 0.96), (93322, 0.959)])]
        >>> [r.params for r in pareto_front(rs)]
        [4034, 72842]
    """
    x = check_choice("x", x, SIZE_FIELDS)
    usable = front_candidates(records, x, y)
    if not usable:
        return []
    mask = pareto_mask([getattr(r, x) for r in usable], [getattr(r, y) for r in usable])
    front = [r for r, keep in zip(usable, mask) if keep]
    return sorted(front, key=lambda r: (getattr(r, x), -getattr(r, y)))


def hypervolume(
    sizes: Sequence[float], accuracies: Sequence[float], *, reference_size: float | None = None,
    reference_accuracy: float = 0.0, log_size: bool = True,
) -> float:
    """Area of the size-accuracy plane the points dominate, up to a reference point.

    The region dominated by a point is every size at least its own (up to
    ``reference_size``, default the largest size) with accuracy at most its own
    (down to ``reference_accuracy``). Sizes are compared on a log10 scale by
    default, since budgets span orders of magnitude. Larger is better; adding
    a point never lowers it.

    Example:
        >>> hypervolume([10, 100], [0.9, 0.95], reference_size=1000)  # 1 decade x 0.9 + 1 x 0.95
        1.85
    """
    x = np.asarray(sizes, dtype=float)
    y = np.asarray(accuracies, dtype=float)
    if len(x) == 0:
        return 0.0
    mask = pareto_mask(x, y)
    if log_size:
        if np.any(x <= 0) or (reference_size is not None and reference_size <= 0):
            raise ArgumentError("log_size=True needs positive sizes.")
        x = np.log10(x)
        ref = np.log10(reference_size) if reference_size is not None else float(x.max())
    else:
        ref = float(reference_size) if reference_size is not None else float(x.max())
    fx, fy = x[mask], y[mask]
    keep = (fx < ref) & (fy > reference_accuracy)
    fx, fy = fx[keep], fy[keep]
    order = np.argsort(fx, kind="stable")
    fx, fy = fx[order], fy[order]
    edges = np.append(fx[1:], ref)
    return float(round(np.sum((edges - fx) * (fy - reference_accuracy)), 12))
