"""Compression stages as classes: each says whether a model can go through it, and runs it.

:func:`~mnistopt.compress.compress_model` makes the stages its options ask for and runs them in
order over one :class:`StageRun` (the model, its data, where files go, what an earlier run
finished, the records so far). Every stage exports its model's file and the post-training
quantized copies of it (:meth:`StageRun.export_family`), measured on the files themselves. An
MLP or CNN mnistopt built and any other Keras model take the same stages; a stage picks its
machinery by what it knows of the model (a spec, or the model's own layers).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from .._io import atomic_write_with
from ..artifacts import DEVICE_FORMATS, Stage, StageKind, evaluate_tflite, export_tflite, file_costs
from ..compression import CompressionOptions
from ..data import Dataset
from ..models import ModelInfo, describe_model
from ..records import COMPLETED, CompressionResult, ProgressEvent, TrialRecord, load_result
from ..tflm import evaluate_tflm

__all__ = ["CompressionStage", "ExportStage", "MagnitudePruningStage", "UnitPruningStage", "QatStage", "StageRun",
           "StageProgress", "TFLM_EVALUATED"]

logger = logging.getLogger("mnistopt.compress.pipeline")

#: The format of the files a microcontroller runs: each stage's file in it is also run image by image
#: on TensorFlow Lite Micro, and its accuracy there recorded (``tflm_val_accuracy``, ...). Every
#: file's TFLM arena (or why TFLM does not run it) is recorded whatever its format.
TFLM_EVALUATED = DEVICE_FORMATS


@dataclasses.dataclass(frozen=True)
class StageProgress:
    """What ``compress_model``'s ``progress`` callback receives after each stage (a
    :class:`~mnistopt.records.ProgressEvent`)."""

    done: int
    total: int
    record: TrialRecord

    def __str__(self) -> str:
        r = self.record
        return (
            f"stage {self.done}/{self.total} {r.stage:<20} params {r.params:>8,}  nonzero {r.nonzero_params:>8,}  "
            f"bytes {r.bytes:>8,}  gzip {r.gzip_bytes:>8,}  val {r.val_accuracy:.4f}  test {r.test_accuracy:.4f}"
        )


@dataclasses.dataclass
class StageRun:
    """One ``compress_model`` call's shared state, which every stage reads and adds records to."""

    model: Any
    spec: Any  # the model's spec when mnistopt built it as an MLP (else None: the model's own layers)
    info: ModelInfo
    data: Dataset  # scaled as the model expects its pixels
    out: Path
    options: CompressionOptions
    budget: int
    trial_id: str
    total: int
    info_out: dict[str, Any]
    previous: dict[str, TrialRecord]
    progress: Callable[[ProgressEvent], None] | None = None
    start: float = dataclasses.field(default_factory=time.perf_counter)
    records: dict[str, TrialRecord] = dataclasses.field(default_factory=dict)

    def result(self) -> CompressionResult:
        return CompressionResult(records=tuple(self.records.values()),
                                 info={**self.info_out, "wall_time_s": time.perf_counter() - self.start})

    def add(self, record: TrialRecord) -> None:
        """Keep ``record``, rewrite ``result.json`` and tell ``progress``."""
        self.records[record.stage] = record
        self.result().to_json(self.out / "result.json")
        logger.info("%s", StageProgress(len(self.records), self.total, record))
        if self.progress is not None:
            self.progress(StageProgress(len(self.records), self.total, record))

    def export_family(self, base: Stage, keras_model: Any, spec: Any, source: Stage | None,
                      history: dict[str, list[float]] | None, began: float, budget: int) -> None:
        """``keras_model``'s float32 file as stage ``base``, then each quantized copy of it."""
        self._export(base, keras_model, spec, "float32", source, history, began, budget)
        for q in self.options.quantize:
            self._export(base.quantized(q), keras_model, spec, q, base, None, time.perf_counter(), budget)

    def _export(self, stage: Stage, keras_model: Any, spec: Any, quant: str, source: Stage | None,
                history: dict[str, list[float]] | None, began: float, budget: int) -> None:
        from .sparsity import count_nonzero

        old = self.previous.get(stage.label)
        if old is not None:  # finished in an earlier run
            self.add(old)
            return
        path = self.out / f"{stage.label}.tflite"
        export_tflite(keras_model, path, quant, representative=self.data.x_train)
        self.measure(stage, path, keras_model.count_params(), count_nonzero(keras_model), spec, source, history,
                     began, budget, described=describe_model(keras_model) if spec is None else None)

    def measure(self, stage: Stage, path: Path, params: int, nonzero: int, spec: Any, source: Stage | None,
                history: dict[str, list[float]] | None, began: float, budget: int,
                described: ModelInfo | None = None) -> None:
        """Record the file at ``path`` as ``stage``: its costs and its own accuracy (and TFLM's, for a
        device file)."""
        data, costs = self.data, file_costs(path)
        on_device = {}
        if costs.tflm_arena_bytes is not None and stage.quantize in TFLM_EVALUATED:  # the device's own kernels
            on_device = {"tflm_val_accuracy": evaluate_tflm(path, data.x_val, data.y_val),
                         "tflm_test_accuracy": evaluate_tflm(path, data.x_test, data.y_test)}
        self.add(TrialRecord(
            budget=budget, trial_id=self.trial_id, status=COMPLETED, spec=spec, params=int(params),
            stage=stage.label, nonzero_params=int(nonzero),
            val_accuracy=evaluate_tflite(path, data.x_val, data.y_val),
            test_accuracy=evaluate_tflite(path, data.x_test, data.y_test),
            model_architecture=None if spec is not None else (described or self.info).architecture,
            model_macs=None if spec is not None else (described or self.info).macs,
            **dataclasses.asdict(costs), **on_device, artifact=str(path),
            source_stage=None if source is None else source.label,
            history=history or {}, wall_time_s=time.perf_counter() - began,
        ))

    def load_or_make(self, stage: Stage, make: Callable[[], tuple[Any, dict]]) -> tuple[Any, dict]:
        """The retrained model of ``stage``: from its ``.keras`` file when an earlier run made it."""
        path, old = self.out / f"{stage.label}.keras", self.previous.get(stage.label)
        if old is not None and path.is_file():
            import warnings

            import keras

            with warnings.catch_warnings():  # "Skipping variable loading for optimizer": it was never used
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                return keras.saving.load_model(path, safe_mode=True), old.history
        model, history = make()
        atomic_write_with(path, lambda tmp: model.save(tmp), ".keras")
        return model, history


