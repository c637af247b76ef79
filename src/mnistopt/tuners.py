"""The KerasTuner oracles a search can use: configuration only (no KerasTuner import), so the
search's options and the KerasTuner glue (``mnistopt._tuner``) both read it from below."""

from __future__ import annotations

import enum

__all__ = ["Tuner", "TUNERS"]


class Tuner(str, enum.Enum):
    """The KerasTuner oracle a search uses (a ``str``: ``Tuner.RANDOM == "random"``).

    Example:
        >>> Tuner("bayesian").early_stopping
        True
    """

    HYPERBAND = "hyperband"
    BAYESIAN = "bayesian"
    RANDOM = "random"
    GRID = "grid"

    def __str__(self) -> str:
        return self.value

    @property
    def early_stopping(self) -> bool:
        """Whether ``patience="auto"`` stops its trials early: the tuners that train every trial to
        the top rung do; Hyperband judges on its rungs and a grid runs each cell as it is."""
        return self in (Tuner.BAYESIAN, Tuner.RANDOM)


#: Tuners a search can use, by name.
TUNERS = tuple(t.value for t in Tuner)
