import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistopt import MLPSpec, count_params, widest_spec
from mnistopt.errors import BudgetError
from mnistopt.budget import REFERENCE_BUDGETS, budget_sweep, min_params, mlp_params, widths_for_budget
from mnistopt.budget import _widths, input_features, reduced_shape

ratios_st = st.lists(st.floats(min_value=0.05, max_value=4.0, allow_nan=False), min_size=0, max_size=3)


def test_reference_counts():
    assert mlp_params(784, (128, 64), 10) == 109_386
    assert count_params(MLPSpec()) == 109_386
    assert min_params(784, 10) == 7_850
    assert min_params(input_features((28, 28), pool=True), 10) == 1_970
    assert min_params(input_features((28, 28), crop=4, pool=True), 10) == 1_010


def test_batch_norm_drops_bias_and_adds_four_vectors():
    assert mlp_params(784, (32,), 10, batch_norm=True) == 784 * 32 + 4 * 32 + 32 * 10 + 10


@pytest.mark.parametrize(
    "shape,crop,pool,expected",
    [((28, 28), 0, False, (28, 28)), ((28, 28), 4, False, (20, 20)), ((28, 28), 0, True, (14, 14)),
     ((28, 28), 3, True, (11, 11)), ((27, 29), 1, True, (12, 13))],
)
def test_reduced_shape(shape, crop, pool, expected):
    assert reduced_shape(shape, crop, pool) == expected


@settings(max_examples=300, deadline=None)
@given(
    budget=st.integers(min_value=1, max_value=300_000),
    ratios=ratios_st,
    in_features=st.sampled_from([784, 400, 196, 100, 64]),
    batch_norm=st.booleans(),
)
def test_widths_fit_budget_and_are_widest(budget, ratios, in_features, batch_norm):
    smallest = min_params(in_features, 10, len(ratios), batch_norm)
    if budget < smallest:
        with pytest.raises(BudgetError, match=f"{smallest:,}"):
            widths_for_budget(budget, in_features, 10, ratios, batch_norm)
        return
    widths = widths_for_budget(budget, in_features, 10, ratios, batch_norm)
    assert len(widths) == len(ratios)
    assert all(w >= 1 for w in widths)
    assert mlp_params(in_features, widths, 10, batch_norm) <= budget
    if ratios:
        # The next wider scale would not fit: the widths are the widest possible.
        scale = max(widths)
        assert _widths(scale, ratios) == widths
        assert mlp_params(in_features, _widths(scale + 1, ratios), 10, batch_norm) > budget


@settings(max_examples=200, deadline=None)
@given(budget=st.integers(min_value=1_010, max_value=200_000), ratios=ratios_st,
       crop=st.integers(0, 6), pool=st.booleans())
def test_widest_spec_meets_budget_by_construction(budget, ratios, crop, pool):
    try:
        spec = widest_spec(budget, ratios, crop=crop, pool=pool)
    except BudgetError as exc:
        assert "below the smallest" in str(exc)
        assert budget < min_params(input_features((28, 28), crop, pool), 10, len(ratios))
        return
    assert spec.params <= budget
    assert spec.crop == crop and spec.pool == pool and len(spec.hidden) == len(ratios)


def test_budget_below_minimum_states_the_minimum():
    with pytest.raises(BudgetError, match=r"budget=7,849 is below .* 784 inputs .* 7,850 parameters"):
        widest_spec(7_849, ())
    with pytest.raises(BudgetError, match=r"1,970"):
        widest_spec(1_000, (), pool=True)


@pytest.mark.parametrize("bad", [0, -5])
def test_budget_must_be_positive(bad):
    with pytest.raises(BudgetError, match=r"`budget` must be an integer >= 1. Received: budget="):
        widths_for_budget(bad, 784, 10, (1,))


@pytest.mark.parametrize("bad", [1.5, "4034", True, None])
def test_budget_must_be_an_integer(bad):
    with pytest.raises(TypeError, match=r"`budget` must be an integer"):
        widths_for_budget(bad, 784, 10, (1,))


def test_reference_widths():
    assert widths_for_budget(109_386, 784, 10, (2, 1)) == (128, 64)
    assert widths_for_budget(4_034, 784, 10, (1,)) == (5,)


@settings(max_examples=200, deadline=None)
@given(low=st.integers(1, 200_000), factor=st.floats(1.01, 1000.0), points=st.integers(2, 12))
def test_budget_sweep_is_geometric_and_holds_the_reference_budgets_in_range(low, factor, points):
    high = max(low + 1, round(low * factor))
    sweep = budget_sweep(low, high, points)
    assert sweep == sorted(set(sweep)) and sweep[0] == low and sweep[-1] == high
    inside = [b for b in REFERENCE_BUDGETS if low <= b <= high]
    assert set(inside) <= set(sweep)
    geometric = [b for b in sweep if b not in inside or b in (low, high)]
    # the ends, plus every interior geometric point not within 1.5x of a reference budget
    assert len(geometric) <= points and len(sweep) <= points + len(inside)
    for b in geometric[1:-1]:
        assert all(max(b, r) / min(b, r) >= 1.5 for r in inside)
    if not inside:  # no reference in range: exactly the geometric grid (up to rounding collisions)
        ratio = (high / low) ** (1 / (points - 1))
        expected = sorted({round(low * ratio ** i) for i in range(points)})
        assert sweep == expected


def test_budget_sweep_of_the_issue_and_its_errors():
    from mnistopt.report.data import REFERENCE

    assert sorted(REFERENCE_BUDGETS) == sorted(int(r["params"]) for r in REFERENCE)  # one list, said twice
    assert budget_sweep(1000, 128_000, 8) == [1000, 2000, 4034, 8000, 16000, 32000, 72842, 93322, 128000]
    assert budget_sweep(1000, 128_000, 8, include=()) == [1000 * 2 ** i for i in range(8)]
    with pytest.raises(BudgetError, match="minimum < maximum"):
        budget_sweep(5000, 5000)
    with pytest.raises(BudgetError, match="points"):
        budget_sweep(1000, 5000, points=1)
    with pytest.raises(BudgetError, match="minimum"):
        budget_sweep(0, 5000)
