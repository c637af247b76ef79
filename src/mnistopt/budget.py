"""Exact parameter arithmetic for MLPs, and widths that fit a budget.

Pure integer arithmetic: no TensorFlow, no Keras. What is counted is exactly
what ``keras.Model.count_params()`` counts for the models
:func:`mnistopt.build_model` makes:

* each hidden ``Dense`` layer: ``inputs * units`` weights, plus ``units``
  biases unless batch normalisation follows it (the bias would be redundant);
* each ``BatchNormalization`` layer: ``4 * units`` (gamma, beta and the two
  moving statistics, which Keras counts as non-trainable parameters);
* the softmax output layer: ``inputs * classes + classes``;
* cropping, pooling, flattening, dropout and activations: nothing.

Example:
    >>> from mnistopt.budget import input_features, mlp_params
    >>> mlp_params(input_features((28, 28)), (128, 64), 10)
    109386
    >>> input_features((28, 28), crop=4, pool=True)
    100
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ._checks import check_int
from .errors import BudgetError, SpecError

__all__ = [
    "reduced_shape",
    "input_features",
    "mlp_params",
    "mlp_macs",
    "REFERENCE_BUDGETS",
    "budget_sweep",
    "min_params",
    "widths_for_budget",
]


def reduced_shape(
    input_shape: Sequence[int], crop: int = 0, pool: bool = False
) -> tuple[int, int]:
    """Image shape after cropping ``crop`` border pixels and optional 2x2 pooling.

    Pooling uses Keras' ``AveragePooling2D(2)`` with ``"valid"`` padding, so an
    odd side loses its last row or column.

    Example:
        >>> reduced_shape((28, 28), crop=2, pool=True)
        (12, 12)
    """
    height, width = (int(s) for s in input_shape)
    height, width = height - 2 * crop, width - 2 * crop
    if height < 1 or width < 1:
        raise SpecError(
            f"`crop` removes the whole image: crop={crop} on an input of shape "
            f"{tuple(input_shape)} leaves {height}x{width}. Use a crop below "
            f"{(min(input_shape) + 1) // 2}."
        )
    if pool:
        height, width = height // 2, width // 2
        if height < 1 or width < 1:
            raise SpecError(
                f"2x2 pooling needs at least 2x2 pixels; crop={crop} on an input "
                f"of shape {tuple(input_shape)} leaves less. Reduce `crop`."
            )
    return height, width


def input_features(input_shape: Sequence[int], crop: int = 0, pool: bool = False) -> int:
    """Number of inputs the first dense layer sees after input reduction.

    Example:
        >>> from mnistopt.budget import input_features
        >>> input_features((28, 28)), input_features((28, 28), crop=2), input_features((28, 28), crop=4, pool=True)
        (784, 576, 100)
    """
    height, width = reduced_shape(input_shape, crop, pool)
    return height * width


def mlp_params(
    in_features: int,
    hidden: Sequence[int],
    num_classes: int,
    batch_norm: bool = False,
) -> int:
    """Exact parameter count of an MLP (see the module docstring for what counts).

    Example:
        >>> mlp_params(784, (), 10)
        7850
        >>> mlp_params(784, (32,), 10, batch_norm=True)  # 784*32 + 4*32 + 33*10
        25546
    """
    total = 0
    fan_in = in_features
    for units in hidden:
        total += fan_in * units + (4 * units if batch_norm else units)
        fan_in = units
    return total + fan_in * num_classes + num_classes


#: The reference notebook's three models' parameter counts, which a sweep always includes
#: when they lie in its range.
REFERENCE_BUDGETS = (4_034, 72_842, 93_322)


def budget_sweep(
    minimum: int, maximum: int, points: int = 8, *, include: Sequence[int] = REFERENCE_BUDGETS,
    give_way: float = 1.5,
) -> list[int]:
    """Budgets from ``minimum`` to ``maximum`` for an accuracy-versus-size curve, smallest first.

    ``points`` geometrically spaced budgets (both ends included), plus every budget of
    ``include`` in the range (default: the reference's three); a geometric point within a
    factor ``give_way`` of an included budget gives way to it (the two ends never do), so
    the curve has no near-duplicate budgets. Pass the list to
    :func:`~mnistopt.search_under_budget` (or ``mnistopt search --sweep MIN MAX --points N``).

    Raises:
        BudgetError: ``minimum`` is not a positive integer below ``maximum``, or ``points < 2``.

    Example:
        >>> budget_sweep(1000, 128000, 8)  # 64,000 gives way to 72,842
        [1000, 2000, 4034, 8000, 16000, 32000, 72842, 93322, 128000]
        >>> budget_sweep(100, 1000, 3, include=())
        [100, 316, 1000]
    """
    minimum = check_int("minimum", minimum, minimum=1, error=BudgetError)
    maximum = check_int("maximum", maximum, minimum=1, error=BudgetError)
    points = check_int("points", points, minimum=2, error=BudgetError)
    if maximum <= minimum:
        raise BudgetError(f"A sweep needs minimum < maximum. Received: minimum={minimum:,}, maximum={maximum:,}.")
    grid = [round(minimum * (maximum / minimum) ** (i / (points - 1))) for i in range(points)]
    extra = sorted({check_int("include", b, minimum=1, error=BudgetError) for b in include
                    if minimum <= b <= maximum})
    kept = [g for i, g in enumerate(grid)
            if i in (0, points - 1) or all(max(g, b) / min(g, b) >= give_way for b in extra)]
    return sorted(set(kept) | set(extra))


def mlp_macs(
    input_shape: Sequence[int],
    crop: int,
    pool: bool,
    hidden: Sequence[int],
    num_classes: int,
) -> int:
    """Exact multiply-accumulates for one image: ``in x out`` per Dense layer (the output
    layer's included), plus one per pixel that 2x2 average pooling reads. Cropping and
    flattening only move data; batch norm folds into the Dense layers when the model is
    exported; biases and activations are not multiply-accumulates.

    Example:
        >>> mlp_macs((28, 28), 0, False, (128, 64), 10)  # 784*128 + 128*64 + 64*10
        109184
        >>> mlp_macs((28, 28), 4, True, (16,), 10)  # 4*100 pooled reads + 100*16 + 16*10
        2160
    """
    height, width = reduced_shape(input_shape, crop, pool)
    total = 4 * height * width if pool else 0
    fan_in = height * width
    for units in (*hidden, num_classes):
        total += fan_in * units
        fan_in = units
    return total


def min_params(in_features: int, num_classes: int, depth: int = 0, batch_norm: bool = False) -> int:
    """The smallest possible model: every hidden layer one unit wide.

    With ``depth=0`` (no hidden layer) this is the logistic-regression model,
    ``in_features * num_classes + num_classes``: 7,850 for 784 inputs.

    Example:
        >>> min_params(784, 10)
        7850
        >>> min_params(100, 10, depth=1)  # 100 + 1 + 1*10 + 10
        121
    """
    return mlp_params(in_features, (1,) * depth, num_classes, batch_norm)


def _widths(scale: int, ratios: Sequence[float]) -> tuple[int, ...]:
    top = max(ratios)
    # The small epsilon keeps e.g. 0.5 * 2 from flooring to 0.9999 -> 0.
    return tuple(max(1, math.floor(scale * r / top + 1e-9)) for r in ratios)


def widths_for_budget(
    budget: int,
    in_features: int,
    num_classes: int,
    ratios: Sequence[float],
    batch_norm: bool = False,
    fits: Callable[[tuple[int, ...]], bool] | None = None,
) -> tuple[int, ...]:
    """The widest hidden widths with the given relative sizes that fit ``budget``.

    The widest layer gets width ``w`` and layer ``i`` gets
    ``max(1, floor(w * ratios[i] / max(ratios)))``; ``w`` is the largest integer
    for which :func:`mlp_params` stays within ``budget`` (and ``fits(widths)`` holds,
    when given: a further limit that grows with the widths, such as multiply-accumulates).
    An empty ``ratios`` means no hidden layer.

    Raises:
        BudgetError: if even one unit per hidden layer exceeds ``budget`` (the
            message states that minimum) or fails ``fits``.

    Example:
        >>> widths_for_budget(109386, 784, 10, (2, 1))
        (128, 64)
        >>> widths_for_budget(4034, 784, 10, (1,))
        (5,)
    """
    budget = check_int("budget", budget, minimum=1, error=BudgetError)
    ratios = tuple(float(r) for r in ratios)
    if any(not math.isfinite(r) or r <= 0 for r in ratios):
        raise BudgetError(
            f"Width `ratios` must be positive finite numbers. Received: ratios={ratios}."
        )
    depth = len(ratios)
    smallest = min_params(in_features, num_classes, depth, batch_norm)
    if budget < smallest:
        raise BudgetError(
            f"budget={budget:,} is below the smallest {depth}-hidden-layer MLP for "
            f"{in_features} inputs and {num_classes} classes, which has {smallest:,} "
            f"parameters (with no hidden layer: "
            f"{min_params(in_features, num_classes):,}). Raise the budget, use fewer "
            f"hidden layers, or shrink the input (crop border pixels, 2x2 pooling)."
        )
    if fits is not None and not fits(_widths(1, ratios)):
        raise BudgetError(f"No {depth}-hidden-layer MLP for {in_features} inputs fits the limits, even at one unit "
                          f"per layer.")
    if depth == 0:
        return ()
    low, high = 1, budget  # count(w) >= w, so w never exceeds the budget
    while low < high:
        mid = (low + high + 1) // 2
        widths = _widths(mid, ratios)
        if mlp_params(in_features, widths, num_classes, batch_norm) <= budget and (fits is None or fits(widths)):
            low = mid
        else:
            high = mid - 1
    return _widths(low, ratios)
