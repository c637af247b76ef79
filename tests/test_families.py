"""The model family as a search dimension (#28): the space, the spec protocol, the budget kinds,
records and reports of mixed-family searches."""

import json
import random

import pytest

from mnistopt import Choice, MLPSpec, Range, SearchSpace
from mnistopt.cnn import CNNSpec, ConvBlock
from mnistopt.errors import ArgumentError, BudgetError, SpecError
from mnistopt.families import spec_from_dict

BOTH = SearchSpace(family=Choice("mlp", "cnn"))


def _sample(resolved, rng):
    values = {}
    for d in resolved.dimensions():
        values[d.name] = rng.uniform(d.low, d.high) if d.kind.value == "range" else rng.choice(d.values)
    return values


@pytest.mark.parametrize("kind", ["params", "nonzero"])
def test_every_sampled_model_of_either_family_fits_its_budget(kind):
    rng = random.Random(0)
    seen = set()
    for _ in range(150):
        budget = int(10 ** rng.uniform(3.3, 5.2))
        resolved = BOTH.resolve(budget, kind=kind)
        values = _sample(resolved, rng)
        spec = resolved.to_spec(values)
        seen.add(spec.family)
        assert spec.family == values["family"]
        assert spec.params <= resolved.param_budget(values), (budget, values, spec.architecture)
    assert seen == {"mlp", "cnn"}


def test_a_cnn_is_sampled_with_the_shape_its_values_name():
    resolved = SearchSpace(family="cnn").resolve(72842)
    values = {**resolved.defaults(), "conv_depth": 3, "conv_growth": 2.0, "conv_separable": True,
              "conv_downsample": "stride", "conv_head": "flatten", "conv_kernel": 5}
    spec = resolved.to_spec(values, epochs=7)
    assert [b.kernel for b in spec.blocks] == [5, 5, 3]  # later blocks, on small maps, are 3x3
    assert [b.separable for b in spec.blocks] == [False, True, True]
    assert {b.downsample.value for b in spec.blocks} == {"stride"}
    assert spec.blocks[1].filters == pytest.approx(2 * spec.blocks[0].filters, abs=1)
    assert spec.head.value == "flatten" and spec.epochs == 7 and spec.params <= 72842
    wider = spec.resized(spec.params + 5000)  # the widest of the shape: one more filter would not fit
    assert wider.params > spec.params and spec.resized(72842) == spec


def test_a_single_family_space_declares_no_family_dimension_and_keeps_the_mlp_dimensions():
    names = [d.name for d in SearchSpace().resolve(4034).dimensions()]
    assert "family" not in names and "conv_depth" not in names and names[0] == "depth"
    cnn_names = [d.name for d in SearchSpace(family="cnn").resolve(4034).dimensions()]
    assert "family" not in cnn_names and "inputs" not in cnn_names and "conv_head" in cnn_names
    assert [d.name for d in BOTH.resolve(4034).dimensions()][0] == "family"


def test_heads_and_families_that_cannot_fit_are_dropped_and_an_impossible_space_says_so():
    tiny = SearchSpace(family=Choice("mlp", "cnn"), conv_padding="same", conv_kernel=3,
                       conv_head=Choice("gap", "flatten")).resolve(800)  # a 7x7 map at 2 blocks
    assert tiny.families["cnn"].heads == ("gap",)  # a flatten head alone needs more at one filter
    with pytest.raises(BudgetError, match="smallest CNN"):
        SearchSpace(family="cnn", conv_head="flatten", conv_depth=2).resolve(300)
    only_cnn = SearchSpace(family=Choice("mlp", "cnn"), inputs="none").resolve(600)
    assert list(only_cnn.families) == ["cnn"]  # no 784-input MLP has 600 parameters


@pytest.mark.parametrize("field, value, match", [
    ("family", "rnn", "`family` must be among"), ("conv_head", "avg", "`conv_head` must be among"),
    ("conv_downsample", Choice("pool", "dilate"), "`conv_downsample`"), ("conv_depth", 0, "conv_depth"),
    ("conv_growth", Range(0.1, 2.0), "conv_growth"), ("conv_padding", "full", "conv_padding"),
])
def test_bad_family_values_are_one_line_errors_before_any_data(field, value, match):
    with pytest.raises(ArgumentError, match=match):
        SearchSpace(**{field: value}).check()


