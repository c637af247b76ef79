"""The multilayer-perceptron family: :class:`MLPFamily` and its resolved choices, :class:`MLPChoices`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from .. import budget as _budget
from .._checks import check_int
from ..dimensions import Choice, Dimension, as_choice, dimension
from ..errors import ArgumentError, BudgetError
from ..spec import MLPSpec
from .base import Family

__all__ = ["MLPFamily", "MLPChoices", "INPUTS"]

#: The MLP's input reductions: name -> (pixels cropped from each border, 2x2 average pooling).
INPUTS = {
    "none": (0, False),
    "crop2": (2, False),
    "crop4": (4, False),
    "pool": (0, True),
    "crop2+pool": (2, True),
    "crop4+pool": (4, True),
}


@dataclasses.dataclass(frozen=True)
class MLPChoices:
    """The MLP family's part of a resolved space: the input reductions and depths that fit."""

    inputs: tuple[str, ...]
    depths: tuple[int, ...]

    def dimensions(self, space: Any) -> list[Dimension]:
        dims = []
        if space.hidden is None:
            dims.append(dimension("depth", Choice(*self.depths)))
            dims.extend(dimension(f"taper_{i}", space.taper) for i in range(2, max(self.depths) + 1))
        return dims + [dimension("inputs", Choice(*self.inputs))]

    def to_spec(self, space: Any, values: Mapping[str, Any], budget: int, fields: dict[str, Any],
                limits: Any = None) -> MLPSpec:
        crop, pool = INPUTS[values["inputs"]]
        base = MLPSpec(hidden=(), crop=crop, pool=pool, **fields)
        if space.hidden is not None:
            return dataclasses.replace(base, hidden=tuple(space.hidden))  # resolve() checked it fits (params kind)
        depth = int(values["depth"])
        ratios = [1.0]
        for i in range(2, depth + 1):
            ratios.append(ratios[-1] * float(values[f"taper_{i}"]))
        fits = (lambda widths: limits.fits(dataclasses.replace(base, hidden=widths))) if limits else None
        widths = _budget.widths_for_budget(budget, base.in_features, base.num_classes, ratios, base.batch_norm, fits)
        return dataclasses.replace(base, hidden=widths)


class MLPFamily(Family):
    """The multilayer perceptrons (:class:`~mnistopt.MLPSpec`): an input reduction (``inputs``), a depth
    and relative widths (``depth``, ``taper``, or fixed ``hidden`` widths) sampled from the
    :class:`~mnistopt.SearchSpace`, the widths the widest that fit the budget
    (:func:`mnistopt.budget.widths_for_budget`)."""

    name: ClassVar[str] = MLPSpec.family
    built_in: ClassVar[bool] = True
    spec_class: ClassVar[type] = MLPSpec
    #: ``max_epochs="auto"`` and ``epoch_images="auto"`` give small budgets the longer schedule
    #: (:data:`mnistopt.options.SMALL_BUDGET_MAX_EPOCHS` epochs of :data:`~mnistopt.options.SMALL_BUDGET_EPOCH_IMAGES`).
    small_budget_schedule: ClassVar[bool] = True
    #: ``retrain_factor="auto"``: the selected MLP ships with its trial's weights (no second training).
    retrain_factor: ClassVar[int] = 1

    def check(self, space: Any) -> None:
        unknown = [v for v in as_choice(space.inputs, "inputs") if v not in INPUTS]
        if unknown:
            raise ArgumentError(f"`inputs` must be among {list(INPUTS)}. Received: {unknown}.")
        if space.hidden is None:
            for d in as_choice(space.depth, "depth"):
                check_int("depth", d, minimum=1, maximum=8)

    def resolve(self, space: Any, budget: int, input_shape: tuple[int, ...], num_classes: int,
                limits: Any = None) -> MLPChoices:
        inputs = as_choice(space.inputs, "inputs")
        depths = (len(space.hidden),) if space.hidden is not None else tuple(
            check_int("depth", d, minimum=1, maximum=8) for d in as_choice(space.depth, "depth")
        )
        batch_norms = as_choice(space.batch_norm, "batch_norm")

        def features(name):
            crop, pool = INPUTS[name]
            try:
                return _budget.input_features(input_shape, crop, pool)
            except ArgumentError:
                return None

        activations = as_choice(space.activation, "activation")

        def worst_minimum(name, depth_set):
            """The smallest model of the costliest (depth, batch-norm) combination (None: none, or one over
            the limits)."""
            n = features(name)
            if n is None:
                return None
            crop, pool = INPUTS[name]
            shapes = [tuple(space.hidden)] if space.hidden is not None else [(1,) * d for d in depth_set]
            if limits and any(not limits.fits(MLPSpec(hidden=h, crop=crop, pool=pool, activation=a, batch_norm=bn,
                                                      input_shape=input_shape, num_classes=num_classes))
                              for h in shapes for a in activations for bn in batch_norms):
                return None
            return max(_budget.mlp_params(n, h, num_classes, bn) for h in shapes for bn in batch_norms)

        # Every combination of the sampled values must fit, so keep the largest
        # set of depths (shallowest first) for which some input reduction fits.
        ordered = sorted(depths)
        for k in range(len(ordered), 0, -1):
            depth_set = tuple(ordered[:k])
            feasible = [v for v in inputs if (m := worst_minimum(v, depth_set)) is not None and m <= budget]
            if feasible:
                break
        if not feasible:
            sizes = [m for v in inputs if (m := worst_minimum(v, ordered[:1])) is not None]
            if not sizes and limits:
                raise BudgetError(f"No MLP of this search space is within the limits ({limits.describe()}), even at "
                                  f"one unit per layer, for inputs {list(inputs)}.")
            raise BudgetError(
                f"budget={budget:,} is below the minimum of this search space: {min(sizes):,} "
                f"parameters (one hidden unit per layer, with every allowed batch-norm choice, for "
                f"inputs {list(inputs)}). Raise the budget, fix batch_norm=False, or allow more "
                f"input reduction, e.g. SearchSpace(inputs=Choice('crop4+pool'))."
            )
        if space.hidden is None:
            useful = [
                v for v in feasible
                if _budget.mlp_params(features(v), (space.min_width,), num_classes) <= budget
            ]
            feasible = useful or feasible
        return MLPChoices(tuple(feasible), depth_set)
