"""Pruning while training (#29): the schedule, the masks inside the trainer, and non-zero trials of
either family that meet their budget at every rung."""

import keras
import numpy as np
import pytest

from mnistopt import Choice, MLPSpec, SearchSpace, search_under_budget
from mnistopt.build import build_model
from mnistopt.cnn import CNNSpec, ConvBlock
from mnistopt.compress import count_nonzero
from mnistopt.errors import ArgumentError
from mnistopt.kinds import NonzeroBudget
from mnistopt.training import GradualPruning, evaluate_arrays, fit_model


def test_the_schedule_is_a_cubic_from_begin_to_end_then_holds():
    g = GradualPruning({"a": 0.8}, begin=2, end=6)
    values = [g.sparsity_at(done)["a"] for done in range(9)]
    assert values[:3] == [0.0, 0.0, 0.0] and values[6:] == [pytest.approx(0.8)] * 3
    steps = np.diff(values[2:7])
    assert np.all(steps > 0) and np.all(np.diff(steps) < 0)  # fast first, slow near the target
    assert GradualPruning({"a": 0.5}, begin=0, end=0).sparsity_at(0)["a"] == 0.5  # a continuation: at once
    for bad in (dict(begin=3, end=2), dict(begin=-1, end=2)):
        with pytest.raises(ArgumentError, match="begin"):
            GradualPruning({"a": 0.5}, **bad)
    with pytest.raises(ArgumentError, match="sparsity"):
        GradualPruning({"a": 1.0}, begin=0, end=1)


@pytest.mark.parametrize("spec", [
    MLPSpec(hidden=(64, 32), pool=True, epochs=6, batch_size=128),
    CNNSpec(blocks=(ConvBlock(8), ConvBlock(16, separable=True)), head="flatten", epochs=6, batch_size=128),
], ids=["mlp", "cnn"])
def test_a_model_trained_with_pruning_reaches_its_budget_and_its_zeros_stay_zero(mnist_small, spec):
    data = mnist_small.subset(train=600, val=100, test=100)
    budget = spec.params // 4
    pruning = NonzeroBudget().pruning(spec, {}, budget, epochs=spec.epochs)
    assert pruning.begin == 1 and pruning.end == 4  # two thirds of the epochs
    keras.utils.set_random_seed(0)
    model = build_model(spec)
    kernels = pruning.kernels(model)
    seen = []  # (non-zero weights, zero positions of each pruned kernel) after every epoch

    def look(event):
        seen.append((count_nonzero(model), [np.asarray(k) == 0 for k in kernels]))

    fit_model(model, spec, data, epochs=spec.epochs, seed=0, pruning=pruning, progress=look)
    counts = [c for c, _ in seen]
    assert counts[0] == spec.params  # the first epoch trains dense
    assert all(a >= b for a, b in zip(counts, counts[1:])) and counts[3] < counts[1]
    for (_, before), (_, after) in zip(seen[1:], seen[2:]):  # a pruned weight is never regrown
        assert all(np.all(a[b]) for a, b in zip(after, before))
    for kernel, target in zip(kernels, pruning.targets.values()):  # the target holds from `end` on
        size = int(np.prod(kernel.shape))
        assert np.count_nonzero(np.asarray(kernel)) == round(size * (1 - target))
    assert counts[-1] <= budget + 5  # per-layer rounding; the kind's finish trims the rest


def test_a_continued_trial_prunes_at_its_parents_target_and_a_dense_one_not_at_all():
    kind = NonzeroBudget()
    spec = MLPSpec(hidden=(64,), pool=True, epochs=30)
    first = kind.pruning(spec, {}, 2000, epochs=2)
    later = kind.pruning(spec, {}, 2000, epochs=8, initial_epoch=2)
    assert first.end == 1 and later.sparsity_at(2) == first.sparsity_at(2) == dict(first.targets)
    assert kind.pruning(spec, {}, spec.params, epochs=30) is None
    assert NonzeroBudget().pruning(spec, {}, 2000, epochs=30).end == 20


