"""Models mnistopt did not build: described from their own layers and compressed stage by stage."""

import json

import numpy as np
import pytest

from mnistopt import compress_model
from mnistopt.artifacts import evaluate_tflite
from mnistopt.errors import ArgumentError, DataError, InvalidTypeError, SpecError
from mnistopt.models import describe_model


def convnet(logits=False):
    """keras.io's simple MNIST convnet, shrunk: default layer names, (28, 28, 1) input."""
    import keras

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation=None if logits else "softmax"),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=logits), metrics=["accuracy"])
    return model


def flat_logits_mlp():
    """A functional model of flat (784,) inputs giving logits."""
    import keras

    inputs = keras.Input((784,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def trained(model, data, epochs=1):
    info = describe_model(model)
    model.fit(info.images(data.x_train), data.y_train, batch_size=64, epochs=epochs, verbose=0)
    return model


@pytest.mark.slow  # pruning and quantization-aware training of a convnet: about 12 s
def test_a_plain_keras_convnet_goes_through_every_stage_from_the_cli(mnist_small, tmp_path, capsys):
    from mnistopt.cli import main

    model = trained(convnet(), mnist_small, epochs=8)
    model.save(tmp_path / "convnet.keras")
    small = tmp_path / "small.npz"  # the small slice as a file, so the command reads what the model saw
    pixels = {k: np.round(getattr(mnist_small, k) * 255).astype(np.uint8) for k in ("x_train", "x_test")}
    np.savez(small, x_train=pixels["x_train"], y_train=mnist_small.y_train, x_test=pixels["x_test"],
             y_test=mnist_small.y_test)
    status = main(["compress", str(tmp_path / "convnet.keras"), "--data", str(small), "--out", str(tmp_path / "c"),
                   "--sparsity", "0.5", "--quantize", "int8", "int8-io", "--qat", "--fine-tune-epochs", "1"])
    assert status == 0
    captured = capsys.readouterr()
    assert "model: conv4-10 (6,810 params, 31,096 multiply-accumulates per image; input (28, 28, 1), softmax" in \
        captured.err  # 26*26 positions x 9 x 4 filters + 13*13*4 features x 10
    assert "stages run: float32, int8, int8-io, sparse-0.5, sparse-0.5+int8, sparse-0.5+int8-io, qat-int8" in captured.out
    result = json.loads((tmp_path / "c" / "result.json").read_text())
    records = {r["stage"]: r for r in result["records"]}
    assert result["model"] == {"model": "conv4-10", "params": 6810, "macs": 31096, "input_shape": [28, 28, 1],
                               "output": "softmax", "built_by_mnistopt": False}
    assert result["skipped"] == {}
    assert all(r["architecture"] == "conv4-10" and r["macs"] == 31096 and r["params"] == 6810 for r in records.values())
    assert records["sparse-0.5"]["nonzero_params"] < 0.6 * records["float32"]["nonzero_params"]
    # every accuracy is the file's own, on the images as the model takes them
    info = describe_model(model)
    for r in records.values():
        assert r["test_accuracy"] == evaluate_tflite(r["artifact"], info.images(mnist_small.x_test), mnist_small.y_test)
    assert abs(records["int8-io"]["test_accuracy"] - records["float32"]["test_accuracy"]) <= 0.01


def test_a_functional_model_of_flat_inputs_giving_logits(mnist_small, tmp_path):
    model = trained(flat_logits_mlp(), mnist_small)
    info = describe_model(model)
    assert (info.architecture, info.input_shape, info.logits, info.macs) == ("784-32-10", (784,), True, 784 * 32 + 320)
    result = compress_model(model, mnist_small, tmp_path, quantize=["dynamic"], sparsity=[0.75], fine_tune_epochs=1)
    by = {r.stage: r for r in result.records}
    keras_accuracy = float(np.mean(model.predict(info.images(mnist_small.x_test), verbose=0).argmax(1)
                                   == mnist_small.y_test))
    assert by["float32"].test_accuracy == pytest.approx(keras_accuracy, abs=0.002)  # argmax of logits
    assert by["float32"].spec is None and by["float32"].macs == info.macs
    assert by["sparse-0.75"].nonzero_params < 0.35 * by["float32"].nonzero_params
    assert by["sparse-0.75"].test_accuracy > 0.5  # fine-tuned with the logits loss, not a softmax one


def test_a_model_with_a_layer_the_bridge_cannot_rebuild_still_gets_every_file(mnist_small, tmp_path):
    import keras

    inputs = keras.Input((28, 28))
    flat = keras.layers.Flatten()(inputs)
    merged = keras.layers.Add()([keras.layers.Dense(16)(flat), keras.layers.Dense(16)(flat)])
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(merged))
    model.compile("adam", "sparse_categorical_crossentropy")
    trained(model, mnist_small)
    result = compress_model(model, mnist_small, tmp_path, quantize=["int8"], sparsity=[0.5], qat=True, units=[5000],
                            fine_tune_epochs=1)
    assert [r.stage for r in result.records] == ["float32", "int8"]
    skipped = result.info["skipped"]
    assert set(skipped) == {"sparse-0.5", "qat-int8", "units-5000"}
    assert "'add' (Add)" in skipped["sparse-0.5"] and "post-training quantization still runs" in skipped["qat-int8"]
    assert "structured pruning narrows a chain of layers; this model branches or merges" in skipped["units-5000"]


def test_model_info_reads_layouts_and_scales_pixels():
    import keras

    info = describe_model(convnet())
    x = np.full((2, 28, 28), 0.5, np.float32)
    assert info.images(x).shape == (2, 28, 28, 1) and info.images(x, 255.0).max() == pytest.approx(127.5)
    assert not describe_model(convnet()).logits and describe_model(convnet(logits=True)).logits
    with pytest.raises(DataError, match=r"images have shape \(14, 14\) but model .* takes inputs of shape "
                                        r"\(28, 28, 1\)\. Pass data whose images have 784 pixels"):
        info.images(np.zeros((2, 14, 14), np.float32))
    a, b = keras.Input((28, 28)), keras.Input((28, 28))
    two = keras.Model([a, b], keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Add()([a, b]))))
    with pytest.raises(SpecError, match=r"has 2 inputs and 1 outputs; mnistopt compresses models that take one image"):
        describe_model(two)
    rgb = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(SpecError, match=r"takes inputs of shape \(32, 32, 3\); mnistopt compresses models of grey"):
        describe_model(rgb)
    with pytest.raises(InvalidTypeError, match="must be a Keras 3 model"):
        describe_model("model.keras")


