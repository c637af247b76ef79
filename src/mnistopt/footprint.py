"""What a spec's int8 ``.tflite`` file needs at run time, by arithmetic: its tensor arena.

Two figures: :func:`int8_arena`, the activations alone (what LiteRT's graph says is alive at once),
and :func:`tflm_arena`, the arena TensorFlow Lite Micro allocates for the int8-io file (those
activations plus TFLM's own persistent structures), the one device limits hold.

The TensorFlow Lite converter lowers each model mnistopt builds into a fixed chain of ops
(:func:`int8_ops`): a ``Reshape`` or ``Flatten`` becomes ``SHAPE``, ``STRIDED_SLICE``, ``PACK``
and ``RESHAPE`` (the batch size is read at run time), a crop a ``STRIDED_SLICE``, batch norm
folds into the layer before it, ReLU fuses into it and other activations are ops of their own
(:data:`ACTIVATION_OPS`); a file with float input and output (``"int8"``) starts with a
``QUANTIZE`` and ends with a ``DEQUANTIZE``. The int8-io file (the device file) has a fixed batch
of one, so its reshapes are single ``RESHAPE`` ops (none at all before the last layer when the
feature map is 1x1), and it takes its image in the shape its first layer reads (no leading
reshape). :func:`int8_arena` is then the largest total of
tensors alive at once while those ops run in order (:func:`peak_live_bytes`), the same
computation :func:`mnistopt.artifacts.arena_bytes` makes from a built file's graph, so a search
can hold a model within an arena limit *before* training it. ``tests/test_footprint.py`` holds
the two equal on built files of random specs of both families.

Pure Python: no TensorFlow import.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import ArgumentError, InvalidTypeError
from .spec import TrainingFields

__all__ = ["peak_live_bytes", "greedy_plan_bytes", "int8_ops", "int8_arena", "tflm_arena", "ACTIVATION_OPS", "INT8_FORMATS",
           "TFLM_OP_BYTES", "TFLM_BASE_BYTES", "TFLM_ARENA_MARGIN", "TFLM_ACTIVATIONS", "tflm_missing_ops"]

#: The int8 file formats whose arena :func:`int8_arena` computes: float input and output
#: (``"int8"``) or int8 input and output (``"int8-io"``, what a microcontroller runs).
INT8_FORMATS = ("int8", "int8-io")

#: Ops whose int8 kernels keep a multiplier and a shift per output channel (TFLM's op data).
_PER_CHANNEL = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")

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


#: TensorFlow Lite Micro's persistent arena bytes for each op it has a kernel for, beyond the op's
#: per-channel multipliers and shifts: its ``TfLiteEvalTensor`` (24 bytes) for the op's output and
#: constant inputs, its node and registration (64 bytes), its builtin options and its kernel's op
#: data. Fitted by least squares to TFLM's recording allocator on 100 random int8-io files of both
#: families and rounded up to 4 bytes (``benchmarks/tflm_arena.py --fit``, tflite-micro
#: 0.dev20261023182759, x86-64 build).
#: An op missing here has no TFLM kernel (``GELU``; ``SELECT``, which SELU lowers to).
TFLM_OP_BYTES: Mapping[str, int] = {
    "RESHAPE": 160, "STRIDED_SLICE": 272, "AVERAGE_POOL_2D": 164, "MAX_POOL_2D": 164, "MEAN": 196,
    "FULLY_CONNECTED": 248, "CONV_2D": 248, "DEPTHWISE_CONV_2D": 244, "SOFTMAX": 456, "TANH": 108,
    "LOGISTIC": 108, "MUL": 144, "QUANTIZE": 196, "DEQUANTIZE": 196, "ELU": 196,
}
#: TFLM's arena bytes that every file needs (the interpreter's and the subgraph's structures, the
#: input's and output's quantization), set so that :func:`tflm_arena` is never below
#: TFLM's own figure on the 100 files it was fitted to.
TFLM_BASE_BYTES = 464
#: How far above TFLM's own figure :func:`tflm_arena` may be: on 100 random files it was not fitted to
#: it was 8 to 64 bytes over (1.3% of the arena at most; ``benchmarks/tflm_arena.py``), and never
#: below; ``tests/test_tflm.py`` checks other random specs against this margin.
TFLM_ARENA_MARGIN = 96


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
    live = _lifetimes(op_tensors, sizes, inputs, outputs)
    return max((sum(sizes[t] for t, (a, b) in live.items() if a <= i <= b) for i in range(max(1, len(op_tensors)))),
               default=0)


def _lifetimes(op_tensors: Sequence[tuple[Iterable[int], Iterable[int]]], sizes: Mapping[int, int],
               inputs: Iterable[int], outputs: Iterable[int]) -> dict[int, list[int]]:
    """Each counted tensor's first and last op, as :func:`peak_live_bytes` documents."""
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
    return live


