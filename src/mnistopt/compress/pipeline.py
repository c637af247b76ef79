"""``compress_model``: every compression stage of one trained model, measured on its artifact.

Stages, each a new :class:`~mnistopt.records.TrialRecord` (nothing is
mutated) and a ``.tflite`` file in ``out_dir``:

- ``float32``: the input model, unquantized;
- ``dynamic`` / ``float16`` / ``int8``: post-training quantization;
- ``sparse-S``: magnitude pruning to kernel sparsity ``S`` (tfmot), then
  ``sparse-S+Q`` for each quantization ``Q``;
- ``units-B``: structured pruning to at most ``B`` parameters, then ``units-B+Q``;
- ``qat-int8``: quantization-aware training.

Accuracies are the artifact's own (TFLite interpreter, whole validation and
test splits). ``out_dir/result.json`` is rewritten after every stage; a rerun
with the same directory keeps the stages whose files exist.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._checks import check_float, check_int
from .._io import atomic_write_with, ensure_dir
from ..data import Dataset
from ..errors import ArgumentError, InvalidTypeError
from ..compression import DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_PRUNE_EPOCHS, DEFAULT_QUANTIZE, check_stages
from ..artifacts import DEVICE_FORMATS, Stage, StageKind, evaluate_tflite, export_tflite, file_costs
from ..records import COMPLETED, CompressionResult, ProgressEvent, TrialRecord, load_result
from ..errors import SpecError
from ..models import ModelInfo, describe_model
from ..spec import MLPSpec
from ..tflm import evaluate_tflm

#: The format of the files a microcontroller runs: each stage's file in it is also run image by image
#: on TensorFlow Lite Micro, and its accuracy there recorded (``tflm_val_accuracy``, ...). Every
#: file's TFLM arena (or why TFLM does not run it) is recorded whatever its format.
TFLM_EVALUATED = DEVICE_FORMATS

__all__ = ["compress_model", "check_stages", "StageProgress", "DEFAULT_FINE_TUNE_EPOCHS", "DEFAULT_PRUNE_EPOCHS",
           "DEFAULT_QUANTIZE"]

logger = logging.getLogger(__name__)


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


def compress_model(
    model: Any,
    dataset: Dataset,
    out_dir: str | os.PathLike,
    *,
    spec: MLPSpec | None = None,
    quantize: Sequence[str] = DEFAULT_QUANTIZE,
    sparsity: Sequence[float] = (),
    units: Sequence[int] = (),
    qat: bool = False,
    fine_tune_epochs: int = DEFAULT_FINE_TUNE_EPOCHS,
    prune_epochs: int = DEFAULT_PRUNE_EPOCHS,
    units_epochs: int = 10,
    budget: int | None = None,
    trial_id: str = "model",
    seed: int = 0,
    progress: Callable[[ProgressEvent], None] | None = None,
    pixel_scale: float = 1.0,
    batch_size: int | None = None,
) -> CompressionResult:
    """Run every requested compression stage on ``model`` and measure each artifact.

    Any Keras 3 classifier of one image input and one class-score output can be compressed, not
    only those mnistopt built: its input layout, softmax or logits output, name, parameters and
    multiply-accumulates are read from its own layers (:func:`~mnistopt.models.describe_model`).
    Post-training quantization runs on every such model. Magnitude pruning and
    quantization-aware training rebuild it in tf_keras from its layers' configs and weights, so
    they need a chain of the layers in :data:`~mnistopt.models.BRIDGEABLE`. Structured pruning
    (``units``) removes whole Dense units and convolution filters from a chain model
    (:func:`~mnistopt.compress.units.prune_any_units`; an mnistopt MLP also loses near-empty
    border pixels). A stage a model cannot go through is skipped, and
    ``result.info["skipped"]`` says why (naming the layer); the others run.

    Args:
        model: a trained Keras 3 model (not changed).
        dataset: fine-tuning uses its train split (and int8 calibration images
            come from it); accuracies are reported on validation and test.
        out_dir: where the ``.tflite`` files, pruned ``.keras`` models and
            ``result.json`` go.
        spec: the model's spec (default: read from the model's layers).
        quantize: post-training modes applied to the input model and to each
            pruned model (any of ``"dynamic"``, ``"float16"``, ``"int8"``).
        sparsity: kernel sparsities for magnitude pruning, each in ``(0, 1)``.
        units: parameter budgets for structured unit pruning.
        qat: also run quantization-aware training to int8.
        fine_tune_epochs: epochs of fine-tuning for each magnitude-pruning
            stage of a model mnistopt did not build (tfmot), and for QAT
            (half as many, at least one).
        prune_epochs: epochs of each magnitude-pruning stage of a model
            mnistopt built (``spec`` known): pruned while it fine-tunes in
            mnistopt's trainer (:func:`~mnistopt.compress.sparsity.prune_gradually`,
            the cubic schedule over the first two thirds).
        units_epochs: epochs of fine-tuning for each structured-pruning stage
            (a narrower network relearns more, and trains faster).
        budget: the ``budget`` written in the records (default: the model's
            parameter count; ``units-B`` stages use ``B``).
        trial_id: the ``trial_id`` written in the records.
        seed: seeds fine-tuning.
        progress: called with a :class:`StageProgress` after each stage.
        pixel_scale: what the model expects a white pixel to be: 1.0 (images in ``[0, 1]``, as
            mnistopt trains) or 255.0 (raw pixels).
        batch_size: fine-tuning batch size (default: the spec's; 32 for a model without one).

    Returns:
        A :class:`~mnistopt.records.CompressionResult` holding one record per
        stage (compression chooses nothing).

    Example:
        >>> import tempfile
        >>> from mnistopt import MLPSpec, compress_model, train
        >>> from mnistopt import load_dataset
        >>> ds = load_dataset("mnist-sample").subset(train=300, val=60, test=100)  # real digits, shipped
        >>> model = train(MLPSpec(hidden=(32,), pool=True, epochs=1), ds).model
        >>> result = compress_model(model, ds, tempfile.mkdtemp(), quantize=["dynamic"], sparsity=[0.5],
        ...                         fine_tune_epochs=1)
        >>> [(r.stage, r.source_stage, r.bytes > 0) for r in result.records]
        [('float32', None, True), ('dynamic', 'float32', True), ('sparse-0.5', 'float32', True), ('sparse-0.5+dynamic', 'sparse-0.5', True)]
        >>> dense, pruned = result.records[0], result.records[2]
        >>> pruned.nonzero_params < 0.6 * dense.nonzero_params
        True
    """
    from ..build import spec_from_model
    from .._env import environment

    import keras

    if isinstance(model, (str, os.PathLike)):
        raise InvalidTypeError(
            f"`model` must be a loaded Keras model, not a path. Received: model={str(model)!r}. Load it with "
            f"mnistopt.load_model(path) (Keras' safe mode), or run `mnistopt compress {model}`."
        )
    if not isinstance(model, keras.Model):
        raise InvalidTypeError(
            f"`model` must be a Keras 3 model (a classifier of one image input). Received: {type(model).__name__}."
        )
    if not isinstance(dataset, Dataset):
        raise InvalidTypeError(f"`dataset` must be a mnistopt Dataset (see load_dataset). Received: "
                                f"{type(dataset).__name__}.")
    modes, sparsities = check_stages(quantize, sparsity)
    pixel_scale = check_float("pixel_scale", pixel_scale, minimum=0.0, min_inclusive=False)
    info = describe_model(model)
    if info.num_classes != dataset.num_classes:
        raise ArgumentError(f"Model {info.name!r} scores {info.num_classes} classes but the dataset has "
                            f"{dataset.num_classes}. Pass the data the model was trained for.")
    if spec is not None and not isinstance(spec, MLPSpec):
        spec = None  # another family (a CNNSpec): its model goes through the stages any model does
    elif spec is None:
        try:
            spec = spec_from_model(model, **({} if batch_size is None else {"batch_size": batch_size}))
        except SpecError:  # a model mnistopt did not build: described by its own layers
            spec = None
    batch_size = check_int("batch_size", batch_size if batch_size is not None else (spec.batch_size if spec else 32),
                           minimum=1)
    data = dataclasses.replace(dataset, x_train=info.images(dataset.x_train, pixel_scale),
                               x_val=info.images(dataset.x_val, pixel_scale),
                               x_test=info.images(dataset.x_test, pixel_scale))
    params = spec.params if spec is not None else info.params
    cuts = sorted({check_int("units", b, minimum=1) for b in units}, reverse=True)
    for b in cuts:
        if b >= params:
            raise ArgumentError(f"`units` budget {b:,} is not below the model's {params:,} parameters.")
    fine_tune_epochs = check_int("fine_tune_epochs", fine_tune_epochs, minimum=1, maximum=1000)
    prune_epochs = check_int("prune_epochs", prune_epochs, minimum=1, maximum=1000)
    units_epochs = check_int("units_epochs", units_epochs, minimum=1, maximum=1000)
    if not isinstance(qat, bool):
        raise InvalidTypeError(f"`qat` must be True or False. Received: qat={qat!r}.")
    if qat and spec is not None:
        from .qat import check_qat_supported

        check_qat_supported(spec)
    skipped = _skipped_stages(model, info, spec, sparsities, cuts, qat)
    sparsities = [s for s in sparsities if Stage(StageKind.PRUNED, sparsity=s).label not in skipped]
    cuts = [b for b in cuts if Stage(StageKind.UNITS, units=b).label not in skipped]
    qat = qat and Stage(StageKind.QAT, quantize="int8").label not in skipped
    for label, why in skipped.items():
        logger.info("%s skipped: %s", label, why)  # recorded in result.info["skipped"]; the CLI prints it
    out = ensure_dir(out_dir, "out_dir")
    base_budget = params if budget is None else check_int("budget", budget, minimum=1)

    total = (1 + len(modes)) * (1 + len(sparsities) + len(cuts)) + int(qat)
    records: dict[str, TrialRecord] = {}
    source = {"spec": spec.to_dict() if spec is not None else None, "model": info.to_dict(), "trial_id": trial_id,
              "fine_tune_epochs": fine_tune_epochs, "prune_epochs": prune_epochs, "units_epochs": units_epochs,
              "seed": seed,
              "pixel_scale": pixel_scale, "batch_size": batch_size}
    previous = _previous_records(out / "result.json", source)
    start = time.perf_counter()
    described = {"model": info.architecture, "params": info.params, "macs": info.macs,
                 "input_shape": list(info.input_shape), "output": "logits" if info.logits else "softmax",
                 "built_by_mnistopt": spec is not None}
    info_out = {"dataset": dataset.describe(), "source": source, "model": described, "skipped": skipped,
                "environment": environment(),
                "note": "Accuracies are measured on each exported .tflite file with the TFLite interpreter."}

    def save() -> None:
        CompressionResult(records=tuple(records.values()),
                          info={**info_out, "wall_time_s": time.perf_counter() - start}).to_json(out / "result.json")

    def add(record: TrialRecord) -> None:
        records[record.stage] = record
        save()
        logger.info("%s", StageProgress(len(records), total, record))
        if progress is not None:
            progress(StageProgress(len(records), total, record))

    def measure(stage: Stage, keras_model: Any, stage_spec: MLPSpec, quant: str, source: Stage | None,
                history: dict[str, list[float]] | None, began: float, stage_budget: int) -> None:
        from .sparsity import count_nonzero

        old = previous.get(stage.label)
        if old is not None:  # finished in an earlier run
            add(old)
            return
        path = out / f"{stage.label}.tflite"
        export_tflite(keras_model, path, quant, representative=data.x_train)
        _record(stage, path, keras_model.count_params(), count_nonzero(keras_model), stage_spec, source,
                history, began, stage_budget, described=describe_model(keras_model) if stage_spec is None else None)

    def _record(stage: Stage, path, params, nonzero, stage_spec, source: Stage | None, history, began, stage_budget,
                described: ModelInfo | None = None):
        costs = file_costs(path)
        on_device = {}
        if costs.tflm_arena_bytes is not None and stage.quantize in TFLM_EVALUATED:  # the device's own kernels
            on_device = {"tflm_val_accuracy": evaluate_tflm(path, data.x_val, data.y_val),
                         "tflm_test_accuracy": evaluate_tflm(path, data.x_test, data.y_test)}
        add(TrialRecord(
            budget=stage_budget, trial_id=trial_id, status=COMPLETED, spec=stage_spec, params=int(params),
            stage=stage.label, nonzero_params=int(nonzero),
            val_accuracy=evaluate_tflite(path, data.x_val, data.y_val),
            test_accuracy=evaluate_tflite(path, data.x_test, data.y_test),
            model_architecture=None if stage_spec is not None else (described or info).architecture,
            model_macs=None if stage_spec is not None else (described or info).macs,
            **dataclasses.asdict(costs), **on_device, artifact=str(path),
            source_stage=None if source is None else source.label,
            history=history or {}, wall_time_s=time.perf_counter() - began,
        ))

    def family(base: Stage, keras_model: Any, stage_spec: MLPSpec, source: Stage | None,
               history: dict[str, list[float]] | None, began: float, stage_budget: int) -> None:
        measure(base, keras_model, stage_spec, "float32", source, history, began, stage_budget)
        for q in modes:
            measure(base.quantized(q), keras_model, stage_spec, q, base, None, time.perf_counter(), stage_budget)

    exported = Stage.file()
    family(exported, model, spec, None, None, start, base_budget)
    for s in sparsities:
        stage = Stage(StageKind.PRUNED, sparsity=s)
        began = time.perf_counter()
        pruned, history = _load_or_make(out / f"{stage.label}.keras", previous.get(stage.label), lambda s=s: _sparse(
            model, spec, info, data, s, prune_epochs if spec is not None else fine_tune_epochs, batch_size, seed))
        family(stage, pruned, spec, exported, history, began, base_budget)
    for b in cuts:
        stage = Stage(StageKind.UNITS, units=b)
        began = time.perf_counter()
        cut, history = _load_or_make(out / f"{stage.label}.keras", previous.get(stage.label), lambda b=b: _units(
            model, spec, info, data, b, units_epochs, batch_size, seed))
        family(stage, cut, spec_from_model(cut) if spec is not None else None, exported, history, began, b)
    if qat:
        from .qat import quantization_aware_training
        from .sparsity import count_nonzero

        stage = Stage(StageKind.QAT, quantize="int8")
        if stage.label in previous:
            add(previous[stage.label])
        else:
            began = time.perf_counter()
            epochs = max(1, fine_tune_epochs // 2)
            if spec is not None:
                path, history = quantization_aware_training(model, spec, data, out / f"{stage.label}.tflite",
                                                            epochs=epochs, seed=seed)
            else:
                from .qat import qat_any_model

                path, history = qat_any_model(model, info, data, out / f"{stage.label}.tflite", epochs=epochs,
                                              batch_size=batch_size, seed=seed)
            _record(stage, path, params, count_nonzero(model), spec, exported, history, began, base_budget)
    return CompressionResult(records=tuple(records.values()),
                             info={**info_out, "wall_time_s": time.perf_counter() - start})


def _sparse(model, spec, info, dataset, s, epochs, batch_size, seed):
    from .sparsity import prune_any_model, prune_gradually

    if spec is not None:
        outcome = prune_gradually(model, spec, dataset, s, epochs=epochs, seed=seed)
    else:
        outcome = prune_any_model(model, info, dataset, s, epochs=epochs, batch_size=batch_size, seed=seed)
    return outcome.model, outcome.history


def _skipped_stages(model: Any, info: ModelInfo, spec: MLPSpec | None, sparsities: Sequence[float],
                    cuts: Sequence[int], qat: bool) -> dict[str, str]:
    """The requested stages this model cannot go through, each with why (naming the layers)."""
    skipped: dict[str, str] = {}
    if spec is None and info.unbridgeable:
        why = (f"tfmot needs a tf_keras copy of the model, which mnistopt cannot rebuild from layer(s) "
               f"{'; '.join(info.unbridgeable)}; post-training quantization still runs")
        for s in sparsities:
            skipped[Stage(StageKind.PRUNED, sparsity=s).label] = why
        if qat:
            skipped[Stage(StageKind.QAT, quantize="int8").label] = why
    if spec is None and cuts:
        from .units import narrowable_layers

        why = None
        if info.unbridgeable and any("branches" in u for u in info.unbridgeable):
            why = "structured pruning narrows a chain of layers; this model branches or merges"
        elif not narrowable_layers(model):
            why = (f"{info.architecture} has no Dense or Conv2D layer whose units or filters can be removed (only "
                   f"channel-wise layers may stand between it and the next one)")
        if why is not None:
            for b in cuts:
                skipped[Stage(StageKind.UNITS, units=b).label] = why + "; post-training quantization still runs"
    return skipped


def _units(model, spec, info, dataset, budget, epochs, batch_size, seed):
    from .units import prune_any_units, prune_units

    if spec is not None:
        outcome = prune_units(model, spec, budget, dataset, epochs=epochs, seed=seed)
    else:
        outcome = prune_any_units(model, info, dataset, budget, epochs=epochs, batch_size=batch_size, seed=seed)
    return outcome.model, outcome.history


def _load_or_make(path: Path, old: TrialRecord | None, make: Callable[[], tuple[Any, dict]]) -> tuple[Any, dict]:
    """The pruned model of a stage: from its ``.keras`` file when an earlier run made it."""
    if old is not None and path.is_file():
        import warnings

        import keras

        with warnings.catch_warnings():  # "Skipping variable loading for optimizer": it was never used
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path, safe_mode=True), old.history
    model, history = make()
    atomic_write_with(path, lambda tmp: model.save(tmp), ".keras")
    return model, history


def _previous_records(path: Path, source: dict[str, Any]) -> dict[str, TrialRecord]:
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