def test_a_model_of_another_class_count_or_image_size_is_refused(mnist_small, tmp_path):
    import keras

    five = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(5)])
    with pytest.raises(ArgumentError, match=r"scores 5 classes but the dataset has 10\. Pass the data"):
        compress_model(five, mnist_small, tmp_path)
    small = keras.Sequential([keras.Input((14, 14)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(DataError, match=r"images have shape \(28, 28\) but model .* takes inputs of shape \(14, 14\)"):
        compress_model(small, mnist_small, tmp_path)


def test_an_mnistopt_model_keeps_its_spec_and_its_records_say_so(mnist_small, tmp_path):
    from mnistopt import MLPSpec, train

    spec = MLPSpec(hidden=(16,), pool=True, epochs=1)
    model = train(spec, mnist_small, evaluate_test=False).model
    result = compress_model(model, mnist_small, tmp_path, quantize=["int8"])
    assert all(r.spec.architecture == spec.architecture and r.model_architecture is None for r in result.records)
    assert result.info["model"]["built_by_mnistopt"] and result.info["model"]["model"] == spec.architecture.split(":")[1]


def test_structured_pruning_removes_whole_units_and_filters_of_any_chain(mnist_small, tmp_path):
    import keras

    from mnistopt.compress.units import narrow_model, narrowable_layers

    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(6, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.SeparableConv2D(8, 3, activation="relu"),
        keras.layers.DepthwiseConv2D(3, depth_multiplier=2),
        keras.layers.Flatten(),
        keras.layers.Dense(24, activation="relu"),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(10, activation="softmax"),
    ])
    names = narrowable_layers(model)
    assert [type(model.get_layer(n)).__name__ for n in names] == ["Conv2D", "SeparableConv2D", "Dense"]
    # removing units is exactly zeroing them in the original (ReLU(0) = 0 passes nothing on)
    keep = dict(zip(names, (np.array([0, 2, 3, 5]), np.array([1, 4, 7]), np.array([0, 3, 5, 6, 11, 20]))))
    masked = keras.models.clone_model(model)
    masked.set_weights(model.get_weights())
    for name, kept in keep.items():
        layer = masked.get_layer(name)
        w = layer.get_weights()
        drop = np.setdiff1d(np.arange(w[-1].shape[0]), kept)
        w[-2][..., drop] = 0  # the (pointwise) kernel's columns
        w[-1][drop] = 0
        layer.set_weights(w)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    narrow = narrow_model(model, keep)
    assert narrow.count_params() < model.count_params() / 4
    np.testing.assert_allclose(narrow(x), masked(x), atol=1e-6)
    # through the pipeline: the narrowed model fits its budget, and its record describes it
    model.compile("adam", "sparse_categorical_crossentropy")
    trained(model, mnist_small)
    result = compress_model(model, mnist_small, tmp_path, quantize=["int8"], units=[3000], units_epochs=1)
    cut = {r.stage: r for r in result.records}["units-3000"]
    assert cut.params <= 3000 < model.count_params() and cut.params > 2000  # the widest share that fits
    assert cut.model_architecture != describe_model(model).architecture and cut.macs < describe_model(model).macs
    assert cut.test_accuracy > 0.3 and "units-3000+int8" in {r.stage for r in result.records}
