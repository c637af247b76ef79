"""The convolutional family: :class:`CNNFamily` and its resolved choices, :class:`CNNChoices`."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

from .._checks import check_int
from ..cnn import CNNSpec, Downsample, Head, Padding, cnn_of_width, widest_cnn
from ..dimensions import Choice, Dimension, Range, as_choice, dimension
from ..errors import ArgumentError, BudgetError, SpecError
from .base import Family

__all__ = ["CNNFamily", "CNNChoices"]


def _shape(depth: int, growth: float, kernel: int, separable: bool, downsample: str) -> dict[str, Any]:
    return dict(kernels=tuple(kernel if i < 2 else 3 for i in range(depth)),
                ratios=tuple(growth ** i for i in range(depth)),
                separable=(False,) + (bool(separable),) * (depth - 1), downsample=(downsample,) * depth)


@dataclasses.dataclass(frozen=True)
class CNNChoices:
    """The convolutional family's part of a resolved space: the block counts and heads that fit.

    A sampled CNN has ``conv_depth`` blocks, the first two of ``conv_kernel`` convolutions (later
    blocks, on maps of 11 pixels or less, use 3x3), each ``conv_growth`` times as wide as the one before,
    downsampled alike (``conv_downsample``), the blocks after the first depthwise-separable when
    ``conv_separable``; then ``conv_head``. Its channels are the widest that fit the
    budget (:func:`mnistopt.cnn.widest_cnn`).
    """

    depths: tuple[int, ...]
    heads: tuple[str, ...]

    def dimensions(self, space: Any) -> list[Dimension]:
        return [dimension("conv_depth", Choice(*self.depths)), dimension("conv_growth", space.conv_growth),
                dimension("conv_kernel", space.conv_kernel), dimension("conv_separable", space.conv_separable),
                dimension("conv_downsample", space.conv_downsample), dimension("conv_padding", space.conv_padding),
                dimension("conv_head", Choice(*self.heads))]

    def to_spec(self, space: Any, values: Mapping[str, Any], budget: int, fields: dict[str, Any],
                limits: Any = None) -> CNNSpec:
        shape = _shape(int(values["conv_depth"]), float(values["conv_growth"]), int(values["conv_kernel"]),
                       bool(values["conv_separable"]), values["conv_downsample"])
        return widest_cnn(budget, **shape, head=values["conv_head"], padding=values["conv_padding"],
                          fits=limits.fits if limits else None, **fields)


class CNNFamily(Family):
    """The small convolutional networks (:class:`~mnistopt.cnn.CNNSpec`), described by the
    :class:`~mnistopt.SearchSpace`'s ``conv_*`` fields (:class:`CNNChoices`)."""

    name: ClassVar[str] = CNNSpec.family
    built_in: ClassVar[bool] = True
    spec_class: ClassVar[type] = CNNSpec
    #: A CNN epoch costs tens of times an MLP's, so a search with CNNs keeps the regular schedule
    #: (:data:`~mnistopt.options.DEFAULT_MAX_EPOCHS` epochs of :data:`~mnistopt.options.AUTO_EPOCH_IMAGES`)
    #: at every budget: at 4,034 parameters the small-budget schedule would cost it 8 times as much.
    small_budget_schedule: ClassVar[bool] = False
    #: ``retrain_factor="auto"``: the selected CNN is trained again from scratch for twice its trial's
    #: epochs (schedule stretched) and that model ships. Chosen by 5-fold cross-validation over
    #: MNIST-10k's 10,000 training images (``benchmarks/cnn_defaults.py``, official test set unused):
    #: twice the epochs gained +0.0032 [+0.0004, +0.0060] at 4,034 parameters and +0.0030
    #: [+0.0013, +0.0047] at 72,842 (paired differences, 95% t-intervals); three times gained
    #: +0.0057 [+0.0036, +0.0078] at 4,034 but +0.0020 [-0.0008, +0.0048] at 72,842 (cannot tell)
    #: for 1.5 times the cost, so one factor for both is 2. Training
    #: every trial twice as long would double the search; training the winner twice as long costs
    #: about two full trials per budget (a search runs dozens).
    retrain_factor: ClassVar[int] = 2

    def check(self, space: Any) -> None:
        for name, allowed in (("conv_downsample", tuple(d.value for d in Downsample)),
                              ("conv_padding", tuple(p.value for p in Padding)), ("conv_head", tuple(h.value for h in Head)),
                              ("conv_separable", (False, True))):
            bad = [v for v in as_choice(getattr(space, name), name) if v not in allowed]
            if bad:
                raise ArgumentError(f"`{name}` must be among {list(allowed)}. Received: {bad}.")
        for d in as_choice(space.conv_depth, "conv_depth"):
            check_int("conv_depth", d, minimum=1, maximum=6)
        for k in as_choice(space.conv_kernel, "conv_kernel"):
            check_int("conv_kernel", k, minimum=1, maximum=9)
        growth = (space.conv_growth.low, space.conv_growth.high) if isinstance(space.conv_growth, Range) else \
            as_choice(space.conv_growth, "conv_growth")
        if any(not isinstance(g, (int, float)) or isinstance(g, bool) or not 0.25 <= g <= 4 for g in growth):
            raise ArgumentError(f"`conv_growth` must be numbers in [0.25, 4]. Received: {space.conv_growth}.")

    def resolve(self, space: Any, budget: int, input_shape: tuple[int, ...], num_classes: int,
                limits: Any = None) -> CNNChoices:
        activations = as_choice(space.activation, "activation")
        growth = space.conv_growth.high if isinstance(space.conv_growth, Range) else max(
            as_choice(space.conv_growth, "conv_growth"))
        others = list(itertools.product(
            as_choice(space.conv_kernel, "conv_kernel"), as_choice(space.conv_separable, "conv_separable"),
            as_choice(space.conv_downsample, "conv_downsample"), as_choice(space.conv_padding, "conv_padding"),
            as_choice(space.batch_norm, "batch_norm")))

        def worst(depth: int, head: str) -> int | None:
            """Parameters of the costliest combination at one filter in the first block (None: no map, or
            over the limits)."""
            try:
                smallest = [cnn_of_width(1, **_shape(depth, growth, k, sep, down), head=head, padding=pad,
                                         batch_norm=bn, activation=a, input_shape=input_shape, num_classes=num_classes)
                            for k, sep, down, pad, bn in others for a in activations]
            except SpecError:
                return None
            if limits and not all(limits.fits(s) for s in smallest):
                return None
            return max(s.params for s in smallest)

        depths = sorted(as_choice(space.conv_depth, "conv_depth"))
        heads = as_choice(space.conv_head, "conv_head")
        fits = {(d, h): m for d in depths for h in heads if (m := worst(d, h)) is not None and m <= budget}
        kept_heads = tuple(h for h in heads if all((d, h) in fits for d in depths[:1]))
        kept_depths = tuple(d for d in depths if all((d, h) in fits for h in kept_heads))
        if not kept_heads or not kept_depths:
            known = [m for d in depths for h in heads if (m := worst(d, h)) is not None]
            least = f"{min(known):,} parameters" if known else "no feature map left for this image size"
            if not known and limits:
                least = f"none within the limits: {limits.describe()}"
            raise BudgetError(
                f"budget={budget:,} is below the smallest CNN of this search space ({least}: one filter in the "
                f"first block, every allowed choice). Raise the budget, or fix conv_head='gap' and fewer blocks."
            )
        return CNNChoices(kept_depths, kept_heads)
