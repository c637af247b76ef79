"""Quantization-aware training (int8) with tensorflow-model-optimization.

The Keras 3 model is copied into tf_keras, wrapped with ``quantize_model``
(fake-quantization of weights and activations in training), fine-tuned, and
converted to a full int8 ``.tflite`` file. The fake-quantized model exists
only inside this function: the result is the file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .._checks import check_int
from .._io import atomic_write_with
from ..data import Dataset
from ..spec import MLPSpec

__all__ = ["quantization_aware_training", "qat_any_model", "check_qat_supported"]

#: Activations tfmot's default int8 scheme cannot fake-quantize (it raises on them).
_UNSUPPORTED_ACTIVATIONS = ("elu", "selu")


def check_qat_supported(spec: MLPSpec) -> None:
    """Raise :class:`~mnistopt.errors.SpecError` if quantization-aware training cannot handle ``spec``."""
    from ..errors import SpecError

    if spec.hidden and spec.activation in _UNSUPPORTED_ACTIVATIONS:
        raise SpecError(
            f"Quantization-aware training does not support activation={spec.activation!r} "
            f"(tensorflow-model-optimization's int8 scheme has no quantizer for it). Use post-training "
            f"int8 instead (quantize='int8'), or a model with relu, gelu, tanh, swish or sigmoid."
        )


def quantization_aware_training(
    model: Any,
    spec: MLPSpec,
    dataset: Dataset,
    path: str | os.PathLike,
    *,
    epochs: int = 2,
    learning_rate: float | None = None,
    seed: int = 0,
) -> tuple[Path, dict[str, list[float]]]:
    """Fine-tune ``model`` with fake int8 quantization and export it to ``path``.

    Args:
        model: a trained Keras 3 model built from ``spec`` (not changed).
        spec: its description (for the tf_keras copy and the batch size).
        dataset: fine-tunes on its train split, reports its validation split.
        path: where the ``.tflite`` file goes (written atomically).
        epochs: fine-tuning epochs.
        learning_rate: fine-tuning rate (default: a tenth of the spec's; the
            weights are already trained and only adapt to the rounding).
        seed: seeds the shuffling.

    Returns:
        ``(path, history)``: the int8 file (float32 input and output, like
        every mnistopt artifact) and the fine-tuning curves.

    Example:
        >>> from mnistopt import load_dataset
        >>> ds = load_dataset("mnist-sample").subset(train=300, val=60, test=100)  # real digits, shipped
        >>> import os, tempfile
        >>> from mnistopt import MLPSpec, train
        >>> from mnistopt.compress import quantization_aware_training
        >>> spec = MLPSpec(hidden=(16,), pool=True, epochs=1)
        >>> model = train(spec, ds, evaluate_test=False).model
        >>> path, history = quantization_aware_training(model, spec, ds, os.path.join(tempfile.mkdtemp(), "qat.tflite"),
        ...                                             epochs=1)
        >>> path.suffix, len(history["loss"]), os.path.getsize(path) < 4 * spec.params
        ('.tflite', 1, True)
    """
    from ..build import make_optimizer
    from ._legacy import fit_legacy, load_tfmot, loss_for, to_tf_keras
    from ..artifacts import quiet_converter

    epochs = check_int("epochs", epochs, minimum=1, maximum=1000)
    check_qat_supported(spec)
    tfmot, tf_keras = load_tfmot()
    tf_keras.utils.set_random_seed(seed)
    legacy = to_tf_keras(model, spec)
    with quiet_converter():
        aware = tfmot.quantization.keras.quantize_model(legacy)
    rate = learning_rate if learning_rate is not None else spec.learning_rate / 10
    aware.compile(optimizer=make_optimizer(dataclasses.replace(spec, learning_rate=rate), tf_keras),
                  loss=loss_for(spec), metrics=["accuracy"])
    fit = fit_legacy(aware, spec, dataset, epochs=epochs, seed=seed)
    return _export(aware, path), {k: [float(v) for v in vals] for k, vals in fit.history.items()}


def qat_any_model(model: Any, info: Any, dataset: Dataset, path: str | os.PathLike, *, epochs: int = 2,
                  learning_rate: float | None = None, batch_size: int = 32,
                  seed: int = 0) -> tuple[Path, dict[str, list[float]]]:
    """Quantization-aware training of a model mnistopt did not build, rebuilt in tf_keras from its
    own layers: tfmot's default int8 scheme, ``epochs`` of fine-tuning (Adam at a tenth of the
    model's own compiled learning rate, or 1e-4), exported to an int8 ``.tflite`` file at ``path``.
    ``dataset``'s images must already be in the model's input layout. Raises
    :class:`~mnistopt.errors.SpecError` naming the layer tfmot cannot quantize."""
    from ..artifacts import quiet_converter
    from ..errors import SpecError
    from ._legacy import fit_plain, load_tfmot, rebuild_tf_keras
    from .sparsity import own_learning_rate

    epochs = check_int("epochs", epochs, minimum=1, maximum=1000)
    tfmot, tf_keras = load_tfmot()
    tf_keras.utils.set_random_seed(seed)
    legacy = rebuild_tf_keras(model, info)
    try:
        with quiet_converter():
            aware = tfmot.quantization.keras.quantize_model(legacy)
    except (RuntimeError, ValueError) as exc:
        raise SpecError(f"Quantization-aware training cannot quantize model {info.name!r}: "
                        f"{' '.join(str(exc).split())[:300]}. Post-training int8 still runs.") from exc
    rate = learning_rate if learning_rate is not None else own_learning_rate(model) / 10
    aware.compile(optimizer=tf_keras.optimizers.Adam(rate),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=info.logits), metrics=["accuracy"])
    fit = fit_plain(aware, dataset, epochs=epochs, batch_size=batch_size)
    return _export(aware, path), {k: [float(v) for v in vals] for k, vals in fit.history.items()}


def _export(aware: Any, path: str | os.PathLike) -> Path:
    """The fake-quantized tf_keras model as an int8 ``.tflite`` file at ``path`` (written atomically)."""
    import tensorflow as tf

    from ..artifacts import quiet_converter

    converter = tf.lite.TFLiteConverter.from_keras_model(aware)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with quiet_converter():
        flatbuffer = converter.convert()
    return atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(flatbuffer), ".tflite")
