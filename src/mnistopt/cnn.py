"""``CNNSpec``: a small convolutional network, described, counted and fitted to a budget exactly.

The foundation of the convolutional family (issue #28): a frozen record of the blocks (Conv2D
or depthwise-separable, kernel size, downsampling by 2x2 max pooling or stride 2), batch
normalisation, activation, the head (global average pooling or flatten), dropout, and the same
training fields as :class:`~mnistopt.MLPSpec`. Its parameter count and multiply-accumulates are
exact arithmetic (tested against ``count_params()`` and :func:`~mnistopt.models.describe_model`
on the built model), and :func:`widest_cnn` gives the widest channels that fit a parameter
budget for a given depth, kernel sizes and relative widths, so a sampled model is never over
its budget. Pure Python until :meth:`CNNSpec.build` (which imports Keras).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ._checks import check_int
from .errors import BudgetError, SpecError
from .spec import TrainingFields

__all__ = ["Downsample", "Head", "Padding", "ConvBlock", "CNNSpec", "cnn_of_width", "widest_cnn"]


class Downsample(str, enum.Enum):
    """How a block halves the feature map after its convolution."""

    POOL = "pool"  #: 2x2 max pooling (floor of half)
    STRIDE = "stride"  #: the convolution itself at stride 2 ("same" padding: ceil of half)
    NONE = "none"


class Padding(str, enum.Enum):
    """How a convolution treats the image's border (Keras' ``padding``)."""

    VALID = "valid"  #: no padding: a k x k kernel loses k - 1 rows and columns (Keras' default)
    SAME = "same"  #: zero padding: the map keeps its size (ceil of half at stride 2)

    def out(self, size: int, kernel: int, stride: int) -> int:
        """The side of a convolution's output for an input side of ``size``."""
        if self is Padding.SAME:
            return math.ceil(size / stride)
        return (size - kernel) // stride + 1 if size >= kernel else 0


class Head(str, enum.Enum):
    """What turns the last feature map into the classifier's input."""

    GAP = "gap"  #: global average pooling: one value per channel
    FLATTEN = "flatten"  #: every position of every channel


@dataclasses.dataclass(frozen=True)
class ConvBlock:
    """One convolution, then batch norm and the activation, then downsampling."""

    filters: int
    kernel: int = 3
    separable: bool = False
    downsample: Downsample = Downsample.POOL

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", check_int("filters", self.filters, minimum=1, error=SpecError))
        object.__setattr__(self, "kernel", check_int("kernel", self.kernel, minimum=1, maximum=9, error=SpecError))
        object.__setattr__(self, "downsample", Downsample(self.downsample))
        if not isinstance(self.separable, bool):
            raise SpecError(f"`separable` must be True or False. Received: separable={self.separable!r}.")

    @property
    def label(self) -> str:
        kernel = "" if self.kernel == 3 else f"k{self.kernel}"
        down = {Downsample.POOL: "p", Downsample.STRIDE: "s", Downsample.NONE: ""}[self.downsample]
        return f"{'sep' if self.separable else ''}{self.filters}{kernel}{down}"