def previous_records(path: Path, source: dict[str, Any]) -> dict[str, TrialRecord]:
    """Stages an earlier run on the same model and settings finished (their artifact still there)."""
    if not path.is_file():
        return {}
    try:
        old = load_result(path)
    except Exception:  # an unreadable result is redone, not trusted
        return {}
    if old.info.get("source") != source:
        logger.warning("%s holds results for another model or settings; redoing every stage", path)
        return {}
    return {r.stage: r for r in old.records if r.artifact and Path(r.artifact).is_file()}


class CompressionStage:
    """One step of ``compress_model``: the records it adds and how it makes them.

    A subclass sets :attr:`stage` (its label's :class:`~mnistopt.artifacts.Stage`), says how many
    records it adds, why a model cannot go through it (:meth:`cannot_run`, ``None`` when it can)
    and runs (:meth:`run`), adding its records to the :class:`StageRun`.
    """

    #: The stage's own file (a pruned or retrained model's float32 file, or the QAT file).
    stage: Stage
    #: Whether the stage also exports each post-training quantized copy of its model.
    quantized_copies: ClassVar[bool] = True

    def count(self, options: CompressionOptions) -> int:
        """How many records the stage adds."""
        return 1 + len(options.quantize) if self.quantized_copies else 1

    def cannot_run(self, model: Any, info: ModelInfo, spec: Any) -> str | None:
        """Why ``model`` cannot go through this stage (naming its layers), or ``None``."""
        return None

    def run(self, run: StageRun) -> None:
        raise NotImplementedError


class ExportStage(CompressionStage):
    """The input model's own file (``float32``) and its post-training quantized copies."""

    stage = Stage.file()

    def run(self, run: StageRun) -> None:
        run.export_family(self.stage, run.model, run.spec, None, None, run.start, run.budget)


def _bridge_reason(spec: Any, info: ModelInfo) -> str | None:
    if spec is None and info.unbridgeable:
        return (f"tfmot needs a tf_keras copy of the model, which mnistopt cannot rebuild from layer(s) "
                f"{'; '.join(info.unbridgeable)}; post-training quantization still runs")
    return None


