import dataclasses
import json

import pytest

from mnistopt import MLPSpec
from mnistopt.errors import InvalidTypeError, SpecError


def test_defaults_are_the_reference_baseline():
    spec = MLPSpec.baseline()
    assert spec == MLPSpec()
    assert (spec.hidden, spec.activation, spec.optimizer, spec.learning_rate, spec.epochs, spec.batch_size) == (
        (128, 64), "relu", "adam", 1e-3, 10, 32)
    assert spec.architecture == "784-128-64-10"
    assert spec.params == 109_386


def test_frozen_and_hashable():
    spec = MLPSpec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.epochs = 3
    assert len({MLPSpec(), MLPSpec(hidden=[128, 64]), MLPSpec(hidden=(64,))}) == 2


def test_json_round_trip():
    spec = MLPSpec(hidden=(20, 10), crop=2, pool=True, dropout=0.1, l2=1e-4, batch_norm=True,
                   optimizer="SGD", learning_rate=0.05, batch_size=128, epochs=3)
    data = json.loads(json.dumps(spec.to_dict()))
    assert MLPSpec.from_dict(data) == spec
    assert spec.optimizer == "sgd"  # normalised


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(SpecError, match=r"Unknown MLPSpec field\(s\) \['widths'\]"):
        MLPSpec.from_dict({"widths": [3]})


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(hidden=(0,)), SpecError, r"`hidden\[0\]` must be an integer >= 1. Received: hidden\[0\]=0"),
        (dict(hidden=(8, -1)), SpecError, r"hidden\[1\]"),
        (dict(hidden="128"), InvalidTypeError, r"`hidden` must be a sequence"),
        (dict(hidden=(2.5,)), InvalidTypeError, r"`hidden\[0\]` must be an integer"),
        (dict(dropout=1.0), SpecError, r"`dropout` must be a finite number in the range \[0.0, 1.0\)"),
        (dict(dropout=-0.1), SpecError, r"dropout"),
        (dict(l2=float("nan")), SpecError, r"`l2` must be a finite number"),
        (dict(learning_rate=0), SpecError, r"`learning_rate` must be a finite number in the range \(0.0, inf\]"),
        (dict(optimizer="adagrad"), SpecError, r"`optimizer` must be one of \['adam', 'sgd', 'rmsprop'\]"),
        (dict(activation="softplus2"), SpecError, r"`activation` must be one of"),
        (dict(batch_size=0), SpecError, r"`batch_size` must be an integer >= 1"),
        (dict(epochs=True), InvalidTypeError, r"`epochs` must be an integer"),
        (dict(crop=14), SpecError, r"`crop` removes the whole image"),
        (dict(crop=-1), SpecError, r"`crop` must be an integer >= 0"),
        (dict(pool="yes"), InvalidTypeError, r"`pool` must be True or False"),
        (dict(num_classes=1), SpecError, r"`num_classes` must be an integer >= 2"),
        (dict(lr_schedule="step"), SpecError, r"`lr_schedule` must be one of \['constant', 'cosine', 'warmup_cosine'\]"),
    ],
)
def test_invalid_fields_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        MLPSpec(**kwargs)


def test_spec_errors_are_value_errors():
    with pytest.raises(ValueError):
        MLPSpec(dropout=2.0)


def test_cosine_schedule_decays_to_zero():
    spec = MLPSpec(lr_schedule="cosine", epochs=10, learning_rate=0.2)
    rates = [spec.learning_rate_at(e) for e in range(10)]
    assert rates[0] == pytest.approx(0.2)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert spec.learning_rate_at(10) == pytest.approx(0.0, abs=1e-12)
    assert MLPSpec().learning_rate_at(7) == MLPSpec().learning_rate
