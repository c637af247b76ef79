"""Compression stages: exported artifacts and their own accuracy.

Imports TensorFlow only inside functions; tensorflow-model-optimization (which
needs tf_keras) is imported only by the stages that use it, through
:func:`mnistopt.compress._legacy.load_tfmot`, which leaves ``tf.keras`` and
``TF_USE_LEGACY_KERAS`` as they were.
"""

from ..artifacts import QUANTIZATIONS, Stage, StageKind, evaluate_tflite, export_tflite, gzip_size, tflite_predict
from .pipeline import StageProgress, compress_model
from .qat import quantization_aware_training
from .sparsity import PruningOutcome, count_nonzero, kernel_sparsity_for, layer_densities, prune_magnitude
from .units import UnitPruningOutcome, prune_units, unit_importance

__all__ = [
    "QUANTIZATIONS",
    "PruningOutcome",
    "Stage",
    "StageKind",
    "StageProgress",
    "UnitPruningOutcome",
    "compress_model",
    "count_nonzero",
    "evaluate_tflite",
    "export_tflite",
    "gzip_size",
    "kernel_sparsity_for",
    "layer_densities",
    "prune_magnitude",
    "prune_units",
    "quantization_aware_training",
    "tflite_predict",
    "unit_importance",
]
