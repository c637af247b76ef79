"""Fit one :class:`~mnistopt.MLPSpec` on a :class:`~mnistopt.Dataset`.

:func:`fit_model` is the one training loop every caller uses (``train``,
search trials): data held in memory as tensors, one compiled graph call per
epoch, and validation metrics from an eager forward pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ._checks import check_int
from .augment import augment_source, augmented_batch
from .build import build_model
from .data import Dataset, EpochStream
from .errors import ArgumentError, InvalidTypeError, TrainingDivergedError
from .spec import MLPSpec, TrainingFields

__all__ = [
    "EpochProgress",
    "TrainResult",
    "train",
    "fit_model",
    "train_tensors",
    "evaluate_arrays",
    "loss_and_accuracy",
    "regularization_penalty",
    "predict_proba",
    "predict_classes",
    "check_compatible",
    "divergence_reason",
    "GradualPruning",
]

logger = logging.getLogger(__name__)

_EVAL_BATCH = 4096


@dataclasses.dataclass(frozen=True)
class EpochProgress:
    """What a ``progress`` callback of :func:`train` receives after each epoch.

    Example:
        >>> from mnistopt import load_dataset
        >>> ds = load_dataset("mnist-sample").subset(train=300, val=60, test=100)  # real digits, shipped
        >>> from mnistopt import MLPSpec, train
        >>> events = []
        >>> _ = train(MLPSpec(hidden=(8,), pool=True, epochs=2), ds, progress=events.append)
        >>> [(e.epoch, e.epochs, sorted(e.logs)) for e in events]
        [(1, 2, ['accuracy', 'loss', 'val_accuracy', 'val_loss']), (2, 2, ['accuracy', 'loss', 'val_accuracy', 'val_loss'])]
        >>> str(events[-1]).startswith("epoch 2/2")
        True
    """

    epoch: int
    epochs: int
    logs: dict[str, float]
    elapsed_s: float

    @property
    def eta_s(self) -> float:
        """Estimated seconds left, assuming all epochs run."""
        return self.elapsed_s / self.epoch * (self.epochs - self.epoch)

    def __str__(self) -> str:
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in self.logs.items())
        return f"epoch {self.epoch}/{self.epochs}  {metrics}  elapsed {self.elapsed_s:.1f}s  eta {self.eta_s:.1f}s"


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of :func:`train`: curves, final metrics per split, the model.

    ``history`` holds per-epoch ``loss``, ``accuracy``, ``val_loss`` and
    ``val_accuracy`` (the train figures are running averages over each epoch,
    with dropout active). ``train_accuracy``/``train_loss`` are measured after
    training on the whole train split, like the validation and test figures.
    ``test_*`` is ``None`` when the test set was not evaluated.

    Example:
        >>> from mnistopt import load_dataset
        >>> ds = load_dataset("mnist-sample").subset(train=300, val=60, test=100)  # real digits, shipped
        >>> from mnistopt import MLPSpec, train
        >>> result = train(MLPSpec(hidden=(8,), pool=True, epochs=1), ds, evaluate_test=False)
        >>> result.params, result.test_accuracy, 0.0 <= result.val_accuracy <= 1.0
        (1666, None, True)
        >>> sorted(result.to_dict())[:4]
        ['architecture', 'epochs_run', 'history', 'params']
    """

    spec: MLPSpec
    params: int
    history: dict[str, list[float]]
    epochs_run: int
    train_accuracy: float
    train_loss: float
    val_accuracy: float
    val_loss: float
    test_accuracy: float | None
    test_loss: float | None
    wall_time_s: float
    model: Any = dataclasses.field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metrics, spec and history (without the model)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("model", "spec")}
        out["spec"] = self.spec.to_dict()
        out["architecture"] = self.spec.architecture
        return out


def check_compatible(spec: MLPSpec, dataset: Dataset) -> None:
    """Raise a clear error unless ``spec`` and ``dataset`` fit together."""
    if not isinstance(spec, TrainingFields):
        raise InvalidTypeError(f"`spec` must be a model spec (an MLPSpec, a CNNSpec). Received: {type(spec).__name__}.")
    if not isinstance(dataset, Dataset):
        raise InvalidTypeError(
            f"`dataset` must be a mnistopt Dataset (see load_dataset). Received: {type(dataset).__name__}."
        )
    if dataset.image_shape != spec.input_shape or dataset.num_classes != spec.num_classes:
        raise ArgumentError(
            f"spec expects images {spec.input_shape} and {spec.num_classes} classes but the dataset "
            f"has {dataset.image_shape} and {dataset.num_classes}. Set MLPSpec(input_shape=..., num_classes=...)."
        )