def test_stored_specs_are_read_back_as_their_family():
    cnn = CNNSpec(blocks=(ConvBlock(5, kernel=5), ConvBlock(9, separable=True, downsample="stride")), head="flatten")
    assert spec_from_dict(json.loads(json.dumps(cnn.to_dict()))) == cnn
    old = MLPSpec(hidden=(7,)).to_dict()
    assert old.pop("family") == "mlp" and spec_from_dict(old) == MLPSpec(hidden=(7,))  # records before families
    with pytest.raises(SpecError, match="'cnn' spec cannot be read as MLPSpec"):
        MLPSpec.from_dict(cnn.to_dict())
    with pytest.raises(SpecError, match="Unknown model family 'rnn'"):
        spec_from_dict({"family": "rnn"})


@pytest.mark.parametrize("spec", [
    MLPSpec(hidden=(12, 6), crop=2, pool=True),
    CNNSpec(blocks=(ConvBlock(4), ConvBlock(8, separable=True), ConvBlock(6, kernel=5, downsample="none")),
            padding="same", head="flatten", batch_norm=True),
])
def test_prunable_kernels_are_the_layers_tfmot_prunes_with_their_shapes(spec):
    model = spec.build() if isinstance(spec, CNNSpec) else __import__("mnistopt").build_model(spec)
    for name, (fan_in, fan_out) in spec.prunable_kernels().items():
        layer = model.get_layer(name)
        kernel = layer.pointwise_kernel if hasattr(layer, "pointwise_kernel") else layer.kernel
        assert int(kernel.shape[-1]) == fan_out and int(kernel.numpy().size) == fan_in * fan_out, name


def test_a_cnn_file_is_fitted_to_a_byte_budget(mnist_small):
    import os
    import tempfile

    from mnistopt import build_model
    from mnistopt.artifacts import export_tflite
    from mnistopt.kinds import fit_file_budget

    spec = CNNSpec(blocks=(ConvBlock(16), ConvBlock(32)), head="flatten", padding="valid")
    fitted = fit_file_budget(spec, "int8", 12000, mnist_small)
    assert fitted.params < spec.params and [b.filters for b in fitted.blocks][1] == 2 * fitted.blocks[0].filters
    path = export_tflite(build_model(fitted), os.path.join(tempfile.mkdtemp(), "m.tflite"), "int8",
                         representative=mnist_small.x_train[:8])
    assert 0.8 * 12000 <= os.path.getsize(path) <= 12000


def test_a_cnn_is_pruned_to_a_nonzero_budget(mnist_small):
    from mnistopt import train
    from mnistopt.compress import count_nonzero, prune_magnitude

    spec = CNNSpec(blocks=(ConvBlock(8), ConvBlock(16, separable=True)), head="flatten", epochs=1)
    dense = train(spec, mnist_small.subset(train=300, val=60, test=60), evaluate_test=False).model
    outcome = prune_magnitude(dense, spec, mnist_small.subset(train=300, val=60, test=60), nonzero_budget=1500,
                              epochs=1)
    assert count_nonzero(dense) > 2500 and count_nonzero(outcome.model) <= 1500
    assert outcome.model.count_params() == spec.params


