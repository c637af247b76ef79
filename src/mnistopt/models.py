"""Any Keras model, described from its own layers: :func:`describe_model`.

A model the user brings (Sequential or functional, one image input, one class-score output) is
read as it is, not through an :class:`~mnistopt.MLPSpec`: its input layout (``(28, 28)``,
``(28, 28, 1)`` or ``(784,)``), whether it ends in a softmax or gives logits, a name from its
layers (``784-128-64-10``, ``conv32-conv64-10``), its parameter count and its exact
multiply-accumulates per image, and which of its layers the tf_keras bridge of the compression
stages can rebuild (:data:`BRIDGEABLE`). Imports Keras only inside the functions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import DataError, InvalidTypeError, SpecError

__all__ = ["ModelInfo", "describe_model", "BRIDGEABLE"]

#: Layers the compression stages can rebuild in tf_keras (from their config and weights) for
#: magnitude pruning and quantization-aware training. Post-training quantization needs none of it.
BRIDGEABLE = frozenset({
    "InputLayer", "Flatten", "Reshape", "Rescaling", "Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
    "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "BatchNormalization",
    "Dropout", "Activation", "ReLU", "Softmax", "Cropping2D", "ZeroPadding2D",
})


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a Keras model is, read from its layers.

    Attributes:
        name: the model's own name.
        architecture: its weighted layers in order: Dense widths after the input features
            (``784-128-64-10``), ``convF`` / ``dwK`` / ``sepF`` for convolutions.
        params: ``count_params()``.
        macs: exact multiply-accumulates for one image (Dense and convolution kernels; one per
            value an average pooling reads; biases, activations, max pooling and batch norm,
            which folds into the layer before it on export, are not counted).
        input_shape: the input without the batch axis.
        num_classes: the output's width.
        logits: ``True`` when the output is raw scores (no softmax at the end).
        layers: each layer as ``name (ClassName)``.
        unbridgeable: the layers the tf_keras bridge cannot rebuild (and why), empty when
            pruning and quantization-aware training can run.
    """

    name: str
    architecture: str
    params: int
    macs: int
    input_shape: tuple[int, ...]
    num_classes: int
    logits: bool
    layers: tuple[str, ...]
    unbridgeable: tuple[str, ...]

    def images(self, x: np.ndarray, pixel_scale: float = 1.0) -> np.ndarray:
        """Images ``(N, H, W)`` in ``[0, 1]`` as the model takes them: reshaped to its input and
        multiplied by ``pixel_scale`` (255 for a model trained on raw pixels)."""
        x = np.asarray(x, dtype=np.float32)
        if int(np.prod(x.shape[1:])) != int(np.prod(self.input_shape)):
            raise DataError(
                f"The images have shape {tuple(x.shape[1:])} but model {self.name!r} takes inputs of shape "
                f"{self.input_shape}. Pass data whose images have {int(np.prod(self.input_shape)):,} pixels."
            )
        x = x.reshape((len(x), *self.input_shape))
        return x * np.float32(pixel_scale) if pixel_scale != 1.0 else x

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["layers"] = list(self.layers)
        out["unbridgeable"] = list(self.unbridgeable)
        return out


