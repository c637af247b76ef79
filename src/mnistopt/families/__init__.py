"""Model families: what differs between the kinds of model a search samples, one class each, and the
one registry of them (:data:`FAMILIES`).

A :class:`Family` holds its spec class, its own search choices, how a sampled point becomes the
widest model that fits the budget and the device limits, and its default schedule and retrain
factor: :class:`MLPFamily` (``"mlp"``), :class:`CNNFamily` (``"cnn"``), and any family of the
user's own (:class:`ModelFamily`, added with :func:`register_family`). Every family's spec answers
the same protocol (``params``, ``macs``, ``architecture``, ``prunable_kernels()``, ``resized(budget)``,
``build()``, ``to_dict()`` with its ``"family"``, and the training fields); the trainer, the budget
kinds, the compression stages and the reports use it and never ask which family a model is.
:func:`spec_from_dict` is the one dispatch on a stored ``"family"``.
"""

from __future__ import annotations

from .base import (DEFAULT_FAMILY, FAMILIES, Family, FamilyChoices, Spec, get_family, marks_family, register_family,
                   spec_from_dict)
from .cnn import CNNChoices, CNNFamily
from .mlp import INPUTS, MLPChoices, MLPFamily
from .own import ModelFamily, ModelSpec

__all__ = ["Family", "FamilyChoices", "MLPFamily", "CNNFamily", "ModelFamily", "ModelSpec", "MLPChoices", "CNNChoices",
           "FAMILIES", "DEFAULT_FAMILY", "Spec", "register_family", "get_family", "spec_from_dict", "marks_family",
           "INPUTS"]

register_family(MLPFamily())
register_family(CNNFamily())
assert DEFAULT_FAMILY in FAMILIES
