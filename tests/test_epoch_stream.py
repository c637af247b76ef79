"""Epochs of a fixed number of images over a larger train split (#19: full-size data in reasonable time)."""

import glob
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mnistopt import Choice, SearchSpace, search_under_budget
from mnistopt.cli import main
from mnistopt.data import EpochStream, stratified_order
from mnistopt.errors import ArgumentError, InvalidTypeError
from mnistopt.options import AUTO_EPOCH_IMAGES, SMALL_BUDGET_EPOCH_IMAGES, SearchOptions

FAST = SearchSpace(depth=Choice(1, 2), batch_size=256, optimizer="adam", batch_norm=False)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 80), min_size=1, max_size=10), seed=st.integers(0, 2**32 - 1))
def test_every_prefix_of_a_stratified_order_keeps_the_class_shares(counts, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    order = stratified_order(labels, seed)
    assert sorted(order.tolist()) == list(range(len(labels)))
    shares = np.array(counts) / len(labels)
    for k in range(1, len(labels) + 1):
        held = np.bincount(labels[order[:k]], minlength=len(counts))
        assert np.all(np.abs(held - shares * k) < 1 + shares * len(counts)), (k, held.tolist(), (shares * k).tolist())


@pytest.mark.parametrize("n, images", [(1000, 400), (1000, 1000), (997, 300), (50, 120)])
def test_consecutive_epochs_read_each_pass_over_the_split_once(n, images):
    labels = np.arange(n) % 7
    stream = EpochStream(images, seed=3)
    epochs = -(-3 * n // images) + 1
    flat = np.concatenate([stream.indices(labels, e) for e in range(epochs)])
    assert all(len(stream.indices(labels, e)) == images for e in range(epochs))
    for p in range(3):  # three whole passes, each a permutation of the split, each in its own order
        assert sorted(flat[p * n:(p + 1) * n].tolist()) == list(range(n))
    assert not np.array_equal(flat[:n], flat[n:2 * n])


def test_an_epoch_depends_on_the_epoch_and_seed_alone():
    labels = np.arange(5000) % 10
    a, b = EpochStream(900, seed=1), EpochStream(900, seed=1)
    assert np.array_equal(a.indices(labels, 7), b.indices(labels, 7))  # a continued trial reads its parent's stream
    assert not np.array_equal(a.indices(labels, 7), EpochStream(900, seed=2).indices(labels, 7))
    assert not np.array_equal(a.indices(labels, 0), a.indices(labels, 1))


@pytest.mark.parametrize("given, kind, budget, train, expected", [
    ("auto", "params", 72_842, 54_000, AUTO_EPOCH_IMAGES), ("auto", "params", 4_034, 54_000, SMALL_BUDGET_EPOCH_IMAGES),
    ("auto", "nonzero", 4_034, 54_000, SMALL_BUDGET_EPOCH_IMAGES),  # sparse models get the longer schedule too
    ("auto", "bytes", 4_034, 54_000, AUTO_EPOCH_IMAGES),  # no small-budget rule for byte budgets
    ("auto", "params", 4_034, SMALL_BUDGET_EPOCH_IMAGES, None), ("auto", "params", 72_842, 9_000, None),
    ("auto", "params", 72_842, 1_500, None), (None, "params", 72_842, 54_000, None),
    (500, "params", 4_034, 1_500, 500), (1_500, "params", 4_034, 1_500, None),
])
def test_a_stream_only_where_the_split_is_larger_than_an_epoch(given, kind, budget, train, expected):
    stream = SearchOptions(epoch_images=given, budget_kind=kind, seed=4).epoch_stream(train, budget)
    assert (stream.images if stream else None) == expected
    if stream:
        assert stream.seed == 4


@pytest.mark.parametrize("value", [0, -5, "half", 2.5, True])
def test_bad_epoch_images_is_one_clear_error(value):
    with pytest.raises((ArgumentError, InvalidTypeError), match="epoch_images"):
        SearchOptions(epoch_images=value)


def test_fit_model_trains_the_streams_images_per_epoch(mnist_small):
    import keras

    from mnistopt import MLPSpec, build_model
    from mnistopt.training import fit_model

    spec = MLPSpec(hidden=(16,), batch_size=128, epochs=3)
    keras.utils.set_random_seed(0)
    model = build_model(spec)
    outcome = fit_model(model, spec, mnist_small, epochs=3, seed=0, stream=EpochStream(300, seed=0))
    assert int(model.optimizer.iterations.numpy()) == 3 * math.ceil(300 / 128)  # not 3 * ceil(1,500 / 128)
    assert len(outcome.history["val_accuracy"]) == 3
    plain = build_model(spec)
    fit_model(plain, spec, mnist_small, epochs=1, seed=0)
    assert int(plain.optimizer.iterations.numpy()) == math.ceil(len(mnist_small.y_train) / 128)


def _iterations(record, directory):
    from mnistopt import build_model
    from mnistopt.build import load_checkpoint

    [path] = glob.glob(os.path.join(directory, "tuner", "*", f"trial_{record.trial_id}", "checkpoint.weights.h5"))
    model = load_checkpoint(build_model(record.spec), path)
    return int(model.optimizer.iterations.numpy())


@pytest.mark.parametrize("epoch_images, images", [(300, 300), (None, 1500), ("auto", 1500)])
def test_a_search_trains_each_epoch_on_epoch_images(mnist_small, tmp_path, epoch_images, images):
    result = search_under_budget(3000, mnist_small, tuner="random", max_trials=2, max_epochs=2, directory=tmp_path,
                                 space=FAST, epoch_images=epoch_images, patience=None)
    assert result.info["settings"]["epoch_images"] == epoch_images
    for record in result.records:
        assert record.epochs_run == 2
        assert _iterations(record, tmp_path) == 2 * math.ceil(images / 256)


def test_cli_epoch_images(mnist_dir, tmp_path, capsys):
    import json

    code = main(["search", "--budget", "3000", "--data", str(mnist_dir), "--out", str(tmp_path), "--tuner", "random",
                 "--max-trials", "1", "--max-epochs", "1", "--epoch-images", "full", "--quiet"])
    assert code == 0
    assert json.loads((tmp_path / "result.json").read_text())["settings"]["epoch_images"] is None
    with pytest.raises(SystemExit) as exit_:  # argparse's own usage error
        main(["search", "--budget", "3000", "--epoch-images", "some", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "--epoch-images" in capsys.readouterr().err


def test_refit_trains_on_the_stream_the_trials_trained_on(mnist_small, tmp_path):
    import keras

    result = search_under_budget(3000, mnist_small, tuner="random", max_trials=1, max_epochs=2, directory=tmp_path,
                                 space=FAST, epoch_images=300, patience=None, refit=True)
    chosen = result.best(3000)
    assert chosen.record.refit
    model = keras.models.load_model(chosen.model_path)
    assert int(model.optimizer.iterations.numpy()) == 2 * math.ceil(300 / 256)  # not full passes over train + val
