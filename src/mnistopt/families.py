"""The model families a search can build, and the one place a stored spec is read back.

Every family's spec (:class:`~mnistopt.MLPSpec`, :class:`~mnistopt.cnn.CNNSpec`) answers the same
protocol: ``params``, ``macs``, ``architecture``, ``prunable_kernels()``, ``resized(budget)``,
``learning_rate_at(epoch)``, ``to_dict()`` (with its ``"family"``) and the training fields. The
trainer, the budget kinds, the compression stages and the reports use that protocol and never ask
which family a spec is; :func:`spec_from_dict` is the one dispatch on a stored ``"family"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from .cnn import CNNSpec
from .errors import SpecError
from .spec import MLPSpec

__all__ = ["FAMILY_SPECS", "DEFAULT_FAMILY", "Spec", "spec_from_dict", "marks_family"]

#: A spec of any family.
Spec = Union[MLPSpec, CNNSpec]
#: Each family's spec class, by the name its ``to_dict()`` records (``"family"``).
FAMILY_SPECS: dict[str, type] = {cls.family: cls for cls in (MLPSpec, CNNSpec)}
#: The family a search samples unless told otherwise, and the one reports draw plain.
DEFAULT_FAMILY: str = MLPSpec.family


def marks_family(family: str | None) -> bool:
    """Whether a report marks a model's family (open markers, a name beside it): every family but
    :data:`DEFAULT_FAMILY` (and a model of no family, one mnistopt did not build, is plain too).

    Example:
        >>> marks_family("cnn"), marks_family("mlp"), marks_family(None)
        (True, False, False)
    """
    return family is not None and family != DEFAULT_FAMILY


def spec_from_dict(data: Mapping[str, Any]) -> Spec:
    """The spec a ``to_dict()`` output describes, of the family it names (``"mlp"`` when it names
    none: records written before families existed).

    Example:
        >>> from mnistopt.cnn import ConvBlock
        >>> spec = CNNSpec(blocks=(ConvBlock(6),), head="flatten")
        >>> spec_from_dict(spec.to_dict()) == spec, spec_from_dict(MLPSpec().to_dict()) == MLPSpec()
        (True, True)
    """
    family = data.get("family", MLPSpec.family)
    if family not in FAMILY_SPECS:
        raise SpecError(f"Unknown model family {family!r} in a stored spec; expected one of {list(FAMILY_SPECS)}.")
    return FAMILY_SPECS[family].from_dict(data)
