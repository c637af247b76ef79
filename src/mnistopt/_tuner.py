"""KerasTuner glue: a HyperModel over a :class:`ResolvedSpace` and a Tuner that
trains each trial with mnistopt's fast loop.

KerasTuner keeps the roles apart and so do we: its Oracle proposes values and
owns trial state, resume and distribution; :class:`SpaceHyperModel` turns
values into a spec and a Keras 3 model; :class:`BudgetTuner` runs a trial.
Imported only when a search starts (KerasTuner imports TensorFlow).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from ._io import atomic_write_json, atomic_write_text, atomic_write_with
from .build import build_model, load_checkpoint
from .data import Dataset
from .records import COMPLETED, FAILED, TrialRecord
from .space import ResolvedSpace
from .training import divergence_reason, fit_model

logger = logging.getLogger(__name__)

RECORD_FILE = "mnistopt_record.json"
CHECKPOINT_FILE = "checkpoint.weights.h5"


@contextlib.contextmanager
def atomic_kerastuner_state() -> Iterator[None]:
    """Make KerasTuner write its state files (oracle, tuner, trial JSON) atomically.

    KerasTuner writes them in place, so a process killed mid-write leaves a
    truncated JSON file that the next run cannot reload. Within this context
    its ``save_json`` writes a temporary file and renames it over the target.
    Remote paths (``gs://...``) keep KerasTuner's own writer.
    """
    from keras_tuner.src import utils as kt_utils

    original = getattr(kt_utils, "save_json", None)
    if original is None:  # a KerasTuner without this helper: nothing to patch
        yield
        return

    def save_json(path, obj):
        if "://" in str(path):
            return original(path, obj)
        text = json.dumps(obj)
        atomic_write_text(path, text)
        return text

    kt_utils.save_json = save_json
    try:
        yield
    finally:
        kt_utils.save_json = original


def reconcile_interrupted(oracle: kt.Oracle) -> list[str]:
    """Repair an oracle reloaded after its process was killed; return the trials queued again.

    KerasTuner saves a new trial's own file before the oracle's state, and an
    ended trial's state before dropping it from the ongoing trials. A kill
    between the two writes leaves (a) a ``RUNNING`` trial the oracle does not
    know is running, which would never be run again yet counts towards
    ``max_trials``, or (b) a finished trial queued for a retry, which would be
    trained again. Queue (a) and unqueue (b).
    """
    queue = getattr(oracle, "_retry_queue", None)
    if queue is None:  # an oracle client (distributed worker): the chief owns the state
        return []
    ended = {"COMPLETED", "FAILED", "STOPPED"}
    queue[:] = [t for t in queue if t in oracle.trials and oracle.trials[t].status not in ended]
    orphans = [t for t, trial in sorted(oracle.trials.items()) if trial.status == "RUNNING" and t not in queue]
    queue.extend(reversed(orphans))  # the queue is popped from its end: oldest first
    return list(queue)


def fit_file_budget(spec: Any, quantize: str, budget: int, dataset: Dataset) -> Any:
    """The widest version of ``spec`` (same depth and ratios) whose ``quantize`` file fits ``budget`` bytes.

    A file's size depends on the architecture and the format, not on the
    weights' values (as long as they are distinct and valid), so an untrained
    model with such values is exported and measured, then narrowed (or
    widened) in proportion to the miss, then bisected: at most ten probes.
    """
    import tempfile

    from .budget import widths_for_budget
    from .compress.artifact import export_tflite
    from .errors import BudgetError
    rng = np.random.default_rng(0)
    sizes: dict[tuple[int, ...], int] = {}
    best = None

    def with_params(target: int):
        widths = widths_for_budget(max(target, 1), spec.in_features, spec.num_classes, spec.hidden, spec.batch_norm)
        return dataclasses.replace(spec, hidden=widths)

    low = high = None  # parameter counts known to fit / to miss
    with tempfile.TemporaryDirectory() as tmp:
        candidate = spec
        for _ in range(10):
            if candidate.hidden in sizes:
                break
            probe = build_model(candidate, compile=False)
            # Distinct positive values everywhere: the converter shares identical buffers (such as
            # all-zero initial biases) and folds batch norm differently when a variance is negative
            # (NaN), either of which makes an untrained file smaller than the trained one.
            probe.set_weights([rng.uniform(0.1, 1.0, w.shape).astype(w.dtype) for w in probe.get_weights()])
            size = os.path.getsize(export_tflite(probe, os.path.join(tmp, "m.tflite"), quantize,
                                                 representative=dataset.x_train[:8]))
            sizes[candidate.hidden] = size
            params = candidate.params
            if size <= budget:
                if best is None or params > best.params:
                    best = candidate
                low = params if low is None else max(low, params)
                if size >= 0.98 * budget:
                    break
            else:
                high = params if high is None else min(high, params)
            # Bisect once bracketed; before that, step in proportion to the miss (sizes grow
            # about in proportion to parameters, not exactly: small tensors stay float32 under
            # dynamic quantization, and every tensor has a header).
            if low is not None and high is not None:
                if high - low <= max(2, 0.01 * low):
                    break
                target = (low + high) // 2
            elif high is not None:
                target = int(params * min(0.9, (budget / size) ** 1.5))
            else:
                target = int(params * min(1.5, budget / size))
            try:
                candidate = with_params(target)
            except BudgetError:
                break
    if best is None:
        raise BudgetError(f"No {quantize} file of {spec.architecture} or a narrower model of its shape fits "
                          f"budget={budget:,} bytes (the smallest tried had {min(sizes.values()):,} bytes).")
    return best


class SpaceHyperModel(kt.HyperModel):
    """Declares the space's hyperparameters; builds the spec's Keras 3 model.

    Usable with KerasTuner's own tuners too: ``build(hp)`` returns a compiled
    ``keras.Model`` that fits the budget.
    """

    def __init__(self, space: ResolvedSpace, epochs: int):
        super().__init__(name=f"budget_{space.budget}")
        self.space = space
        self.epochs = epochs

    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        for d in self.space.dimensions():
            if d.kind == "fixed":
                hp.Fixed(d.name, d.values[0])
            elif d.kind == "choice":
                if set(d.values) <= {True, False} and all(isinstance(v, bool) for v in d.values):
                    hp.Boolean(d.name)
                else:
                    hp.Choice(d.name, list(d.values), ordered=False)
            else:
                hp.Float(d.name, d.low, d.high, sampling="log" if d.log else "linear")

    def spec(self, hp: kt.HyperParameters):
        values = {d.name: hp.get(d.name) for d in self.space.dimensions()}
        return self.space.to_spec(values, epochs=self.epochs)

    def build(self, hp: kt.HyperParameters):
        self.declare_hyperparameters(hp)
        return build_model(self.spec(hp))


class BudgetTuner(kt.engine.base_tuner.BaseTuner):
    """Runs one trial: build, (warm-start for Hyperband), fit, checkpoint, record."""

    def __init__(
        self,
        oracle: kt.Oracle,
        hypermodel: SpaceHyperModel,
        *,
        dataset: Dataset,
        tensors: tuple[Any, Any],
        seed: int,
        max_epochs: int,
        patience: int | None,
        on_record: Callable[[TrialRecord], None],
        prune_epochs: int = 4,
        **kwargs: Any,
    ):
        self.prune_epochs = prune_epochs
        self.dataset = dataset
        self.tensors = tensors  # the train split as tensors, converted once per search
        self.seed = seed
        self.max_epochs = max_epochs
        self.patience = patience
        self.on_record = on_record
        self._pending: dict[str, TrialRecord] = {}
        super().__init__(oracle, hypermodel, **kwargs)

    # -- files -------------------------------------------------------------

    def checkpoint_path(self, trial_id: str) -> str:
        return os.path.join(self.get_trial_dir(trial_id), CHECKPOINT_FILE)

    def record_path(self, trial_id: str) -> str:
        return os.path.join(self.get_trial_dir(trial_id), RECORD_FILE)

    def load_record(self, trial_id: str) -> TrialRecord | None:
        path = os.path.join(self.project_dir, f"trial_{trial_id}", RECORD_FILE)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return TrialRecord.from_dict(json.load(f))

    # -- KerasTuner hooks --------------------------------------------------

    def reload(self) -> None:
        super().reload()
        if not self._is_worker():
            reconcile_interrupted(self.oracle)

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        hp = trial.hyperparameters
        values = hp.values
        space = self.hypermodel.space
        spec = self.hypermodel.spec(hp)
        epochs = int(values.get("tuner/epochs", self.max_epochs))
        initial_epoch = int(values.get("tuner/initial_epoch", 0))
        parent = values.get("tuner/trial_id")
        if space.kind == "bytes":  # narrow the model until its file fits, before any training
            checked = self.load_record(parent) if parent is not None else None
            if checked is not None and checked.spec is not None:  # a continuation: its parent's file fitted
                spec = dataclasses.replace(checked.spec, epochs=spec.epochs)
            else:
                spec = fit_file_budget(spec, values["quantize"], space.budget, self.dataset)
        budget = self.hypermodel.space.budget
        start = time.perf_counter()
        keras.backend.clear_session()  # no graph or model leaks from trial to trial
        trial_seed = self.seed * 100_003 + int(trial.trial_id)
        keras.utils.set_random_seed(trial_seed)
        model = build_model(spec)
        if parent is not None:  # Hyperband continuation: the parent's weights and optimizer state
            load_checkpoint(model, self.checkpoint_path(parent))
        outcome = fit_model(
            model, spec, self.dataset, epochs=epochs, initial_epoch=initial_epoch, seed=trial_seed,
            tensors=self.tensors,
            patience=None if "tuner/epochs" in values else self.patience,  # Hyperband prunes by itself
        )
        history = outcome.history
        base = dict(
            budget=budget, trial_id=trial.trial_id, spec=spec, params=spec.params,
            nonzero_params=spec.params, initial_epoch=initial_epoch, parent_trial_id=parent,
            history=history,
        )
        if outcome.diverged is not None:
            reason = divergence_reason(spec, *outcome.diverged)
            record = TrialRecord(status=FAILED, reason=reason, epochs=initial_epoch + len(history.get("loss", [])),
                                 epochs_run=len(history.get("loss", [])), wall_time_s=time.perf_counter() - start, **base)
            self._stash(record)
            raise kt.errors.FailedTrialError(reason)
        val_accuracy = history["val_accuracy"][outcome.final_index]
        val_loss = history["val_loss"][outcome.final_index]
        atomic_write_with(self.checkpoint_path(trial.trial_id), lambda tmp: model.save_weights(tmp), ".weights.h5")
        if space.kind != "params":  # the candidate is the compressed model, judged as such
            final = self.finish(trial.trial_id, model, spec, values, trial_seed)
            val_accuracy, val_loss = final.pop("val_accuracy"), final.pop("val_loss")
            base.update(final)
        record = TrialRecord(
            status=COMPLETED, val_accuracy=val_accuracy, val_loss=val_loss,
            epochs=initial_epoch + len(history["loss"]), epochs_run=len(history["loss"]),
            wall_time_s=time.perf_counter() - start, **base,
        )
        self._stash(record)
        metrics = {"val_accuracy": val_accuracy}
        if val_loss is not None:
            metrics["val_loss"] = val_loss
        return metrics

    def final_model_path(self, trial_id: str) -> str:
        """The compressed candidate of a ``nonzero``/``bytes`` trial (``.keras`` or ``.tflite``)."""
        kind = self.hypermodel.space.kind
        return os.path.join(self.get_trial_dir(trial_id), "final.tflite" if kind == "bytes" else "final.weights.h5")

    def finish(self, trial_id: str, model: Any, spec: Any, values: dict, seed: int) -> dict[str, Any]:
        """Compress a trained trial model to its budget kind; its record fields and validation figures.

        Every pruned trial fine-tunes ``prune_epochs`` epochs, short trials
        included, with the spec's augmentation and label smoothing, so the
        pruned candidates of a rung are ranked after the same fine-tuning.
        """
        from .compress.artifact import export_tflite, tflite_predict
        from .compress.pipeline import gzip_size, stage_name
        from .compress.sparsity import count_nonzero, prune_magnitude
        from .errors import BudgetError
        from .training import evaluate_arrays, loss_and_accuracy

        space = self.hypermodel.space
        path = self.final_model_path(trial_id)
        if space.kind == "nonzero":
            if count_nonzero(model) > space.budget:
                outcome = prune_magnitude(model, spec, self.dataset, nonzero_budget=space.budget,
                                          epochs=self.prune_epochs, seed=seed)
                model, stage = outcome.model, stage_name(sparsity=round(outcome.sparsity, 3))
            else:
                stage = "dense"
            atomic_write_with(path, lambda tmp: model.save_weights(tmp), ".weights.h5")
            val_loss, val_accuracy = evaluate_arrays(model, self.dataset.x_val, self.dataset.y_val)
            return dict(stage=stage, nonzero_params=count_nonzero(model), val_accuracy=val_accuracy,
                        val_loss=val_loss)
        quantize = values["quantize"]
        export_tflite(model, path, quantize, representative=self.dataset.x_train)
        val_loss, val_accuracy = loss_and_accuracy(tflite_predict(path, self.dataset.x_val), self.dataset.y_val)
        if os.path.getsize(path) > space.budget:  # never a candidate over its budget
            raise BudgetError(f"The trained {quantize} file of {spec.architecture} has {os.path.getsize(path):,} "
                              f"bytes, over budget={space.budget:,} (its untrained probe fitted).")
        return dict(stage=quantize, nonzero_params=count_nonzero(model), bytes=os.path.getsize(path),
                    gzip_bytes=gzip_size(path), artifact=path,
                    val_accuracy=val_accuracy, val_loss=val_loss)

    def _stash(self, record: TrialRecord) -> None:
        atomic_write_json(self.record_path(record.trial_id), record.to_dict())
        self._pending[record.trial_id] = record

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        try:
            super().on_trial_end(trial)  # KerasTuner saves the trial's final state first
        finally:  # ... or raises after too many consecutive failures: record the trial anyway
            self._report(trial)

    def _report(self, trial: kt.engine.trial.Trial) -> None:
        record = self._pending.pop(trial.trial_id, None)
        if record is not None and record.status == COMPLETED and trial.status not in ("COMPLETED", None):
            record = None  # trained, but KerasTuner could not take its result: a failed trial, as it says
        if record is None:  # failed before any training (e.g. an error in build)
            record = TrialRecord(
                budget=self.hypermodel.space.budget, trial_id=trial.trial_id, status=FAILED,
                spec=None, params=0, reason=(trial.message or "unknown error").strip().splitlines()[-1],
            )
            atomic_write_json(self.record_path(record.trial_id), record.to_dict())
        self.on_record(record)

    def save_model(self, trial_id, model, step=0):  # checkpoints are written in run_trial
        pass

    def load_model(self, trial: kt.engine.trial.Trial):
        model = self.hypermodel.build(trial.hyperparameters.copy())
        return load_checkpoint(model, self.checkpoint_path(trial.trial_id))
