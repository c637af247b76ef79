"""How sure an accuracy is: 95% intervals from the number of images it was measured on.

Pure Python. An accuracy of ``p`` measured on ``n`` images is a binomial proportion;
:func:`wilson_interval` gives its Wilson score interval (sound near 0 and 1, unlike
``p +- 1.96 sqrt(p(1-p)/n)``), and :func:`difference_interval` the interval of a
difference of two such accuracies (Newcombe's hybrid score method), which says whether
a gap between two models lies inside the noise of the images that measured them.
"""

from __future__ import annotations

import math

from .._checks import check_float, check_int

__all__ = ["Z95", "wilson_interval", "half_width", "difference_interval"]

#: The normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval ``(low, high)`` of an accuracy measured on ``n`` images.

    Example:
        >>> [round(v, 4) for v in wilson_interval(0.95, 10_000)]  # about +-0.43 points on the test set
        [0.9456, 0.9541]
        >>> [round(v, 4) for v in wilson_interval(0.95, 1_000)]  # +-1.4 on a 1,000-image validation split
        [0.9347, 0.9619]
        >>> wilson_interval(1.0, 100)[1]
        1.0
    """
    p = check_float("accuracy", accuracy, minimum=0.0, maximum=1.0)
    n = check_int("n", n, minimum=1)
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    spread = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    # the interval always holds p; min/max keep rounding (at p = 0 or 1) from saying otherwise
    return max(0.0, min(p, centre - spread)), min(1.0, max(p, centre + spread))


def half_width(accuracy: float, n: int, z: float = Z95) -> float:
    """Half the width of :func:`wilson_interval`: the ``+-`` a table prints beside the accuracy.

    Example:
        >>> round(half_width(0.9543, 10_000), 4)
        0.0041
    """
    low, high = wilson_interval(accuracy, n, z)
    return (high - low) / 2


def difference_interval(a: float, n_a: int, b: float, n_b: int, z: float = Z95) -> tuple[float, float]:
    """The 95% interval of ``a - b`` for accuracies ``a`` on ``n_a`` and ``b`` on ``n_b`` images
    (Newcombe's method 10, from the two Wilson intervals). It takes the two measurements as
    independent; two models scored on the *same* images have correlated errors, so for them
    the interval is on the wide (cautious) side. A gap whose interval holds 0 lies inside the noise.

    Example:
        >>> [round(v, 4) for v in difference_interval(0.9800, 10_000, 0.9776, 10_000)]  # inside the noise
        [-0.0016, 0.0064]
        >>> difference_interval(0.98, 10_000, 0.95, 10_000)[0] > 0
        True
    """
    la, ha = wilson_interval(a, n_a, z)
    lb, hb = wilson_interval(b, n_b, z)
    d = a - b
    return d - math.sqrt((a - la) ** 2 + (hb - b) ** 2), d + math.sqrt((ha - a) ** 2 + (b - lb) ** 2)