def test_a_mixed_search_records_both_families_and_reports_their_fronts(mnist_small, tmp_path):
    from mnistopt import search_under_budget
    from mnistopt.report.data import family_price_data
    from mnistopt.report.render import search_table, write_report

    data = mnist_small.subset(train=400, val=100, test=100)
    result = search_under_budget(4034, data, space=BOTH, tuner="random", max_trials=6, max_epochs=1, seed=3,
                                 directory=tmp_path / "s", overwrite=True)
    stored = json.loads((tmp_path / "s" / "result.json").read_text())["records"]
    families = {r["family"] for r in stored if r["status"] == "completed"}
    assert families == {"mlp", "cnn"}, [r["architecture"] for r in stored]
    for r in stored:
        if r["status"] == "completed":
            assert r["params"] <= 4034 and r["spec"]["family"] == r["family"]
            assert r["architecture"].startswith("cnn:") == (r["family"] == "cnn")
    files = write_report(result, tmp_path / "s")
    report = json.loads(files["json"].read_text())
    macs_front = [report["records"][i] for i in report["fronts"]["macs"]["members"]]
    assert macs_front and all(p["macs"] > 0 and p["family"] in ("mlp", "cnn") for p in macs_front)
    best = {r["family"]: r for r in report["families"]}
    assert set(best) == {"mlp", "cnn"} and best["cnn"]["macs"] > best["mlp"]["macs"]
    html = files["html"].read_text()
    assert "Model families" in html and "cnn:" in html
    assert files["families"].stat().st_size > 0 and 'src="families.png"' in html  # the price of each family
    arena = family_price_data(report["families"])["tflm_arena_bytes"]
    assert {p["family"] for p in arena} == {"mlp", "cnn"} and all(p["x"] > 0 for p in arena)
    assert "| family |" in search_table(result)
    chosen = result.best(4034).record  # a CNN is trained again for twice its epochs, an MLP ships as it is
    assert chosen.retrain_epochs == (2 * chosen.epochs if chosen.family == "cnn" else None)


def test_the_selected_cnn_is_trained_again_for_twice_its_epochs_and_that_model_ships(mnist_small, tmp_path):
    import math

    import keras

    from mnistopt import search_under_budget
    from mnistopt.report.render import write_report
    from mnistopt.search import RetrainProgress
    from mnistopt.training import evaluate_arrays

    data = mnist_small.subset(train=300, val=100, test=100)
    kwargs = dict(space=SearchSpace(family="cnn", batch_size=64, batch_norm=False), tuner="random", max_trials=1,
                  max_epochs=2, seed=0, epoch_images=None)
    events = []
    result = search_under_budget(4034, data, directory=tmp_path / "twice", progress=events.append, **kwargs)
    chosen = result.best(4034)
    record = chosen.record
    assert record.epochs == 2 and record.retrain_epochs == 4 and not record.refit
    assert [e.done for e in events if isinstance(e, RetrainProgress)] == [1, 2, 3, 4]
    model = keras.models.load_model(chosen.model_path)
    assert int(model.optimizer.iterations.numpy()) == 4 * math.ceil(300 / 64)  # trained from scratch, 4 epochs
    assert evaluate_arrays(model, data.x_val, data.y_val)[1] == pytest.approx(record.retrain_val_accuracy, abs=1e-6)
    stored = json.loads((tmp_path / "twice" / "result.json").read_text())
    row = next(r for r in stored["records"] if r["selected"])
    assert row["retrain_epochs"] == 4 and row["val_accuracy"] == record.val_accuracy  # the trial's chose it
    report = write_report(result, tmp_path / "twice")["markdown"].read_text()
    assert "Trained again after selection" in report and f"{record.retrain_val_accuracy:.4f}" in report

    once = search_under_budget(4034, data, directory=tmp_path / "once", retrain_factor=1, **kwargs).best(4034)
    assert once.record.retrain_epochs is None and once.record.retrain_val_accuracy is None
    assert evaluate_arrays(once.model, data.x_val, data.y_val)[1] == pytest.approx(once.record.val_accuracy, abs=1e-6)


@pytest.mark.parametrize("value", [0, 101, "twice", 1.5])
def test_a_bad_retrain_factor_is_refused_before_any_data(value):
    from mnistopt.options import SearchOptions

    with pytest.raises((ArgumentError, TypeError), match="retrain_factor"):
        SearchOptions(retrain_factor=value)


@pytest.mark.parametrize("field, value", [("learning_rate", 0.0), ("batch_size", 0), ("epochs", 0),
                                          ("momentum", 1.0), ("batch_norm", "yes"), ("optimizer", "lion")])
def test_both_families_check_their_shared_training_fields_alike(field, value):
    for cls in (MLPSpec, CNNSpec):
        with pytest.raises((SpecError, TypeError), match=f"`{field}`"):
            cls(**{field: value})


