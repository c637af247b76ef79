"""Fit one :class:`~mnistopt.MLPSpec` on a :class:`~mnistopt.Dataset`."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._checks import check_int
from .build import build_model
from .data import Dataset
from .errors import ArgumentError, ArgumentTypeError, TrainingDivergedError
from .spec import MLPSpec

__all__ = ["TrainResult", "EpochProgress", "train", "predict_classes"]

logger = logging.getLogger(__name__)

#: Batches per compiled-graph call; cuts Python overhead, learns the same.
STEPS_PER_EXECUTION = 32
_EVAL_BATCH = 2048


@dataclasses.dataclass(frozen=True)
class EpochProgress:
    """What a ``progress`` callback of :func:`train` receives after each epoch."""

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


def _monitor(epochs: int, sink: Callable[[EpochProgress], None] | None) -> Any:
    """Keras callback: stop on a non-finite loss; log and forward each epoch."""
    import keras

    class _Monitor(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bad_loss: tuple[int, float] | None = None  # (epoch, loss)
            self.epoch = 0

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.bad_loss = (self.epoch, float(loss))
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.bad_loss is not None:
                return
            event = EpochProgress(
                epoch=epoch + 1,
                epochs=epochs,
                logs={k: float(v) for k, v in (logs or {}).items()},
                elapsed_s=time.perf_counter() - self.start,
            )
            logger.info("%s", event)
            if sink is not None:
                sink(event)

    return _Monitor()


def train(
    spec: MLPSpec,
    dataset: Dataset,
    *,
    seed: int = 0,
    early_stopping_patience: int | None = None,
    evaluate_test: bool = True,
    progress: Callable[[EpochProgress], None] | None = None,
    callbacks: Sequence[Any] = (),
    steps_per_execution: int = STEPS_PER_EXECUTION,
) -> TrainResult:
    """Build ``spec``'s model, fit it on ``dataset.train`` and evaluate it.

    Validation data is ``dataset.val``; the test split is only evaluated (once,
    after training) when ``evaluate_test`` is true and never influences
    training. Seeds Python, NumPy and TensorFlow with ``seed`` first.

    Args:
        spec: model and training settings (epochs, batch size, optimizer...).
        dataset: from :func:`mnistopt.load_dataset`.
        seed: random seed for weights, shuffling and dropout.
        early_stopping_patience: stop after this many epochs without a better
            validation accuracy and keep the best weights; ``None`` trains all
            ``spec.epochs`` epochs.
        evaluate_test: also report test accuracy and loss.
        progress: called with an :class:`EpochProgress` after every epoch.
        callbacks: extra Keras callbacks.
        steps_per_execution: batches per compiled-graph call (speed only).

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
    if not isinstance(spec, MLPSpec):
        raise ArgumentTypeError(f"`spec` must be an MLPSpec. Received: {type(spec).__name__}.")
    if not isinstance(dataset, Dataset):
        raise ArgumentTypeError(
            f"`dataset` must be a mnistopt Dataset (see load_dataset). Received: {type(dataset).__name__}."
        )
    if dataset.image_shape != spec.input_shape or dataset.num_classes != spec.num_classes:
        raise ArgumentError(
            f"spec expects images {spec.input_shape} and {spec.num_classes} classes but the dataset "
            f"has {dataset.image_shape} and {dataset.num_classes}. Set MLPSpec(input_shape=..., num_classes=...)."
        )
    seed = check_int("seed", seed, minimum=0)
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(spec, steps_per_execution=steps_per_execution)
    monitor = _monitor(spec.epochs, progress)
    cbs = [monitor, *callbacks]
    if early_stopping_patience is not None:
        patience = check_int("early_stopping_patience", early_stopping_patience, minimum=0)
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=patience, restore_best_weights=True
            )
        )
    start = time.perf_counter()
    fit = model.fit(
        dataset.x_train,
        dataset.y_train,
        batch_size=spec.batch_size,
        epochs=spec.epochs,
        validation_data=(dataset.x_val, dataset.y_val),
        callbacks=cbs,
        verbose=0,
    )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    losses = history.get("loss", [])
    if monitor.bad_loss is None and not all(math.isfinite(v) for v in losses):
        monitor.bad_loss = (len(losses), next(v for v in losses if not math.isfinite(v)))
    if monitor.bad_loss is not None:
        epoch, loss = monitor.bad_loss
        raise TrainingDivergedError(
            f"Training {spec.architecture} diverged: the loss became {loss} in epoch {epoch} "
            f"(optimizer={spec.optimizer}, learning_rate={spec.learning_rate}). Lower the learning "
            f"rate, or add batch normalisation."
        )
    train_loss, train_acc = _evaluate(model, dataset.x_train, dataset.y_train)
    val_loss, val_acc = _evaluate(model, dataset.x_val, dataset.y_val)
    test_loss = test_acc = None
    if evaluate_test:
        test_loss, test_acc = _evaluate(model, dataset.x_test, dataset.y_test)
    wall = time.perf_counter() - start
    return TrainResult(
        spec=spec,
        params=int(model.count_params()),
        history=history,
        epochs_run=len(history["loss"]),
        train_accuracy=train_acc,
        train_loss=train_loss,
        val_accuracy=val_acc,
        val_loss=val_loss,
        test_accuracy=test_acc,
        test_loss=test_loss,
        wall_time_s=wall,
        model=model,
    )


def _evaluate(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    loss, acc = model.evaluate(x, y, batch_size=_EVAL_BATCH, verbose=0)
    return float(loss), float(acc)


def predict_classes(model: Any, x: np.ndarray, batch_size: int = _EVAL_BATCH) -> np.ndarray:
    """Predicted class ids (argmax of the softmax) for images ``x``."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0)).argmax(axis=1).astype(np.int32)
