"""Export a Keras model to TFLite (float32 or post-training quantized) and
measure the exported file itself with the TFLite interpreter.

The accuracy reported for an artifact is the artifact's own: every image of a
split goes through the interpreter, in large batches (not a Python loop per
image).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._checks import check_choice, check_int
from .._io import atomic_write_with, silence_fd
from ..errors import ArgumentError

__all__ = ["QUANTIZATIONS", "export_tflite", "tflite_predict", "evaluate_tflite"]

#: Post-training modes: none (float32), dynamic-range int8 weights, float16
#: weights, full-integer int8 (weights and activations, calibrated).
QUANTIZATIONS = ("float32", "dynamic", "float16", "int8")


def export_tflite(
    model: Any,
    path: str | os.PathLike,
    quantize: str = "float32",
    *,
    representative: np.ndarray | None = None,
    calibration_samples: int = 500,
) -> Path:
    """Convert ``model`` to a ``.tflite`` file at ``path`` (written atomically).

    Args:
        model: a Keras model (Keras 3 or tf_keras).
        quantize: one of :data:`QUANTIZATIONS`.
        representative: images for int8 calibration, drawn from the training
            split (never the test set); required for ``"int8"``.
        calibration_samples: how many of them to use.

    Returns:
        The path written. Inputs and outputs stay float32 in every mode, so
        every artifact is evaluated the same way.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> from mnistopt import MLPSpec, build_model
        >>> from mnistopt.compress import export_tflite
        >>> from mnistopt.compress import evaluate_tflite
        >>> model = build_model(MLPSpec(hidden=(64,), pool=True))
        >>> folder = tempfile.mkdtemp()
        >>> sizes = {q: os.path.getsize(export_tflite(model, os.path.join(folder, q + ".tflite"), q))
        ...          for q in ("float32", "float16", "dynamic")}
        >>> sizes["dynamic"] < sizes["float16"] < sizes["float32"]
        True
        >>> x, y = np.zeros((4, 28, 28), np.float32), np.zeros(4, int)
        >>> 0.0 <= evaluate_tflite(os.path.join(folder, "dynamic.tflite"), x, y) <= 1.0
        True
    """
    import tensorflow as tf

    quantize = check_choice("quantize", quantize, QUANTIZATIONS)
    calibration_samples = check_int("calibration_samples", calibration_samples, minimum=1)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if representative is None or len(representative) == 0:
            raise ArgumentError(
                "quantize='int8' needs `representative` images to calibrate activation ranges. "
                "Pass some training images, e.g. representative=dataset.x_train[:500]."
            )
        sample = np.asarray(representative[:calibration_samples], dtype=np.float32)

        def calibration() -> Iterator[list[np.ndarray]]:
            for image in sample:
                yield [image[None]]

        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with _quiet():
        flatbuffer = converter.convert()
    return atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(flatbuffer), ".tflite")


def tflite_predict(path: str | os.PathLike, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Softmax outputs of the ``.tflite`` file at ``path`` for images ``x``."""
    import tensorflow as tf

    batch_size = check_int("batch_size", batch_size, minimum=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_path=str(path))
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    x = np.asarray(x, dtype=np.float32)
    parts = []
    allocated = None
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size]
        if allocated != len(chunk):
            interpreter.resize_tensor_input(inp["index"], [len(chunk), *x.shape[1:]])
            interpreter.allocate_tensors()
            allocated = len(chunk)
        interpreter.set_tensor(inp["index"], chunk)
        interpreter.invoke()
        parts.append(interpreter.get_tensor(out["index"]).copy())
    return np.concatenate(parts)


def evaluate_tflite(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Accuracy of the ``.tflite`` file at ``path`` on ``x, y``."""
    probs = tflite_predict(path, x, batch_size)
    return float(np.mean(probs.argmax(axis=1) == np.asarray(y)))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the converter: Python prints, warnings, and the C++ lines it writes to
    file descriptor 2 (e.g. ``fully_quantize: 0, inference_type: 6, ...``)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), silence_fd(2):
        warnings.simplefilter("ignore")
        yield
