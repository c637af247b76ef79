"""Budget kinds (issue 15): each kind's arithmetic and dimensions as a unit, and each kind's
search end to end on a small slice of real MNIST (nonzero: pruned candidates; bytes: files)."""

import dataclasses
import json
import os

import pytest

from mnistopt import Choice, MLPSpec, SearchSpace, search_under_budget, train
from mnistopt.compress import count_nonzero, evaluate_tflite, export_tflite
from mnistopt.errors import ArgumentError, InvalidTypeError
from mnistopt.kinds import BUDGET_KINDS, BudgetKind, BytesBudget, NonzeroBudget, ParamsBudget, get_kind
from mnistopt.training import evaluate_arrays


def test_each_kind_is_one_class_found_by_name():
    assert [type(k) for k in BUDGET_KINDS.values()] == [ParamsBudget, NonzeroBudget, BytesBudget]
    assert get_kind("NonZero") is BUDGET_KINDS["nonzero"] and get_kind(BytesBudget()) == BUDGET_KINDS["bytes"]
    with pytest.raises(ArgumentError, match=r"`budget_kind` must be one of \['params', 'nonzero', 'bytes'\]"):
        get_kind("flops")
    with pytest.raises(InvalidTypeError, match="budget_kind"):
        get_kind(3)


def test_each_kind_says_what_a_point_may_spend_and_what_it_samples():
    space = SearchSpace(sparsity=Choice(0.5, 0.9), quantize=Choice("int8", "float32"))
    assert get_kind("params").param_budget(4034, {"sparsity": 0.9}) == 4034
    assert get_kind("nonzero").param_budget(4034, {"sparsity": 0.9}) == 40340
    assert get_kind("bytes").param_budget(10_000, {"quantize": "int8"}) == 10_000 - 2048
    assert get_kind("bytes").param_budget(10_000, {"quantize": "float32"}) == (10_000 - 2048) // 4
    assert [d.name for d in get_kind("nonzero").extra_dimensions(space)] == ["sparsity"]
    assert [d.values for d in get_kind("bytes").extra_dimensions(space)] == [("int8", "float32")]
    assert get_kind("params").extra_dimensions(space) == []
    names = [(k.directory_name(10), k.compress_name(10), k.candidate_file) for k in BUDGET_KINDS.values()]
    assert names == [("budget-10", "10", None), ("nonzero-10", "nonzero-10", "final.weights.h5"),
                     ("bytes-10", "bytes-10", "final.tflite")]


def test_a_new_kind_is_one_class():
    """A kind that halves the dense allowance: the space and its resolution need no other change."""

    class Halved(BudgetKind):
        name = "halved"

        def param_budget(self, budget, values):
            return budget // 2

    resolved = SearchSpace(depth=1, inputs="pool").resolve(8000, kind=Halved())
    spec = resolved.to_spec(resolved.defaults())
    assert spec.params <= 4000 < SearchSpace(depth=1, inputs="pool").resolve(8000).to_spec(resolved.defaults()).params


FAST = SearchSpace(depth=Choice(1, 2), batch_size=256, optimizer="adam", batch_norm=False)


def test_nonzero_budget_search_selects_a_pruned_model_within_budget(mnist_small, tmp_path):
    result = search_under_budget(3000, mnist_small, tuner="random", max_trials=3, max_epochs=1, directory=tmp_path,
                                 space=dataclasses.replace(FAST, sparsity=Choice(0.75, 0.9)),
                                 budget_kind="nonzero")
    statuses = [json.loads(p.read_text())["status"] for p in (tmp_path / "tuner").glob("*/trial_*/trial.json")]
    assert statuses == ["COMPLETED"] * 3
    for r in result.records:
        assert r.nonzero_params <= 3000 < r.params  # wider than the budget, pruned to fit
        assert r.stage.startswith("sparse-")
    chosen = result.best(3000)
    assert count_nonzero(chosen.model) == chosen.record.nonzero_params <= 3000
    _, acc = evaluate_arrays(chosen.model, mnist_small.x_test, mnist_small.y_test)
    assert acc == chosen.record.test_accuracy
    assert result.info["settings"]["budget_kind"] == "nonzero"


def test_bytes_budget_search_checks_each_file(mnist_small, tmp_path):
    result = search_under_budget(9000, mnist_small, tuner="random", max_trials=3, max_epochs=1, directory=tmp_path,
                                 space=FAST, budget_kind="bytes", seed=3)
    for r in result.records:
        assert r.bytes == os.path.getsize(r.artifact) <= 9000
        assert r.stage in ("float32", "float16", "dynamic", "int8")
    statuses = [json.loads(p.read_text())["status"] for p in (tmp_path / "tuner").glob("*/trial_*/trial.json")]
    assert statuses == ["COMPLETED"] * 3  # KerasTuner took every trial's result
    chosen = result.best(9000).record
    assert chosen.artifact.endswith("budget-9000.tflite") and os.path.getsize(chosen.artifact) <= 9000
    assert chosen.test_accuracy == evaluate_tflite(chosen.artifact, mnist_small.x_test, mnist_small.y_test)


@pytest.mark.slow  # real training, several seconds (runs in the full suite)
def test_bytes_hyperband_continuations_reuse_the_parents_checked_model(mnist_small, tmp_path, monkeypatch):
    import mnistopt.kinds as kinds_module

    probed = []
    real = kinds_module.fit_file_budget
    monkeypatch.setattr(kinds_module, "fit_file_budget", lambda *a, **k: probed.append(a[0]) or real(*a, **k))
    result = search_under_budget(9000, mnist_small, tuner="hyperband", max_trials=4, max_epochs=3, hyperband_factor=3,
                                 directory=tmp_path, space=FAST, budget_kind="bytes")
    continued = [r for r in result.records if r.parent_trial_id is not None]
    assert continued and len(probed) == len(result.records) - len(continued)  # no probing for continuations
    by_id = {r.trial_id: r for r in result.records}
    for r in continued:
        assert r.spec == by_id[r.parent_trial_id].spec and r.bytes <= 9000


def test_search_rejects_unknown_budget_kind(mnist_small):
    with pytest.raises(ValueError, match=r"`budget_kind` must be one of \['params', 'nonzero', 'bytes'\]"):
        search_under_budget(4034, mnist_small, budget_kind="flops")


@pytest.mark.parametrize("quantize", [pytest.param("dynamic", marks=pytest.mark.slow), "int8"])  # float32: see the bytes search test
def test_file_budget_probe_matches_trained_files(quantize, mnist_small, tmp_path):
    """The pre-training size check must hold for the trained model's file (batch norm included:
    a probe with negative variances once measured 150 bytes less than the trained file)."""
    from mnistopt.kinds import fit_file_budget

    wide = MLPSpec(hidden=(40, 20, 20), crop=2, pool=True, batch_norm=True, activation="gelu", epochs=1,
                   batch_size=128)
    spec = fit_file_budget(wide, quantize, 8192, mnist_small)
    assert spec.hidden != wide.hidden and len(spec.hidden) == 3
    model = train(spec, mnist_small, evaluate_test=False).model
    size = export_tflite(model, tmp_path / "m.tflite", quantize, representative=mnist_small.x_train).stat().st_size
    assert 0.8 * 8192 < size <= 8192


