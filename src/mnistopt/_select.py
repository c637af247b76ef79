"""Selection after a budget's search: the best trial on validation, the model that ships (its
trial's own, or the spec trained again), its one test evaluation, and each family's price.

Functions of the search's run state (``mnistopt.search``'s ``_Run``: its data, options, records,
selected models and ``flush()``), which :func:`select` updates.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_with, ensure_dir
from .errors import SearchFailedError
from .records import ProgressEvent, SelectedModel, TrialRecord, chain_history, select_best

__all__ = ["select", "family_files", "retrain", "RetrainProgress"]

logger = logging.getLogger("mnistopt.search")


@dataclasses.dataclass(frozen=True)
class RetrainProgress:
    """What a search's ``progress`` callback receives after each epoch of training a selected
    spec again (``retrain_factor``, ``refit``; a :class:`~mnistopt.records.ProgressEvent`):
    ``done`` of ``total`` epochs, ``record`` the selected trial's."""

    budget: int
    done: int
    total: int
    record: TrialRecord
    val_accuracy: float | None
    elapsed_s: float

    def __str__(self) -> str:
        val = f"{self.val_accuracy:.4f}" if self.val_accuracy is not None else "-"
        return (f"budget {self.budget:,}: retraining {self.record.spec.architecture}  epoch {self.done}/{self.total}  "
                f"val_acc {val}  elapsed {self.elapsed_s:.0f}s")


def select(run: Any, budget: int, tuner: Any, progress: Callable[[ProgressEvent], None] | None = None) -> None:
    from .report.classification import classification_summary
    from .training import evaluate_arrays, loss_and_accuracy, predict_proba, regularization_penalty

    mine = [r for r in run.records.values() if r.budget == budget]
    best = select_best(mine)
    if best is None:
        reasons = sorted({r.reason.rstrip(".") for r in mine if r.reason})[:3]
        run.flush()
        raise SearchFailedError(
            f"Every trial of the search at budget={budget:,} failed ({len(mine)} trials). "
            f"Reasons: {'; '.join(reasons) or 'unknown'}. Narrow the search space (e.g. lower "
            f"learning rates) and rerun with overwrite=True."
        )
    kind = tuner.hypermodel.space.kind
    models = ensure_dir(run.root / "models", "directory")
    refit = run.options.refit
    factor = run.options.retrain_factor_for(best.spec.family)
    retrained: dict[str, Any] = {}
    again = retrain(run, best, tuner, models, factor, progress) if refit or factor > 1 else None
    if again is not None:
        model, artifact, retrained = again
    else:
        refit = False
        candidate = tuner.candidate_path(best.trial_id)
        model = kind.load_candidate(best.spec, tuner.checkpoint_path(best.trial_id), candidate)
        artifact = kind.file_candidate(candidate) if candidate is not None else None
    if artifact is not None:  # the file is the model: its own accuracy
        from .artifacts import evaluate_tflite, tflite_predict

        path = atomic_write_with(models / f"budget-{budget}.tflite",
                                 lambda tmp: Path(tmp).write_bytes(artifact.read_bytes()), ".tflite")
        train_acc = evaluate_tflite(path, run.data.x_train, run.data.y_train)
        probs, penalty = tflite_predict(path, run.data.x_test), 0.0
        extra = {"artifact": str(path)}
    else:
        train_loss, train_acc = evaluate_arrays(model, run.data.x_train, run.data.y_train)
        probs, penalty = predict_proba(model, run.data.x_test), regularization_penalty(model)
        path = atomic_write_with(models / f"budget-{budget}.keras", lambda tmp: model.save(tmp), ".keras")
        extra = {}
    test_loss, test_acc = loss_and_accuracy(probs, run.data.y_test)  # one pass over the test set
    test_loss += penalty
    classification = {"split": "test", **classification_summary(run.data.y_test, probs.argmax(axis=1),
                                                                  run.data.class_names)}
    chosen = dataclasses.replace(
        best, selected=True, train_accuracy=train_acc, test_accuracy=test_acc, test_loss=test_loss, refit=refit,
        **retrained, **extra
    )
    run.records[best.key] = chosen  # same position; the old record object is untouched
    run.selected[budget] = SelectedModel(chosen, model, chain_history(chosen, mine), str(path), classification)
    logger.info(
        "budget %s: selected trial %s (%s, %s params): val %.4f, test %.4f",
        budget, chosen.trial_id, chosen.spec.architecture, f"{chosen.params:,}",
        chosen.val_accuracy, test_acc,
    )
    if len(tuner.hypermodel.space.families) > 1:
        run.families[budget] = family_files(run, budget, mine, tuner, models)
    run.flush()