def greedy_plan_bytes(op_tensors: Sequence[tuple[Iterable[int], Iterable[int]]], sizes: Mapping[int, int],
                      inputs: Iterable[int], outputs: Iterable[int]) -> int:
    """The arena TensorFlow Lite Micro's greedy memory planner lays these tensors out in, in bytes.

    The tensors and their lifetimes are :func:`peak_live_bytes`'; TFLM takes them in its own order
    (largest first; among equal sizes, the highest tensor index first) and puts each at the lowest
    offset where it overlaps no placed tensor alive at the same time. Fragmentation can make that
    more than :func:`peak_live_bytes`, which is a lower bound: three equal tensors with two
    overlapping pairs, for one, and a small tensor that finds no gap.

    Example:
        >>> from mnistopt.footprint import greedy_plan_bytes, peak_live_bytes
        >>> # 0 -> op0 -> 1 -> op1 -> 2 -> op2 -> 3 -> op3 -> 4: tensors 0, 2 and 3 of 784 bytes, 1 and 4 of 208
        >>> ops, sizes = [([0], [1]), ([1], [2]), ([2], [3]), ([3], [4])], {0: 784, 1: 208, 2: 784, 3: 784, 4: 208}
        >>> peak_live_bytes(ops, sizes, [0], [4]), greedy_plan_bytes(ops, sizes, [0], [4])
        (1568, 1776)
    """
    live = _lifetimes(op_tensors, sizes, inputs, outputs)
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first op, last op), in order of offset
    for t in sorted(sorted(live, reverse=True), key=lambda t: -sizes[t]):
        first, last = live[t]
        offset = 0
        for start, end, a, b in placed:
            if a > last or first > b:
                continue
            if start - offset >= sizes[t]:
                break
            offset = max(offset, end)
        placed.insert(bisect.bisect_right([p[0] for p in placed], offset), (offset, offset + sizes[t], first, last))
    return max((end for _, end, _, _ in placed), default=0)


class _Chain:
    """The ops of a file as they are emitted: each tensor a byte size, each op its tensors."""

    def __init__(self, fixed_batch: bool = False) -> None:
        self.sizes: dict[int, int] = {}
        self.ops: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
        self.channels: list[int] = []  # each op's per-channel quantized output channels (0: per-tensor)
        self.fixed_batch = fixed_batch

    def tensor(self, shape: Sequence[int], itemsize: int = 1) -> int:
        self.sizes[len(self.sizes)] = math.prod(shape) * itemsize
        return len(self.sizes) - 1

    def op(self, name: str, inputs: Sequence[int], shape: Sequence[int], itemsize: int = 1) -> int:
        out = self.tensor(shape, itemsize)
        self.ops.append((name, tuple(inputs), (out,)))
        self.channels.append(shape[-1] if name in _PER_CHANNEL else 0)
        return out

    def reshape(self, x: int, rank: int, shape: Sequence[int]) -> int:
        """A Keras ``Reshape``/``Flatten`` of a tensor of ``rank`` dimensions (batch included): in a
        file of a dynamic batch, the batch size is read from the tensor's shape at run time."""
        if self.fixed_batch:
            return self.op("RESHAPE", [x], shape)
        dims = self.op("SHAPE", [x], (rank,), 4)
        batch = self.op("STRIDED_SLICE", [dims], (), 4)
        new_shape = self.op("PACK", [batch], (len(shape) + 1,), 4)
        return self.op("RESHAPE", [x, new_shape], shape)

    def leading_reshape(self, x: int, rank: int, shape: Sequence[int]) -> int:
        """A reshape of the image before the first layer: none in the device file, which takes its
        image in the shape its first layer reads (``export_tflite``)."""
        return x if self.fixed_batch else self.reshape(x, rank, shape)

    def activation(self, x: int, name: str, shape: Sequence[int]) -> int:
        """``name``'s ops (:data:`ACTIVATION_OPS`) after tensor ``x`` of ``shape``; ReLU adds none."""
        made = [x]
        for op, ins, itemsize in ACTIVATION_OPS[name]:
            made.append(self.op(op, [made[i] for i in ins], shape, itemsize))
        return made[-1]