@dataclasses.dataclass
class MagnitudePruningStage(CompressionStage):
    """``sparse-S``: the model's kernels pruned to sparsity ``S`` by magnitude while it fine-tunes
    (in mnistopt's trainer for an MLP it built, else tfmot), then its quantized copies."""

    sparsity: float

    def __post_init__(self) -> None:
        self.stage = Stage(StageKind.PRUNED, sparsity=self.sparsity)

    def cannot_run(self, model: Any, info: ModelInfo, spec: Any) -> str | None:
        return _bridge_reason(spec, info)

    def run(self, run: StageRun) -> None:
        began = time.perf_counter()
        pruned, history = run.load_or_make(self.stage, lambda: self._prune(run))
        run.export_family(self.stage, pruned, run.spec, ExportStage.stage, history, began, run.budget)

    def _prune(self, run: StageRun) -> tuple[Any, dict]:
        from .sparsity import prune_any_model, prune_gradually

        o = run.options
        if run.spec is not None:
            outcome = prune_gradually(run.model, run.spec, run.data, self.sparsity, epochs=o.prune_epochs, seed=o.seed)
        else:
            outcome = prune_any_model(run.model, run.info, run.data, self.sparsity, epochs=o.fine_tune_epochs,
                                      batch_size=o.batch_size, seed=o.seed)
        return outcome.model, outcome.history


@dataclasses.dataclass
class UnitPruningStage(CompressionStage):
    """``units-B``: whole units and filters removed until at most ``B`` parameters are left, the
    narrower model fine-tuned, then its quantized copies."""

    units: int

    def __post_init__(self) -> None:
        self.stage = Stage(StageKind.UNITS, units=self.units)

    def cannot_run(self, model: Any, info: ModelInfo, spec: Any) -> str | None:
        from .units import narrowable_layers

        if spec is not None:
            return None
        if info.unbridgeable and any("branches" in u for u in info.unbridgeable):
            why = "structured pruning narrows a chain of layers; this model branches or merges"
        elif not narrowable_layers(model):
            why = (f"{info.architecture} has no Dense or Conv2D layer whose units or filters can be removed (only "
                   f"channel-wise layers may stand between it and the next one)")
        else:
            return None
        return why + "; post-training quantization still runs"

    def run(self, run: StageRun) -> None:
        from ..build import spec_from_model

        began = time.perf_counter()
        cut, history = run.load_or_make(self.stage, lambda: self._cut(run))
        spec = spec_from_model(cut) if run.spec is not None else None
        run.export_family(self.stage, cut, spec, ExportStage.stage, history, began, self.units)

    def _cut(self, run: StageRun) -> tuple[Any, dict]:
        from .units import prune_any_units, prune_units

        o = run.options
        if run.spec is not None:
            outcome = prune_units(run.model, run.spec, self.units, run.data, epochs=o.units_epochs, seed=o.seed)
        else:
            outcome = prune_any_units(run.model, run.info, run.data, self.units, epochs=o.units_epochs,
                                      batch_size=o.batch_size, seed=o.seed)
        return outcome.model, outcome.history


class QatStage(CompressionStage):
    """``qat-int8``: quantization-aware training for half the fine-tuning epochs, exported to int8."""

    stage = Stage(StageKind.QAT, quantize="int8")
    quantized_copies = False

    def cannot_run(self, model: Any, info: ModelInfo, spec: Any) -> str | None:
        return _bridge_reason(spec, info)

    def run(self, run: StageRun) -> None:
        from .qat import qat_any_model, quantization_aware_training
        from .sparsity import count_nonzero

        if self.stage.label in run.previous:
            run.add(run.previous[self.stage.label])
            return
        began, o = time.perf_counter(), run.options
        epochs, path = max(1, o.fine_tune_epochs // 2), run.out / f"{self.stage.label}.tflite"
        if run.spec is not None:
            path, history = quantization_aware_training(run.model, run.spec, run.data, path, epochs=epochs, seed=o.seed)
        else:
            path, history = qat_any_model(run.model, run.info, run.data, path, epochs=epochs, batch_size=o.batch_size,
                                          seed=o.seed)
        params = run.spec.params if run.spec is not None else run.info.params
        run.measure(self.stage, path, params, count_nonzero(run.model), run.spec, ExportStage.stage, history, began,
                    run.budget)
