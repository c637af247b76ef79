"""``compress_model``: every compression stage of one trained model, measured on its artifact.

Stages, each a new :class:`~mnistopt.records.TrialRecord` (nothing is
mutated) and a ``.tflite`` file in ``out_dir``:

- ``float32``: the input model, unquantized;
- ``dynamic`` / ``float16`` / ``int8``: post-training quantization;
- ``sparse-S``: magnitude pruning to kernel sparsity ``S`` (tfmot), then
  ``sparse-S+Q`` for each quantization ``Q``;
- ``units-B``: structured pruning to at most ``B`` parameters, then ``units-B+Q``;
- ``qat-int8``: quantization-aware training.

Each is a class of :mod:`mnistopt.compress.stages`; ``compress_model`` checks the
model, makes the stages its :class:`~mnistopt.compression.CompressionOptions` ask for
and runs them in order. Accuracies are the artifact's own (TFLite interpreter, whole validation and
test splits). ``out_dir/result.json`` is rewritten after every stage; a rerun
with the same directory keeps the stages whose files exist.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._checks import check_int
from .._io import ensure_dir
from ..compression import (DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_PRUNE_EPOCHS, DEFAULT_QUANTIZE, CompressionOptions,
                           check_stages)
from ..data import Dataset
from ..errors import ArgumentError, InvalidTypeError, SpecError
from ..models import ModelInfo, describe_model
from ..records import CompressionResult, ProgressEvent
from ..spec import MLPSpec
from .stages import (CompressionStage, ExportStage, MagnitudePruningStage, QatStage, StageProgress,
                     StageRun, UnitPruningStage, logger, previous_records)

__all__ = ["compress_model", "check_stages", "StageProgress", "CompressionOptions", "DEFAULT_FINE_TUNE_EPOCHS",
           "DEFAULT_PRUNE_EPOCHS", "DEFAULT_QUANTIZE"]


def compress_model(
    model: Any,
    dataset: Dataset,
    out_dir: str | os.PathLike,
    options: CompressionOptions | None = None,
    *,
    spec: MLPSpec | None = None,
    budget: int | None = None,
    trial_id: str = "model",
    progress: Callable[[ProgressEvent], None] | None = None,
    **overrides: Any,
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

    The stages' options are one :class:`~mnistopt.compression.CompressionOptions`:
    ``options``, with any of its fields given as keywords over it, or the keywords alone
    (``compress_model(model, data, "out", quantize=["int8"], sparsity=[0.5])``).

    Args:
        model: a trained Keras 3 model (not changed).
        dataset: fine-tuning uses its train split (and int8 calibration images
            come from it); accuracies are reported on validation and test.
        out_dir: where the ``.tflite`` files, pruned ``.keras`` models and
            ``result.json`` go.
        options: the stages' options (default: ``CompressionOptions()``); a
            keyword naming one of its fields overrides it, and an unknown
            keyword is an :class:`~mnistopt.errors.ArgumentError`.
        spec: the model's spec (default: read from the model's layers).
        budget: the ``budget`` written in the records (default: the model's
            parameter count; ``units-B`` stages use ``B``).
        trial_id: the ``trial_id`` written in the records.
        progress: called with a :class:`StageProgress` after each stage.
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
        seed: seeds fine-tuning.
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

    options = _options(options, overrides)
    info = _check_model(model, dataset)
    if spec is not None and not spec.compress_by_spec:
        spec = None  # a family whose models go through the stages any model does (by their own layers)
    elif spec is None:
        try:
            spec = spec_from_model(model, **({} if options.batch_size is None else {"batch_size": options.batch_size}))
        except SpecError:  # a model mnistopt did not build: described by its own layers
            spec = None
    options = options.replace(batch_size=options.batch_size or (spec.batch_size if spec else 32))
    params = spec.params if spec is not None else info.params
    for b in options.units:
        if b >= params:
            raise ArgumentError(f"`units` budget {b:,} is not below the model's {params:,} parameters.")
    if options.qat and spec is not None:
        from .qat import check_qat_supported

        check_qat_supported(spec)
    stages: list[CompressionStage] = [ExportStage(), *map(MagnitudePruningStage, options.sparsity),
                                      *map(UnitPruningStage, options.units), *([QatStage()] if options.qat else [])]
    skipped = {st.stage.label: why for st in stages if (why := st.cannot_run(model, info, spec)) is not None}
    for label, why in skipped.items():
        logger.info("%s skipped: %s", label, why)  # recorded in result.info["skipped"]; the CLI prints it
    stages = [st for st in stages if st.stage.label not in skipped]
    run = _start(model, spec, info, dataset, ensure_dir(out_dir, "out_dir"), options, skipped,
                 params if budget is None else check_int("budget", budget, minimum=1), trial_id,
                 sum(st.count(options) for st in stages), progress)
    for stage in stages:
        stage.run(run)
    return run.result()


def _options(options: CompressionOptions | None, overrides: dict[str, Any]) -> CompressionOptions:
    if options is not None and not isinstance(options, CompressionOptions):
        raise InvalidTypeError(f"`options` must be a mnistopt.compression.CompressionOptions or None. "
                               f"Received: {type(options).__name__}.")
    return (options or CompressionOptions()).replace(**overrides)


def _check_model(model: Any, dataset: Dataset) -> ModelInfo:
    """``model``'s description, once it is a Keras classifier of ``dataset``'s classes."""
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
    info = describe_model(model)
    if info.num_classes != dataset.num_classes:
        raise ArgumentError(f"Model {info.name!r} scores {info.num_classes} classes but the dataset has "
                            f"{dataset.num_classes}. Pass the data the model was trained for.")
    return info


def _start(model: Any, spec: MLPSpec | None, info: ModelInfo, dataset: Dataset, out: Path,
           options: CompressionOptions, skipped: dict[str, str], budget: int, trial_id: str, total: int,
           progress: Callable[[ProgressEvent], None] | None) -> StageRun:
    """The run's shared state: the data scaled as the model expects, what an earlier run on the same
    model and settings finished, and what ``result.json`` says of the run."""
    from .._env import environment

    o = options
    data = dataclasses.replace(dataset, x_train=info.images(dataset.x_train, o.pixel_scale),
                               x_val=info.images(dataset.x_val, o.pixel_scale),
                               x_test=info.images(dataset.x_test, o.pixel_scale))
    source = {"spec": spec.to_dict() if spec is not None else None, "model": info.to_dict(), "trial_id": trial_id,
              "fine_tune_epochs": o.fine_tune_epochs, "prune_epochs": o.prune_epochs, "units_epochs": o.units_epochs,
              "seed": o.seed, "pixel_scale": o.pixel_scale, "batch_size": o.batch_size}
    described = {"model": info.architecture, "params": info.params, "macs": info.macs,
                 "input_shape": list(info.input_shape), "output": "logits" if info.logits else "softmax",
                 "built_by_mnistopt": spec is not None}
    info_out = {"dataset": dataset.describe(), "source": source, "model": described, "skipped": skipped,
                "environment": environment(),
                "note": "Accuracies are measured on each exported .tflite file with the TFLite interpreter."}
    return StageRun(model=model, spec=spec, info=info, data=data, out=out, options=options, budget=budget,
                    trial_id=trial_id, total=total, info_out=info_out,
                    previous=previous_records(out / "result.json", source), progress=progress)
