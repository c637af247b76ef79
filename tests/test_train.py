import dataclasses
import math
import time

import numpy as np
import pytest

from mnistopt import MLPSpec, load_dataset, train
from mnistopt.errors import ArgumentError, TrainingDivergedError
from conftest import synthetic_arrays

from mnistopt.data import synthetic_dataset

SMALL = MLPSpec(hidden=(32,), epochs=1, batch_size=64)


def test_one_epoch_learns_real_digits(mnist_small):
    events = []
    started = time.perf_counter()
    result = train(dataclasses.replace(SMALL, epochs=2), mnist_small, progress=events.append)
    elapsed = time.perf_counter() - started
    assert result.params == SMALL.params == result.model.count_params()
    assert result.epochs_run == 2 and [e.epoch for e in events] == [1, 2]
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in result.history.values())
    assert result.history["loss"][1] < result.history["loss"][0]
    assert result.val_accuracy > 0.75 and result.test_accuracy > 0.75  # chance is 0.1
    assert 0 < result.train_loss < 2 and math.isfinite(result.test_loss)
    assert 0 < result.wall_time_s <= elapsed  # the training's own time, within the call's
    assert events[-1].eta_s == 0.0 and "epoch 2/2" in str(events[-1])


def test_val_accuracy_is_the_model_on_the_validation_split(mnist_small):
    result = train(SMALL, mnist_small, evaluate_test=False)
    assert result.test_accuracy is None and result.test_loss is None
    predicted = result.model.predict(mnist_small.x_val, verbose=0).argmax(1)
    assert result.val_accuracy == pytest.approx(np.mean(predicted == mnist_small.y_val), abs=1e-6)


def test_same_seed_same_result(mnist_small):
    a = train(SMALL, mnist_small, seed=3, evaluate_test=False)
    b = train(SMALL, mnist_small, seed=3, evaluate_test=False)
    assert a.history["loss"] == pytest.approx(b.history["loss"], rel=1e-5)
    assert a.val_accuracy == pytest.approx(b.val_accuracy, abs=1e-6)


def test_divergence_raises_with_reason(mnist_small):
    spec = MLPSpec(hidden=(16,), optimizer="sgd", learning_rate=1e20, epochs=2)
    with pytest.raises(TrainingDivergedError, match=r"diverged: the loss became nan in epoch 1 .*learning_rate=1e\+20"):
        train(spec, mnist_small)


@pytest.mark.parametrize("patience, stops_after", [(0, 3), (2, 4), (3, 5)])
def test_early_stopping_stops_after_patience_epochs_and_restores_the_best(monkeypatch, patience, stops_after):
    """Scripted validation accuracies: the best is epoch 2, epochs 3-5 are worse (epoch 6 would be
    better): training stops once ``patience`` epochs in a row did not improve, as Keras counts."""
    import mnistopt.training as training
    from mnistopt import build_model

    scripted = iter([0.5, 0.6, 0.55, 0.58, 0.57, 0.9, 0.95, 0.96])
    monkeypatch.setattr(training, "evaluate_arrays", lambda model, x, y, *a: (1.0, next(scripted)))
    spec = MLPSpec(hidden=(8,), pool=True, epochs=8)
    model, seen = build_model(spec), []
    outcome = training.fit_model(model, spec, synthetic_dataset(), epochs=8, patience=patience,
                                 progress=lambda event: seen.append(model.get_weights()))
    assert len(outcome.history["val_accuracy"]) == stops_after == len(seen)
    assert outcome.restored_best and outcome.best_epoch == 2
    final = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(final, seen[1]))  # epoch 2's weights, restored
    assert not all(np.array_equal(a, b) for a, b in zip(final, seen[-1]))


def test_shape_mismatch_is_a_clear_error():
    arrays = synthetic_arrays(shape=(20, 20))
    ds = load_dataset(arrays)
    with pytest.raises(ArgumentError, match=r"spec expects images \(28, 28\).*dataset has \(20, 20\)"):
        train(SMALL, ds)
    result = train(dataclasses.replace(SMALL, input_shape=(20, 20)), ds)
    assert result.params == 20 * 20 * 32 + 32 + 330


def test_cosine_schedule_is_applied_each_epoch(mnist_small):
    from mnistopt.build import build_model
    from mnistopt.training import fit_model

    spec = MLPSpec(hidden=(8,), epochs=3, learning_rate=0.01, lr_schedule="cosine", batch_size=256)
    model = build_model(spec)
    rates = []
    fit_model(model, spec, mnist_small, epochs=3, progress=lambda e: rates.append(float(model.optimizer.learning_rate)))
    assert rates == pytest.approx([spec.learning_rate_at(e) for e in range(3)], rel=1e-6)
    assert rates[2] < rates[0] / 2
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)  # saved with its base rate


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_apply_updates_is_exactly_optimizer_apply(optimizer):
    """The leak-free update path (no distribution machinery) learns exactly what
    Keras' optimizer.apply learns: same weights, same optimizer state, bit for bit."""
    import keras
    import numpy as np
    import tensorflow as tf

    from mnistopt import MLPSpec, build_model
    from mnistopt.training import _plain, apply_updates

    spec = MLPSpec(hidden=(7, 5), optimizer=optimizer, learning_rate=0.01, batch_size=16, l2=1e-3)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((16, 28, 28), dtype=np.float32))
    y = tf.constant(rng.integers(0, 10, 16).astype(np.int32))
    models = []
    for use_apply in (True, False):
        keras.utils.set_random_seed(3)
        model = build_model(spec)
        variables = model.trainable_variables
        model.optimizer.build(variables)
        assert _plain(model.optimizer)  # the update_step path is the one under test
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True)) + tf.add_n(model.losses)
            grads = tape.gradient(loss, variables)
            if use_apply:
                model.optimizer.apply(grads, variables)
            else:
                apply_updates(model.optimizer, grads, variables)

        for i in range(12):
            model.optimizer.learning_rate.assign(0.01 / (1 + i))  # as fit_model's schedules do
            step()
        models.append(model)
    a, b = models
    assert int(a.optimizer.iterations) == int(b.optimizer.iterations) == 12
    for va, vb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(va, vb)
    for va, vb in zip(a.optimizer.variables, b.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))
    assert not np.array_equal(a.get_weights()[0], build_model(spec).get_weights()[0])  # it did train


def test_many_trainings_log_no_retracing_warning(caplog):
    # Each model traces its own epoch graph once; TensorFlow warns about that after five
    # in a row ("triggered tf.function retracing"), which a search would print every trial.
    ds = load_dataset(synthetic_arrays(100, 20, seed=1))
    spec = MLPSpec(hidden=(4,), pool=True, epochs=2, batch_size=32)
    with caplog.at_level("WARNING"):
        for seed in range(7):
            train(spec, ds, seed=seed, evaluate_test=False)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    assert "triggered tf.function retracing" not in caplog.text
