"""Budget searches on a small slice of real MNIST (seconds per trial)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mnistopt import Choice, SearchResult, SearchSpace, search_under_budget
from mnistopt.errors import ArgumentError, InvalidTypeError, BudgetError, SearchFailedError
from mnistopt.cli import main
from conftest import kill_after_records

FAST = SearchSpace(depth=Choice(1, 2), batch_size=256, optimizer="adam", batch_norm=False)
REQUIRED = {"trial_id", "budget", "params", "stage", "status", "val_accuracy", "selected", "test_accuracy"}


def test_random_search_records_and_selection(mnist_small, tmp_path):
    events = []
    result = search_under_budget(
        [3000, 20000], mnist_small, tuner="random", max_trials=3, max_epochs=1, seed=1,
        directory=tmp_path, space=FAST, progress=events.append,
    )
    assert [e.done for e in events] == [1, 2, 3, 1, 2, 3]
    assert all(e.total == 3 for e in events)
    for budget in (3000, 20000):
        records = result.for_budget(budget)
        assert len(records) == 3 and len({r.trial_id for r in records}) == 3
        assert all(r.status == "completed" and r.params <= budget for r in records)
        assert all(r.params == r.spec.params for r in records)
        chosen = result.best(budget).record
        assert chosen.selected and chosen.test_accuracy is not None
        assert chosen.val_accuracy == max(r.val_accuracy for r in records)
        assert [r for r in records if r.selected] == [chosen]
        assert all(r.test_accuracy is None for r in records if not r.selected)
        model = result.best(budget).model
        assert model.count_params() == chosen.params
    # result.json is the same data, readable on its own.
    data = json.loads((tmp_path / "result.json").read_text())
    assert len(data["records"]) == 6 and REQUIRED <= set(data["records"][0])
    assert data["dataset"]["sizes"]["train"] == 1500
    again = SearchResult.from_json(tmp_path / "result.json")
    assert again.best(3000).record == result.best(3000).record
    assert (tmp_path / "models" / "budget-3000.keras").is_file()
    result.to_csv(tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().count("\n") == 7


def test_rerun_resumes_without_repeating_trials(mnist_small, tmp_path):
    first = search_under_budget(3000, mnist_small, tuner="random", max_trials=2, max_epochs=1,
                                directory=tmp_path, space=FAST)
    second = search_under_budget(3000, mnist_small, tuner="random", max_trials=4, max_epochs=1,
                                 directory=tmp_path, space=FAST)
    before = {r.trial_id: r for r in first.records}
    after = {r.trial_id: r for r in second.records}
    assert len(after) == 4
    for trial_id, record in before.items():  # kept as they were, not retrained
        assert after[trial_id].wall_time_s == record.wall_time_s
        assert after[trial_id].val_accuracy == record.val_accuracy
    fresh = search_under_budget(3000, mnist_small, tuner="random", max_trials=1, max_epochs=1,
                                directory=tmp_path, space=FAST, overwrite=True)
    assert len(fresh.records) == 1


@pytest.mark.slow  # real training, several seconds (runs in the full suite)
def test_time_limit_starts_no_trial_after_it_and_a_rerun_resumes(mnist_small, tmp_path):
    events = []
    limited = search_under_budget([3000, 20000], mnist_small, tuner="random", max_trials=4, max_epochs=1,
                                  directory=tmp_path, space=FAST, time_limit=1e-6, progress=events.append)
    assert [e.done for e in events] == [1, 1]  # the first trial of each budget runs, then the clock stops it
    assert set(limited.info["time_limit_reached"]) == {"3000", "20000"}
    assert all(s > 0 for s in limited.info["time_limit_reached"].values())
    assert limited.info["settings"]["time_limit"] == 1e-6
    assert limited.best(3000).record.selected and limited.best(20000).record.test_accuracy is not None
    resumed = search_under_budget([3000, 20000], mnist_small, tuner="random", max_trials=4, max_epochs=1,
                                  directory=tmp_path, space=FAST)
    assert "time_limit_reached" not in resumed.info
    for budget in (3000, 20000):
        assert len(resumed.for_budget(budget)) == 4
        kept = limited.for_budget(budget)[0]
        assert {r.trial_id: r.wall_time_s for r in resumed.for_budget(budget)}[kept.trial_id] == kept.wall_time_s


def test_auto_max_epochs_gives_small_budgets_the_longer_top_rung(mnist_small, tmp_path):
    from mnistopt.kinds import ParamsBudget
    from mnistopt.options import DEFAULT_MAX_EPOCHS, SMALL_BUDGET_MAX_EPOCHS

    SMALL_BUDGET = ParamsBudget.small_budget

    result = search_under_budget([3000, SMALL_BUDGET + 1], mnist_small, tuner="random", max_trials=1,
                                 directory=tmp_path, space=FAST, patience=0)
    assert result.info["settings"]["max_epochs"] == "auto"
    assert result.best(3000).record.spec.epochs == SMALL_BUDGET_MAX_EPOCHS
    assert result.best(SMALL_BUDGET + 1).record.spec.epochs == DEFAULT_MAX_EPOCHS


def test_rerun_repairs_state_left_by_a_kill_between_kerastuner_writes(mnist_small, tmp_path):
    """KerasTuner writes a trial's file and the oracle's file separately; a kill between them
    must neither lose a trial (CI once saw trial 2 vanish) nor retrain a finished one."""
    kwargs = dict(tuner="random", max_trials=3, max_epochs=1, directory=tmp_path, space=FAST)
    first = {r.trial_id: r for r in search_under_budget(3000, mnist_small, **kwargs).records}
    project = tmp_path / "tuner" / "budget-3000"
    oracle_file = project / "oracle.json"
    state = json.loads(oracle_file.read_text())
    # (a) killed after trial 2's file said RUNNING, before the oracle knew it was running
    trial_file = project / "trial_2" / "trial.json"
    trial = json.loads(trial_file.read_text())
    trial["status"] = "RUNNING"
    trial_file.write_text(json.dumps(trial))
    (project / "trial_2" / "mnistopt_record.json").unlink()
    state["end_order"].remove("2")
    # (b) killed after trial 1 ended, before the oracle dropped it from the ongoing trials
    state["ongoing_trials"] = {"tuner0": "1"}
    oracle_file.write_text(json.dumps(state))
    result = json.loads((tmp_path / "result.json").read_text())
    result["records"] = [r for r in result["records"] if r["trial_id"] != "2"]
    (tmp_path / "result.json").write_text(json.dumps(result))

    second = {r.trial_id: r for r in search_under_budget(3000, mnist_small, **kwargs).records}
    assert sorted(second) == ["0", "1", "2"]
    for trial_id in ("0", "1"):  # finished before the kill: kept, not retrained
        assert second[trial_id].wall_time_s == first[trial_id].wall_time_s
    assert second["2"].status == "completed" and second["2"].wall_time_s != first["2"].wall_time_s
    assert second["2"].spec == first["2"].spec  # the same trial, run again
    assert json.loads(trial_file.read_text())["status"] == "COMPLETED"


@pytest.mark.parametrize("seed", [0, pytest.param(7, marks=pytest.mark.slow)])  # 0: KerasTuner reads it as "unseeded"
def test_same_seed_samples_the_same_specs(mnist_small, tmp_path, seed):
    runs = [
        search_under_budget(5000, mnist_small, tuner="random", max_trials=3, max_epochs=1, seed=s,
                            directory=tmp_path / str(i), space=FAST)
        for i, s in enumerate((seed, seed, seed + 1))
    ]
    specs = [[r.spec for r in run.records] for run in runs]
    assert specs[0] == specs[1]
    assert specs[0] != specs[2]
    assert len(set(specs[0])) > 1


def test_hyperband_continues_from_parent_checkpoints(mnist_small, tmp_path):
    result = search_under_budget(8000, mnist_small, max_epochs=3, hyperband_factor=3, directory=tmp_path,
                                 space=FAST, seed=2)
    records = result.records
    assert len(records) == 6  # max_epochs=3, factor 3: brackets of 3+1 and 2 trials
    children = [r for r in records if r.parent_trial_id is not None]
    assert children, "Hyperband should promote at least one trial"
    by_id = {r.trial_id: r for r in records}
    for child in children:
        parent = by_id[child.parent_trial_id]
        assert child.spec == parent.spec
        assert child.initial_epoch == parent.epochs and child.epochs == 3
    chosen = result.best(8000)
    assert len(chosen.history["val_accuracy"]) == chosen.record.epochs


def test_diverging_trial_is_recorded_as_failed_and_search_goes_on(mnist_small, tmp_path):
    space = SearchSpace(depth=1, inputs="pool", optimizer="sgd", batch_size=256, batch_norm=False,
                        activation="relu", dropout=0.0, l2=0.0, lr_schedule="constant", learning_rate=Choice(1e-3, 1e19),
                        augment="none", label_smoothing=0.0)
    result = search_under_budget(3000, mnist_small, tuner="grid", max_epochs=1, directory=tmp_path, space=space)
    assert len(result.records) == 2
    status = {r.spec.learning_rate: r for r in result.records}
    assert status[1e20].status == "failed" and "diverged" in status[1e20].reason
    assert status[1e-2].status == "completed"
    assert result.best(3000).record.spec.learning_rate == pytest.approx(1e-2)


def test_every_trial_failing_is_one_clear_error(mnist_small, tmp_path):
    space = SearchSpace(depth=1, inputs="pool", optimizer="sgd", batch_size=256, batch_norm=False,
                        activation="relu", dropout=0.0, l2=0.0, lr_schedule="constant", learning_rate=Choice(1e19, 1e20),
                        augment="none", label_smoothing=0.0)
    with pytest.raises(SearchFailedError, match=r"Every trial of the search at budget=3,000 failed \(2 trials\)"):
        search_under_budget(3000, mnist_small, tuner="grid", max_epochs=1, directory=tmp_path, space=space)
    data = json.loads((tmp_path / "result.json").read_text())
    assert [r["status"] for r in data["records"]] == ["failed", "failed"]


@pytest.mark.slow  # real training, several seconds (runs in the full suite)
def test_reference_grid_runs_its_nine_combinations(mnist_small, tmp_path):
    from mnistopt.reference import reference_grid_search

    result = reference_grid_search(mnist_small.subset(train=300), directory=tmp_path, epochs=1)
    combos = {(r.spec.learning_rate, r.spec.batch_size) for r in result.records}
    assert combos == {(lr, bs) for lr in (1e-4, 1e-3, 1e-2) for bs in (32, 64, 128)}
    assert all(r.params == 109_386 and r.spec.hidden == (128, 64) for r in result.records)
    assert result.best(109_386).record.val_accuracy == max(r.val_accuracy for r in result.records)


@pytest.mark.parametrize(
    "budget,error,match",
    [
        (0, BudgetError, r"`budget` must be an integer in \[1, 1000000000\]. Received: budget=0"),
        (-3, BudgetError, "Received: budget=-3"),
        (10**12, BudgetError, "Received: budget=1000000000000"),
        (4.5, TypeError, r"`budget` must be an integer. Received: budget=4.5"),
        (True, TypeError, r"`budget` must be an integer"),
        ("4034", TypeError, r"`budget` must be an integer"),
        ([], BudgetError, "empty list"),
        (50, BudgetError, r"budget=50 is below the minimum of this search space"),
    ],
)
def test_bad_budgets_fail_before_training(mnist_small, tmp_path, budget, error, match):
    with pytest.raises(error, match=match):
        search_under_budget(budget, mnist_small, directory=tmp_path)
    assert not (tmp_path / "result.json").exists()


def test_unknown_tuner(mnist_small):
    with pytest.raises(ValueError, match=r"`tuner` must be one of \['hyperband', 'bayesian', 'random', 'grid'\]"):
        search_under_budget(5000, mnist_small, tuner="evolution")


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from mnistopt import Choice, SearchSpace, load_dataset, search_under_budget
    data = load_dataset("mnist", path=sys.argv[1]).subset(train=1500, val=300, test=500)
    space = SearchSpace(depth=Choice(1, 2), batch_size=256, optimizer="adam", batch_norm=False)
    search_under_budget(3000, data, tuner="random", max_trials=5, max_epochs=2, directory=sys.argv[2], space=space)
    """
)


