"""The values a search-space dimension may take, and one dimension as a tuner sees it.

Pure Python, no imports from the rest of mnistopt but errors: :class:`Choice`,
:class:`Range`, :class:`Dimension` and :func:`dimension` (a field's value as a
:class:`Dimension`). Used by :mod:`mnistopt.space` and :mod:`mnistopt.kinds`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any, Union

from .errors import ArgumentError, InvalidTypeError

__all__ = ["Choice", "Range", "Dimension", "DimensionKind", "Value", "dimension", "as_choice"]


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of a fixed set of values, e.g. ``Choice(32, 64, 128)``.

    Example:
        >>> from mnistopt import Choice, SearchSpace
        >>> Choice(32, 64).values, Choice([0.0, 0.2]).values
        ((32, 64), (0.0, 0.2))
        >>> space = SearchSpace(batch_size=Choice(64, 128)).resolve(4034)
        >>> [d.values for d in space.dimensions() if d.name == "batch_size"]
        [(64, 128)]
    """

    values: tuple

    def __init__(self, *values: Any):
        if len(values) == 1 and isinstance(values[0], (list, tuple)):
            values = tuple(values[0])
        if not values:
            raise ArgumentError("Choice() needs at least one value. Received: no values.")
        object.__setattr__(self, "values", tuple(values))


@dataclasses.dataclass(frozen=True)
class Range:
    """A continuous interval ``[low, high]``, sampled on a log scale if ``log``.

    Example:
        >>> from mnistopt import Range, SearchSpace
        >>> space = SearchSpace(learning_rate=Range(1e-4, 1e-2, log=True)).resolve(4034)
        >>> [(str(d.kind), d.low, d.high, d.log) for d in space.dimensions() if d.name == "learning_rate"]
        [('range', 0.0001, 0.01, True)]
    """

    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ArgumentError(f"Range needs finite low <= high. Received: Range({self.low}, {self.high}).")
        if self.log and self.low <= 0:
            raise ArgumentError(f"A log-scale Range needs low > 0. Received: low={self.low}.")


Value = Union[Any, Choice, Range]


class DimensionKind(str, enum.Enum):
    """How a tuner samples one hyperparameter."""

    FIXED = "fixed"  # one value
    CHOICE = "choice"  # one of several values
    RANGE = "range"  # a number between two bounds (linear or log scale)

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One hyperparameter as a tuner sees it: its :class:`DimensionKind`, and its values or bounds."""

    name: str
    kind: DimensionKind
    values: tuple = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False



def as_choice(value: Value, name: str) -> tuple:
    if isinstance(value, Choice):
        return value.values
    if isinstance(value, Range):
        raise InvalidTypeError(f"`{name}` takes a value or a Choice, not a Range. Received: {value}.")
    return (value,)


def dimension(name: str, value: Value) -> Dimension:
    if isinstance(value, Range):
        if value.low == value.high:
            return Dimension(name, DimensionKind.FIXED, (value.low,))
        return Dimension(name, DimensionKind.RANGE, low=value.low, high=value.high, log=value.log)
    if isinstance(value, Choice):
        if len(value.values) == 1:
            return Dimension(name, DimensionKind.FIXED, value.values)
        return Dimension(name, DimensionKind.CHOICE, value.values)
    return Dimension(name, DimensionKind.FIXED, (value,))
