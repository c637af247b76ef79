"""A family of the user's own (#37): defined here, in the test, through the public protocol only
(mnistopt.families.ModelFamily + register_family), and searched beside the MLPs end to end."""

import json

import keras
import pytest

from mnistopt import Choice, SearchSpace, search_under_budget
from mnistopt.errors import ArgumentError, BudgetError, SpecError
from mnistopt.families import FAMILIES, ModelFamily, ModelSpec, register_family, spec_from_dict


class TinyLeNet(ModelFamily):
    """LeNet-like: one or two convolution blocks (``width`` filters, doubled in the second), then a dense
    layer of ``width`` units."""

    name = "tinylenet"
    choices = {"blocks": Choice(1, 2), "kernel": Choice(3, 5)}

    def build(self, spec):
        layers = keras.layers
        x = inputs = keras.Input(spec.input_shape)
        x = layers.Reshape((*spec.input_shape, 1))(x)
        for block in range(spec.values["blocks"]):
            x = layers.Conv2D(spec.width * (block + 1), spec.values["kernel"], activation=spec.activation)(x)
            x = layers.MaxPooling2D(2)(x)
        x = layers.Dense(spec.width, activation=spec.activation)(layers.Flatten()(x))
        return keras.Model(inputs, layers.Dense(spec.num_classes, activation="softmax")(x))


@pytest.fixture(autouse=True)
def registered():
    family = register_family(TinyLeNet())
    yield family
    FAMILIES.pop(family.name, None)


def test_every_sampled_model_is_the_widest_within_the_budget_counted_on_the_built_model():
    for budget in (2500, 4034, 20_000):
        resolved = SearchSpace(family="tinylenet").resolve(budget)
        for blocks in (1, 2):
            for kernel in (3, 5):
                spec = resolved.to_spec({**resolved.defaults(), "tinylenet_blocks": blocks, "tinylenet_kernel": kernel})
                assert spec.family == "tinylenet" and spec.values == {"blocks": blocks, "kernel": kernel}
                assert spec.params == spec.build().count_params() <= budget
                assert spec.resized(budget) == spec  # already the widest
                wider = ModelSpec(family="tinylenet", width=spec.width + 1, choices=spec.choices)
                assert wider.params > budget  # one more unit of width would not fit
                assert spec_from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_a_macs_limit_narrows_the_family_before_training():
    resolved = SearchSpace(family="tinylenet").resolve(20_000, limits={"macs": 40_000})
    spec = resolved.to_spec({**resolved.defaults(), "tinylenet_blocks": 1, "tinylenet_kernel": 5})
    assert spec.macs <= 40_000 < ModelSpec(family="tinylenet", width=spec.width + 1, choices=spec.choices).macs


class _Bad(ModelFamily):
    choices = {"n": Choice(1, 2)}
    how = "fine"

    def build(self, spec):
        layers = keras.layers
        if self.how == "two inputs":
            a, b = keras.Input(spec.input_shape), keras.Input(spec.input_shape)
            x = layers.Concatenate()([layers.Flatten()(a), layers.Flatten()(b)])
            return keras.Model([a, b], layers.Dense(spec.num_classes, activation="softmax")(x))
        x = inputs = keras.Input(spec.input_shape)
        x = layers.Dense(spec.width * 200, activation="relu")(layers.Flatten()(x))  # 157,000 parameters at width 1
        out = {"wrong size": 7, "fine": spec.num_classes}.get(self.how, spec.num_classes)
        if self.how == "logits":
            return keras.Model(inputs, layers.Dense(out)(x))
        if self.how == "ignores width":
            x = layers.Dense(4, activation="relu")(layers.Flatten()(inputs))
        return keras.Model(inputs, layers.Dense(out, activation="softmax")(x))


