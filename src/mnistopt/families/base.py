"""The :class:`Family` protocol and the one registry of families (:data:`FAMILIES`).

A family is everything that differs between kinds of model: its spec class, its own choices in a
search space, how a sampled point becomes the widest model that fits the budget and the limits,
its default schedule and retrain factor. The search, the budget kinds, the trainer, the compression
stages and the reports use this protocol and the spec protocol (``params``, ``macs``,
``architecture``, ``build``, ...) and never ask which family a model is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from ..dimensions import Dimension
from ..errors import ArgumentError, InvalidTypeError, SpecError
from ..spec import TrainingFields

__all__ = ["Family", "FamilyChoices", "FAMILIES", "DEFAULT_FAMILY", "Spec", "register_family", "get_family",
           "spec_from_dict", "marks_family"]

#: A spec of any family (each family's spec class derives from :class:`~mnistopt.spec.TrainingFields`).
Spec = TrainingFields
#: The family a search samples unless told otherwise, and the one reports draw plain.
DEFAULT_FAMILY: str = "mlp"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class FamilyChoices(Protocol):
    """A family's part of a search space resolved at one budget (what :meth:`Family.resolve` returns)."""

    def dimensions(self, space: Any) -> list[Dimension]:
        """The hyperparameters this family adds to a search (names unique across families)."""

    def to_spec(self, space: Any, values: Mapping[str, Any], budget: int, fields: dict[str, Any],
                limits: Any = None) -> TrainingFields:
        """The widest spec of the sampled ``values`` within ``budget`` parameters and ``limits``, with
        the shared training ``fields``."""


class Family:
    """A model family a search can sample: the built-in :class:`~mnistopt.families.MLPFamily` and
    :class:`~mnistopt.families.CNNFamily`, or a user's own (:class:`~mnistopt.families.ModelFamily`).

    Attributes:
        name: the family's name in search spaces, records and reports (lower case, e.g. ``"lenet"``).
        spec_class: the spec its sampled points become.
        small_budget_schedule: whether ``max_epochs="auto"`` and ``epoch_images="auto"`` give small
            budgets the longer schedule (see :meth:`~mnistopt.options.SearchOptions.resolved_schedule`).
        retrain_factor: ``retrain_factor="auto"``: the selected model is trained again from scratch
            for this many times its trial's epochs (1: the trial's model ships).
    """

    name: ClassVar[str] = ""
    spec_class: ClassVar[type] = TrainingFields
    small_budget_schedule: ClassVar[bool] = False
    retrain_factor: ClassVar[int] = 1
    #: Whether mnistopt ships it (its name cannot be registered again).
    built_in: ClassVar[bool] = False

    def check(self, space: Any) -> None:
        """Check this family's own choices (before any data is read); raise
        :class:`~mnistopt.errors.ArgumentError` naming the family and the choice."""

    def resolve(self, space: Any, budget: int, input_shape: tuple[int, ...], num_classes: int,
                limits: Any = None) -> FamilyChoices:
        """This family's choices that fit ``budget`` and ``limits`` (a
        :class:`~mnistopt.limits.Limits`, possibly empty); raise
        :class:`~mnistopt.errors.BudgetError` when none does."""
        raise NotImplementedError(f"{type(self).__name__} does not say which of its models fit a budget")

    def spec_from_dict(self, data: Mapping[str, Any]) -> TrainingFields:
        """The spec a stored ``to_dict()`` output describes."""
        return self.spec_class.from_dict(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


#: Every family a search can sample, by name: the built-in ones, then those added by
#: :func:`register_family`.
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES`, so search spaces (``SearchSpace(family=...)``), stored
    records and reports know it; returns it. Registering a family of the same name again replaces
    it (re-running a notebook cell); the built-in families cannot be replaced.

    Raises:
        InvalidTypeError: ``family`` is not a :class:`Family` instance.
        ArgumentError: its name is not a lower-case identifier, or is a built-in family's.
    """
    if isinstance(family, type) and issubclass(family, Family):
        raise InvalidTypeError(f"Register an instance of the family, e.g. register_family({family.__name__}()). "
                               f"Received the class {family.__name__}.")
    if not isinstance(family, Family):
        raise InvalidTypeError(f"`family` must be a mnistopt Family (e.g. a ModelFamily subclass's instance). "
                               f"Received: {family!r} (type {type(family).__name__}).")
    name = family.name
    if not isinstance(name, str) or not _NAME.match(name):
        raise ArgumentError(f"Family {type(family).__name__}'s `name` must be a lower-case identifier of at most 32 "
                            f"characters, e.g. name = 'lenet'. Received: name={name!r}.")
    if name in FAMILIES and FAMILIES[name].built_in and FAMILIES[name] is not family:
        raise ArgumentError(f"Family name {name!r} is a built-in family's; give {type(family).__name__} another name.")
    FAMILIES[name] = family
    return family


def get_family(name: str) -> Family:
    """The registered family called ``name``.

    Raises:
        SpecError: no family of that name is registered.
    """
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise SpecError(f"Unknown model family {name!r}; registered families: {list(FAMILIES)} (a family of your "
                        f"own must be registered with mnistopt.families.register_family before it is searched or "
                        f"read back).") from None


def marks_family(family: str | None) -> bool:
    """Whether a report marks a model's family (open markers, a name beside it): every family but
    :data:`DEFAULT_FAMILY` (and a model of no family, one mnistopt did not build, is plain too).

    Example:
        >>> marks_family("cnn"), marks_family("mlp"), marks_family(None)
        (True, False, False)
    """
    return family is not None and family != DEFAULT_FAMILY


def spec_from_dict(data: Mapping[str, Any]) -> TrainingFields:
    """The spec a ``to_dict()`` output describes, of the family it names (the default family when it
    names none: records written before families existed).

    Example:
        >>> from mnistopt import MLPSpec
        >>> from mnistopt.cnn import CNNSpec, ConvBlock
        >>> spec = CNNSpec(blocks=(ConvBlock(6),), head="flatten")
        >>> spec_from_dict(spec.to_dict()) == spec, spec_from_dict(MLPSpec().to_dict()) == MLPSpec()
        (True, True)
    """
    return get_family(data.get("family", DEFAULT_FAMILY)).spec_from_dict(data)
