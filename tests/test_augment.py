"""Training levers searched per trial (issue 14): augmentation inside the traced step, label
smoothing, warm-up + cosine, refit on train + validation, and the same levers in pruning and QAT."""

import dataclasses

import numpy as np
import pytest

from mnistopt import MLPSpec, SearchSpace, build_model, search_under_budget
from mnistopt.augment import augment_batch, augment_params
from mnistopt.data import synthetic_dataset
from mnistopt.errors import SpecError
from mnistopt.training import fit_model, training_loss


def _blob_batch(n=16):
    """Images holding one bright pixel each, away from the border (a shift moves it, never loses it)."""
    x = np.zeros((n, 28, 28), np.float32)
    rows, cols = 8 + np.arange(n) % 12, 14 - np.arange(n) % 5
    x[np.arange(n), rows, cols] = 1.0
    return x, rows, cols


@pytest.mark.parametrize("kind,k", [("shift1", 1), ("shift2", 2)])
def test_shifts_move_each_image_by_whole_pixels_within_range(kind, k):
    import tensorflow as tf

    x, rows, cols = _blob_batch(64)
    y = augment_batch(tf.constant(x), kind, tf.constant([3, 5], tf.int64)).numpy()
    assert np.array_equal(np.sort(np.unique(y)), [0.0, 1.0])  # exact: no interpolation
    moved = []
    for img, r, c in zip(y, rows, cols):
        (rr,), (cc,) = np.nonzero(img)
        assert abs(rr - r) <= k and abs(cc - c) <= k
        moved.append((rr - r, cc - c))
    assert len(set(moved)) > (2 * k + 1) ** 2 // 2  # the shifts really vary image to image


def test_augmentation_is_seeded_and_none_adds_nothing():
    import tensorflow as tf

    x = tf.constant(synthetic_dataset().x_train[:32])
    a = augment_batch(x, "affine", tf.constant([1, 2], tf.int64)).numpy()
    b = augment_batch(x, "affine", tf.constant([1, 2], tf.int64)).numpy()
    c = augment_batch(x, "affine", tf.constant([1, 3], tf.int64)).numpy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == x.shape and 0.0 <= a.min() and a.max() <= 1.0 + 1e-6
    assert not np.allclose(a, x.numpy())
    assert augment_batch(x, "none", tf.constant([1, 2], tf.int64)) is x
    assert augment_params("hflip").flip and not augment_params("affine").exact


def test_hflip_mirrors_about_half_the_images():
    import tensorflow as tf

    x, _, _ = _blob_batch(200)
    y = augment_batch(tf.constant(x), "hflip", tf.constant([0, 9], tf.int64)).numpy()
    mirrored = np.array([np.array_equal(a, b[:, ::-1]) for a, b in zip(y, x)])
    same = np.array([np.array_equal(a, b) for a, b in zip(y, x)])
    assert np.all(mirrored | same) and 60 < mirrored.sum() < 140


def test_the_model_holds_no_augmentation():
    plain, shifted = MLPSpec(hidden=(16,), pool=True), MLPSpec(hidden=(16,), pool=True, augment="affine")
    a, b = build_model(plain), build_model(shifted)
    assert a.count_params() == b.count_params() == shifted.params
    assert [type(layer).__name__ for layer in a.layers] == [type(layer).__name__ for layer in b.layers]


def test_training_applies_the_augmentation_and_is_reproducible():
    import keras

    data = synthetic_dataset(n_train=400)

    def weights(kind, seed=0):
        spec = MLPSpec(hidden=(8,), pool=True, epochs=2, augment=kind)
        keras.utils.set_random_seed(0)
        model = build_model(spec)
        fit_model(model, spec, data, epochs=2, seed=seed)
        return np.concatenate([w.ravel() for w in model.get_weights()])

    plain, shifted = weights("none"), weights("shift2")
    assert not np.allclose(plain, shifted)
    assert np.array_equal(shifted, weights("shift2"))
    assert not np.array_equal(shifted, weights("shift2", seed=1))


def test_label_smoothing_loss_is_the_formula():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    y = np.array([0, 2])
    got = float(training_loss(0.1)(y, probs))
    logp = np.log(probs)
    want = np.mean(-(0.9 * logp[np.arange(2), y] + 0.1 * logp.mean(axis=1)))
    assert got == pytest.approx(want, rel=1e-6)
    plain = float(training_loss(0.0)(y, probs))
    assert plain == pytest.approx(np.mean(-logp[np.arange(2), y]), rel=1e-6) and plain < got


