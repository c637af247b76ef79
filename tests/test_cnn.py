"""The convolutional family's spec: exact parameters and MACs, and widths fitted to a budget."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistopt.cnn import CNNSpec, ConvBlock, Downsample, Head, Padding, widest_cnn
from mnistopt.errors import BudgetError, SpecError

blocks = st.lists(st.builds(ConvBlock, filters=st.integers(1, 24), kernel=st.sampled_from([1, 3, 5]),
                            separable=st.booleans(), downsample=st.sampled_from(list(Downsample))),
                  min_size=1, max_size=3).map(tuple)
specs = st.builds(CNNSpec, blocks=blocks, head=st.sampled_from(list(Head)), padding=st.sampled_from(list(Padding)),
                  batch_norm=st.booleans(), dropout=st.sampled_from([0.0, 0.2]),
                  input_shape=st.sampled_from([(28, 28), (20, 24), (14, 14)]), num_classes=st.sampled_from([2, 10, 26]))


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_parameters_and_macs_are_what_keras_and_describe_model_count(data):
    from mnistopt.models import describe_model

    try:
        spec = data.draw(specs)
    except SpecError:
        return  # a shape that leaves no feature map: refused with a one-line error
    model = spec.build()
    assert spec.params == model.count_params()
    info = describe_model(model)
    assert spec.macs == info.macs and info.num_classes == spec.num_classes and not info.logits
    assert spec.architecture.startswith("cnn:") and spec.architecture.endswith(f"-{spec.num_classes}")


@settings(max_examples=200, deadline=None)
@given(budget=st.integers(2_000, 200_000), depth=st.integers(1, 3), data=st.data())
def test_the_widest_cnn_of_a_shape_fits_its_budget_and_one_more_filter_would_not(budget, depth, data):
    kernels = data.draw(st.lists(st.sampled_from([3, 5]), min_size=depth, max_size=depth))
    ratios = data.draw(st.lists(st.sampled_from([1.0, 1.5, 2.0]), min_size=depth, max_size=depth))
    head = data.draw(st.sampled_from(list(Head)))
    try:
        spec = widest_cnn(budget, kernels, ratios, head=head, padding="same")
    except BudgetError:
        return  # even one filter per block is over budget: refused with the error tested below
    assert spec.params <= budget
    base = max(round(b.filters / r) for b, r in zip(spec.blocks, ratios))
    wider = dataclasses.replace(spec, blocks=tuple(
        dataclasses.replace(b, filters=max(1, round((base + 1) * r))) for b, r in zip(spec.blocks, ratios)))
    assert wider.params > budget or wider.blocks == spec.blocks


def test_the_issue_reference_cnns_are_counted_as_keras_counts_them():
    plain = CNNSpec(blocks=(ConvBlock(6), ConvBlock(12)), head="flatten")
    separable = CNNSpec(blocks=(ConvBlock(10), ConvBlock(20), ConvBlock(60, separable=True, downsample="none")))
    assert (plain.params, plain.macs) == (3730, 117_912)
    assert (separable.params, separable.macs) == (3970, 292_200)
    assert plain.architecture == "cnn:6p-12p-flatten-10" and separable.architecture == "cnn:10p-20p-sep60-gap-10"
    assert widest_cnn(4034, (3, 3), (1, 2), head="flatten") == plain


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(SpecError, match=r"leave no feature map of a \(28, 28\) image"):
        CNNSpec(blocks=tuple(ConvBlock(4) for _ in range(5)))
    with pytest.raises(SpecError, match=r"`blocks` must hold at least one ConvBlock"):
        CNNSpec(blocks=())
    with pytest.raises(SpecError, match=r"`filters` must be an integer"):
        ConvBlock(0)
    with pytest.raises(BudgetError, match=r"budget=50 is below the smallest CNN of this shape \(60 parameters"):
        widest_cnn(50, (3, 3), (1, 2))  # 1 and 2 filters: 10 + 20 weights, then 2 x 10 + 10
    with pytest.raises(ValueError, match="'diagonal' is not a valid Downsample"):
        ConvBlock(4, downsample="diagonal")


def test_the_trainer_trains_a_cnn_with_augmentation_and_a_schedule(mnist_small):
    from mnistopt import build_model, train

    spec = CNNSpec(blocks=(ConvBlock(6), ConvBlock(12)), head="flatten", augment="shift1", lr_schedule="cosine",
                   epochs=4, batch_size=64, learning_rate=4e-3)
    model = build_model(spec)
    assert model.count_params() == spec.params and model.optimizer is not None
    result = train(spec, mnist_small)
    assert result.params == spec.params == result.model.count_params()
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.val_accuracy > 0.8 and result.test_accuracy > 0.8  # 1,500 images, 4 epochs: chance is 0.1
    assert result.to_dict()["spec"]["family"] == "cnn" and CNNSpec.from_dict(result.to_dict()["spec"]) == spec
    assert [round(spec.learning_rate_at(e), 6) for e in range(4)] == [0.004, 0.003414, 0.002, 0.000586]


@pytest.mark.slow  # pruning, narrowing and three exports of a CNN: about 9 s
def test_a_cnn_goes_through_every_compression_stage(mnist_small, tmp_path):
    from mnistopt import compress_model, train

    spec = CNNSpec(blocks=(ConvBlock(6), ConvBlock(12)), head="flatten", epochs=2, learning_rate=4e-3)
    model = train(spec, mnist_small, evaluate_test=False).model
    result = compress_model(model, mnist_small, tmp_path, spec=spec, quantize=["int8-io"], sparsity=[0.5],
                            units=[2000], fine_tune_epochs=1, units_epochs=1)
    by = {r.stage: r for r in result.records}
    assert set(by) == {"float32", "int8-io", "sparse-0.5", "sparse-0.5+int8-io", "units-2000", "units-2000+int8-io"}
    assert by["float32"].params == spec.params and by["float32"].macs == spec.macs  # read from its layers
    assert by["units-2000"].params <= 2000 and by["sparse-0.5"].nonzero_params < 0.6 * spec.params
    assert abs(by["int8-io"].test_accuracy - by["float32"].test_accuracy) <= 0.02
