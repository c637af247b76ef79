"""Plain result records: one per evaluated model and stage, never mutated.

A later step (selection, compression) makes a new record with
:func:`dataclasses.replace` instead of changing an old one. Records turn into
JSON and CSV rows and back without loss.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._io import atomic_write_json, atomic_write_text
from .artifacts import Stage, StageKind
from .errors import DataError, NotSelectedError
from .families import Spec, spec_from_dict
from .spec import MLPSpec

__all__ = ["TrialStatus", "TrialRecord", "SelectedModel", "SearchResult", "CompressionResult", "ProgressEvent",
           "COMPLETED", "FAILED", "load_result"]


class TrialStatus(str, enum.Enum):
    """How a trial (or a compression stage) ended; compares and serialises as its lower-case value.

    Example:
        >>> TrialStatus("completed") is TrialStatus.COMPLETED, str(TrialStatus.FAILED), TrialStatus.FAILED == "failed"
        (True, 'failed', True)
    """

    COMPLETED = "completed"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


COMPLETED = TrialStatus.COMPLETED
FAILED = TrialStatus.FAILED


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trained (or failed) model of a search.

    Attributes:
        budget: the parameter budget the trial was sampled for.
        trial_id: KerasTuner's trial id (unique within a budget).
        stage: what produced the model (``"dense"`` for search trials).
        status: ``"completed"`` or ``"failed"`` (see ``reason``).
        spec: the full model and training description.
        params: exact parameter count (``count_params()``).
        nonzero_params: parameters that are not zero (equal to ``params``
            for dense models).
        val_accuracy, val_loss: on the validation split, after the trial.
        epochs: total epochs the weights have seen (including a parent
            trial's, for Hyperband continuations); ``epochs_run`` of them in
            this trial, starting at ``initial_epoch`` from ``parent_trial_id``.
        wall_time_s: seconds this trial took.
        history: per-epoch metrics of this trial.
        selected: chosen as the budget's best model (on validation accuracy).
        train_accuracy, test_accuracy, test_loss: only for selected models,
            computed once after the search (and for every compression
            stage, where nothing is chosen).
        bytes, gzip_bytes: size of the stage's exported ``.tflite`` file,
            and of that file gzipped (level 9): zeros pay off only compressed.
        arena_bytes, latency_us: what running that file costs a device: its
            tensor arena (activation memory, from the graph) and the median
            single-image latency on this machine's CPU, one thread (see
            :class:`~mnistopt.artifacts.FileCosts`).
        tflm_arena_bytes, tflm_reason: the arena TensorFlow Lite Micro
            allocates for that file, measured by TFLM's own interpreter, or
            why TFLM does not run it (an op it lacks; or not measured).
        tflm_val_accuracy, tflm_test_accuracy: the accuracy of an int8-io
            file's every image run by TFLM (the device's kernels), beside
            ``val_accuracy``/``test_accuracy`` run by LiteRT.
        artifact: the path of that file; the stage's accuracies are the
            file's own, measured with the TFLite interpreter.
        macs (in :meth:`to_dict`, from ``spec``): exact multiply-accumulates
            for one image (:attr:`MLPSpec.macs <mnistopt.MLPSpec.macs>`).
        refit: the selected model was retrained on train + validation for
            the selected trial's epochs (``search_under_budget(refit=True)``);
            ``val_accuracy`` is still the trial's, which chose it.
        retrain_epochs, retrain_val_accuracy: the selected model was trained
            again from scratch for ``retrain_epochs`` epochs (``retrain_factor``
            times the trial's, its schedule stretched alike) and that model is
            the one saved and tested; ``retrain_val_accuracy`` is its own
            validation accuracy (``None`` after a refit, which trained on the
            validation images). ``val_accuracy`` stays the trial's, which
            chose it. ``None`` when the trial's own model ships.
        source_stage: the stage this one was made from (``None`` for a
            trained model).
        model_architecture, model_macs: for a model mnistopt did not build
            (no ``spec``): its name and multiply-accumulates read from its
            own layers (:func:`~mnistopt.models.describe_model`).

    Example:
        >>> from mnistopt import MLPSpec, TrialRecord
        >>> spec = MLPSpec(hidden=(5,))
        >>> record = TrialRecord(budget=4034, trial_id="00", status="completed", spec=spec, params=spec.params,
        ...                      val_accuracy=0.91)
        >>> TrialRecord.from_dict(record.to_dict()) == record
        True
        >>> record.params, record.stage, record.is_compression_stage
        (3985, 'dense', False)
    """

    budget: int
    trial_id: str
    status: TrialStatus
    spec: Spec | None
    params: int
    stage: str = StageKind.TRAINED.value
    nonzero_params: int | None = None
    reason: str | None = None
    val_accuracy: float | None = None
    val_loss: float | None = None
    epochs: int = 0
    epochs_run: int = 0
    initial_epoch: int = 0
    parent_trial_id: str | None = None
    wall_time_s: float = 0.0
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    selected: bool = False
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    bytes: int | None = None
    gzip_bytes: int | None = None
    arena_bytes: int | None = None
    latency_us: float | None = None
    tflm_arena_bytes: int | None = None
    tflm_reason: str | None = None
    tflm_val_accuracy: float | None = None
    tflm_test_accuracy: float | None = None
    artifact: str | None = None
    source_stage: str | None = None
    refit: bool = False
    retrain_epochs: int | None = None
    retrain_val_accuracy: float | None = None
    model_architecture: str | None = None
    model_macs: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TrialStatus(self.status))  # "completed" read from JSON included
        Stage.parse(self.stage)  # a label this version can read, or an error now rather than in a report

    @property
    def typed_stage(self) -> Stage:
        """The typed :class:`~mnistopt.artifacts.Stage` that :attr:`stage` labels."""
        return Stage.parse(self.stage)

    @property
    def is_compression_stage(self) -> bool:
        """Made from a trained model by :func:`~mnistopt.compress_model`, not trained by a
        search trial: every stage names its source stage but the ``float32`` export."""
        return self.source_stage is not None or (
            self.typed_stage.kind is StageKind.FILE and self.epochs_run == 0 and self.status == COMPLETED)

    @property
    def key(self) -> tuple[int, str, str]:
        """``(budget, stage, trial_id)``: unique within a result."""
        return (self.budget, self.stage, self.trial_id)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["spec"] = self.spec.to_dict() if self.spec is not None else None
        out["architecture"] = self.spec.architecture if self.spec is not None else self.model_architecture
        out["macs"] = self.macs
        out["family"] = self.family
        return out

    @property
    def family(self) -> str | None:
        """The model family of this record's spec (``"mlp"``, ``"cnn"``); ``None`` for a model
        mnistopt did not build."""
        return self.spec.family if self.spec is not None else None

    @property
    def macs(self) -> int | None:
        """Multiply-accumulates for one image of this record's model: from its spec, or read from the
        layers of a model mnistopt did not build (``None`` when neither is known)."""
        return self.spec.macs if self.spec is not None else self.model_macs

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if kwargs.get("spec") is not None:
            kwargs["spec"] = spec_from_dict(kwargs["spec"])
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True, eq=False)
class SelectedModel:
    """The model chosen for one budget: its record, trained model and curves.

    ``classification`` holds its test-set confusion matrix and classification
    report (see :func:`mnistopt.report.classification.classification_summary`),
    computed once at selection so reports can be re-rendered without the model.

    Example:
        >>> from mnistopt import load_dataset
        >>> ds = load_dataset("mnist-sample").subset(train=300, val=60, test=100)  # real digits, shipped
        >>> import tempfile
        >>> from mnistopt import search_under_budget
        >>> result = search_under_budget(3000, ds, tuner="random", max_trials=2, max_epochs=1,
        ...                              directory=tempfile.mkdtemp())
        >>> chosen = result.best(3000)
        >>> chosen.record.selected, chosen.spec.params <= 3000, chosen.model.count_params() == chosen.record.params
        (True, True, True)
        >>> chosen.classification["split"], chosen.model_path.endswith("budget-3000.keras")
        ('test', True)
    """

    record: TrialRecord
    model: Any = dataclasses.field(repr=False, default=None)
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    model_path: str | None = None
    classification: dict[str, Any] | None = dataclasses.field(repr=False, default=None)

    @property
    def spec(self) -> Spec:
        return self.record.spec