def test_a_hyperband_nonzero_search_meets_its_budget_at_every_rung_without_fine_tuning(mnist_small, tmp_path,
                                                                                        monkeypatch):
    import mnistopt.compress.sparsity as sparsity

    def no_tfmot(*args, **kwargs):
        raise AssertionError("a non-zero trial prunes while it trains, not with tfmot afterwards")

    monkeypatch.setattr(sparsity, "prune_magnitude", no_tfmot)
    data = mnist_small.subset(train=400, val=100, test=100)
    space = SearchSpace(depth=Choice(1), batch_size=Choice(128), sparsity=Choice(0.5, 0.9), augment="none")
    result = search_under_budget(3000, data, tuner="hyperband", max_epochs=4, hyperband_factor=2, seed=1,
                                 directory=tmp_path, space=space, budget_kind="nonzero")
    done = [r for r in result.records if r.status == "completed"]
    assert any(r.parent_trial_id for r in done)  # continuations ran
    for r in done:
        assert r.nonzero_params <= 3000 < r.params and r.stage.startswith("sparse-")
    chosen = result.best(3000)
    assert count_nonzero(chosen.model) == chosen.record.nonzero_params <= 3000
    # the selected spec was trained again for twice its trial's epochs (retrain_factor "auto" of a non-zero
    # budget), pruned alike; that model ships, its own validation accuracy recorded beside the trial's
    assert chosen.record.retrain_epochs == 2 * chosen.record.epochs
    assert evaluate_arrays(chosen.model, data.x_val, data.y_val)[1] == pytest.approx(
        chosen.record.retrain_val_accuracy)


def test_a_nonzero_sweep_report_draws_the_dense_curve_beside_the_front(mnist_small, tmp_path):
    from mnistopt.report.data import pareto_plot_data, report_data
    from mnistopt.report.render import write_report

    data = mnist_small.subset(train=300, val=100, test=100)
    space = SearchSpace(depth=Choice(1), batch_size=Choice(128), sparsity=Choice(0.0, 0.75), augment="none")
    result = search_under_budget([1500, 3000], data, tuner="random", max_trials=4, max_epochs=2, seed=2,
                                 directory=tmp_path, space=space, budget_kind="nonzero")
    rows = report_data(result)["records"]
    plot = pareto_plot_data(rows, "nonzero_params")
    dense = [r for r in rows if r["stage"] == "dense" and r["status"] == "completed"]
    assert len({r["budget"] for r in dense}) == 2, [r["stage"] for r in rows]  # both budgets have dense trials
    assert plot["dense_front"] and all(a["x"] < b["x"] and a["y"] < b["y"]
                                       for a, b in zip(plot["dense_front"], plot["dense_front"][1:]))
    best_dense = max(r["val_accuracy"] for r in dense)
    assert plot["dense_front"][-1]["y"] == best_dense
    assert write_report(result, tmp_path)["pareto-nonzero_params"].stat().st_size > 0


def test_the_compression_stage_prunes_a_model_mnistopt_built_while_it_fine_tunes(mnist_small, tmp_path, monkeypatch):
    import mnistopt.compress.sparsity as sparsity
    from mnistopt import compress_model, train

    def no_tfmot(*args, **kwargs):
        raise AssertionError("a model mnistopt built is pruned in its own trainer")

    monkeypatch.setattr(sparsity, "prune_magnitude", no_tfmot)
    data = mnist_small.subset(train=400, val=100, test=100)
    spec = MLPSpec(hidden=(48,), pool=True, epochs=2, batch_size=64)
    dense = train(spec, data, evaluate_test=False).model
    before = [w.copy() for w in dense.get_weights()]
    result = compress_model(dense, data, tmp_path, spec=spec, quantize=[], sparsity=[0.75], prune_epochs=3)
    stage = next(r for r in result.records if r.stage == "sparse-0.75")
    assert len(stage.history["loss"]) == 3 and result.info["source"]["prune_epochs"] == 3
    kernels = sum(a * b for a, b in spec.prunable_kernels().values())
    assert stage.nonzero_params == pytest.approx(spec.params - 0.75 * kernels, abs=3)
    assert all(np.array_equal(a, b) for a, b in zip(before, dense.get_weights()))  # the input model is unchanged
