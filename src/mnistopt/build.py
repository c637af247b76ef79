"""Turn an :class:`~mnistopt.MLPSpec` into a compiled Keras model.

This is the only place mnistopt constructs models. The layers and their
order are what :mod:`mnistopt.budget` counts:

``Input(H, W)`` -> [``Reshape(H, W, 1)`` -> ``Cropping2D(crop)`` ->
``AveragePooling2D(2)``] -> ``Flatten`` -> for each hidden width:
``Dense`` (+ ``BatchNormalization`` + ``Activation``) (+ ``Dropout``) ->
``Dense(num_classes, softmax)``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .errors import ArgumentTypeError
from .spec import MLPSpec

__all__ = ["build_model", "make_optimizer", "load_checkpoint", "LOSS"]

#: The loss every model is compiled with (integer labels, softmax outputs).
LOSS = "sparse_categorical_crossentropy"


def build_model(spec: MLPSpec, *, compile: bool = True, steps_per_execution: int = 1) -> Any:
    """Build (and by default compile) the Keras 3 model ``spec`` describes.

    Args:
        spec: the model and its training settings.
        compile: compile with the spec's optimizer, sparse categorical
            cross-entropy and accuracy.
        steps_per_execution: batches run per call into the compiled graph; a
            larger value cuts per-step overhead and does not change what is
            learned.

    Returns:
        A ``keras.Sequential`` whose ``count_params()`` equals ``spec.params``.

    Example:
        >>> from mnistopt import MLPSpec, build_model
        >>> model = build_model(MLPSpec(hidden=(32,), pool=True))
        >>> model.count_params() == MLPSpec(hidden=(32,), pool=True).params == 196 * 32 + 32 + 330
        True
    """
    import keras

    return _build(spec, keras, compile=compile, steps_per_execution=steps_per_execution)


def make_optimizer(spec: MLPSpec, keras_module: ModuleType | None = None) -> Any:
    """The optimizer object a spec names, from ``keras_module`` (default: Keras 3)."""
    if keras_module is None:
        import keras as keras_module
    opt = keras_module.optimizers
    if spec.optimizer == "adam":
        return opt.Adam(learning_rate=spec.learning_rate)
    if spec.optimizer == "sgd":
        return opt.SGD(learning_rate=spec.learning_rate, momentum=spec.momentum)
    return opt.RMSprop(learning_rate=spec.learning_rate)


def load_checkpoint(model: Any, path: str) -> Any:
    """Load weights *and* optimizer state saved by ``model.save_weights`` into a built model."""
    if getattr(model, "optimizer", None) is not None:
        model.optimizer.build(model.trainable_variables)  # so its saved state has somewhere to go
    model.load_weights(path)
    return model


def _build(spec: MLPSpec, k: ModuleType, *, compile: bool = True, steps_per_execution: int = 1) -> Any:
    """Build with the given Keras module (``keras`` or ``tf_keras``, same layer API)."""
    if not isinstance(spec, MLPSpec):
        raise ArgumentTypeError(
            f"`spec` must be an MLPSpec. Received: spec={spec!r} (type {type(spec).__name__})."
        )
    L = k.layers
    reg = (lambda: k.regularizers.L2(spec.l2)) if spec.l2 > 0 else (lambda: None)
    height, width = spec.input_shape
    layers: list[Any] = [k.Input(shape=(height, width), name="image")]
    if spec.crop or spec.pool:
        layers.append(L.Reshape((height, width, 1), name="channel"))
        if spec.crop:
            layers.append(L.Cropping2D(spec.crop, name="crop"))
        if spec.pool:
            layers.append(L.AveragePooling2D(2, name="pool"))
    layers.append(L.Flatten(name="flatten"))
    for i, units in enumerate(spec.hidden, start=1):
        layers.append(
            L.Dense(
                units,
                activation=None if spec.batch_norm else spec.activation,
                use_bias=not spec.batch_norm,
                kernel_regularizer=reg(),
                name=f"dense_{i}",
            )
        )
        if spec.batch_norm:
            layers.append(L.BatchNormalization(name=f"bn_{i}"))
            layers.append(L.Activation(spec.activation, name=f"act_{i}"))
        if spec.dropout > 0:
            layers.append(L.Dropout(spec.dropout, name=f"dropout_{i}"))
    layers.append(L.Dense(spec.num_classes, activation="softmax", kernel_regularizer=reg(), name="output"))
    model = k.Sequential(layers, name="mlp_" + spec.architecture.replace(":", "_").replace("-", "_"))
    if compile:
        model.compile(
            optimizer=make_optimizer(spec, k),
            loss=LOSS,
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
    return model
