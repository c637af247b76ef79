"""What a spec's int8 ``.tflite`` file needs at run time, by arithmetic: its tensor arena.

The TensorFlow Lite converter lowers each model mnistopt builds into a fixed chain of ops
(:func:`int8_ops`): a ``Reshape`` or ``Flatten`` becomes ``SHAPE``, ``STRIDED_SLICE``, ``PACK``
and ``RESHAPE`` (the batch size is read at run time), a crop a ``STRIDED_SLICE``, batch norm
folds into the layer before it, ReLU fuses into it and other activations are ops of their own
(:data:`ACTIVATION_OPS`); a file with float input and output (``"int8"``) starts with a
``QUANTIZE`` and ends with a ``DEQUANTIZE``. :func:`int8_arena` is then the largest total of
tensors alive at once while those ops run in order (:func:`peak_live_bytes`), the same
computation :func:`mnistopt.artifacts.arena_bytes` makes from a built file's graph, so a search
can hold a model within an arena limit *before* training it. ``tests/test_footprint.py`` holds
the two equal on built files of random specs of both families.

Pure Python: no TensorFlow import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .cnn import CNNSpec, Downsample, Head
from .errors import ArgumentError, InvalidTypeError
from .spec import MLPSpec

__all__ = ["peak_live_bytes", "int8_ops", "int8_arena", "ACTIVATION_OPS", "INT8_FORMATS"]

#: The int8 file formats whose arena :func:`int8_arena` computes: float input and output
#: (``"int8"``) or int8 input and output (``"int8-io"``, what a microcontroller runs).
INT8_FORMATS = ("int8", "int8-io")

#: How the converter lowers each activation in an int8 file: ops as ``(name, inputs, bytes per
#: value)``, where input ``0`` is the activation's input and ``k`` the output of its ``k``-th op
#: (ReLU is fused into the layer before it).
ACTIVATION_OPS: Mapping[str, tuple[tuple[str, tuple[int, ...], int], ...]] = {
    "relu": (),
    "tanh": (("TANH", (0,), 1),),
    "gelu": (("GELU", (0,), 1),),
    "sigmoid": (("LOGISTIC", (0,), 1),),
    "swish": (("LOGISTIC", (0,), 1), ("MUL", (0, 1), 1)),
    "elu": (("DEQUANTIZE", (0,), 4), ("ELU", (1,), 4), ("QUANTIZE", (2,), 1)),
    "selu": (("GREATER", (0,), 1), ("MUL", (0,), 1), ("EXP", (0,), 1), ("SUB", (3,), 1), ("MUL", (4,), 1),
             ("SELECT_V2", (1, 2, 5), 1)),
}


def peak_live_bytes(op_tensors: Sequence[tuple[Iterable[int], Iterable[int]]], sizes: Mapping[int, int],
                    inputs: Iterable[int], outputs: Iterable[int]) -> int:
    """The largest total size of tensors alive at once while ops run in order.

    ``op_tensors`` lists each op's ``(input tensors, output tensors)``; a tensor is alive from the
    op that makes it (the first op, for a graph input) to the last op that reads it (the last op,
    for a graph output). Tensors no op makes and that are no graph input (constants: weights stay
    in the file) are not counted; neither are those missing from ``sizes``.

    Example:
        >>> from mnistopt.footprint import peak_live_bytes
        >>> # a -> op0 -> b -> op1 -> c: at op0 a and b are alive, at op1 b and c
        >>> peak_live_bytes([([0], [1]), ([1], [2])], {0: 10, 1: 5, 2: 1}, inputs=[0], outputs=[2])
        15
    """
    last = len(op_tensors) - 1
    live: dict[int, list[int]] = {t: [0, 0] for t in inputs if t in sizes}
    for i, (ins, outs) in enumerate(op_tensors):
        for t in outs:
            if t in sizes:
                live.setdefault(t, [i, i])
        for t in ins:
            if t in live:
                live[t][1] = max(live[t][1], i)
    for t in outputs:
        if t in sizes:
            live.setdefault(t, [last, last])[1] = last
    return max((sum(sizes[t] for t, (a, b) in live.items() if a <= i <= b) for i in range(max(1, len(op_tensors)))),
               default=0)


class _Chain:
    """The ops of a file as they are emitted: each tensor a byte size, each op its tensors."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.ops: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []

    def tensor(self, shape: Sequence[int], itemsize: int = 1) -> int:
        self.sizes[len(self.sizes)] = math.prod(shape) * itemsize
        return len(self.sizes) - 1

    def op(self, name: str, inputs: Sequence[int], shape: Sequence[int], itemsize: int = 1) -> int:
        out = self.tensor(shape, itemsize)
        self.ops.append((name, tuple(inputs), (out,)))
        return out

    def reshape(self, x: int, rank: int, shape: Sequence[int]) -> int:
        """A Keras ``Reshape``/``Flatten`` of a tensor of ``rank`` dimensions (batch included): the
        batch size is read from the tensor's shape at run time."""
        dims = self.op("SHAPE", [x], (rank,), 4)
        batch = self.op("STRIDED_SLICE", [dims], (), 4)
        new_shape = self.op("PACK", [batch], (len(shape) + 1,), 4)
        return self.op("RESHAPE", [x, new_shape], shape)

    def activation(self, x: int, name: str, shape: Sequence[int]) -> int:
        made = [x]
        for op, ins, itemsize in ACTIVATION_OPS[name]:
            made.append(self.op(op, [made[i] for i in ins], shape, itemsize))
        return made[-1]


