import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistopt import Choice, MLPSpec, Range, SearchSpace
from mnistopt.errors import BudgetError
from mnistopt.space import Dimension


def sample(dim: Dimension, draw):
    if dim.kind == "fixed":
        return dim.values[0]
    if dim.kind == "choice":
        return draw(st.sampled_from(dim.values))
    if dim.log:
        return math.exp(draw(st.floats(math.log(dim.low), math.log(dim.high))))
    return draw(st.floats(dim.low, dim.high))


spaces = st.sampled_from([
    SearchSpace(),
    SearchSpace(depth=Choice(1, 2, 3, 4), taper=Range(0.1, 1.5), batch_norm=True),
    SearchSpace(inputs=Choice("none", "pool"), optimizer="sgd"),
    SearchSpace(inputs="none", depth=1),
])


@settings(max_examples=400, deadline=None)
@given(data=st.data(), space=spaces, budget=st.integers(min_value=500, max_value=400_000))
def test_every_sampled_spec_fits_its_budget(data, space, budget):
    try:
        resolved = space.resolve(budget)
    except BudgetError as exc:
        assert "below the minimum of this search space" in str(exc)
        return
    values = {d.name: sample(d, data.draw) for d in resolved.dimensions()}
    spec = resolved.to_spec(values, epochs=3)
    assert isinstance(spec, MLPSpec)
    assert spec.params <= budget
    assert 1 <= len(spec.hidden) <= 4 and spec.epochs == 3


def test_small_budgets_only_offer_reduced_inputs():
    resolved = SearchSpace().resolve(4034)
    assert "none" not in resolved.families["mlp"].inputs  # 784 inputs leave under 8 hidden units
    assert "crop4+pool" in resolved.families["mlp"].inputs
    assert set(SearchSpace().resolve(72842).families["mlp"].inputs) >= {"none", "pool"}


def test_fixing_a_dimension_makes_it_fixed():
    dims = {d.name: d for d in SearchSpace(optimizer="adam", learning_rate=1e-3).resolve(50_000).dimensions()}
    assert dims["optimizer"].kind == "fixed" and dims["optimizer"].values == ("adam",)
    assert dims["learning_rate"].kind == "fixed"
    assert dims["batch_size"].kind == "choice"


def test_sgd_learning_rate_is_scaled_and_recorded():
    resolved = SearchSpace().resolve(50_000)
    values = {**resolved.defaults(), "optimizer": "sgd", "learning_rate": 0.002}
    assert resolved.to_spec(values).learning_rate == pytest.approx(0.02)
    values["optimizer"] = "adam"
    assert resolved.to_spec(values).learning_rate == pytest.approx(0.002)


def test_budget_below_any_model_in_space():
    with pytest.raises(BudgetError, match=r"budget=100 is below the minimum of this search space: 124 parameters"):
        SearchSpace().resolve(100)
    with pytest.raises(BudgetError, match=r"minimum of this search space: 808 parameters .*inputs \['none'\]"):
        SearchSpace(inputs="none").resolve(700)


def test_depths_that_cannot_fit_are_dropped():
    # 805 parameters fit 784-1-10 but no 2- or 3-hidden-layer model.
    resolved = SearchSpace(inputs="none", batch_norm=False).resolve(805)
    assert resolved.families["mlp"].depths == (1,)
    assert resolved.to_spec(resolved.defaults()).params == 805


def test_fixed_hidden_over_budget_is_rejected():
    resolved = SearchSpace.reference_grid().resolve(200_000)
    assert resolved.to_spec(resolved.defaults()).params == 109_386
    with pytest.raises(BudgetError, match=r"budget=100,000 is below the minimum of this search space: 109,386"):
        SearchSpace.reference_grid().resolve(100_000)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(inputs="crop9"), r"`inputs` must be among"),
        (dict(optimizer=Choice("adam", "lion")), r"`optimizer` must be among"),
    ],
)
def test_invalid_space(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SearchSpace(**kwargs).resolve(50_000)


def test_range_and_choice_validation():
    with pytest.raises(ValueError, match="low <= high"):
        Range(2.0, 1.0)
    with pytest.raises(ValueError, match="log-scale Range needs low > 0"):
        Range(0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="at least one value"):
        Choice()