@dataclasses.dataclass(frozen=True)
class CNNSpec(TrainingFields):
    """Everything needed to build and train one small CNN.

    Args:
        blocks: the convolution blocks, in order (:class:`ConvBlock`).
        head: :class:`Head` after the last block.
        batch_norm: batch normalisation after each convolution (whose bias is then dropped).
        padding: :class:`Padding` of every convolution (Keras' default, ``"valid"``).
        activation: as in :class:`~mnistopt.MLPSpec`; so are ``dropout`` (before the output
            layer), ``l2``, ``optimizer``, ``learning_rate``, ``lr_schedule``, ``momentum``,
            ``batch_size``, ``epochs``, ``augment``, ``label_smoothing``, ``input_shape`` and
            ``num_classes``.

    Example:
        >>> spec = CNNSpec(blocks=(ConvBlock(6), ConvBlock(12)), head="flatten")
        >>> spec.architecture, spec.params, spec.macs
        ('cnn:6p-12p-flatten-10', 3730, 117912)
    """

    #: The model family this spec describes (``"family"`` in :meth:`to_dict`).
    family: ClassVar[str] = "cnn"

    blocks: tuple[ConvBlock, ...] = (ConvBlock(8), ConvBlock(16))
    head: Head = Head.GAP
    padding: Padding = Padding.VALID
    batch_size: int = dataclasses.field(default=64, kw_only=True)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        blocks = tuple(b if isinstance(b, ConvBlock) else ConvBlock(**b) for b in self.blocks)
        if not blocks:
            raise SpecError("`blocks` must hold at least one ConvBlock (use an MLPSpec for a model without one).")
        set_(self, "blocks", blocks)
        set_(self, "head", Head(self.head))
        set_(self, "padding", Padding(self.padding))
        self._check_training()
        if any(min(size) < 1 for size in self._sizes()):
            raise SpecError(f"The blocks {[b.label for b in blocks]} leave no feature map of a {self.input_shape} image "
                            f"(padding={self.padding.value!r}). Use fewer or smaller blocks, or padding='same'.")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``"family": "cnn"``); :meth:`from_dict` inverts it.

        Example:
            >>> spec = CNNSpec(blocks=(ConvBlock(6, separable=True, downsample="stride"),), head="flatten")
            >>> CNNSpec.from_dict(spec.to_dict()) == spec
            True
        """
        out: dict[str, Any] = {"family": self.family}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "blocks":
                value = [{"filters": b.filters, "kernel": b.kernel, "separable": b.separable,
                          "downsample": b.downsample.value} for b in value]
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNNSpec:
        """Rebuild a spec from :meth:`to_dict` output; unknown keys are an error."""
        kwargs = cls._stored_fields(data)
        if "blocks" in kwargs:
            kwargs["blocks"] = tuple(ConvBlock(**b) for b in kwargs["blocks"])
        return cls(**kwargs)

    # -- exact arithmetic ------------------------------------------------------------------------------

    def _sizes(self) -> list[tuple[int, int, int, int]]:
        """Per block: (height, width) after its convolution and after its downsampling."""
        h, w = self.input_shape
        out = []
        for b in self.blocks:
            stride = 2 if b.downsample is Downsample.STRIDE else 1
            ch, cw = self.padding.out(h, b.kernel, stride), self.padding.out(w, b.kernel, stride)
            h, w = (ch // 2, cw // 2) if b.downsample is Downsample.POOL else (ch, cw)
            out.append((ch, cw, h, w))
            if min(h, w) < 1:
                break
        return out

    def feature_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of the last block's output."""
        _, _, h, w = self._sizes()[-1]
        return h, w, self.blocks[-1].filters

    @property
    def params(self) -> int:
        """Every weight and bias, batch-norm statistics included (what ``count_params()`` counts)."""
        total, cin = 0, 1
        for b in self.blocks:
            window = b.kernel * b.kernel
            kernel = window * cin + cin * b.filters if b.separable else window * cin * b.filters
            total += kernel + (4 * b.filters if self.batch_norm else b.filters)
            cin = b.filters
        h, w, c = self.feature_shape()
        features = c if self.head is Head.GAP else h * w * c
        return total + features * self.num_classes + self.num_classes

    @property
    def macs(self) -> int:
        """Exact multiply-accumulates for one image, counted as :func:`~mnistopt.models.describe_model`
        counts them: convolution kernels at every output position, one per value global average
        pooling reads, the output layer; max pooling, biases, activations and batch norm (folded into
        the convolution on export) are not multiply-accumulates."""
        total, cin = 0, 1
        for b, (ch, cw, _, _) in zip(self.blocks, self._sizes()):
            per_position = b.kernel * b.kernel * cin + cin * b.filters if b.separable else \
                b.kernel * b.kernel * cin * b.filters
            total += ch * cw * per_position
            cin = b.filters
        h, w, c = self.feature_shape()
        if self.head is Head.GAP:
            return total + h * w * c + c * self.num_classes
        return total + h * w * c * self.num_classes

    @property
    def architecture(self) -> str:
        """``cnn:`` then each block (filters, ``k5`` for a 5x5 kernel, ``p`` pooled, ``s`` strided,
        ``sep`` separable), the head and the classes: ``cnn:8p-16p-gap-10``."""
        return "cnn:" + "-".join([b.label for b in self.blocks] + [self.head.value, str(self.num_classes)])

    def prunable_kernels(self) -> dict[str, tuple[int, int]]:
        """The kernels magnitude pruning thins, by layer name, as ``(fan_in, fan_out)``: a convolution's
        fan-in counts its window; a separable block's pointwise kernel (what tfmot prunes; its depthwise
        kernel stays dense); the output layer.

        Example:
            >>> CNNSpec(blocks=(ConvBlock(6), ConvBlock(12, separable=True)), head="gap").prunable_kernels()
            {'conv_1': (9, 6), 'conv_2': (6, 12), 'output': (12, 10)}
        """
        out, cin = {}, 1
        for i, b in enumerate(self.blocks, start=1):
            out[f"conv_{i}"] = (cin, b.filters) if b.separable else (b.kernel * b.kernel * cin, b.filters)
            cin = b.filters
        h, w, c = self.feature_shape()
        out["output"] = (c if self.head is Head.GAP else h * w * c, self.num_classes)
        return out

    def resized(self, budget: int) -> CNNSpec:
        """The widest spec of this shape (blocks' kernels, relative widths, downsampling; head) within
        ``budget`` parameters (:func:`widest_cnn`).

        Example:
            >>> CNNSpec(blocks=(ConvBlock(8), ConvBlock(16)), head="flatten").resized(4034).architecture
            'cnn:6p-12p-flatten-10'
        """
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "blocks"}
        return widest_cnn(budget, [b.kernel for b in self.blocks], [b.filters / self.blocks[0].filters for b in self.blocks],
                          separable=[b.separable for b in self.blocks],
                          downsample=[b.downsample for b in self.blocks], **fields)

    # -- building ---------------------------------------------------------------------------------------

    def lower(self, chain: Any, x: int) -> int:
        """The converter's ops for each block (a ``DEPTHWISE_CONV_2D`` before a separable block's
        ``CONV_2D``, the activation, a ``MAX_POOL_2D``) and the head (``MEAN``, or a flattening
        reshape) (:meth:`~mnistopt.spec.TrainingFields.lower`)."""
        height, width = self.input_shape
        x = chain.leading_reshape(x, 3, (height, width, 1))
        cin = 1
        for block, (ch, cw, h, w) in zip(self.blocks, self._sizes()):
            if block.separable:
                x = chain.op("DEPTHWISE_CONV_2D", [x], (ch, cw, cin))
            x = chain.activation(chain.op("CONV_2D", [x], (ch, cw, block.filters)), self.activation,
                                 (ch, cw, block.filters))
            if block.downsample is Downsample.POOL:
                x = chain.op("MAX_POOL_2D", [x], (h, w, block.filters))
            cin = block.filters
        h, w, c = self.feature_shape()
        if self.head is Head.GAP:
            return chain.op("MEAN", [x], (c,))
        if chain.fixed_batch and h == w == 1:  # a fixed 1x1 map: the converter drops the reshape
            return x
        return chain.reshape(x, 4, (h * w * c,))

    def build(self, keras_module: Any = None) -> Any:
        """The Keras model this spec describes, not compiled (Keras 3 unless ``keras_module`` is
        ``tf_keras``); its layer names are fixed (``conv_1``, ``bn_1``, ``pool_1``, ... ``output``)."""
        if keras_module is None:
            import keras as keras_module
        k = keras_module
        L = k.layers
        reg = (lambda: k.regularizers.L2(self.l2)) if self.l2 > 0 else (lambda: None)
        height, width = self.input_shape
        layers: list[Any] = [k.Input(shape=(height, width), name="image"),
                             L.Reshape((height, width, 1), name="channel")]
        for i, b in enumerate(self.blocks, start=1):
            stride = 2 if b.downsample is Downsample.STRIDE else 1
            common = dict(padding=self.padding.value, strides=stride, use_bias=not self.batch_norm, name=f"conv_{i}",
                          activation=None if self.batch_norm else self.activation)
            if b.separable:
                layers.append(L.SeparableConv2D(b.filters, b.kernel, pointwise_regularizer=reg(), **common))
            else:
                layers.append(L.Conv2D(b.filters, b.kernel, kernel_regularizer=reg(), **common))
            if self.batch_norm:
                layers.append(L.BatchNormalization(name=f"bn_{i}"))
                layers.append(L.Activation(self.activation, name=f"act_{i}"))
            if b.downsample is Downsample.POOL:
                layers.append(L.MaxPooling2D(2, name=f"pool_{i}"))
        layers.append(L.GlobalAveragePooling2D(name="gap") if self.head is Head.GAP else L.Flatten(name="flatten"))
        if self.dropout > 0:
            layers.append(L.Dropout(self.dropout, name="dropout"))
        layers.append(L.Dense(self.num_classes, activation="softmax", kernel_regularizer=reg(), name="output"))
        return k.Sequential(layers, name="cnn_" + self.architecture[4:].replace("-", "_"))


