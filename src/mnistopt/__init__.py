"""mnistopt: the most accurate MNIST-format model in N parameters or N bytes.

Importing mnistopt is light: NumPy only. Every module imports TensorFlow and
Keras inside the functions that need them; tensorflow-model-optimization and
tf_keras load only inside the compression code, so ``tf.keras`` and
``TF_USE_LEGACY_KERAS`` stay as the user set them.

The top level holds what a first search needs; the rest lives in namespaces:
:mod:`mnistopt.errors` (every exception), :mod:`mnistopt.budget` (parameter
arithmetic), :mod:`mnistopt.kinds` (what a budget counts), :mod:`mnistopt.limits` (device limits),
:mod:`mnistopt.compress` (pruning, quantization, ``.tflite`` files),
:mod:`mnistopt.report` (Pareto fronts, plots, documents) and
:mod:`mnistopt.reference` (the reference notebook's experiments).
"""

from __future__ import annotations

from ._version import __version__
from .budget import budget_sweep
from .build import build_model, load_model
from .compress import compress_model
from .data import Dataset, load_dataset
from .errors import MnistoptError
from .limits import Limits
from .records import SearchResult, SelectedModel, TrialRecord
from .report.render import write_report
from .search import search_under_budget
from .space import Choice, Range, SearchSpace
from .spec import MLPSpec, count_params, widest_spec
from .training import TrainResult, train

__all__ = [
    "__version__",
    "Choice",
    "Dataset",
    "MLPSpec",
    "Limits",
    "MnistoptError",
    "Range",
    "SearchResult",
    "SearchSpace",
    "SelectedModel",
    "TrainResult",
    "TrialRecord",
    "budget_sweep",
    "build_model",
    "compress_model",
    "count_params",
    "load_dataset",
    "load_model",
    "search_under_budget",
    "train",
    "widest_spec",
    "write_report",
]