@pytest.mark.slow  # real training, several seconds (runs in the full suite)
def test_sigkill_then_rerun_keeps_completed_trials(mnist_dir, tmp_path):
    script = tmp_path / "search.py"
    script.write_text(KILL_SCRIPT)
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    finished = kill_after_records([sys.executable, str(script), str(mnist_dir), str(out)], out / "result.json")
    assert len(finished["records"]) >= 2
    kept = {r["trial_id"]: r for r in finished["records"]}

    rerun = subprocess.run([sys.executable, str(script), str(mnist_dir), str(out)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    final = json.loads((out / "result.json").read_text())["records"]
    ids = [r["trial_id"] for r in final]
    assert len(ids) == 5 and len(set(ids)) == 5
    by_id = {r["trial_id"]: r for r in final}
    for trial_id, record in kept.items():  # completed before the kill: kept, not retrained
        assert by_id[trial_id]["wall_time_s"] == record["wall_time_s"]
        assert by_id[trial_id]["val_accuracy"] == record["val_accuracy"]
    assert sum(r["selected"] for r in final) == 1


def test_cli_search_writes_result_json(mnist_dir, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["search", "--budget", "3000", "--data", str(mnist_dir), "--out", str(out),
                   "--tuner", "random", "--max-trials", "2", "--max-epochs", "1"])
    assert status == 0
    data = json.loads((out / "result.json").read_text())
    assert len(data["records"]) == 2 and REQUIRED <= set(data["records"][0])
    assert all(r["stage"] == "dense" and r["params"] <= 3000 for r in data["records"])
    assert (out / "result.csv").is_file()
    report = json.loads((out / "report.json").read_text())
    assert len(report["records"]) == 2 and all(set(r["pareto"]) >= {"params", "nonzero_params", "bytes"}
                                               for r in report["records"])
    assert (out / "report.md").is_file() and (out / "pareto-params.png").is_file()
    captured = capsys.readouterr()
    assert "| 3,000 |" in captured.out
    assert "budget 3,000: trial 2/2" in captured.err


def test_cli_sweep_searches_geometric_budgets_and_reports_the_curve(mnist_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["search", "--sweep", "3000", "5000", "--points", "2", "--data", str(mnist_dir), "--out", str(out),
                 "--tuner", "random", "--max-trials", "1", "--max-epochs", "1"]) == 0
    assert "sweep budgets: 3,000, 4,034, 5,000" in capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert sorted({r["budget"] for r in report["records"]}) == [3000, 4034, 5000]
    assert all(r["macs"] > 0 for r in report["records"])
    assert all(s["test_interval"][0] < s["test_accuracy"] < s["test_interval"][1] for s in report["selected"])
    assert (out / "pareto-params.png").is_file() and (out / "pareto-macs.png").is_file()
    with pytest.raises(SystemExit) as usage:
        main(["search", "--sweep", "3000", "5000", "--budget", "4000", "--out", str(out)])
    assert usage.value.code == 2 and "not both" in capsys.readouterr().err
    assert main(["search", "--sweep", "5000", "3000", "--data", str(mnist_dir), "--out", str(out)]) == 2
    assert "minimum < maximum" in capsys.readouterr().err


def test_kerastuner_state_files_are_written_atomically(tmp_path):
    from keras_tuner.src import utils as kt_utils

    from mnistopt._tuner import atomic_kerastuner_state

    original = kt_utils.save_json
    target = tmp_path / "oracle.json"
    with atomic_kerastuner_state():
        assert kt_utils.save_json is not original
        kt_utils.save_json(str(target), {"a": 1})
        kt_utils.save_json(str(target), {"a": 2})
    assert kt_utils.save_json is original
    assert json.loads(target.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["oracle.json"]


def test_search_with_compress_adds_stage_records_and_resumes(mnist_small, tmp_path):
    options = {"quantize": ["int8"], "sparsity": [0.5], "fine_tune_epochs": 1}
    events = []
    result = search_under_budget(3000, mnist_small, tuner="random", max_trials=2, max_epochs=1,
                                 directory=tmp_path, space=FAST, compress=options, progress=events.append)
    chosen = result.best(3000).record
    stages = {r.stage: r for r in result.records if r.is_compression_stage}
    assert set(stages) == {"float32", "int8", "sparse-0.5", "sparse-0.5+int8"}
    assert sum(not r.is_compression_stage for r in result.records) == 2
    for r in stages.values():
        assert r.budget == 3000 and r.trial_id == chosen.trial_id and r.spec == chosen.spec
        assert Path(r.artifact).is_file() and r.bytes == Path(r.artifact).stat().st_size
        assert Path(r.artifact).parent == tmp_path / "compress" / "3000"
        assert r.arena_bytes > 0 and r.latency_us > 0 and r.macs == chosen.spec.macs  # what a device pays
        assert r.val_accuracy is not None and r.test_accuracy is not None
    assert stages["float32"].test_accuracy == pytest.approx(chosen.test_accuracy, abs=0.01)
    assert stages["int8"].bytes < stages["float32"].bytes
    assert stages["sparse-0.5"].nonzero_params < 0.6 * chosen.params
    assert [type(e).__name__ for e in events][-4:] == ["StageProgress"] * 4
    saved = SearchResult.from_json(tmp_path / "result.json")
    assert {r.key for r in saved.records} == {r.key for r in result.records}
    # a rerun keeps the finished trials and stages instead of redoing them
    again = search_under_budget(3000, mnist_small, tuner="random", max_trials=2, max_epochs=1,
                                directory=tmp_path, space=FAST, compress=options)
    redone = {r.stage: r for r in again.records if r.is_compression_stage}
    assert {k: r.wall_time_s for k, r in redone.items()} == {k: r.wall_time_s for k, r in stages.items()}


@pytest.mark.parametrize("compress, kind, error, match", [
    ({"bogus": 1}, "params", ArgumentError, "keys must be among"),
    ({"quantize": ["int4"]}, "params", ArgumentError, "quantize"),
    ({"sparsity": [1.5]}, "params", ArgumentError, "sparsity"),
    (True, "bytes", ArgumentError, "'bytes' search already selects"),
    ("yes", "params", InvalidTypeError, "must be True, False or a dict"),
])
def test_bad_compress_options_fail_before_training(mnist_small, tmp_path, compress, kind, error, match):
    with pytest.raises(error, match=match):
        search_under_budget(3000, mnist_small, directory=tmp_path / "out", compress=compress, budget_kind=kind)
    assert not (tmp_path / "out").exists()