def family_files(run: Any, budget: int, mine: list[TrialRecord], tuner: Any, models: Path) -> list[dict[str, Any]]:
    """Each family's best trial at ``budget`` (on validation) and the price of shipping it: its
    ``int8-io`` ``.tflite`` file's bytes, tensor arena (LiteRT's and TFLM's) and latency (the file a
    microcontroller runs, and the one device limits are on), and that file's validation accuracy on
    LiteRT and on TFLM (the test set is not read)."""
    from .artifacts import export_tflite, file_costs, tflite_predict
    from .limits import LIMIT_FORMAT
    from .tflm import evaluate_tflm
    from .training import loss_and_accuracy

    kind = tuner.hypermodel.space.kind
    rows = []
    for family in tuner.hypermodel.space.families:
        best = select_best(r for r in mine if r.spec is not None and r.spec.family == family)
        if best is None:
            continue
        candidate = tuner.candidate_path(best.trial_id)
        model = kind.load_candidate(best.spec, tuner.checkpoint_path(best.trial_id), candidate)
        path = models / f"budget-{budget}-{family}-{LIMIT_FORMAT}.tflite"
        atomic_write_with(path, lambda tmp: export_tflite(model, tmp, LIMIT_FORMAT,
                                                          representative=run.data.x_train), ".tflite")
        _, file_val = loss_and_accuracy(tflite_predict(path, run.data.x_val), run.data.y_val)
        costs = file_costs(path)
        on_device = None if costs.tflm_arena_bytes is None else evaluate_tflm(path, run.data.x_val, run.data.y_val)
        rows.append({"family": family, "trial_id": best.trial_id, "architecture": best.spec.architecture,
                     "params": best.params, "nonzero_params": best.nonzero_params, "macs": best.macs,
                     "val_accuracy": best.val_accuracy, "selected": best.key in {
                         s.record.key for s in run.selected.values()},
                     "file": LIMIT_FORMAT, "file_val_accuracy": file_val, "tflm_val_accuracy": on_device,
                     "path": str(path), **dataclasses.asdict(costs)})
    return rows


def retrain(run: Any, best: TrialRecord, tuner: Any, models: Path, factor: int,
            progress: Callable[[ProgressEvent], None] | None = None) -> tuple[Any, Path | None, dict[str, Any]] | None:
    """The selected spec trained afresh for ``factor`` times the selected trial's epochs (its
    schedule stretched alike; on train + validation with ``refit``), then finished like its
    trials (pruned to a ``nonzero`` budget, exported for a ``bytes`` one). Returns the model,
    its file when the file is the model, and the record's ``retrain_*`` fields; ``None`` when
    the training diverged (the trial's own model ships, with a warning)."""
    import keras

    from .build import build_model
    from .training import fit_model

    refit = run.options.refit
    data = run.data
    if refit:
        data = dataclasses.replace(data, x_train=np.concatenate([data.x_train, data.x_val]),
                                   y_train=np.concatenate([data.y_train, data.y_val]))
    spec = dataclasses.replace(best.spec, epochs=best.spec.epochs * factor)  # the schedule, stretched
    epochs = best.epochs * factor
    seed = run.options.seed
    space = tuner.hypermodel.space
    logger.info("budget %s: %s %s on %d images for %d epochs", space.budget,
                "refit" if refit else "retrain", best.spec.architecture, len(data.y_train), epochs)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model(spec)
    def epoch_done(event) -> None:
        if progress is not None:
            progress(RetrainProgress(best.budget, event.epoch, epochs, best, event.logs.get("val_accuracy"),
                                     event.elapsed_s))

    outcome = fit_model(model, spec, data, epochs=epochs, seed=seed, progress=epoch_done,
                        pruning=space.kind.pruning(spec, space.kind.refit_values(best), space.budget,
                                                   epochs=epochs),
                        stream=run.options.epoch_stream(len(run.data.y_train), best.budget))  # as trials trained
    if outcome.diverged is not None:
        epoch, loss = outcome.diverged
        logger.warning("budget %s: retraining %s diverged (loss %s at epoch %d); the trial's model ships",
                       space.budget, best.spec.architecture, loss, epoch)
        return None
    val = outcome.history.get("val_accuracy") or [None]
    fields = {"retrain_epochs": epochs, "retrain_val_accuracy": None if refit else val[-1]}
    name = space.kind.candidate_file
    if name is None:
        return model, None, fields
    path = models / f"{'refit' if refit else 'retrain'}-{space.budget}-{name}"
    model, finished = space.kind.finish(model, best.spec, space.kind.refit_values(best), space.budget, data,
                                        path, seed=seed, prune_epochs=tuner.prune_epochs)
    if not refit:  # the candidate's own validation accuracy (the pruned model's, the file's)
        fields["retrain_val_accuracy"] = finished["val_accuracy"]
    return model, space.kind.file_candidate(path), fields
