"""Argument checks shared by the public entry points.

Each check raises a typed mnistopt error whose message names the argument,
the value received, what was expected and how to fix it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from .errors import ArgumentError, InvalidTypeError


def check_int(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    error: type[ArgumentError] = ArgumentError,
) -> int:
    """Return ``value`` as an ``int`` or raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(
            f"`{name}` must be an integer. Received: {name}={value!r} "
            f"(type {type(value).__name__}). Pass a whole number such as 10."
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise error(_range_message(name, value, minimum, maximum, "integer"))
    if maximum is not None and value > maximum:
        raise error(_range_message(name, value, minimum, maximum, "integer"))
    return value


def check_float(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    error: type[ArgumentError] = ArgumentError,
) -> float:
    """Return ``value`` as a finite ``float`` or raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(
            f"`{name}` must be a number. Received: {name}={value!r} "
            f"(type {type(value).__name__}). Pass a float such as 0.5."
        )
    value = float(value)
    low = "[" if min_inclusive else "("
    high = "]" if max_inclusive else ")"
    interval = (
        f"{low}{'-inf' if minimum is None else minimum}, "
        f"{'inf' if maximum is None else maximum}{high}"
    )
    bad = not math.isfinite(value)
    if minimum is not None:
        bad = bad or value < minimum or (not min_inclusive and value == minimum)
    if maximum is not None:
        bad = bad or value > maximum or (not max_inclusive and value == maximum)
    if bad:
        raise error(
            f"`{name}` must be a finite number in the range {interval}. "
            f"Received: {name}={value!r}. Pass a value in that range."
        )
    return value


def check_choice(
    name: str,
    value: object,
    choices: Iterable[str],
    *,
    error: type[ArgumentError] = ArgumentError,
) -> str:
    """Return ``value`` if it is one of ``choices`` (case-insensitive)."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise InvalidTypeError(
            f"`{name}` must be a string, one of {list(choices)}. "
            f"Received: {name}={value!r} (type {type(value).__name__})."
        )
    lowered = value.lower()
    if lowered not in choices:
        raise error(
            f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}. Pick one of those "
            f"(case does not matter)."
        )
    return lowered


def _range_message(name, value, minimum, maximum, kind):
    if maximum is None:
        expected = f"an {kind} >= {minimum}"
    elif minimum is None:
        expected = f"an {kind} <= {maximum}"
    else:
        expected = f"an {kind} in [{minimum}, {maximum}]"
    return f"`{name}` must be {expected}. Received: {name}={value!r}. Pass a value in that range."