@pytest.mark.parametrize("how, error, match", [
    ("two inputs", SpecError, r"Family 'bad': Model .* has 2 inputs"),
    ("wrong size", SpecError, r"Family 'bad': the model gives 7 outputs; it must end in Dense\(spec.num_classes\)"),
    ("logits", SpecError, r"Family 'bad': the model must end in a softmax"),
    ("fine", BudgetError, r"Family 'bad': its smallest model, bad:w1-n\d, has 159,\d+ parameters, over the budget"),
    ("ignores width", SpecError, r"Family 'bad': the model does not grow with spec.width"),
])
def test_bad_families_are_one_line_errors_naming_the_family(how, error, match):
    bad = type("Bad", (_Bad,), {"name": "bad", "how": how})
    register_family(bad())
    try:
        with pytest.raises(error, match=match) as caught:
            SearchSpace(family="bad").resolve(4034)
        assert "\n" not in str(caught.value)
    finally:
        FAMILIES.pop("bad")


def test_registering_is_checked():
    with pytest.raises(ArgumentError, match="built-in family's"):
        register_family(type("Mine", (TinyLeNet,), {"name": "mlp"})())
    with pytest.raises(ArgumentError, match="lower-case identifier"):
        register_family(type("Mine", (TinyLeNet,), {"name": "My Net"})())
    with pytest.raises(Exception, match=r"register_family\(TinyLeNet\(\)\)"):
        register_family(TinyLeNet)
    with pytest.raises(ArgumentError, match=r"has no choice\(s\) \['depth'\]"):
        TinyLeNet(depth=3)
    with pytest.raises(ArgumentError, match="`family` must be among"):
        SearchSpace(family="lenet5").check()
    narrowed = TinyLeNet(blocks=2)  # an instance may fix one of its choices
    assert narrowed.choices == {"blocks": 2, "kernel": Choice(3, 5)} and TinyLeNet.choices["blocks"] == Choice(1, 2)


@pytest.mark.slow
def test_a_search_of_the_own_family_beside_the_mlps_runs_end_to_end(mnist_small, tmp_path):
    from mnistopt.report.render import write_report

    data = mnist_small.subset(train=600, val=150, test=150)
    limits = {"macs": 150_000, "arena": 12_000}
    result = search_under_budget(4034, data, space=SearchSpace(family=Choice("mlp", "tinylenet"), batch_size=128),
                                 tuner="random", max_trials=6, max_epochs=1, seed=1, limits=limits,
                                 directory=tmp_path / "s")
    trials = [r for r in result.records if not r.is_compression_stage]
    assert {r.family for r in trials if r.status == "completed"} == {"mlp", "tinylenet"}
    for r in trials:
        assert r.status == "completed", r.reason
        assert r.params <= 4034 and r.macs <= 150_000 and r.tflm_arena_bytes <= 12_000  # on TFLM's own interpreter
        if r.family == "tinylenet":
            assert r.spec.architecture.startswith("tinylenet:w") and r.spec.build().count_params() == r.params
    stored = json.loads((tmp_path / "s" / "result.json").read_text())["records"]
    assert {r["spec"]["family"] for r in stored if r.get("spec")} >= {"mlp", "tinylenet"}
    (device,) = [r for r in result.records if r.stage == "int8-io"]  # the selected model's device file
    assert device.artifact.endswith(".tflite") and device.tflm_arena_bytes <= 12_000
    assert 0 < device.tflm_test_accuracy <= 1
    files = write_report(result, tmp_path / "s")
    report = json.loads(files["json"].read_text())
    assert {f["family"] for f in report["families"]} == {"mlp", "tinylenet"}
    html = files["html"].read_text()
    assert "tinylenet:w" in html and 'src="families.png"' in html  # marked by name in the report


@pytest.mark.slow
@pytest.mark.parametrize("kind, budget", [("nonzero", 3000), ("bytes", 12_000)])
def test_the_own_family_searches_under_the_other_budget_kinds(mnist_small, tmp_path, kind, budget):
    data = mnist_small.subset(train=400, val=100, test=100)
    space = SearchSpace(family="tinylenet", batch_size=128, sparsity=0.75, quantize=Choice("float32", "int8"))
    result = search_under_budget(budget, data, budget_kind=kind, space=space,
                                 tuner="random", max_trials=2, max_epochs=2, seed=0, directory=tmp_path)
    trials = [r for r in result.records if not r.is_compression_stage]
    assert len(trials) == 2
    for r in trials:
        assert r.status == "completed", r.reason
        if kind == "nonzero":
            assert r.nonzero_params <= budget < r.params  # trained wider, pruned back under the budget
        else:
            assert r.bytes <= budget