def train(
    spec: MLPSpec,
    dataset: Dataset,
    *,
    seed: int = 0,
    early_stopping_patience: int | None = None,
    evaluate_test: bool = True,
    progress: Callable[[EpochProgress], None] | None = None,
) -> TrainResult:
    """Build ``spec``'s model, fit it on ``dataset``'s train split and evaluate it.

    Validation data is the dataset's validation split; the test split is only
    evaluated (once, after training) when ``evaluate_test`` is true and never
    influences training. Seeds Python, NumPy and TensorFlow with ``seed`` first.

    Args:
        spec: model and training settings (epochs, batch size, optimizer...).
        dataset: from :func:`mnistopt.load_dataset`.
        seed: random seed for weights, shuffling and dropout.
        early_stopping_patience: stop after this many epochs without a better
            validation accuracy and keep the best weights; ``None`` trains all
            ``spec.epochs`` epochs.
        evaluate_test: also report test accuracy and loss.
        progress: called with an :class:`EpochProgress` after every epoch.

    Raises:
        TrainingDivergedError: the loss became NaN or infinite.

    Example:
        >>> import numpy as np
        >>> from mnistopt import MLPSpec, load_dataset, train
        >>> rng = np.random.default_rng(0)
        >>> x = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8)
        >>> y = np.arange(300) % 10
        >>> ds = load_dataset({"x_train": x, "y_train": y, "x_test": x[:60], "y_test": y[:60]})
        >>> result = train(MLPSpec(hidden=(8,), pool=True, epochs=1), ds)
        >>> result.params, result.epochs_run, sorted(result.history)
        (1666, 1, ['accuracy', 'loss', 'val_accuracy', 'val_loss'])
    """
    check_compatible(spec, dataset)
    seed = check_int("seed", seed, minimum=0)
    patience = None
    if early_stopping_patience is not None:
        patience = check_int("early_stopping_patience", early_stopping_patience, minimum=0)
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(spec)
    start = time.perf_counter()
    outcome = fit_model(
        model, spec, dataset, epochs=spec.epochs, seed=seed, patience=patience, progress=progress,
    )
    if outcome.diverged is not None:
        raise TrainingDivergedError(divergence_reason(spec, *outcome.diverged))
    train_loss, train_acc = evaluate_arrays(model, dataset.x_train, dataset.y_train)
    val_loss, val_acc = evaluate_arrays(model, dataset.x_val, dataset.y_val)
    test_loss = test_acc = None
    if evaluate_test:
        test_loss, test_acc = evaluate_arrays(model, dataset.x_test, dataset.y_test)
    return TrainResult(
        spec=spec,
        params=int(model.count_params()),
        history=outcome.history,
        epochs_run=len(outcome.history.get("loss", [])),
        train_accuracy=train_acc,
        train_loss=train_loss,
        val_accuracy=val_acc,
        val_loss=val_loss,
        test_accuracy=test_acc,
        test_loss=test_loss,
        wall_time_s=time.perf_counter() - start,
        model=model,
    )


def divergence_reason(spec: MLPSpec, epoch: int, loss: float) -> str:
    """The message of a diverged training run: what happened and what to try."""
    return (
        f"Training {spec.architecture} diverged: the loss became {loss} in epoch {epoch} "
        f"(optimizer={spec.optimizer}, learning_rate={spec.learning_rate}). Lower the learning "
        f"rate, or add batch normalisation."
    )


# --------------------------------------------------------------------------
# Evaluation without per-call graph tracing
# --------------------------------------------------------------------------


def predict_proba(model: Any, x: np.ndarray, batch_size: int = _EVAL_BATCH) -> np.ndarray:
    """Softmax outputs for ``x``, in large eager batches (no graph tracing)."""
    parts = [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts)


def predict_classes(model: Any, x: np.ndarray, batch_size: int = _EVAL_BATCH) -> np.ndarray:
    """Predicted class ids (argmax of the softmax) for images ``x``."""
    return predict_proba(model, x, batch_size).argmax(axis=1).astype(np.int32)


