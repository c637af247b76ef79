"""Compression stages on a small slice of real MNIST: pruning, quantization, QAT, records."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mnistopt import MLPSpec, build_model, train
from mnistopt.compression import CompressionOptions
from mnistopt.errors import ArgumentError, BudgetError, InvalidTypeError, SpecError
from mnistopt.build import spec_from_model
from mnistopt.cli import main
from mnistopt.compress import (
    compress_model,
    count_nonzero,
    evaluate_tflite,
    export_tflite,
    gzip_size,
    kernel_sparsity_for,
    layer_densities,
    prune_magnitude,
    prune_units,
    quantization_aware_training,
    unit_importance,
)
from mnistopt.compress.units import _cut
from mnistopt.records import CompressionResult, load_result
from mnistopt.training import evaluate_arrays, predict_proba
from conftest import kill_after_records


@pytest.fixture(scope="module")
def trained(mnist_small):
    return train(MLPSpec(hidden=(64, 32), epochs=3, batch_size=64), mnist_small)


def kernels(model):
    return [layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")]


def test_magnitude_pruning_zeroes_kernels_and_keeps_accuracy(trained, mnist_small):
    before = [w.copy() for w in trained.model.get_weights()]
    out = prune_magnitude(trained.model, trained.spec, mnist_small, 0.8, epochs=2)
    total = sum(k.size for k in kernels(out.model))
    zeros = sum(int((k == 0).sum()) for k in kernels(out.model))
    assert zeros / total == pytest.approx(0.8, abs=0.01)
    assert out.model.count_params() == trained.params  # zeros do not shrink the parameter count
    assert out.nonzero_params == count_nonzero(out.model) < 0.25 * trained.params
    for a, b in zip(before, trained.model.get_weights()):  # the input model is untouched
        np.testing.assert_array_equal(a, b)
    _, acc = evaluate_arrays(out.model, mnist_small.x_val, mnist_small.y_val)
    assert acc > trained.val_accuracy - 0.05
    assert len(out.history["val_accuracy"]) == 2


def test_pruning_to_a_nonzero_budget_is_exact(trained, mnist_small):
    out = prune_magnitude(trained.model, trained.spec, mnist_small, nonzero_budget=5000, epochs=1)
    assert out.nonzero_params == count_nonzero(out.model)
    assert 4900 <= out.nonzero_params <= 5000
    with pytest.raises(BudgetError, match="no pruning of its kernels fits nonzero_budget=100"):
        kernel_sparsity_for(trained.spec, 100)
    with pytest.raises(ValueError, match="exactly one of `sparsity` and `nonzero_budget`"):
        prune_magnitude(trained.model, trained.spec, mnist_small)


@pytest.mark.parametrize("hidden,kept", [((128, 64), 10_000), ((50,), 4000), ((20,), 8000), ((300, 100, 50), 20_000)])
def test_layer_densities_keep_the_requested_count(hidden, kept):
    spec = MLPSpec(hidden=hidden)
    shapes = list(zip([784, *hidden], [*hidden, 10]))
    densities = layer_densities(spec, kept)
    assert all(0 < d <= 1 for d in densities)
    assert sum(d * a * b for d, (a, b) in zip(densities, shapes)) == pytest.approx(min(kept, sum(a * b for a, b in shapes)))
    assert densities[-1] >= densities[0]  # the small output layer is pruned least


def test_unit_importance_finds_dead_units_and_the_cut_keeps_predictions(mnist_small):
    spec = MLPSpec(hidden=(24,), epochs=1)
    model = build_model(spec)
    kernel, bias = model.get_layer("dense_1").get_weights()
    dead = np.arange(0, 24, 2)
    kernel[:, dead] = 0.0
    bias[dead] = 0.0
    model.get_layer("dense_1").set_weights([kernel, bias])
    score = unit_importance(model, spec)[0]
    assert set(np.flatnonzero(score == 0)) == set(dead)
    small_spec, weights = _cut(model, spec, (12,))
    small = build_model(small_spec)
    small.set_weights(weights)
    np.testing.assert_allclose(predict_proba(small, mnist_small.x_test), predict_proba(model, mnist_small.x_test),
                               atol=1e-6)


@pytest.mark.parametrize("spec", [MLPSpec(hidden=(64, 32), epochs=1, batch_size=64),
                                  MLPSpec(hidden=(40, 20), batch_norm=True, crop=2, epochs=1, batch_size=64)])
def test_structured_pruning_really_shrinks_to_the_budget(spec, mnist_small):
    model = train(spec, mnist_small, evaluate_test=False).model
    out = prune_units(model, spec, 12_000, mnist_small, epochs=2, steps=2)
    assert out.model.count_params() == out.spec.params <= 12_000
    assert out.spec.params > 0.9 * 12_000  # as wide as the budget allows
    assert len(out.spec.hidden) == len(spec.hidden)
    assert out.spec.hidden[0] / out.spec.hidden[1] == pytest.approx(2, rel=0.1)  # proportions kept
    assert model.count_params() == spec.params  # the input model is untouched
    assert len(out.history["val_accuracy"]) == 2
    with pytest.raises(BudgetError, match="not below the model's"):
        prune_units(model, spec, spec.params, mnist_small)


def test_quantization_aware_training_exports_a_small_accurate_file(trained, mnist_small, tmp_path):
    path, history = quantization_aware_training(trained.model, trained.spec, mnist_small, tmp_path / "qat.tflite",
                                                epochs=1)
    dense = export_tflite(trained.model, tmp_path / "f.tflite")
    assert path.stat().st_size < 0.35 * dense.stat().st_size
    acc = evaluate_tflite(path, mnist_small.x_test, mnist_small.y_test)
    assert acc > trained.test_accuracy - 0.03
    assert "val_accuracy" in history


def test_compress_model_records_every_stage_from_its_artifact(trained, mnist_small, tmp_path):
    events = []
    result = compress_model(trained.model, mnist_small, tmp_path, quantize=("dynamic", "int8"), sparsity=(0.75,),
                            units=(20_000,), fine_tune_epochs=1, progress=events.append)
    stages = [r.stage for r in result.records]
    assert stages == ["float32", "dynamic", "int8", "sparse-0.75", "sparse-0.75+dynamic", "sparse-0.75+int8",
                      "units-20000", "units-20000+dynamic", "units-20000+int8"]
    assert [e.done for e in events] == list(range(1, 10)) and events[-1].total == 9
    by = {r.stage: r for r in result.records}
    for r in result.records:
        assert r.bytes == os.path.getsize(r.artifact) and r.gzip_bytes == gzip_size(r.artifact)
        assert r.test_accuracy == evaluate_tflite(r.artifact, mnist_small.x_test, mnist_small.y_test)
    assert by["float32"].params == by["float32"].nonzero_params == trained.params
    assert by["sparse-0.75"].params == trained.params and by["sparse-0.75"].nonzero_params < 0.3 * trained.params
    assert by["sparse-0.75"].bytes == by["float32"].bytes  # zeros do not shrink the file...
    assert by["sparse-0.75"].gzip_bytes < 0.5 * by["float32"].gzip_bytes  # ...only its compressed size
    assert by["units-20000"].params <= 20_000 and by["units-20000"].budget == 20_000
    assert 4 * by["units-20000"].params < by["units-20000"].bytes < 4 * 20_000 + 8_000  # the file shrinks too
    assert by["int8"].source_stage == "float32" and by["sparse-0.75+int8"].source_stage == "sparse-0.75"
    saved = json.loads((tmp_path / "result.json").read_text())
    assert [r["stage"] for r in saved["records"]] == stages and "selected" not in saved  # compression chooses nothing
    assert isinstance(result, CompressionResult) and isinstance(load_result(tmp_path / "result.json"), CompressionResult)
    # A rerun on the same model and settings keeps the finished stages instead of redoing them (the settings given
    # as one CompressionOptions, a keyword over it: the same options as the keywords alone).
    options = CompressionOptions(quantize=("int8", "dynamic", "int8"), sparsity=(0.75,), fine_tune_epochs=1)
    again = compress_model(trained.model, mnist_small, tmp_path, options.replace(quantize=("dynamic", "int8")),
                           units=20_000)
    assert [r.wall_time_s for r in again.records] == [r.wall_time_s for r in result.records]


def test_compress_model_rejects_bad_stages(trained, mnist_small, tmp_path):
    with pytest.raises(ValueError, match=r"`quantize` entries must be among \['dynamic', 'float16', 'int8', 'int8-io'\]"):
        compress_model(trained.model, mnist_small, tmp_path, quantize=("int4",))
    with pytest.raises(ValueError, match=r"`sparsity` must be"):
        compress_model(trained.model, mnist_small, tmp_path, sparsity=(1.5,))
    with pytest.raises(ValueError, match="not below the model's"):
        compress_model(trained.model, mnist_small, tmp_path, units=(10**6,))
    with pytest.raises(ArgumentError, match=r"Unknown compression option\(s\) \['sparsities'\]"):
        compress_model(trained.model, mnist_small, tmp_path, sparsities=(0.5,))
    with pytest.raises(InvalidTypeError, match="`options` must be a mnistopt.compression.CompressionOptions"):
        compress_model(trained.model, mnist_small, tmp_path, {"quantize": ["int8"]})
    selu = MLPSpec(hidden=(8,), activation="selu")
    with pytest.raises(SpecError, match="does not support activation='selu'"):  # before any stage runs
        compress_model(build_model(selu), mnist_small, tmp_path, qat=True)
    assert not (tmp_path / "result.json").exists()


@pytest.mark.parametrize("spec", [
    MLPSpec(),
    MLPSpec(hidden=(20, 10), crop=2, pool=True, dropout=0.1, activation="gelu"),
    MLPSpec(hidden=(30,), batch_norm=True, l2=1e-4, optimizer="sgd", momentum=0.9, learning_rate=0.05),
    MLPSpec(hidden=(), optimizer="rmsprop", learning_rate=3e-3, input_shape=(20, 20), num_classes=5),
])
def test_spec_from_model_round_trips_through_a_saved_file(spec, tmp_path):
    path = tmp_path / "m.keras"
    build_model(spec).save(path)
    import keras

    assert spec_from_model(keras.saving.load_model(path)) == spec


def test_a_model_trained_on_a_decaying_schedule_is_saved_with_its_base_rate(mnist_small, tmp_path):
    import keras

    from mnistopt import train

    spec = MLPSpec(hidden=(16,), pool=True, epochs=3, learning_rate=3e-3, lr_schedule="cosine")
    model = train(spec, mnist_small.subset(train=300, val=60, test=60), evaluate_test=False).model
    model.save(tmp_path / "m.keras")
    # the cosine's last epoch ran at a fraction of it; fine-tuning a saved model restarts from the base rate
    assert spec.learning_rate_at(2) < spec.learning_rate / 3
    assert spec_from_model(keras.saving.load_model(tmp_path / "m.keras")).learning_rate == pytest.approx(3e-3)


def test_spec_from_model_rejects_foreign_models():
    import keras

    foreign = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(SpecError, match="mnistopt compresses models that mnistopt built"):
        spec_from_model(foreign)


def test_cli_compress_writes_artifacts_and_result(trained, mnist_dir, tmp_path, capsys):
    model_path = tmp_path / "model.keras"
    trained.model.save(model_path)
    out = tmp_path / "out"
    status = main(["compress", str(model_path), "--data", str(mnist_dir), "--out", str(out),
                   "--quantize", "int8", "--sparsity", "0.5", "--fine-tune-epochs", "1"])
    assert status == 0
    records = json.loads((out / "result.json").read_text())["records"]
    assert [r["stage"] for r in records] == ["float32", "int8", "sparse-0.5", "sparse-0.5+int8"]
    assert all((out / f"{r['stage']}.tflite").is_file() for r in records)
    captured = capsys.readouterr()
    assert "| sparse-0.5+int8 |" in captured.out and "stage 4/4" in captured.err


def test_tfmot_import_leaves_tf_keras_and_the_environment_alone():
    code = (
        "import os, tensorflow as tf\n"
        "from mnistopt.compress._legacy import load_tfmot\n"
        "tfmot, tf_keras = load_tfmot()\n"
        "assert tf_keras.__version__.startswith('2.'), tf_keras.__version__\n"
        "print(tf.keras.version(), os.environ.get('TF_USE_LEGACY_KERAS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    version, variable = out.stdout.split()
    assert version.startswith("3.") and variable == "None"


KILL_COMPRESS = """
import os, sys
from mnistopt import MLPSpec, compress_model, load_dataset, load_model, train
data = load_dataset("mnist", path=sys.argv[1]).subset(train=1500, val=300, test=500)
saved = os.path.join(sys.argv[2], "model.keras")
if not os.path.exists(saved):
    os.makedirs(sys.argv[2], exist_ok=True)
    train(MLPSpec(hidden=(32,), pool=True, epochs=1, batch_size=64), data, evaluate_test=False).model.save(saved)
compress_model(load_model(saved), data, os.path.join(sys.argv[2], "c"), quantize=["dynamic", "float16", "int8"],
               sparsity=[0.5], fine_tune_epochs=1)
"""


@pytest.mark.slow  # real training, several seconds (runs in the full suite)
def test_sigkill_mid_compression_then_rerun_keeps_finished_stages(mnist_dir, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = [sys.executable, "-c", KILL_COMPRESS, str(mnist_dir), str(out)]
    kept = {r["stage"]: r for r in kill_after_records(argv, out / "c" / "result.json")["records"]}
    assert len(kept) >= 2

    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    final = json.loads((out / "c" / "result.json").read_text())["records"]
    stages = [r["stage"] for r in final]
    assert len(stages) == len(set(stages)) == 8  # float32, 3 modes, sparse-0.5, and sparse-0.5 x 3 modes
    by_stage = {r["stage"]: r for r in final}
    for stage, record in kept.items():  # finished before the kill: kept as they were, not redone
        assert by_stage[stage]["wall_time_s"] == record["wall_time_s"]
        assert by_stage[stage]["test_accuracy"] == record["test_accuracy"]