_CSV_FIELDS = (
    "budget", "stage", "trial_id", "status", "architecture", "params", "nonzero_params",
    "val_accuracy", "val_loss", "epochs", "epochs_run", "wall_time_s", "selected",
    "train_accuracy", "test_accuracy", "test_loss", "retrain_epochs", "retrain_val_accuracy", "macs", "bytes", "gzip_bytes", "arena_bytes", "latency_us",
    "source_stage", "artifact", "reason",
)


class _RecordTable:
    """What every result holds and writes: ``records`` (one per trial or stage) and ``info``."""

    records: tuple[TrialRecord, ...]
    info: dict[str, Any]

    @property
    def budgets(self) -> list[int]:
        seen: dict[int, None] = {}
        for r in self.records:
            seen.setdefault(r.budget, None)
        return list(seen)

    def for_budget(self, budget: int) -> list[TrialRecord]:
        return [r for r in self.records if r.budget == budget]

    def to_dict(self) -> dict[str, Any]:
        return {"records": [r.to_dict() for r in self.records], **self.info}

    def to_rows(self) -> list[dict[str, Any]]:
        """One flat dict per record (the CSV columns)."""
        rows = []
        for r in self.records:
            d = r.to_dict()
            rows.append({k: d.get(k) for k in _CSV_FIELDS})
        return rows

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the whole result as JSON, atomically."""
        return atomic_write_json(path, self.to_dict())

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write one row per record, atomically."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        writer.writerows(self.to_rows())
        return atomic_write_text(path, buf.getvalue())


@dataclasses.dataclass(frozen=True, eq=False)
class CompressionResult(_RecordTable):
    """The stages :func:`~mnistopt.compress_model` made from one model (or a search's selected
    models): one record per stage, each measured on its own exported file; no selection.

    Example:
        >>> from mnistopt import MLPSpec
        >>> from mnistopt.records import CompressionResult, TrialRecord
        >>> r = TrialRecord(budget=5000, trial_id="0", status="completed", stage="int8",
        ...                 spec=MLPSpec(hidden=(6,)), params=4780, val_accuracy=0.9, bytes=7000)
        >>> CompressionResult(records=(r,)).to_rows()[0]["stage"]
        'int8'
    """

    records: tuple[TrialRecord, ...]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, eq=False)
class SearchResult(_RecordTable):
    """Everything a budget search produced.

    ``records`` holds one record per trial (and per later stage), in the order
    they finished; ``selected`` maps each budget to its chosen model. Only the
    selected models carry a test accuracy, computed once after their search.

    Example:
        >>> from mnistopt import MLPSpec
        >>> from mnistopt.records import SearchResult, TrialRecord
        >>> r = TrialRecord(budget=5000, trial_id="0", status="completed",
        ...                 spec=MLPSpec(hidden=(6,)), params=4780, val_accuracy=0.9)
        >>> result = SearchResult(records=(r,), selected={})
        >>> result.to_rows()[0]["architecture"]
        '784-6-10'
    """

    records: tuple[TrialRecord, ...]
    selected: dict[int, SelectedModel]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def best(self, budget: int) -> SelectedModel:
        """The selected model for ``budget``."""
        try:
            return self.selected[budget]
        except KeyError:
            raise NotSelectedError(f"No selected model for budget={budget}; budgets with one: {sorted(self.selected)}. "
                                   f"Ask for one of those, or run the search for this budget.") from None


    def to_dict(self) -> dict[str, Any]:
        return {
            "records": [r.to_dict() for r in self.records],
            "selected": {
                str(b): {
                    "trial_id": s.record.trial_id,
                    "stage": s.record.stage,
                    "model_path": s.model_path,
                    "history": s.history,
                    "classification": s.classification,
                }
                for b, s in self.selected.items()
            },
            **self.info,
        }




    @classmethod
    def from_json(cls, path: str | os.PathLike) -> SearchResult:
        """Read a result written by :meth:`to_json` (models are not loaded)."""
        data, records = _read_result(path)
        return cls._from_data(data, records)

    @classmethod
    def _from_data(cls, data: dict[str, Any], records: tuple[TrialRecord, ...]) -> SearchResult:
        by_key = {(r.budget, r.stage, r.trial_id): r for r in records}
        selected = {}
        for b, s in data.get("selected", {}).items():
            rec = by_key.get((int(b), s.get("stage", StageKind.TRAINED.value), s["trial_id"]))
            if rec is not None:
                selected[int(b)] = SelectedModel(rec, None, s.get("history", {}), s.get("model_path"), s.get("classification"))
        info = {k: v for k, v in data.items() if k not in ("records", "selected")}
        return cls(records=records, selected=selected, info=info)


def _read_result(path: str | os.PathLike) -> tuple[dict[str, Any], tuple[TrialRecord, ...]]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return data, tuple(TrialRecord.from_dict(r) for r in data["records"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{p}: not a readable mnistopt result file ({type(exc).__name__}: {exc}).") from None


@runtime_checkable
class ProgressEvent(Protocol):
    """What a long call's ``progress`` callback receives each time it makes a record: a search's
    :class:`~mnistopt.search.TrialProgress` after each trial, a compression's
    :class:`~mnistopt.compress.pipeline.StageProgress` after each stage. ``str(event)`` is one
    line for a log; ``total`` is ``None`` when the call cannot tell.
    """

    done: int
    total: int | None
    record: TrialRecord

    def __str__(self) -> str: ...


def load_result(path: str | os.PathLike) -> SearchResult | CompressionResult:
    """A ``result.json`` written by a search (a :class:`SearchResult`) or by a compression
    (a :class:`CompressionResult`, which has no ``selected``), as the object that wrote it."""
    data, records = _read_result(path)
    if "selected" in data:
        return SearchResult._from_data(data, records)
    return CompressionResult(records=records, info={k: v for k, v in data.items() if k != "records"})


def select_best(records: Iterable[TrialRecord]) -> TrialRecord | None:
    """Highest validation accuracy among completed records; ties go to fewer params.

    The test set plays no part.
    """
    done = [r for r in records if r.status == COMPLETED and r.val_accuracy is not None]
    if not done:
        return None
    return max(done, key=lambda r: (r.val_accuracy, -r.params, -int(r.trial_id) if r.trial_id.isdigit() else 0))


def chain_history(record: TrialRecord, records: Sequence[TrialRecord]) -> dict[str, list[float]]:
    """A record's curves with its Hyperband ancestors' epochs prepended."""
    by_id = {r.trial_id: r for r in records if r.budget == record.budget and r.stage == record.stage}
    chain = [record]
    while chain[-1].parent_trial_id is not None and chain[-1].parent_trial_id in by_id and len(chain) < 100:
        chain.append(by_id[chain[-1].parent_trial_id])
    merged: dict[str, list[float]] = {}
    for r in reversed(chain):
        for k, v in r.history.items():
            merged.setdefault(k, []).extend(v)
    return merged