def evaluate_arrays(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = _EVAL_BATCH) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` on ``x, y``.

    The loss is the mean sparse categorical cross-entropy (probabilities
    clipped to ``[1e-7, 1]`` as Keras does) plus the model's regularisation
    penalty: what ``model.evaluate`` reports, without tracing a graph per call.
    """
    loss, accuracy = loss_and_accuracy(predict_proba(model, x, batch_size), y)
    return loss + regularization_penalty(model), accuracy


def regularization_penalty(model: Any) -> float:
    """The model's weight penalties (L2) summed: what Keras adds to the data loss."""
    return float(sum(float(v) for v in model.losses)) if model.losses else 0.0


def loss_and_accuracy(probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean sparse categorical cross-entropy (probabilities clipped to ``[1e-7, 1]``, as Keras
    does) and accuracy of softmax outputs ``probs`` for labels ``y`` (any model, any file)."""
    y = np.asarray(y).astype(np.int64)
    picked = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    return float(-np.mean(np.log(picked))), float(np.mean(probs.argmax(axis=1) == y))


# --------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------


@dataclasses.dataclass
class FitOutcome:
    """What :func:`fit_model` observed."""

    history: dict[str, list[float]]
    best_epoch: int
    diverged: tuple[int, float] | None = None  # (epoch, loss) when the loss went non-finite
    restored_best: bool = False  # the model holds the best epoch's weights, not the last

    @property
    def final_index(self) -> int:
        """Index into ``history`` of the epoch whose weights the model now holds."""
        values = self.history.get("val_accuracy", [])
        return values.index(max(values)) if self.restored_best else len(values) - 1


@dataclasses.dataclass(frozen=True)
class GradualPruning:
    """Magnitude pruning while training (Zhu & Gupta 2017, "To prune, or not to prune"), as
    :func:`fit_model` applies it.

    Each kernel named in ``targets`` (layer name -> final sparsity) is thinned along a cubic:
    after ``done`` epochs its sparsity is ``target * (1 - (1 - p) ** 3)`` with
    ``p = (done - begin) / (end - begin)`` clipped to ``[0, 1]``, so pruning starts after
    ``begin`` epochs, goes fast while the weights are redundant and slowly near the end, and
    the target holds from ``end`` epochs on. At the start of every epoch each kernel keeps its
    largest-magnitude weights (a mask), and the mask is applied again after every update, so
    a pruned weight stays zero; the schedule is a function of the epoch alone, so a continued
    Hyperband trial resumes it where its parent stopped. The same schedule as tfmot's
    ``PolynomialDecay`` (cubic, per epoch), applied inside mnistopt's own traced training step,
    so augmentation, learning-rate schedules and epoch streams are those of the trial.

    Example:
        >>> from mnistopt.training import GradualPruning
        >>> g = GradualPruning({"dense_1": 0.9, "output": 0.5}, begin=1, end=4)
        >>> [round(g.sparsity_at(done)["dense_1"], 3) for done in range(6)]
        [0.0, 0.0, 0.633, 0.867, 0.9, 0.9]
    """

    targets: Mapping[str, float]
    begin: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.begin <= self.end:
            raise ArgumentError(f"`begin` and `end` must satisfy 0 <= begin <= end. Received: begin={self.begin}, "
                                f"end={self.end}.")
        for name, target in self.targets.items():
            if not 0.0 <= target < 1.0:
                raise ArgumentError(f"Each target sparsity must be in [0, 1). Received: {name}={target}.")

    def sparsity_at(self, done: int) -> dict[str, float]:
        """Each kernel's sparsity for the epoch that follows ``done`` finished epochs."""
        p = 1.0 if self.end == self.begin else (done - self.begin) / (self.end - self.begin)
        p = min(max(p, 0.0), 1.0) if done >= self.begin else 0.0
        return {name: target * (1.0 - (1.0 - p) ** 3) for name, target in self.targets.items()}

    def kernels(self, model: Any) -> list[Any]:
        """The pruned kernel variables of ``model``, in ``targets``' order (a separable
        convolution's pointwise kernel; its depthwise kernel stays dense, as tfmot leaves it)."""
        out = []
        for name in self.targets:
            layer = model.get_layer(name)
            out.append(layer.pointwise_kernel if hasattr(layer, "pointwise_kernel") else layer.kernel)
        return out

    def masks(self, model: Any, done: int) -> list[np.ndarray]:
        """Keep-masks of :meth:`kernels` for the epoch after ``done``: each keeps its
        ``round(size * (1 - sparsity))`` largest-magnitude weights (ties broken by position)."""
        out = []
        for kernel, sparsity in zip(self.kernels(model), self.sparsity_at(done).values()):
            w = np.abs(np.asarray(kernel)).ravel()
            keep = int(round(w.size * (1.0 - sparsity)))
            mask = np.zeros(w.size, dtype=np.float32)
            if keep > 0:
                mask[np.argsort(-w, kind="stable")[:keep]] = 1.0
            out.append(mask.reshape(tuple(kernel.shape)))
        return out

    def apply(self, model: Any, done: int) -> None:
        """Zero what :meth:`masks` drops for the epoch after ``done``, at once (no training)."""
        for kernel, mask in zip(self.kernels(model), self.masks(model, done)):
            kernel.assign(np.asarray(kernel) * mask)


def _plain(optimizer: Any) -> bool:
    """True when ``optimizer.apply`` would do nothing beyond each variable's update step and
    the iteration count: no clipping, weight decay, EMA, accumulation or loss scaling (the
    optimizers :func:`~mnistopt.build.make_optimizer` makes)."""
    return (
        getattr(optimizer, "clipnorm", None) is None and getattr(optimizer, "clipvalue", None) is None
        and getattr(optimizer, "global_clipnorm", None) is None and not getattr(optimizer, "weight_decay", None)
        and not getattr(optimizer, "use_ema", False) and not getattr(optimizer, "gradient_accumulation_steps", None)
        and type(optimizer).__name__ != "LossScaleOptimizer" and hasattr(optimizer, "update_step")
    )


def apply_updates(optimizer: Any, grads: Sequence[Any], variables: Sequence[Any]) -> None:
    """``optimizer.apply(grads, variables)`` for plain optimizers, inside a traced function.

    Keras 3's ``apply`` routes the update through TensorFlow's distribution
    machinery, and every graph traced that way stays alive after its model is
    gone: about 1 MB per trial, 200 MB over a 200-trial search. Calling each
    variable's ``update_step`` and then counting the iteration is the same
    arithmetic in the same order (tested to give identical weights for Adam, SGD
    with momentum and RMSProp) without the leak. Other optimizers go through
    ``apply``.
    """
    if not _plain(optimizer):
        optimizer.apply(grads, variables)
        return
    learning_rate = optimizer.learning_rate
    for grad, variable in zip(grads, variables):
        optimizer.update_step(grad, variable, learning_rate)
    optimizer.iterations.assign_add(1)


@contextlib.contextmanager
def _no_retracing_warning() -> Iterator[None]:
    """Drop TensorFlow's "triggered tf.function retracing" warning meanwhile. Each model traces its
    own epoch graph once, on purpose; across a search's trials that warning mistakes this for a bug."""

    def keep(record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()

    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addFilter(keep)
    try:
        yield
    finally:
        tf_logger.removeFilter(keep)


def training_loss(label_smoothing: float = 0.0) -> Callable[[Any, Any], Any]:
    """The training loss on softmax outputs: Keras' sparse categorical cross-entropy, or with
    ``label_smoothing`` ``e > 0`` the label's cross-entropy times ``1 - e`` plus ``e`` times the mean
    cross-entropy over the classes (probabilities clipped to ``[1e-7, 1]`` as Keras does)."""
    import keras
    import tensorflow as tf

    if not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy()
    keep = 1.0 - float(label_smoothing)

    def smoothed(y, probs):
        log_p = tf.math.log(tf.clip_by_value(probs, 1e-7, 1.0))
        picked = tf.gather(log_p, tf.cast(y, tf.int32), axis=1, batch_dims=1)
        return -tf.reduce_mean(keep * picked + (1.0 - keep) * tf.reduce_mean(log_p, axis=1))

    return smoothed


def train_tensors(dataset: Dataset) -> tuple[Any, Any]:
    """The train split as TensorFlow tensors; make once, pass to every :func:`fit_model`."""
    import tensorflow as tf

    return tf.constant(dataset.x_train), tf.constant(dataset.y_train)


def fit_model(
    model: Any,
    spec: MLPSpec,
    dataset: Dataset,
    *,
    epochs: int,
    initial_epoch: int = 0,
    seed: int = 0,
    patience: int | None = None,
    progress: Callable[[EpochProgress], None] | None = None,
    tensors: tuple[Any, Any] | None = None,
    stream: EpochStream | None = None,
    pruning: GradualPruning | None = None,
) -> FitOutcome:
    """Fit a compiled model from ``initial_epoch`` up to ``epochs`` (the fast path).

    The same minibatch updates as ``model.fit`` (the compiled optimizer, mean
    sparse categorical cross-entropy plus the regularisation penalty, a fresh
    shuffle every epoch), run as one compiled graph per epoch over tensors
    held in memory. On small MLPs this is about three times faster than
    ``model.fit``, whose per-call setup and tracing dominate a short trial.

    Validation loss and accuracy are computed after each epoch with an eager
    forward pass. Training stops at the first non-finite epoch loss (reported
    in the outcome, not raised). With ``patience``, it stops after that many
    epochs without a better validation accuracy and restores the best weights.
    ``tensors`` (from :func:`train_tensors`) saves converting the train split
    again when many models train on the same data. With ``stream`` (an
    :class:`~mnistopt.data.EpochStream`) an epoch trains on that stream's
    images of the epoch, shuffled, instead of a full pass. With ``pruning`` (a
    :class:`GradualPruning`), kernels are magnitude-pruned along its schedule as they train.
    """
    import tensorflow as tf

    n = len(dataset.y_train) if stream is None else stream.images
    batch = spec.batch_size
    steps = -(-n // batch)
    x_all, y_all = tensors if tensors is not None else train_tensors(dataset)
    variables = model.trainable_variables
    optimizer = model.optimizer
    optimizer.build(variables)
    loss_fn = training_loss(spec.label_smoothing)
    source = augment_source(x_all, spec.augment)  # x_all itself without augmentation
    shape = tuple(dataset.x_train.shape[1:3])
    pruned = pruning.kernels(model) if pruning is not None else []
    masks = [tf.Variable(tf.ones(k.shape, k.dtype), trainable=False) for k in pruned]

    @tf.function
    def run_epoch(order, epoch_seed):
        loss_sum = tf.constant(0.0)
        correct = tf.constant(0.0)
        for i in tf.range(steps):
            idx = order[i * batch : (i + 1) * batch]
            xb = augmented_batch(source, idx, spec.augment, tf.stack([epoch_seed, tf.cast(i, tf.int64)]), shape)
            yb = tf.gather(y_all, idx)
            with tf.GradientTape() as tape:
                probs = model(xb, training=True)
                loss = loss_fn(yb, probs)
                if model.losses:
                    loss = loss + tf.add_n(model.losses)
            apply_updates(optimizer, tape.gradient(loss, variables), variables)
            for kernel, mask in zip(pruned, masks):  # a pruned weight stays zero
                kernel.assign(kernel * mask)
            size = tf.cast(tf.shape(yb)[0], tf.float32)
            loss_sum += loss * size
            hits = tf.equal(tf.cast(tf.argmax(probs, axis=1), yb.dtype), yb)
            correct += tf.reduce_sum(tf.cast(hits, tf.float32))
        return loss_sum / n, correct / n

    rng = np.random.default_rng([seed, initial_epoch])
    outcome = FitOutcome(history={}, best_epoch=initial_epoch)
    best, best_weights, waited = -1.0, None, 0
    start = time.perf_counter()
    for epoch in range(initial_epoch, epochs):
        optimizer.learning_rate.assign(spec.learning_rate_at(epoch))
        if pruning is not None:
            for kernel, mask, value in zip(pruned, masks, pruning.masks(model, epoch)):
                mask.assign(value)
                kernel.assign(kernel * value)
        with _no_retracing_warning() if epoch == initial_epoch else contextlib.nullcontext():  # the tracing call
            order = (rng.permutation(n) if stream is None
                     else rng.permutation(stream.indices(dataset.y_train, epoch))).astype(np.int32)
            epoch_seed = int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0] >> 1)
            loss, acc = run_epoch(tf.constant(order), tf.constant(epoch_seed, tf.int64))
        logs = {"loss": float(loss), "accuracy": float(acc)}
        if not math.isfinite(logs["loss"]):
            outcome.diverged = (epoch + 1, logs["loss"])
            break
        logs["val_loss"], logs["val_accuracy"] = evaluate_arrays(model, dataset.x_val, dataset.y_val)
        for key, value in logs.items():
            outcome.history.setdefault(key, []).append(value)
        if logs["val_accuracy"] > best:
            best, waited, outcome.best_epoch = logs["val_accuracy"], 0, epoch + 1
            if patience is not None:
                best_weights = model.get_weights()
        else:
            waited += 1
        event = EpochProgress(epoch + 1, epochs, logs, time.perf_counter() - start)
        logger.info("%s", event)
        if progress is not None:
            progress(event)
        if patience is not None and waited > 0 and waited >= patience:  # as Keras' EarlyStopping counts
            break
    if best_weights is not None and outcome.diverged is None and outcome.best_epoch < epoch + 1:
        model.set_weights(best_weights)
        outcome.restored_best = True
    # The schedule set the last epoch's rate (near zero after a cosine decay); a saved model keeps its
    # spec's base rate instead, which is what build.spec_from_model reads back and fine-tuning uses.
    # A continued trial sets its own rate each epoch, so nothing else reads this one.
    optimizer.learning_rate.assign(spec.learning_rate)
    return outcome