def int8_ops(spec: TrainingFields, quantize: str = "int8-io") -> tuple[_Chain, int, int]:
    """The op chain of ``spec``'s int8 file (``quantize`` in :data:`INT8_FORMATS`): the chain, its
    input tensor and its output tensor."""
    if quantize not in INT8_FORMATS:
        raise ArgumentError(f"`quantize` must be among {list(INT8_FORMATS)}. Received: quantize={quantize!r}.")
    if not isinstance(spec, TrainingFields):
        raise InvalidTypeError(f"`spec` must be a model spec (an MLPSpec, a CNNSpec). Received: {type(spec).__name__}.")
    if spec.activation not in ACTIVATION_OPS:
        raise ArgumentError(f"No int8 lowering is known for activation={spec.activation!r}.")
    chain = _Chain(fixed_batch=quantize == "int8-io")  # the device file's batch is fixed (export_tflite)
    height, width = spec.input_shape
    if quantize == "int8":
        first = chain.tensor((height, width), 4)
        x = chain.op("QUANTIZE", [first], (height, width))
    else:
        first = x = chain.tensor((height, width))
    x = spec.lower(chain, x)  # each family's layers, as the converter emits them
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
        >>> int8_arena(MLPSpec(hidden=(32,), crop=2, pool=True))  # the int8 image and its cropped copy
        1360
        >>> int8_arena(MLPSpec(hidden=(32,), crop=2, pool=True), "int8")  # float image + int8 image
        3920
    """
    chain, first, last = int8_ops(spec, quantize)
    return peak_live_bytes([(ins, outs) for _, ins, outs in chain.ops], chain.sizes, [first], [last])


def tflm_missing_ops(activation: str) -> tuple[str, ...]:
    """The ops of ``activation``'s int8 lowering that TensorFlow Lite Micro has no kernel for.

    Example:
        >>> from mnistopt.footprint import tflm_missing_ops
        >>> tflm_missing_ops("gelu"), tflm_missing_ops("swish")
        (('GELU',), ())
    """
    if activation not in ACTIVATION_OPS:
        raise ArgumentError(f"No int8 lowering is known for activation={activation!r}.")
    return tuple(op for op, _, _ in ACTIVATION_OPS[activation] if op not in TFLM_OP_BYTES)


#: The activations whose int8-io files TensorFlow Lite Micro runs: a search for a device samples only these.
TFLM_ACTIVATIONS = tuple(a for a in ACTIVATION_OPS if not tflm_missing_ops(a))


def _aligned(n: int) -> int:
    return -(-n // 16) * 16


def tflm_arena(spec: Any) -> int:
    """The tensor arena ``spec``'s int8-io file needs on TensorFlow Lite Micro, in bytes, by arithmetic.

    TFLM's arena holds the activations its memory planner places (each buffer aligned to 16 bytes,
    laid out as TFLM's greedy planner does: :func:`greedy_plan_bytes` of the op chain, which equals
    TFLM's figure on every file tried) and its own persistent structures: :data:`TFLM_BASE_BYTES`,
    :data:`TFLM_OP_BYTES` for each op, and an int32 multiplier and shift per output channel of each
    fully connected and convolution layer. The result is never below TFLM's own figure on the files
    it was checked on, and at most :data:`TFLM_ARENA_MARGIN` bytes above it. It is TFLM's figure on
    this machine's 64-bit build: a 32-bit microcontroller's pointers are half the size, so it needs
    at most this. A search measures every trained trial's file on TFLM anyway, so no limit rests on
    this arithmetic alone.

    Raises:
        ArgumentError: the spec's activation has an op TFLM has no kernel for (its file does not run).

    Example:
        >>> from mnistopt import MLPSpec
        >>> from mnistopt.footprint import tflm_arena, int8_arena
        >>> spec = MLPSpec(hidden=(128, 64))  # the reference notebook's MLP
        >>> int8_arena(spec), tflm_arena(spec)  # activations alone, and what TFLM allocates (4,192 measured)
        (912, 4208)
    """
    missing = tflm_missing_ops(spec.activation)
    if missing:
        raise ArgumentError(f"TFLM has no kernel for {', '.join(missing)} (activation={spec.activation!r}): "
                            f"its int8-io file does not run on TFLM. Activations TFLM runs: {list(TFLM_ACTIVATIONS)}.")
    chain, first, last = int8_ops(spec, "int8-io")
    head = greedy_plan_bytes([(ins, outs) for _, ins, outs in chain.ops],
                             {t: _aligned(n) for t, n in chain.sizes.items()}, [first], [last])
    persistent = sum(TFLM_OP_BYTES[op] for op, _, _ in chain.ops)
    channels = sum(2 * _aligned(4 * c) for c in chain.channels if c)
    return head + TFLM_BASE_BYTES + persistent + channels
