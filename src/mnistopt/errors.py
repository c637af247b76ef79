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
    "InvalidTypeError",
    "BudgetError",
    "SpecError",
    "DataError",
    "DataNotFoundError",
    "TrainingDivergedError",
    "OutputDirError",
    "ModelNotFoundError",
    "NotSelectedError",
    "SearchFailedError",
]


class MnistoptError(Exception):
    """Base class of every error raised by mnistopt.

    Example:
        >>> from mnistopt import MnistoptError, search_under_budget
        >>> try:
        ...     search_under_budget(0)
        ... except MnistoptError as exc:
        ...     print(type(exc).__name__, "-", exc)
        BudgetError - `budget` must be an integer in [1, 1000000000]. Received: budget=0. Pass a value in that range.
    """


class ArgumentError(MnistoptError, ValueError):
    """An argument has the right type but an invalid value.

    Example:
        >>> from mnistopt import search_under_budget
        >>> search_under_budget(4034, tuner="genetic")
        Traceback (most recent call last):
        ...
        mnistopt.errors.ArgumentError: `tuner` must be one of ['hyperband', 'bayesian', 'random', 'grid']. Received: tuner='genetic'. Pick one of those (case does not matter).
    """


class InvalidTypeError(MnistoptError, TypeError):
    """An argument has the wrong type.

    Example:
        >>> from mnistopt import search_under_budget
        >>> search_under_budget("4034")
        Traceback (most recent call last):
        ...
        mnistopt.errors.InvalidTypeError: `budget` must be an integer. Received: budget='4034' (type str). Pass a whole number such as 10.
    """


class BudgetError(ArgumentError):
    """A parameter budget is invalid or too small for any model.

    Example:
        >>> from mnistopt.budget import widths_for_budget
        >>> widths_for_budget(100, 784, 10, (1,))
        Traceback (most recent call last):
        ...
        mnistopt.errors.BudgetError: budget=100 is below the smallest 1-hidden-layer MLP for 784 inputs and 10 classes, which has 805 parameters (with no hidden layer: 7,850). Raise the budget, use fewer hidden layers, or shrink the input (crop border pixels, 2x2 pooling).
    """


class SpecError(ArgumentError):
    """An :class:`~mnistopt.MLPSpec` field has an invalid value.

    Example:
        >>> from mnistopt import MLPSpec
        >>> from mnistopt.errors import SpecError
        >>> try:
        ...     MLPSpec(hidden=(0,))
        ... except SpecError as exc:
        ...     print("refused:", "hidden" in str(exc))
        refused: True
    """


class DataError(MnistoptError, ValueError):
    """A dataset file is corrupt, truncated, mislabelled or of the wrong layout.

    Example:
        >>> import numpy as np
        >>> from mnistopt import load_dataset
        >>> x = np.zeros((20, 28, 28), np.uint8)
        >>> y = np.arange(20) % 10
        >>> load_dataset({"x_train": x, "y_train": y, "x_test": x, "y_test": y + 1})
        Traceback (most recent call last):
        ...
        mnistopt.errors.DataError: <y_test array>: test label(s) 10 never appear in the training split (2 test images); a model cannot learn a class it never sees. Check the labels files.
    """


class DataNotFoundError(DataError, FileNotFoundError):
    """No copy of a dataset could be found or downloaded.

    The message lists every place that was looked at.

    Example:
        >>> from mnistopt import load_dataset
        >>> from mnistopt.errors import DataNotFoundError
        >>> try:
        ...     load_dataset("mnist", path="/no/such/folder")
        ... except FileNotFoundError as exc:  # also a ValueError
        ...     print(isinstance(exc, DataNotFoundError), "does not exist" in str(exc))
        True True
    """


class TrainingDivergedError(MnistoptError, FloatingPointError):
    """The training loss became NaN or infinite.

    Example:
        >>> from mnistopt import MLPSpec, train
        >>> from mnistopt.errors import TrainingDivergedError
        >>> from mnistopt.data import synthetic_dataset
        >>> ds = synthetic_dataset()
        >>> spec = MLPSpec(hidden=(16,), optimizer="sgd", learning_rate=1e20, epochs=2)
        >>> try:
        ...     train(spec, ds)
        ... except TrainingDivergedError as exc:
        ...     print("diverged:", "Lower the learning rate" in str(exc))
        diverged: True
    """


class OutputDirError(MnistoptError, OSError):
    """An output directory cannot be created or written.

    Example:
        >>> import os, tempfile
        >>> from mnistopt import search_under_budget
        >>> from mnistopt.errors import OutputDirError
        >>> blocker = os.path.join(tempfile.mkdtemp(), "a-file")
        >>> open(blocker, "w").close()
        >>> try:
        ...     search_under_budget(4034, directory=os.path.join(blocker, "run"))
        ... except OSError as exc:
        ...     print(type(exc).__name__, "cannot be created" in str(exc))
        OutputDirError True
    """


class ModelNotFoundError(MnistoptError, FileNotFoundError):
    """No model file where one was named.

    Example:
        >>> from mnistopt import load_model
        >>> from mnistopt.errors import ModelNotFoundError
        >>> try:
        ...     load_model("/no/such/model.keras")
        ... except FileNotFoundError as exc:
        ...     print(type(exc).__name__)
        ModelNotFoundError
    """


class NotSelectedError(MnistoptError, KeyError):
    """A result holds no selected model for the budget asked about.

    Example:
        >>> from mnistopt import SearchResult
        >>> from mnistopt.errors import NotSelectedError
        >>> try:
        ...     SearchResult(records=(), selected={}, info={}).best(4034)
        ... except KeyError as exc:  # also a MnistoptError
        ...     print(type(exc).__name__, isinstance(exc, NotSelectedError))
        NotSelectedError True
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SearchFailedError(MnistoptError, RuntimeError):
    """Every trial of a search failed; the message gives the first reasons.

    Example:
        >>> import tempfile
        >>> from mnistopt import SearchSpace, search_under_budget
        >>> from mnistopt.errors import SearchFailedError
        >>> from mnistopt.data import synthetic_dataset
        >>> ds = synthetic_dataset()
        >>> # Adam moves every weight by about the learning rate whatever its gradient, so 1e20 overflows
        >>> # whatever else a trial samples (plain SGD can stall instead, once its ReLUs die)
        >>> hopeless = SearchSpace(depth=1, inputs="pool", optimizer="adam", learning_rate=1e20, batch_norm=False,
        ...                        lr_schedule="constant")
        >>> try:
        ...     search_under_budget(3000, ds, tuner="random", max_trials=2, max_epochs=1, space=hopeless,
        ...                         directory=tempfile.mkdtemp())
        ... except SearchFailedError as exc:
        ...     print("every trial failed:", "diverged" in str(exc))
        every trial failed: True
    """