def describe_model(model: Any) -> ModelInfo:
    """Read :class:`ModelInfo` from a Keras 3 model's own layers.

    Raises:
        InvalidTypeError: ``model`` is not a Keras 3 model.
        SpecError: it does not take one image and give one vector of class scores.

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
        ...                       keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
        >>> info = describe_model(m)
        >>> info.architecture, info.params, info.macs, info.logits, info.input_shape
        ('784-128-10', 101770, 101632, True, (28, 28))
    """
    import keras

    if not isinstance(model, keras.Model):
        raise InvalidTypeError(f"`model` must be a Keras 3 model. Received: {type(model).__name__}.")
    name = model.name
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise SpecError(f"Model {name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; mnistopt "
                        f"compresses models that take one image and give one vector of class scores.")
    input_shape = tuple(model.inputs[0].shape[1:])
    output_shape = tuple(model.outputs[0].shape[1:])
    if None in input_shape or not (len(input_shape) == 1 or len(input_shape) == 2
                                   or (len(input_shape) == 3 and input_shape[-1] == 1)):
        raise SpecError(f"Model {name!r} takes inputs of shape {input_shape}; mnistopt compresses models of grey "
                        f"images: (height, width), (height, width, 1) or (pixels,).")
    if len(output_shape) != 1 or not output_shape[0] or output_shape[0] < 2:
        raise SpecError(f"Model {name!r} gives outputs of shape {output_shape}; mnistopt compresses classifiers "
                        f"whose output is one vector of class scores.")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    chain = _is_chain(model, layers)
    parts, macs, unbridgeable = [], 0, []
    features = None
    for layer in layers:
        kind = type(layer).__name__
        if kind not in BRIDGEABLE:
            unbridgeable.append(f"{layer.name!r} ({kind})")
        first = layer.input[0] if isinstance(layer.input, (list, tuple)) else layer.input  # a merge: its first
        inp = tuple(int(d) for d in first.shape[1:])
        out = tuple(int(d) for d in layer.output.shape[1:])
        macs += _macs(layer, kind, inp, out)
        if kind == "Dense":
            if not parts:
                features = int(math.prod(inp))
            parts.append(str(layer.units))
        elif kind == "Conv2D":
            parts.append(f"conv{layer.filters}")
        elif kind == "DepthwiseConv2D":
            parts.append(f"dw{layer.kernel_size[0]}")
        elif kind == "SeparableConv2D":
            parts.append(f"sep{layer.filters}")
    if not chain:
        unbridgeable.append("(the model branches or merges: not a chain of layers)")
    architecture = "-".join(([str(features)] if features is not None else []) + parts) or name
    return ModelInfo(name=name, architecture=architecture, params=int(model.count_params()), macs=int(macs),
                     input_shape=tuple(int(d) for d in input_shape), num_classes=int(output_shape[0]),
                     logits=not _ends_in_softmax(layers),
                     layers=tuple(f"{layer.name} ({type(layer).__name__})" for layer in layers),
                     unbridgeable=tuple(unbridgeable))


def _macs(layer: Any, kind: str, inp: Sequence[int], out: Sequence[int]) -> int:
    if kind == "Dense":
        return int(math.prod(inp)) * int(layer.units)
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        positions = int(math.prod(out[:-1]))
        kh, kw = layer.kernel_size
        cin = inp[-1]
        if kind == "Conv2D":
            return positions * kh * kw * (cin // layer.groups) * int(layer.filters)
        depthwise = positions * kh * kw * cin * int(layer.depth_multiplier)
        if kind == "DepthwiseConv2D":
            return depthwise
        return depthwise + positions * cin * int(layer.depth_multiplier) * int(layer.filters)
    if kind in ("AveragePooling2D", "GlobalAveragePooling2D"):
        return int(math.prod(out)) * (int(math.prod(layer.pool_size)) if kind == "AveragePooling2D"
                                      else int(math.prod(inp[:-1])))
    return 0


def _ends_in_softmax(layers: Sequence[Any]) -> bool:
    for layer in reversed(layers):
        kind = type(layer).__name__
        if kind == "Softmax":
            return True
        activation = getattr(layer, "activation", None)
        if kind in ("Dense", "Conv2D", "Activation") and activation is not None:
            return getattr(activation, "__name__", str(activation)) == "softmax"
        if kind not in ("Dropout", "Flatten", "Reshape"):
            return False
    return False


def _is_chain(model: Any, layers: Sequence[Any]) -> bool:
    """Whether each layer takes the previous one's output alone (what a Sequential is)."""
    import keras

    if isinstance(model, keras.Sequential):
        return True
    previous = None  # the input layer
    for layer in layers:
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        history = getattr(inputs[0], "_keras_history", None)
        producer = history[0] if history is not None else None
        if len(inputs) != 1 or producer is None:
            return False
        if previous is None:
            if type(producer).__name__ != "InputLayer":
                return False
        elif producer is not previous:
            return False
        previous = layer
    return True
