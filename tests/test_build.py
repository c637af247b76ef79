import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnistopt import MLPSpec, build_model, count_params
from mnistopt.errors import InvalidTypeError

specs = st.builds(
    MLPSpec,
    hidden=st.lists(st.integers(1, 64), min_size=0, max_size=3).map(tuple),
    crop=st.integers(0, 5),
    pool=st.booleans(),
    activation=st.sampled_from(["relu", "tanh", "gelu"]),
    dropout=st.sampled_from([0.0, 0.25]),
    l2=st.sampled_from([0.0, 1e-4]),
    batch_norm=st.booleans(),
    optimizer=st.sampled_from(["adam", "sgd", "rmsprop"]),
    input_shape=st.sampled_from([(28, 28), (20, 24)]),
    num_classes=st.sampled_from([10, 3]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs)
def test_count_params_equals_keras(spec):
    model = build_model(spec, compile=False)
    assert count_params(spec) == model.count_params()
    assert model.output_shape == (None, spec.num_classes)
    # MACs: every Dense kernel weight is one multiply-accumulate per image; pooling reads each pooled pixel once
    import keras

    dense = sum(int(layer.kernel.shape[0] * layer.kernel.shape[1]) for layer in model.layers
                if isinstance(layer, keras.layers.Dense))
    pooled = [layer for layer in model.layers if isinstance(layer, keras.layers.AveragePooling2D)]
    reads = 4 * pooled[0].output.shape[1] * pooled[0].output.shape[2] if pooled else 0
    assert spec.macs == dense + reads


def test_baseline_model_layout_and_compilation():
    model = build_model(MLPSpec())
    assert model.count_params() == 109_386
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [128, 64, 10]
    assert model.optimizer.__class__.__name__ == "Adam"
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert model.loss == "sparse_categorical_crossentropy"


def test_sgd_momentum_is_applied():
    model = build_model(MLPSpec(hidden=(4,), optimizer="sgd", momentum=0.8, learning_rate=0.1))
    assert model.optimizer.__class__.__name__ == "SGD"
    assert float(model.optimizer.momentum) == pytest.approx(0.8)


def test_rejects_non_spec():
    with pytest.raises(InvalidTypeError, match="`spec` must be a model spec"):
        build_model({"hidden": (4,)})