def test_warmup_cosine_schedule():
    spec = MLPSpec(lr_schedule="warmup_cosine", epochs=20, learning_rate=0.1)
    rates = [spec.learning_rate_at(e) for e in range(20)]
    assert rates[0] == pytest.approx(0.1 / 3) and rates[1] == pytest.approx(0.2 / 3)  # 2 warm-up epochs
    assert rates[2] == pytest.approx(0.1) and all(a >= b for a, b in zip(rates[2:], rates[3:]))
    assert rates[-1] < 0.01
    with pytest.raises(SpecError, match="augment"):
        MLPSpec(augment="flip-everything")
    with pytest.raises(SpecError, match="label_smoothing"):
        MLPSpec(label_smoothing=1.0)


def test_default_space_searches_augmentation_but_never_flips():
    dims = {d.name: d for d in SearchSpace().resolve(4034).dimensions()}
    assert set(dims["augment"].values) == {"none", "shift1", "shift2", "affine"}
    assert dims["label_smoothing"].values == (0.0, 0.1)
    resolved = SearchSpace(augment="hflip", label_smoothing=0.05).resolve(4034)
    spec = resolved.to_spec(resolved.defaults())
    assert (spec.augment, spec.label_smoothing) == ("hflip", 0.05)


def test_refit_retrains_the_selected_spec_on_train_and_validation(tmp_path):
    data = synthetic_dataset(n_train=400, n_test=100)
    kwargs = dict(tuner="random", max_trials=2, max_epochs=2, seed=0, space=SearchSpace(augment="shift1"))
    plain = search_under_budget(3000, data, directory=tmp_path / "plain", **kwargs)
    refit = search_under_budget(3000, data, directory=tmp_path / "refit", refit=True, **kwargs)
    a, b = plain.best(3000), refit.best(3000)
    assert b.record.refit and not a.record.refit and refit.info["settings"]["refit"] is True
    assert b.record.trial_id == a.record.trial_id and b.record.val_accuracy == a.record.val_accuracy
    wa = np.concatenate([w.ravel() for w in a.model.get_weights()])
    wb = np.concatenate([w.ravel() for w in b.model.get_weights()])
    assert wa.shape == wb.shape and not np.allclose(wa, wb)


@pytest.mark.slow  # real training, several seconds (runs in the full suite)
def test_pruning_and_qat_fine_tune_with_the_specs_augmentation(tmp_path):
    from mnistopt.compress import prune_magnitude, quantization_aware_training

    data = synthetic_dataset(n_train=300)
    spec = MLPSpec(hidden=(16,), pool=True, epochs=1, augment="shift1", label_smoothing=0.1)
    model = build_model(spec)
    plain = prune_magnitude(model, dataclasses.replace(spec, augment="none"), data, sparsity=0.5, epochs=1)
    shifted = prune_magnitude(model, spec, data, sparsity=0.5, epochs=1)
    assert plain.history["loss"] != shifted.history["loss"]
    path, history = quantization_aware_training(model, spec, data, tmp_path / "qat.tflite", epochs=1)
    assert path.stat().st_size > 0 and len(history["loss"]) == 1


@pytest.mark.parametrize("kind", ["shift1", "shift2", "affine", "hflip"])
def test_each_image_is_its_drawn_pixel_map_applied(kind):
    """Every kind's fast path (sliced row gathers for shifts, one flat gather otherwise) gives exactly
    the image of the bank's map that the stateless draw picked, so training runs are unchanged by it."""
    import tensorflow as tf

    from mnistopt.augment import pixel_maps

    x = np.random.default_rng(1).random((40, 28, 28)).astype(np.float32)
    seed = tf.constant([7, 11], tf.int64)
    y = augment_batch(tf.constant(x), kind, seed).numpy()
    maps = pixel_maps(kind)
    pick = tf.random.stateless_uniform([40], seed=seed, minval=0, maxval=len(maps), dtype=tf.int32).numpy()
    padded = np.concatenate([x.reshape(40, -1), np.zeros((40, 1), np.float32)], axis=1)
    expected = np.stack([img[maps[p]] for img, p in zip(padded, pick)]).reshape(x.shape)
    assert np.array_equal(y, expected)
    assert len(set(pick)) > 1


@pytest.mark.parametrize("kind", ["none", "shift2", "affine"])
def test_augmented_batch_from_the_source_equals_augmenting_the_gathered_batch(kind):
    """The training loop's one gather (images and transform at once, from the whole train split) gives
    the batch that gathering the images first and augmenting them gives."""
    import tensorflow as tf

    from mnistopt.augment import augment_source, augmented_batch

    x = tf.constant(np.random.default_rng(2).random((50, 28, 28)).astype(np.float32))
    index = tf.constant(np.random.default_rng(3).permutation(50)[:17].astype(np.int32))
    seed = tf.constant([5, 6], tf.int64)
    a = augmented_batch(augment_source(x, kind), index, kind, seed).numpy()
    b = augment_batch(tf.gather(x, index), kind, seed).numpy()
    assert a.shape == (17, 28, 28) and np.array_equal(a, b)
