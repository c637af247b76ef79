"""KerasTuner's private names that mnistopt relies on are all there (fails naming the missing ones)."""

import importlib.metadata
import re

from mnistopt._tuner import KERASTUNER_INTERNALS, missing_kerastuner_internals


def test_every_kerastuner_internal_mnistopt_relies_on_exists():
    missing = missing_kerastuner_internals()
    assert not missing, (
        f"KerasTuner {importlib.metadata.version('keras-tuner')} lacks {missing}, which mnistopt._tuner relies on "
        f"(KERASTUNER_INTERNALS, ORACLE_INTERNALS). Adapt mnistopt._tuner before raising the pin in pyproject.toml."
    )


def test_the_check_can_fail():
    import mnistopt._tuner as t

    saved = t.KERASTUNER_INTERNALS
    try:
        t.KERASTUNER_INTERNALS = saved + ("keras_tuner.src.utils:no_such_helper",)
        assert t.missing_kerastuner_internals() == ["keras_tuner.src.utils:no_such_helper"]
    finally:
        t.KERASTUNER_INTERNALS = saved


def test_the_pin_covers_the_installed_version():
    requirement = next(r for r in importlib.metadata.requires("mnistopt") if r.startswith("keras-tuner"))
    upper = re.search(r"<\s*([\d.]+)", requirement)
    assert upper, f"keras-tuner must have an upper bound in pyproject.toml (it relies on internals): {requirement}"
    installed = tuple(int(x) for x in importlib.metadata.version("keras-tuner").split(".")[:2])
    assert installed < tuple(int(x) for x in upper.group(1).split(".")[:2])
    assert len(KERASTUNER_INTERNALS) >= 5