def cnn_of_width(width: int, kernels: Sequence[int], ratios: Sequence[float], *,
                 separable: Sequence[bool] | None = None, downsample: Sequence[Downsample | str] | None = None,
                 **fields: Any) -> CNNSpec:
    """The :class:`CNNSpec` of this shape at base width ``width``: block ``i`` has
    ``max(1, round(width * ratios[i]))`` filters of ``kernels[i]``; ``fields`` are the other
    :class:`CNNSpec` fields (:class:`~mnistopt.errors.SpecError` when the blocks leave no feature map).

    Example:
        >>> cnn_of_width(1, kernels=(3, 3), ratios=(1, 2), head="flatten").architecture
        'cnn:1p-2p-flatten-10'
    """
    separable = tuple(separable) if separable is not None else (False,) * len(kernels)
    downsample = tuple(downsample) if downsample is not None else (Downsample.POOL,) * len(kernels)
    blocks = tuple(ConvBlock(max(1, round(width * r)), k, s, d)
                   for k, r, s, d in zip(kernels, ratios, separable, downsample))
    return CNNSpec(blocks=blocks, **fields)


def widest_cnn(budget: int, kernels: Sequence[int], ratios: Sequence[float], *,
               separable: Sequence[bool] | None = None, downsample: Sequence[Downsample | str] | None = None,
               fits: Callable[[CNNSpec], bool] | None = None, **fields: Any) -> CNNSpec:
    """The widest :class:`CNNSpec` of this shape with at most ``budget`` parameters.

    Block ``i`` has ``max(1, round(w * ratios[i]))`` filters; the largest base width ``w`` whose
    spec fits is found by bisection (parameters grow with ``w``), so a model built from the result
    is never over its budget. ``fits``, when given, must hold too: a further limit that grows
    with the width (multiply-accumulates, tensor arena). ``fields`` are the other
    :class:`CNNSpec` fields.

    Raises:
        BudgetError: even one filter per block does not fit.

    Example:
        >>> spec = widest_cnn(4034, kernels=(3, 3), ratios=(1, 2), head="flatten")
        >>> spec.architecture, spec.params <= 4034
        ('cnn:6p-12p-flatten-10', True)
    """
    budget = check_int("budget", budget, minimum=1, error=BudgetError)
    if len(kernels) != len(ratios) or not kernels:
        raise SpecError(f"`kernels` and `ratios` must be equally long and not empty. Received: {len(kernels)} kernels "
                        f"and {len(ratios)} ratios.")

    def spec_for(width: int) -> CNNSpec:
        return cnn_of_width(width, kernels, ratios, separable=separable, downsample=downsample, **fields)

    def within(spec: CNNSpec) -> bool:
        return spec.params <= budget and (fits is None or fits(spec))

    if spec_for(1).params > budget:
        raise BudgetError(f"budget={budget:,} is below the smallest CNN of this shape ({spec_for(1).params:,} "
                          f"parameters at one filter per block). Raise the budget or use fewer blocks.")
    if not within(spec_for(1)):
        raise BudgetError(f"No CNN of this shape fits the limits, even at one filter per block "
                          f"({spec_for(1).architecture}).")
    low, high = 1, 2
    while within(spec_for(high)):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if within(spec_for(middle)) else (low, middle)
    return spec_for(low)
