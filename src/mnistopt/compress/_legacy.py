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
