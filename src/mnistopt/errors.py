"""Exception classes raised by mnistopt.

Every error mnistopt raises on purpose derives from :class:`MnistoptError` and
also from the built-in exception that fits, so ``except ValueError`` (or
``TypeError``, ``OSError``) in existing code keeps working.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

__all__ = [
    "MnistoptError",
    "ArgumentError",
    "ArgumentTypeError",
    "BudgetError",
    "SpecError",
    "DataError",
    "DataNotFoundError",
    "TrainingDivergedError",
    "OutputDirError",
    "SearchFailedError",
]


class MnistoptError(Exception):
    """Base class of every error raised by mnistopt."""


class ArgumentError(MnistoptError, ValueError):
    """An argument has the right type but an invalid value."""


class ArgumentTypeError(MnistoptError, TypeError):
    """An argument has the wrong type."""


class BudgetError(ArgumentError):
    """A parameter budget is invalid or too small for any model."""


class SpecError(ArgumentError):
    """An :class:`~mnistopt.MLPSpec` field has an invalid value."""


class DataError(MnistoptError, ValueError):
    """A dataset file is corrupt, truncated, mislabelled or of the wrong layout."""


class DataNotFoundError(DataError, FileNotFoundError):
    """No copy of a dataset could be found or downloaded.

    The message lists every place that was looked at.
    """


class TrainingDivergedError(MnistoptError, FloatingPointError):
    """The training loss became NaN or infinite."""


class OutputDirError(MnistoptError, OSError):
    """An output directory cannot be created or written."""


class SearchFailedError(MnistoptError, RuntimeError):
    """Every trial of a search failed; the message gives the first reasons."""
