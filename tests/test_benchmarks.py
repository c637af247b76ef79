"""The benchmark scripts run end to end (short settings), print a table and write their reports."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script, mnist_dir, out, *extra):
    """Run a benchmark script on ``mnist_dir`` (``None``: the data ``extra`` names, e.g. the packaged sample)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    where = ["--data", str(mnist_dir)] if mnist_dir is not None else []
    proc = subprocess.run([sys.executable, str(BENCH / script), *where, "--out", str(out), *extra],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_baseline_script(mnist_dir, tmp_path):
    common = _common()
    begin, end = common.markers("baseline.py")
    page = tmp_path / "compression.md"
    page.write_text(f"# Baseline\n\n{begin}\nold\n{end}\n")
    out = run("baseline.py", mnist_dir, tmp_path / "out", "--epochs", "1", "--docs", str(page))
    assert re.search(r"\| 784-128-64-10 \| 109,386 \| 1 \| 0\.\d{4} \|", out)
    assert "macro avg" in out
    for name in ("summary.md", "metrics.json", "curves.png", "confusion_matrix.png"):
        assert (tmp_path / "out" / name).is_file()
    # --docs: what it printed (not its progress lines) is now the page's block, after how it was run
    table = next(line for line in out.splitlines() if line.startswith("| 784-128-64-10 |"))
    text = page.read_text()
    assert table in text and "old" not in text and "wall time:" in text and "epoch 1/1" not in text
    assert "`python benchmarks/baseline.py --data" in text and "data: mnist" in text


@pytest.mark.slow
def test_hyperparameter_grid_script(mnist_dir, tmp_path):
    out = run("hyperparameter_grid.py", mnist_dir, tmp_path, "--epochs", "1")
    grid = json.loads((tmp_path / "grid.json").read_text())
    assert grid["learning_rates"] == [0.0001, 0.001, 0.01] and grid["batch_sizes"] == [32, 64, 128]
    cells = [v for row in grid["val_accuracy"] for v in row]
    assert len(cells) == 9 and all(0 < v <= 1 for v in cells)
    assert grid["best"]["val_accuracy"] == max(cells)  # the best combination is chosen on validation
    assert "| 0.001 |" in out and "Best combination (validation)" in out
    assert (tmp_path / "grid.png").is_file() and (tmp_path / "report.html").is_file()


@pytest.mark.slow
def test_optimizer_comparison_script(mnist_dir, tmp_path):
    out = run("optimizer_comparison.py", mnist_dir, tmp_path, "--epochs", "1")
    data = json.loads((tmp_path / "comparison.json").read_text())
    names = [r["variant"] for r in data["rows"]]
    assert names[:4] == ["adam", "sgd", "sgd+momentum", "rmsprop"] and len(names) == 8
    assert [r["optimizer"] for r in data["rows"][:4]] == ["adam", "sgd", "sgd", "rmsprop"]
    assert {r["dropout"] for r in data["rows"]} == {0.0, 0.2, 0.5} and {r["l2"] for r in data["rows"]} == {
        0.0, 1e-4, 1e-3}
    chosen = [r for r in data["rows"] if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["val_accuracy"] == max(r["val_accuracy"] for r in data["rows"])
    assert all(f"| {n} |" in out or f"| **{n}** |" in out for n in names)
    assert (tmp_path / "comparison-curves.png").is_file() and "comparison-curves.png" in (
        tmp_path / "comparison.html").read_text()


@pytest.mark.slow
def test_seed_comparison_script(mnist_dir, tmp_path):
    out = run("seed_comparison.py", mnist_dir, tmp_path, "--budget", "4034", "--max-epochs", "1",
              "--sparsity", "0.9", "--quantize", "int8")
    assert "| 4,034 | 0.9627 | 0.1115 |" in out  # the reference table, with our numbers beside it
    assert "front over params:" in out and "wall time:" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert {"dense", "float32", "int8", "sparse-0.9", "sparse-0.9+int8"} == set(report["stages"])
    assert (tmp_path / "report.html").is_file() and (tmp_path / "pareto-bytes.png").is_file()


@pytest.mark.slow
def test_speed_script_json_line(mnist_dir, tmp_path):
    out = run("speed.py", mnist_dir, tmp_path, "--images", "1500", "--repeats", "1", "--skip-search", "--json")
    data = json.loads(out.strip().splitlines()[-1])
    assert data["gflops"] > 0 and data["epoch_floor_s"] > 0
    assert [(r["path"], r["batch_size"]) for r in data["epochs"]] == [
        ("mnistopt", 32), ("mnistopt", 64), ("mnistopt", 128), ("mnistopt", 256), ("mnistopt", 512),
        ("mnistopt, augment=none (in turns)", 128),
        ("mnistopt, augment=shift2 (in turns)", 128), ("mnistopt, augment=affine (in turns)", 128),
        ("keras model.fit", 32)]
    assert all(len(r["epoch_times_s"]) == 3 for r in data["epochs"] if "in turns" in r["path"])  # 3 rounds of 1
    assert data["epoch_ratio_to_floor"] == data["epochs"][4]["ratio_to_floor"] >= 1.0  # nothing beats the floor
    head = data["epoch_ratio_to_floor_search_batches"]
    assert data["search_batch_sizes"] == [64, 128, 256] and "uniform" in head["weights_from"]
    assert head["trial_weighted_mean"] == pytest.approx(sum(head[str(b)] for b in (64, 128, 256)) / 3)
    assert all(r["epoch_min_s"] <= r["epoch_median_s"] <= r["epoch_max_s"] for r in data["epochs"])
    assert set(data["augment_epoch_ratio"]) == {"shift2", "affine"} and min(data["augment_epoch_ratio"].values()) > 0
    assert "| mnistopt | 512 |" in out


@pytest.mark.slow
def test_rank_correlation_script_json_line(mnist_dir, tmp_path):
    out = run("rank_correlation.py", mnist_dir, tmp_path, "--budget", "3000", "--trials", "5", "--max-epochs", "6",
              "--json")
    data = json.loads(out.strip().splitlines()[-1])
    row = data["budgets"]["3000"]
    assert row["configurations"] == 5
    assert -1.0 <= row["spearman_epoch_1"] <= 1.0 and -1.0 <= row["spearman_epoch_5"] <= 1.0
    assert "| 3,000 | 5 |" in out


@pytest.mark.slow
def test_sweep_script_table_and_json(mnist_dir, tmp_path):
    out = run("sweep.py", mnist_dir, tmp_path, "--min", "3000", "--max", "5000", "--points", "2", "--max-epochs", "1",
              "--quantize", "int8-io", "--json")
    data = json.loads(out.strip().splitlines()[-1])
    assert data["budgets"] == [3000, 4034, 5000]  # the reference budget in range joins the two ends
    for row in data["rows"]:
        assert row["params"] <= row["budget"] and row["macs"] > 0
        assert row["test_interval"][0] <= row["test_accuracy"] <= row["test_interval"][1]
        for mode in ("float32", "int8-io"):
            f = row["files"][mode]
            assert f["bytes"] > 0 and f["arena_bytes"] > 0 and f["latency_us"] > 0, (row["budget"], mode)
    assert "| 4,034 |" in out and (tmp_path / "report.html").is_file() and (tmp_path / "pareto-latency_us.png").is_file()


@pytest.mark.slow
def test_fullsize_script_compares_schedules_and_resumes(mnist_dir, tmp_path):
    args = ("--images", "20000", "--budgets", "20000", "--max-trials", "2", "--max-epochs", "1",
            "--schedules", "fixed", "full", "500", "--json")
    data = json.loads(run("fullsize.py", mnist_dir, tmp_path, *args).strip().splitlines()[-1])
    runs = {r["schedule"]: r for r in data["runs"]}
    assert sorted(runs) == ["500", "fixed", "full"]
    assert [runs[s]["epoch_images"] for s in ("fixed", "full", "500")] == ["auto", None, 500]
    for r in runs.values():
        assert r["params"] <= 20000 and 1 <= r["trials"] <= 2 and 0 < r["val_accuracy"] <= 1
        assert (tmp_path / r["schedule"] / "20000" / "run.json").is_file()
    again = json.loads(run("fullsize.py", mnist_dir, tmp_path, *args, "--resume").strip().splitlines()[-1])
    assert again["runs"] == data["runs"]  # read back, nothing run twice


@pytest.mark.slow
def test_peers_script_every_row_one_seed_tiny(mnist_dir, tmp_path):
    """The CI smoke run of peers.py: one seed, every row, a 3-second allowance, 1-epoch trials."""
    out = run("peers.py", mnist_dir, tmp_path, "--budgets", "4034", "--seeds", "1", "--allowance", "3",
              "--max-epochs", "1", "--peer-epochs", "1", "--json")
    data = json.loads(out.strip().splitlines()[-1])
    rows = data["budgets"]["4034"]
    assert set(rows) == {"mnistopt", "mnistopt_raw_pixels", "kerastuner_random_same_space",
                         "kerastuner_bayesian_same_space", "optuna_tpe_same_space", "kerastuner_plain",
                         "optuna_plain", "seed_grid"}
    for name, row in rows.items():
        (only,) = row["runs"]  # one seed: one run, no spread to report
        assert row["std"] is None and row["mean"] == only["test_accuracy"] and only["seed"] == 0
        assert 0 < only["test_accuracy"] <= 1 and only["trials"] >= 1, name
        assert only["config"]["params"] <= 4034, name  # every row met the budget
        assert only["allowance_s"] == 3.0, name  # --allowance is every row's, mnistopt's included
        assert only["overrun_s"] == round(max(0.0, only["wall_s"] - 3.0), 1), name
        times = [p["t"] for p in only["trace"]]
        assert times == sorted(times) and only["trace"][-1]["val"] == only["val_accuracy"], name
    raw = rows["mnistopt_raw_pixels"]["runs"][0]["config"]["architecture"]
    assert raw.startswith("784-"), raw  # no input reduction in that row
    assert rows["seed_grid"]["runs"][0]["trials"] <= 9
    assert (tmp_path / "anytime.png").stat().st_size > 10_000
    assert "| 4,034 | mnistopt |" in out and "mnistopt's mean" in out
    # every finished run was saved as it ended; --resume reads them back and runs nothing again
    saved = json.loads((tmp_path / "seed-0" / "4034" / "seed_grid" / "result.json").read_text())
    assert saved == rows["seed_grid"]["runs"][0]
    again = run("peers.py", mnist_dir, tmp_path, "--budgets", "4034", "--seeds", "1", "--allowance", "3",
                "--max-epochs", "1", "--peer-epochs", "1", "--json", "--resume")
    assert json.loads(again.strip().splitlines()[-1])["budgets"] == data["budgets"]


@pytest.mark.slow
def test_multi_model_script_packs_identical_training(mnist_dir, tmp_path):
    out = run("multi_model.py", mnist_dir, tmp_path, "--models", "3", "--epochs", "1", "--search-max-epochs", "1",
              "--json")
    data = json.loads(out.strip().splitlines()[-1])
    assert data["models"] == 3 and data["sequential_s"] > 0 and data["packed_s"] > 0
    assert data["max_accuracy_difference"] <= 0.002  # packing changes the speed, not what is learned
    assert 0 < data["trial_share"] <= 1.0 and "verdict:" in out


def _common():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_common", BENCH / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_has_exactly_one_block_in_its_docs_page():
    common = _common()
    scripts = sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_"))
    assert sorted(common.PAGES) == scripts  # every script writes somewhere, and only scripts that exist
    for script, page in common.PAGES.items():
        text = (common.DOCS / page).read_text()
        begin, end = common.markers(script)
        assert text.count(begin) == 1 and text.count(end) == 1 and text.index(begin) < text.index(end), (script, page)
        assert common.replace_block(text, script, "x").count("\nx\n") == 1
        assert f"\n{page[:-3]}\n" in (common.DOCS / "index.md").read_text()  # in the Benchmarks toctree


def test_a_run_replaces_only_its_own_block(tmp_path):
    common = _common()
    begin, end = common.markers("sweep.py")
    other_begin, other_end = common.markers("speed.py")
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\nprose\n\n{begin}\nold table\n{end}\n\nmore prose\n\n{other_begin}\nkept\n{other_end}\n")
    common.write_block(page, "sweep.py", "| a |\n|---:|\n| 1 |\n", "Run on 2026-11-29: `python benchmarks/sweep.py`.")
    text = page.read_text()
    assert "old table" not in text and "| 1 |" in text and text.count(begin) == 1 and text.count(end) == 1
    assert text.startswith("# Title\n\nprose\n\n") and "more prose" in text and f"{other_begin}\nkept\n{other_end}" in text
    assert text.index("Run on 2026-11-29") < text.index("| a |")
    with pytest.raises(ValueError, match="exactly one block for peers.py"):
        common.replace_block(text, "peers.py", "x")


@pytest.mark.slow
def test_classes_script_searches_twenty_classes_and_labels_from_one(mnist_dir, tmp_path):
    out = run("classes.py", mnist_dir, tmp_path, "--max-epochs", "1", "--budget", "5000", "--json")
    data = json.loads(out.strip().splitlines()[-1])
    rows = {r["dataset"]: r for r in data["rows"]}
    assert (rows["twenty"]["num_classes"], rows["twenty"]["label_offset"]) == (20, 0)
    assert (rows["from-one"]["num_classes"], rows["from-one"]["label_offset"]) == (10, 1)
    assert rows["twenty"]["sizes"]["test"] == 2 * rows["from-one"]["sizes"]["test"]  # each digit also turned
    assert all(r["params"] <= 5000 and 0 < r["test_accuracy"] <= 1 for r in rows.values())
    assert "; 20 classes" in out and "10 classes (labels 1..10, read as 0..9)" in out


@pytest.mark.slow
def test_your_model_script_compresses_two_plain_keras_models(mnist_dir, tmp_path):
    # the packaged sample (2,000 test images): TFLM runs every test image of each int8-io file one by one
    out = run("your_model.py", None, tmp_path, "--dataset", "mnist-sample", "--epochs", "1", "--fine-tune-epochs", "1",
              "--json")
    rows = json.loads(out.strip().splitlines()[-1])["rows"]
    for name, architecture in (("notebook_mlp", "784-128-64-10"), ("simple_convnet", "conv32-conv64-10")):
        stages = {r["stage"]: r for r in rows if r["model"] == name}
        assert {"float32", "dynamic", "int8", "int8-io", "sparse-0.5", "qat-int8"} <= set(stages), name
        assert stages["float32"]["architecture"] == architecture
        units = next(r for s, r in stages.items() if s.startswith("units-") and "+" not in s)
        assert units["params"] < stages["float32"]["params"] and units["macs"] < stages["float32"]["macs"]
        assert stages["sparse-0.5"]["nonzero"] < 0.6 * stages["float32"]["nonzero"]
    assert "skipped" not in out and "stages run: float32, dynamic, int8, int8-io" in out


@pytest.mark.slow
def test_cnn_defaults_script_prints_paired_differences_over_folds(mnist_dir, tmp_path):
    out = run("cnn_defaults.py", None, tmp_path, "--dataset", "mnist-sample", "--folds", "2", "--epochs", "1",
              "--budget", "4034", "--json")
    data = json.loads(out.strip().splitlines()[-1])
    rows = data["budgets"]["4034"]
    assert len(rows["reference"]["folds"]) == 2 and all(r["params"] <= 4034 for r in rows.values())
    gap = rows["gap head"]
    assert gap["difference"] == pytest.approx(
        sum(a - b for a, b in zip(gap["folds"], rows["reference"]["folds"])) / 2)
    assert gap["interval"][0] <= gap["difference"] <= gap["interval"][1]
    assert "official test set unused" in out and "| gap head | cnn:" in out


@pytest.mark.slow
def test_sparse_training_script_compares_pruning_schedules_over_folds(mnist_dir, tmp_path):
    out = run("sparse_training.py", None, tmp_path, "--dataset", "mnist-sample", "--folds", "2", "--epochs", "2",
              "--budget", "3000",
              "--model", "narrow MLP (50% sparse)", "--json")
    data = json.loads(out.strip().splitlines()[-1])
    rows = data["models"]["narrow MLP (50% sparse)"]["variants"]
    assert set(rows) == {"gradual, 2/3 (reference)", "gradual, 1/3", "gradual, 9/10", "dense, then tfmot 4 epochs",
                         "gradual, 2/3, half the epochs"}
    after, reference = rows["dense, then tfmot 4 epochs"], rows["gradual, 2/3 (reference)"]
    assert after["difference"] == pytest.approx(sum(a - b for a, b in zip(after["folds"], reference["folds"])) / 2)
    assert all(0.1 < a <= 1.0 for row in rows.values() for a in row["folds"])
    assert "official test set unused" in out and "pruned to 3,000 non-zero" in out


@pytest.mark.slow
def test_nonzero_search_script_cross_validates_whole_searches(mnist_dir, tmp_path):
    out = run("nonzero_search.py", mnist_dir, tmp_path, "--folds", "2", "--budget", "3000", "--max-trials", "2",
              "--max-epochs", "2", "--variant", "no dropout", "--json")
    data = json.loads(out.strip().splitlines()[-1])
    rows = data["variants"]
    assert list(rows) == ["defaults, trial's model ships (reference)", "no dropout"]
    for row in rows.values():
        assert len(row["folds"]) == 2
        assert all(f["nonzero"] <= 3000 and 0.05 < f["held_out"] <= 1.0 and f["trials"] == 2 for f in row["folds"])
    held = [[f["held_out"] for f in rows[v]["folds"]] for v in rows]
    assert rows["no dropout"]["difference"] == pytest.approx(sum(b - a for a, b in zip(*held)) / 2)
    assert "official test set unused" in out and "| no dropout |" in out
    # a rerun with the same settings reads each fold's search back
    again = run("nonzero_search.py", mnist_dir, tmp_path, "--folds", "2", "--budget", "3000", "--max-trials", "2",
                "--max-epochs", "2", "--variant", "no dropout", "--json")
    assert json.loads(again.strip().splitlines()[-1])["variants"] == rows


@pytest.mark.slow
def test_limits_script_checks_every_trial_against_the_limits(mnist_dir, tmp_path):
    out = run("limits.py", mnist_dir, tmp_path, "--max-trials", "3", "--max-epochs", "1", "--device-files", "--json")
    found = json.loads(out.strip().splitlines()[-1])
    row = found["searches"]["mlp+cnn, limits"]
    assert row["within"] == row["completed"] == row["trials"] == row["on_tflm"] >= 1  # every trial's file ran on TFLM
    assert row["params"] <= 4034 and row["macs"] <= 100_000 and row["max_trial_arena"] <= 4096
    assert row["tflm_arena_bytes"] <= row["arena_arithmetic"] <= 4096  # the arithmetic bounds TFLM's own figure
    assert 0.1 <= row["tflm_test_accuracy"] <= 1 and "gelu" not in row["activations"]
    assert found["device_files"] and all(f["runs"] for f in found["device_files"])  # no GELU under int8-io
    assert "the limits: macs <= 100,000; arena <= 4,096 bytes" in out


@pytest.mark.slow
def test_sparse_files_script_exports_and_runs_each_encoding(mnist_dir, tmp_path):
    out = run("sparse_files.py", mnist_dir, tmp_path, "--epochs", "2", "--budget", "3000",
              "--model", "wide MLP (91% sparse)", "--json")
    files = json.loads(out.strip().splitlines()[-1])["models"]["wide MLP (91% sparse)"]["files"]
    assert files["sparse float32"]["bytes"] < files["float32 (dense)"]["bytes"] / 2  # the zeros are not stored
    assert 0.1 < files["int8 (dense)"]["built-in kernels only"]["val_accuracy"] <= 1.0
    same = next(v for k, v in files.items() if k.startswith("int8, dense"))
    assert same["bytes"] <= files["sparse float32"]["bytes"]  # the dense model of the sparse file's bytes fits
    assert "| sparse int8 |" in out and "official test set not read" in out


@pytest.mark.slow
def test_families_script_searches_each_family_and_measures_its_int8_io_file(mnist_dir, tmp_path):
    out = run("families.py", mnist_dir, tmp_path, "--budget", "4034", "--max-trials", "2", "--max-epochs", "1",
              "--json")
    data = json.loads(out.strip().splitlines()[-1])
    rows = {name: s["budgets"]["4034"] for name, s in data["searches"].items()}
    assert rows["mlp"]["family"] == "mlp" and rows["cnn"]["family"] == "cnn"
    assert rows["cnn"]["macs"] > rows["mlp"]["macs"] and all(r["params"] <= 4034 for r in rows.values())
    assert all(r["arena_bytes"] > 0 and r["latency_us"] > 0 for r in rows.values())
    assert {f["family"] for f in rows["mlp+cnn"]["others"]} <= {"mlp", "cnn"}
    assert "| 4,034 | cnn | cnn:" in out