def int8_ops(spec: MLPSpec | CNNSpec, quantize: str = "int8-io") -> tuple[_Chain, int, int]:
    """The op chain of ``spec``'s int8 file (``quantize`` in :data:`INT8_FORMATS`): the chain, its
    input tensor and its output tensor."""
    if quantize not in INT8_FORMATS:
        raise ArgumentError(f"`quantize` must be among {list(INT8_FORMATS)}. Received: quantize={quantize!r}.")
    if not isinstance(spec, (MLPSpec, CNNSpec)):
        raise InvalidTypeError(f"`spec` must be an MLPSpec or a CNNSpec. Received: {type(spec).__name__}.")
    if spec.activation not in ACTIVATION_OPS:
        raise ArgumentError(f"No int8 lowering is known for activation={spec.activation!r}.")
    chain = _Chain()
    height, width = spec.input_shape
    if quantize == "int8":
        first = chain.tensor((height, width), 4)
        x = chain.op("QUANTIZE", [first], (height, width))
    else:
        first = x = chain.tensor((height, width))
    if isinstance(spec, MLPSpec):
        rank, shape = 3, (height, width)
        if spec.crop or spec.pool:
            x, rank = chain.reshape(x, 3, (height, width, 1)), 4
            if spec.crop:
                height, width = height - 2 * spec.crop, width - 2 * spec.crop
                x = chain.op("STRIDED_SLICE", [x], (height, width, 1))
            if spec.pool:
                height, width = height // 2, width // 2
                x = chain.op("AVERAGE_POOL_2D", [x], (height, width, 1))
        x = chain.reshape(x, rank, (height * width,))
        for units in spec.hidden:
            x = chain.activation(chain.op("FULLY_CONNECTED", [x], (units,)), spec.activation, (units,))
    else:
        x = chain.reshape(x, 3, (height, width, 1))
        cin = 1
        for block, (ch, cw, h, w) in zip(spec.blocks, spec._sizes()):
            if block.separable:
                x = chain.op("DEPTHWISE_CONV_2D", [x], (ch, cw, cin))
            x = chain.activation(chain.op("CONV_2D", [x], (ch, cw, block.filters)), spec.activation,
                                 (ch, cw, block.filters))
            if block.downsample is Downsample.POOL:
                x = chain.op("MAX_POOL_2D", [x], (h, w, block.filters))
            cin = block.filters
        h, w, c = spec.feature_shape()
        x = chain.op("MEAN", [x], (c,)) if spec.head is Head.GAP else chain.reshape(x, 4, (h * w * c,))
    x = chain.op("SOFTMAX", [chain.op("FULLY_CONNECTED", [x], (spec.num_classes,))], (spec.num_classes,))
    if quantize == "int8":
        x = chain.op("DEQUANTIZE", [x], (spec.num_classes,), 4)
    return chain, first, x


def int8_arena(spec: Any, quantize: str = "int8-io") -> int:
    """The tensor arena of ``spec``'s int8 file, in bytes, by arithmetic: what
    :func:`mnistopt.artifacts.arena_bytes` measures on the file the spec's model exports to with
    ``quantize`` (``"int8-io"``: int8 input and output, the default; ``"int8"``: float).

    Example:
        >>> from mnistopt import MLPSpec
        >>> from mnistopt.footprint import int8_arena
        >>> int8_arena(MLPSpec(hidden=(32,), crop=2, pool=True))  # the int8 image, reshaped (and 16 bytes of shape)
        1584
        >>> int8_arena(MLPSpec(hidden=(32,), crop=2, pool=True), "int8")  # float image + int8 image
        3920
    """
    chain, first, last = int8_ops(spec, quantize)
    return peak_live_bytes([(ins, outs) for _, ins, outs in chain.ops], chain.sizes, [first], [last])