def test_a_search_with_cnns_keeps_the_regular_schedule_at_small_budgets():
    from mnistopt.options import DEFAULT_MAX_EPOCHS, SMALL_BUDGET_MAX_EPOCHS, SearchOptions

    mlp, mixed = SearchOptions(), SearchOptions(space=BOTH)
    assert mlp.epochs_for(4034) == SMALL_BUDGET_MAX_EPOCHS > mixed.epochs_for(4034) == DEFAULT_MAX_EPOCHS
    assert mlp.epoch_images_for(4034) > mixed.epoch_images_for(4034) == mixed.epoch_images_for(72842)
    assert SearchOptions(space=BOTH, max_epochs=12).epochs_for(4034) == 12


def test_folds_hold_out_every_training_image_once_and_never_read_the_test_set(mnist_small):
    import numpy as np

    folds = mnist_small.folds(4, seed=1)
    assert len(folds) == 4
    everything = np.concatenate([mnist_small.x_train, mnist_small.x_val]).reshape(1800, -1)
    held = np.concatenate([f.x_val for f in folds]).reshape(1800, -1)
    key = lambda a: sorted(map(bytes, a))  # noqa: E731
    assert key(held) == key(everything)  # each training image held out exactly once
    for f in folds:
        assert f.sizes == {"train": 1350, "val": 450, "test": 450}
        assert np.array_equal(f.x_test, f.x_val) and "official test set unused" in f.source
        counts = np.bincount(f.y_val, minlength=10) / len(f.y_val)
        assert np.abs(counts - np.bincount(mnist_small.y_train, minlength=10) / 1500).max() < 0.02  # stratified


def test_folds_with_a_validation_fraction_carve_validation_from_the_training_part(mnist_small):
    import numpy as np

    plain = mnist_small.folds(4, seed=1)
    folds = mnist_small.folds(4, seed=1, validation_fraction=0.1)
    key = lambda a: sorted(map(bytes, a.reshape(len(a), -1)))  # noqa: E731
    for f, p in zip(folds, plain):
        assert f.sizes == {"train": 1215, "val": 135, "test": 450}
        assert key(f.x_test) == key(p.x_val)  # the same held-out part, now the test split only
        assert key(np.concatenate([f.x_train, f.x_val])) == key(p.x_train)  # train + val: the fold's training part
        assert not set(map(bytes, f.x_val.reshape(135, -1))) & set(map(bytes, f.x_test.reshape(450, -1)))
    with pytest.raises(ArgumentError, match="validation_fraction"):
        mnist_small.folds(4, validation_fraction=1.5)


def test_no_module_outside_the_families_package_asks_which_family_a_spec_is():
    """A family is one class in mnistopt.families (its spec class, its choices, its schedule) in one registry;
    everything else uses their protocol (build, lower, params, compress_by_spec, ...) and the registry, never a
    family's class or name."""
    import re
    from pathlib import Path

    from mnistopt.families import FAMILIES, CNNFamily, MLPFamily

    assert [type(f) for f in FAMILIES.values()][:2] == [MLPFamily, CNNFamily]
    assert all(family.spec_class.family == name for name, family in FAMILIES.items() if name in ("mlp", "cnn"))
    asks = re.compile(r"isinstance\([^)]*\b(MLPSpec|CNNSpec)\b|[=!]=\s*[\"'](mlp|cnn)[\"']|[\"'](mlp|cnn)[\"']\s*[=!]="
                      r"|\[[\"'](mlp|cnn)[\"']\]|[\"'](mlp|cnn)[\"']\s+(not\s+)?in\b")
    src = Path(__file__).resolve().parents[1] / "src" / "mnistopt"
    found = [f"{path.relative_to(src)}:{i}: {line.strip()}" for path in sorted(src.rglob("*.py"))
             if path.parent.name != "families"
             for i, line in enumerate(path.read_text().splitlines(), 1) if asks.search(line) and ">>>" not in line]
    assert found == []
    assert asks.search('if spec.family == "cnn":') and asks.search("isinstance(spec, MLPSpec)")  # the pattern bites
