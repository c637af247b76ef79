"""mnistopt: the most accurate MNIST-format model in N parameters or N bytes.

Importing mnistopt is light: NumPy only. Every module imports TensorFlow and
Keras inside the functions that need them; tensorflow-model-optimization and
tf_keras load only inside the compression code, so ``tf.keras`` and
``TF_USE_LEGACY_KERAS`` stay as the user set them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .budget import input_features, mlp_params, min_params, widths_for_budget
from .data import Dataset, load_dataset
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    BudgetError,
    DataError,
    DataNotFoundError,
    MnistoptError,
    OutputDirError,
    SearchFailedError,
    SpecError,
    TrainingDivergedError,
)
from .spec import MLPSpec, count_params, widest_spec

from .build import build_model, load_model, spec_from_model
from .compress import compress_model, export_tflite, prune_magnitude, prune_units, quantization_aware_training
from .records import SearchResult, SelectedModel, TrialRecord
from .report.pareto import hypervolume, pareto_front
from .report.render import write_report
from .runs import run_baseline
from .search import TrialProgress, reference_grid_search, search_under_budget
from .space import Choice, Range, SearchSpace
from .training import EpochProgress, TrainResult, train

__all__ = [
    "__version__",
    "ArgumentError",
    "ArgumentTypeError",
    "BudgetError",
    "Choice",
    "DataError",
    "DataNotFoundError",
    "Dataset",
    "EpochProgress",
    "MLPSpec",
    "MnistoptError",
    "OutputDirError",
    "Range",
    "SearchFailedError",
    "SearchResult",
    "SearchSpace",
    "SelectedModel",
    "SpecError",
    "TrainResult",
    "TrainingDivergedError",
    "TrialProgress",
    "TrialRecord",
    "build_model",
    "compress_model",
    "export_tflite",
    "count_params",
    "input_features",
    "load_dataset",
    "load_model",
    "min_params",
    "mlp_params",
    "pareto_front",
    "hypervolume",
    "prune_magnitude",
    "prune_units",
    "quantization_aware_training",
    "reference_grid_search",
    "run_baseline",
    "search_under_budget",
    "spec_from_model",
    "train",
    "widest_spec",
    "widths_for_budget",
    "write_report",
]

