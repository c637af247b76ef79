"""Reports rendered from a small saved result: no training, no TensorFlow."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistopt import MLPSpec, SearchResult, TrialRecord
from mnistopt.errors import DataError, DataNotFoundError
from mnistopt.cli import main
from mnistopt.records import SelectedModel
from mnistopt.report.classification import classification_summary
from mnistopt.artifacts import Stage
from mnistopt.report.data import REFERENCE, accuracy_gaps, comparison_data, pareto_plot_data, pareto_y_floor, report_data
from mnistopt.report.render import write_report
from mnistopt.report.stats import difference_interval, half_width, wilson_interval

AXES = ("params", "nonzero_params", "bytes", "gzip_bytes")


def _trial(budget, i, hidden, val, epochs=3, parent=None, **kw):
    spec = MLPSpec(hidden=hidden)
    history = {"loss": [1.0 / (e + 1) for e in range(epochs)], "val_accuracy": [val - 0.01 * (epochs - e - 1)
                                                                              for e in range(epochs)]}
    return TrialRecord(budget=budget, trial_id=str(i), status="completed", spec=spec, params=spec.params,
                       nonzero_params=spec.params, val_accuracy=val, val_loss=0.3, epochs=epochs, epochs_run=epochs,
                       history=history, parent_trial_id=parent, wall_time_s=2.0, **kw)


def _stage(chosen, stage, val, test, nbytes, nonzero=None, source="float32"):
    return TrialRecord(budget=chosen.budget, trial_id=chosen.trial_id, status="completed", spec=chosen.spec,
                       params=chosen.params, stage=stage, nonzero_params=nonzero or chosen.params,
                       val_accuracy=val, test_accuracy=test, bytes=nbytes, gzip_bytes=nbytes // 2,
                       artifact=f"{stage}.tflite", source_stage=None if stage == "float32" else source,
                       wall_time_s=1.0)


def small_result():
    """Three reference budgets, a few trials each, compression stages of the selected models."""
    records, selected = [], {}
    rows = {4034: [((5,), 0.90), ((4,), 0.88)], 72842: [((90,), 0.96), ((80, 20), 0.95)],
            93322: [((117,), 0.962), ((100, 30), 0.958)]}
    i = 0
    y_true = [d % 10 for d in range(50)]
    for budget, trials in rows.items():
        mine = []
        for hidden, val in trials:
            mine.append(_trial(budget, i, hidden, val))
            i += 1
        mine.append(TrialRecord(budget=budget, trial_id=str(i), status="failed", spec=MLPSpec(hidden=(3,)),
                                params=MLPSpec(hidden=(3,)).params, reason="loss became NaN"))
        i += 1
        best = max((r for r in mine if r.status == "completed"), key=lambda r: r.val_accuracy)
        test = round(best.val_accuracy - 0.005, 4)
        chosen = TrialRecord(**{**best.__dict__, "selected": True, "train_accuracy": test + 0.03,
                                "test_accuracy": test, "test_loss": 0.2})
        mine[mine.index(best)] = chosen
        y_pred = [(y + (k % 7 == 0)) % 10 for k, y in enumerate(y_true)]
        selected[budget] = SelectedModel(chosen, None, chosen.history, f"models/budget-{budget}.keras",
                                         {"split": "test", **classification_summary(y_true, y_pred)})
        fp = chosen.params * 4 + 2000
        mine += [
            _stage(chosen, "float32", chosen.val_accuracy, test, fp),
            _stage(chosen, "int8", chosen.val_accuracy - 0.001, test - 0.001, chosen.params + 3000),
            _stage(chosen, "sparse-0.9", chosen.val_accuracy - 0.01, test - 0.01, fp, nonzero=chosen.params // 10),
            _stage(chosen, "sparse-0.9+int8", chosen.val_accuracy - 0.011, test - 0.011, chosen.params + 3000,
                   nonzero=chosen.params // 10, source="sparse-0.9"),
        ]
        records += mine
    info = {"dataset": {"name": "mnist", "source": "shared", "sizes": {"train": 9000, "val": 1000, "test": 10000},
                        "seed": 0}, "settings": {"seed": 0, "tuner": "random"}, "environment": {"python": "3.x"},
            "wall_time_s": 12.5}
    return SearchResult(records=tuple(records), selected=selected, info=info)


def dominated(row, rows, x):
    return any(o[x] <= row[x] and o["val_accuracy"] >= row["val_accuracy"]
               and (o[x] < row[x] or o["val_accuracy"] > row["val_accuracy"]) for o in rows)


def test_report_json_marks_exactly_the_non_dominated_records(tmp_path):
    result = small_result()
    files = write_report(result, tmp_path)
    data = json.loads(files["json"].read_text())
    assert len(data["records"]) == len(result.records)
    for x in AXES:
        eligible = [r for r in data["records"] if r["status"] == "completed" and r[x] is not None]
        assert eligible, x
        for r in data["records"]:
            expected = r in eligible and not dominated(r, eligible, x)
            assert r["pareto"][x] == expected, (x, r["stage"], r["trial_id"])
        members = [data["records"][i] for i in data["fronts"][x]["members"]]
        assert [m[x] for m in members] == sorted(m[x] for m in members)
        assert all(m["pareto"][x] for m in members) and len(members) == sum(r["pareto"][x] for r in data["records"])
    # failed trials and trials without a file are never on a front they cannot be measured on
    assert not any(r["pareto"]["params"] for r in data["records"] if r["status"] == "failed")
    assert not any(r["pareto"]["bytes"] for r in data["records"] if r["bytes"] is None)
    # the environment, dataset and timing travel with the report
    assert data["dataset"]["sizes"] == {"train": 9000, "val": 1000, "test": 10000}
    assert data["environment"] == {"python": "3.x"} and data["settings"]["seed"] == 0
    assert data["times"]["4034"] == {"trials": 3, "trial_time_s": 4.0, "stages": 4, "stage_time_s": 4.0}
    assert set(data["stages"]) == {"dense", "float32", "int8", "sparse-0.9", "sparse-0.9+int8"}


def test_report_files_reference_table_and_plots(tmp_path):
    result = small_result()
    files = write_report(result, tmp_path)
    md = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    # the reference table, with the reference figures beside ours
    assert "Reference comparison" in md
    for ref in REFERENCE:
        assert f"| {ref['params']:,} | {ref['accuracy']:.4f} | {ref['loss']:.4f} |" in md
    chosen = result.best(4034).record
    train_pm, test_pm = half_width(chosen.train_accuracy, 9000), half_width(chosen.test_accuracy, 10_000)
    assert (f"| 4,034 | 0.9627 | 0.1115 | {chosen.train_accuracy:.4f} ± {train_pm:.4f} | "
            f"{chosen.test_accuracy:.4f} ± {test_pm:.4f} | 0.2000 |") in md
    assert "Accuracy gap versus parameter ratio" in md and "93,322 vs 72,842" in md
    # plots: one per size axis, curves of the front, a confusion matrix per selected model
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert {"pareto-params.png", "pareto-nonzero_params.png", "pareto-bytes.png", "pareto-macs.png",
            "front-curves.png", "confusion-4034.png", "confusion-72842.png", "confusion-93322.png"} == set(pngs)
    for name in pngs:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    referenced = set(re.findall(r'<img src="([^"]+\.png)"', html))
    assert referenced == set(pngs)
    assert set(re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)) == set(pngs)
    # the classification report of each selected model is in both documents
    assert md.count("macro avg") == 3 and html.count("macro avg") == 3
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html and "<script" not in html
    assert set(files) >= {"json", "markdown", "html", "pareto-params", "front-curves"}


def test_gaps_are_computed_from_our_numbers():
    result = small_result()
    data = report_data(result)
    by_pair = {(g["larger"], g["smaller"]): g for g in data["gaps"]}
    big, small = result.best(93322).record, result.best(4034).record
    g = by_pair[(93322, 4034)]
    assert g["reference_ratio"] == round(93322 / 4034, 2)
    assert g["reference_gap"] == pytest.approx(0.9979 - 0.9627)
    assert g["ours"]["ratio"] == round(big.params / small.params, 2)
    assert g["ours"]["test_gap"] == pytest.approx(big.test_accuracy - small.test_accuracy)
    assert g["ours"]["train_gap"] == pytest.approx(big.train_accuracy - small.train_accuracy)
    # a result without the reference budgets says so instead of inventing numbers
    assert all(row["ours"] is None for row in accuracy_gaps([]))


def test_cli_report_recreates_deleted_files_identically(tmp_path, capsys):
    result = small_result()
    result.to_json(tmp_path / "result.json")
    assert main(["report", str(tmp_path)]) == 0
    before = {name: (tmp_path / name).read_text() for name in ("report.md", "report.html", "report.json")}
    (tmp_path / "report.md").unlink()
    (tmp_path / "report.html").unlink()
    assert main(["report", str(tmp_path)]) == 0
    after = {name: (tmp_path / name).read_text() for name in ("report.md", "report.html", "report.json")}
    assert after == before
    assert "report.html" in capsys.readouterr().out


def test_cli_report_errors_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "No result file" in capsys.readouterr().err
    (tmp_path / "result.json").write_text("{not json")
    assert main(["report", str(tmp_path)]) == 2
    assert "not a readable mnistopt result file" in capsys.readouterr().err


def test_write_report_api_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="No result file"):
        write_report(tmp_path)
    (tmp_path / "result.json").write_text('{"records": 3}')
    with pytest.raises(DataError, match="not a readable"):
        write_report(tmp_path)


sizes = st.one_of(st.none(), st.integers(1, 50))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), sizes, st.integers(0, 10), st.booleans()), min_size=1, max_size=25))
def test_report_fronts_match_brute_force(points):
    records = tuple(
        TrialRecord(budget=5, trial_id=str(i), status="completed" if ok else "failed", spec=None, params=p,
                    nonzero_params=p, bytes=b, val_accuracy=acc / 10 if ok else None)
        for i, (p, b, acc, ok) in enumerate(points))
    data = report_data(SearchResult(records=records, selected={}))
    for x in ("params", "bytes"):
        eligible = [r for r in data["records"] if r["status"] == "completed" and r[x] is not None]
        for r in data["records"]:
            assert r["pareto"][x] == (r in eligible and not dominated(r, eligible, x))


def test_plot_data_steps():
    rows = [{"params": 10, "val_accuracy": 0.9, "budget": 10, "stage": "int8", "pareto": {"params": True}},
            {"params": 5, "val_accuracy": 0.5, "budget": 10, "stage": "dense", "pareto": {"params": True}},
            {"params": 20, "val_accuracy": 0.1, "budget": 20, "stage": "dense", "pareto": {"params": False}},
            {"params": None, "val_accuracy": 0.1, "budget": 20, "stage": "dense", "pareto": {"params": False}}]
    d = pareto_plot_data(rows, "params")
    assert [p["x"] for p in d["front"]] == [5, 10] and [p["family"] for p in d["front"]] == ["trained", "quantized"]
    assert len(d["dominated"]) == 1
    assert pareto_y_floor(d) == pytest.approx(0.4)  # 0.5 minus a quarter of the front's 0.4 spread
    assert Stage.parse("units-4034+int8").family == "units cut+quantized"
    c = comparison_data({"a": {"val_accuracy": [0.5, 0.6], "loss": [1.0]}, "b": {}}, ("val_accuracy", "loss"))
    assert c["panels"]["loss"] == {"a": {"epochs": [1], "values": [1.0]}} and "b" not in c["panels"]["val_accuracy"]


def test_equal_front_points_share_one_label():
    rows = [{"params": 10, "val_accuracy": 0.9, "budget": 10, "stage": s, "pareto": {"params": True}}
            for s in ("dense", "float32", "dynamic", "float16")]
    rows.append({"params": 10, "val_accuracy": 0.9, "budget": 20, "stage": "int8", "pareto": {"params": True}})
    d = pareto_plot_data(rows, "params")
    assert len(d["front"]) == 1
    assert d["front"][0]["label"] == "10 dense / float32 / dynamic (+2)"


def test_rendering_a_report_never_imports_tensorflow(tmp_path):
    import subprocess
    import sys

    small_result().to_json(tmp_path / "result.json")
    code = ("import sys; from mnistopt import write_report; write_report(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "report.html").is_file()


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 20_000), data=st.data())
def test_wilson_interval_matches_scipy_and_holds_the_accuracy(n, data):
    scipy_stats = pytest.importorskip("scipy.stats")
    k = data.draw(st.integers(0, n))
    low, high = wilson_interval(k / n, n)
    expected = scipy_stats.binomtest(k, n).proportion_ci(method="wilson")
    assert low == pytest.approx(expected.low, abs=1e-9) and high == pytest.approx(expected.high, abs=1e-9)
    assert 0.0 <= low <= k / n <= high <= 1.0
    d_low, d_high = difference_interval(k / n, n, k / n, n)
    assert d_low <= 0.0 <= d_high  # equal accuracies: no gap outside the noise


def test_every_table_accuracy_carries_its_interval_and_gaps_say_whether_they_are_noise(tmp_path):
    result = small_result()
    data = report_data(result)
    for s in data["selected"]:
        assert s["test_interval"] == pytest.approx(wilson_interval(s["test_accuracy"], 10_000), abs=1e-6)
        assert s["val_interval"] == pytest.approx(wilson_interval(s["val_accuracy"], 1_000), abs=1e-6)
    for row in data["records"]:
        if row.get("test_accuracy") is not None:
            assert row["test_interval"][0] <= row["test_accuracy"] <= row["test_interval"][1]
    gaps = {(g["larger"], g["smaller"]): g["ours"] for g in data["gaps"]}
    a, b, c = (result.best(x).record.test_accuracy for x in (93322, 72842, 4034))
    assert gaps[93322, 72842]["inside_noise"] is True  # 0.957 vs 0.955 on 10,000 images
    assert gaps[93322, 4034]["inside_noise"] is False  # 0.957 vs 0.895
    assert gaps[93322, 72842]["test_gap_interval"] == pytest.approx(difference_interval(a, 10_000, b, 10_000), abs=1e-6)
    write_report(result, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "inside the noise" in md and "outside the noise" in md and "Wilson" in md
    # a table accuracy with no interval only where the split's size is unknown
    bare = SearchResult(records=result.records, selected=result.selected, info={})
    assert all("test_interval" not in s or s["test_interval"] is None for s in report_data(bare)["selected"])


def test_hyperband_short_rungs_stay_off_the_front_and_are_drawn_faint(tmp_path):
    full = _trial(5000, 1, (5,), 0.90, epochs=4)
    full = TrialRecord(**{**full.__dict__, "spec": MLPSpec(hidden=(5,), epochs=4)})
    short = TrialRecord(**{**_trial(5000, 2, (3,), 0.95, epochs=1).__dict__, "spec": MLPSpec(hidden=(3,), epochs=4)})
    info = {"settings": {"tuner": "hyperband"}, "dataset": {"sizes": {"train": 90, "val": 10, "test": 10}}}
    result = SearchResult(records=(full, short), selected={}, info=info)
    data = report_data(result)
    rows = {r["trial_id"]: r for r in data["records"]}
    # the short rung is smaller and more accurate on validation, yet not on the front
    assert rows["2"]["fully_trained"] is False and rows["2"]["pareto"]["params"] is False
    assert rows["1"]["pareto"]["params"] is True and data["fronts"]["params"]["short"] == 1
    plot = pareto_plot_data(data["records"], "params")
    assert [p["budget"] for p in plot["short"]] == [5000] and len(plot["front"]) == 1
    # under a random search every completed trial had its whole training
    random = report_data(SearchResult(records=(full, short), selected={}, info={"settings": {"tuner": "random"}}))
    assert [r["pareto"]["params"] for r in random["records"]] == [False, True]
    write_report(result, tmp_path)
    assert "cut short at a lower rung are left out" in (tmp_path / "report.md").read_text()


def test_curve_marks_the_reference_and_baseline_on_the_parameter_axis_only():
    data = report_data(small_result())
    params = pareto_plot_data(data["records"], "params", selected=data["selected"])
    assert sorted(p["x"] for p in params["reference"]) == sorted(int(r["params"]) for r in REFERENCE)
    assert params["baseline"]["x"] == MLPSpec().params
    assert [p["budget"] for p in params["selected"]] == [4034, 72842, 93322]
    assert all(p["low"] <= p["y"] <= p["high"] for p in params["selected"])
    nbytes = pareto_plot_data(data["records"], "bytes", selected=data["selected"])
    assert nbytes["reference"] == [] and nbytes["baseline"] is None
