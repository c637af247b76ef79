"""The one door to tensorflow-model-optimization and tf_keras (Keras 2).

tfmot works only with tf_keras models, and importing it sets
``TF_USE_LEGACY_KERAS=1``, which would make the user's ``tf.keras`` resolve to
Keras 2 from then on. :func:`load_tfmot` resolves ``tf.keras`` first (so it
stays what the user's environment says), imports tfmot, then restores the
variable. Models cross between Keras 3 and tf_keras only as NumPy weight
lists (:func:`to_tf_keras`, :func:`to_keras3`): no Keras 2 object ever meets
a Keras 3 one.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from ..spec import MLPSpec

_ENV = "TF_USE_LEGACY_KERAS"


def load_tfmot() -> tuple[ModuleType, ModuleType]:
    """``(tensorflow_model_optimization, tf_keras)``, imported without changing ``tf.keras``."""
    import tensorflow as tf

    before = os.environ.get(_ENV)
    getattr(tf.keras, "version", None)  # resolve tf.keras under the user's setting, once and for all
    try:
        import tensorflow_model_optimization as tfmot
        import tf_keras
    finally:
        if before is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = before
    return tfmot, tf_keras


def to_tf_keras(model: Any, spec: MLPSpec, *, compile: bool = False) -> Any:
    """A tf_keras copy of the Keras 3 ``model`` that ``spec`` describes (weights copied)."""
    from ..build import _build

    _, tf_keras = load_tfmot()
    legacy = _build(spec, tf_keras, compile=compile)
    _copy_weights(model, legacy)
    return legacy


def to_keras3(legacy: Any, spec: MLPSpec) -> Any:
    """A compiled Keras 3 model for ``spec`` holding the tf_keras model's weights."""
    from ..build import build_model

    model = build_model(spec)
    _copy_weights(legacy, model)
    return model


def _copy_weights(source: Any, target: Any) -> None:
    weights = source.get_weights()
    shapes = [tuple(w.shape) for w in weights]
    expected = [tuple(w.shape) for w in target.get_weights()]
    if shapes != expected:  # a model that does not match its spec
        from ..errors import SpecError

        raise SpecError(f"The model's weights {shapes} do not match the spec's layers {expected}.")
    target.set_weights(weights)


def fit_legacy(legacy: Any, spec: MLPSpec, dataset: Any, *, epochs: int, seed: int, callbacks: list | None = None):
    """Fine-tune a compiled tf_keras model as the spec trains: its batch size and, when it has
    them, its augmentation (a ``tf.data`` pipeline applying :func:`~mnistopt.augment.augment_batch`
    to each batch) and label smoothing (in the compiled loss, see :func:`loss_for`). Returns Keras'
    history."""
    import tensorflow as tf

    from ..augment import augment_batch

    common = dict(epochs=epochs, verbose=0, validation_data=(dataset.x_val, dataset.y_val), callbacks=callbacks)
    if spec.augment == "none":
        return legacy.fit(dataset.x_train, dataset.y_train, batch_size=spec.batch_size, shuffle=True, **common)
    base = tf.constant(seed, tf.int64)
    batches = (
        tf.data.Dataset.from_tensor_slices((dataset.x_train, dataset.y_train))
        .shuffle(len(dataset.y_train), seed=seed, reshuffle_each_iteration=True)
        .batch(spec.batch_size)
        .enumerate()
        .map(lambda i, xy: (augment_batch(xy[0], spec.augment, tf.stack([base, i])), xy[1]))
    )
    return legacy.fit(batches, **common)


def loss_for(spec: MLPSpec) -> Any:
    """The loss to compile a tf_keras model with: the spec's (label smoothing included)."""
    if not spec.label_smoothing:
        return "sparse_categorical_crossentropy"
    from ..training import training_loss

    return training_loss(spec.label_smoothing)


# Any model: each layer rebuilt in tf_keras from the options its config shares with Keras 3, then
# every weight copied. Initializers, regularizers and constraints are left out: the weights are
# copied, and fine-tuning a model we did not build uses no regularizer of its own.
_KEPT = {
    "Dense": ("units", "activation", "use_bias"),
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation",
               "use_bias"),
    "DepthwiseConv2D": ("kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate",
                        "activation", "use_bias"),
    "SeparableConv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                        "depth_multiplier", "activation", "use_bias"),
    "MaxPooling2D": ("pool_size", "strides", "padding", "data_format"),
    "AveragePooling2D": ("pool_size", "strides", "padding", "data_format"),
    "GlobalAveragePooling2D": ("data_format", "keepdims"),
    "GlobalMaxPooling2D": ("data_format", "keepdims"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "Dropout": ("rate",),
    "Flatten": (),
    "Reshape": ("target_shape",),
    "Rescaling": ("scale", "offset"),
    "Activation": ("activation",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "Softmax": ("axis",),
    "Cropping2D": ("cropping",),
    "ZeroPadding2D": ("padding",),
}


def rebuild_tf_keras(model: Any, info: Any) -> Any:
    """A tf_keras copy of any Keras 3 chain model whose layers are all in
    :data:`~mnistopt.models.BRIDGEABLE` (``info``: its :class:`~mnistopt.models.ModelInfo`),
    weights copied; layer names are kept."""
    from ..errors import SpecError

    if info.unbridgeable:
        raise SpecError(f"Model {info.name!r} cannot be rebuilt in tf_keras for tfmot: {'; '.join(info.unbridgeable)}.")
    _, tf_keras = load_tfmot()
    layers = [tf_keras.Input(shape=info.input_shape)]
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        config = layer.get_config()
        kwargs = {k: config[k] for k in _KEPT[kind] if k in config}
        for key in ("kernel_size", "strides", "pool_size", "dilation_rate", "target_shape"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        if isinstance(kwargs.get("axis"), list) and len(kwargs["axis"]) == 1:
            kwargs["axis"] = kwargs["axis"][0]
        if isinstance(kwargs.get("activation"), dict):
            raise SpecError(f"Layer {layer.name!r} ({kind}) has a custom activation, which the tf_keras copy "
                            f"cannot rebuild.")
        layers.append(getattr(tf_keras.layers, kind)(name=layer.name, **kwargs))
    legacy = tf_keras.Sequential(layers, name=info.name)
    _copy_weights(model, legacy)
    return legacy


def back_to_keras3(legacy: Any, model: Any) -> Any:
    """A fresh Keras 3 copy of ``model`` (same layers) holding the tf_keras model's weights."""
    import keras

    copy = keras.models.clone_model(model)
    _copy_weights(legacy, copy)
    return copy


def fit_plain(legacy: Any, dataset: Any, *, epochs: int, batch_size: int, callbacks: list | None = None):
    """Fine-tune a compiled tf_keras copy of a model mnistopt did not build: its images as they
    are (already in the model's layout), shuffled, no augmentation. Returns Keras' history."""
    return legacy.fit(dataset.x_train, dataset.y_train, batch_size=batch_size, epochs=epochs, verbose=0,
                      shuffle=True, validation_data=(dataset.x_val, dataset.y_val), callbacks=callbacks)
