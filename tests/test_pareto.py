"""Pareto fronts: properties over random point sets, and record handling."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistopt import TrialRecord
from mnistopt.report.pareto import hypervolume, pareto_front, pareto_mask

# Small integer grids make ties (equal sizes, equal accuracies) common.
points = st.lists(st.tuples(st.integers(1, 30), st.integers(0, 20)), min_size=1, max_size=40)


def dominates(a, b):
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


@settings(max_examples=300, deadline=None)
@given(points)
def test_front_is_exactly_the_non_dominated_points(pts):
    mask = pareto_mask([p[0] for p in pts], [p[1] for p in pts])
    for i, p in enumerate(pts):
        dominated = any(dominates(q, p) for q in pts)
        assert mask[i] == (not dominated)
    # every point off the front is dominated by a point on it
    front = [p for p, m in zip(pts, mask) if m]
    for p, m in zip(pts, mask):
        if not m:
            assert any(dominates(q, p) for q in front)


@settings(max_examples=200, deadline=None)
@given(points, st.randoms(use_true_random=False))
def test_front_and_hypervolume_ignore_input_order(pts, rnd):
    shuffled = list(pts)
    rnd.shuffle(shuffled)
    a = {p for p, m in zip(pts, pareto_mask(*zip(*pts))) if m}
    b = {p for p, m in zip(shuffled, pareto_mask(*zip(*shuffled))) if m}
    assert a == b
    assert hypervolume(*zip(*pts), reference_size=40) == pytest.approx(hypervolume(*zip(*shuffled), reference_size=40))


@settings(max_examples=200, deadline=None)
@given(points, st.tuples(st.integers(1, 30), st.integers(0, 20)))
def test_hypervolume_matches_a_grid_count_and_never_drops(pts, extra):
    xs, ys = zip(*pts)
    hv = hypervolume(xs, ys, reference_size=31, log_size=False)
    # Brute force on the integer grid: cells [x, x+1) x [y-1, y) dominated by some point.
    cells = sum(1 for gx in range(1, 31) for gy in range(1, 21) if any(px <= gx and py >= gy for px, py in pts))
    assert hv == pytest.approx(cells)
    assert hypervolume([*xs, extra[0]], [*ys, extra[1]], reference_size=31, log_size=False) >= hv - 1e-9


def record(i, params, val, status="completed", **kw):
    return TrialRecord(budget=params, trial_id=str(i), status=status, spec=None, params=params, val_accuracy=val, **kw)


def test_pareto_front_of_records_uses_validation_and_skips_unusable():
    records = [
        record(0, 4034, 0.94, test_accuracy=0.99),   # test accuracy never chooses
        record(1, 72842, 0.96),
        record(2, 93322, 0.959),                     # bigger and worse: dominated
        record(3, 2000, None, status="failed"),
        record(4, 3000, 0.93, bytes=None),
        record(5, 50000, 0.96, bytes=9000),
    ]
    assert [r.trial_id for r in pareto_front(records)] == ["4", "0", "5"]
    assert [r.trial_id for r in pareto_front(records, x="bytes")] == ["5"]  # only record 5 has a file
    assert pareto_front([], x="gzip_bytes") == []
    with pytest.raises(ValueError, match=r"`x` must be one of \['params', 'nonzero_params', 'bytes', 'gzip_bytes', 'macs', 'arena_bytes', 'latency_us'\]"):
        pareto_front(records, x="flops")
