"""Turn a model spec (an :class:`~mnistopt.MLPSpec`, a :class:`~mnistopt.cnn.CNNSpec`) into a
compiled Keras model, and read an MLP's spec back from its model.

Every spec builds its own layers (``spec.build(keras_module)``: the MLP's are what
:mod:`mnistopt.budget` counts, the CNN's what :mod:`mnistopt.cnn` counts); this module compiles
them with the spec's optimizer and :data:`LOSS`.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import InvalidTypeError, ModelNotFoundError, SpecError
from .spec import MLPSpec, TrainingFields

__all__ = ["build_model", "load_model", "spec_from_model", "check_model_path", "make_optimizer", "load_checkpoint",
           "LOSS"]

#: The loss every model is compiled with (integer labels, softmax outputs).
LOSS = "sparse_categorical_crossentropy"


def build_model(spec: MLPSpec, *, compile: bool = True, steps_per_execution: int = 1) -> Any:
    """Build (and by default compile) the Keras 3 model ``spec`` describes.

    Args:
        spec: the model and its training settings.
        compile: compile with the spec's optimizer, sparse categorical
            cross-entropy and accuracy.
        steps_per_execution: batches run per call into the compiled graph; a
            larger value cuts per-step overhead and does not change what is
            learned.

    Returns:
        A ``keras.Sequential`` whose ``count_params()`` equals ``spec.params``.

    Example:
        >>> from mnistopt import MLPSpec, build_model
        >>> model = build_model(MLPSpec(hidden=(32,), pool=True))
        >>> model.count_params() == MLPSpec(hidden=(32,), pool=True).params == 196 * 32 + 32 + 330
        True
    """
    import keras

    return _build(spec, keras, compile=compile, steps_per_execution=steps_per_execution)


def load_model(path: str | os.PathLike) -> Any:
    """Load a ``.keras`` model (saved by mnistopt or by plain Keras), in Keras' safe mode.

    Safe mode never deserialises Python code (``Lambda`` layers, pickled
    functions), so a model file from elsewhere cannot run code on load; such
    a file is refused with a :class:`~mnistopt.errors.SpecError`, as is anything that
    is not a Keras model.

    Raises:
        ModelNotFoundError: no file at ``path``.
        SpecError: not a ``.keras`` file, or not loadable in safe mode.

    Example:
        >>> import tempfile, os
        >>> from mnistopt import MLPSpec, build_model, load_model
        >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> build_model(MLPSpec(hidden=(8,), pool=True)).save(path)
        >>> load_model(path).count_params()
        1666
    """
    p = check_model_path(path)
    import keras

    try:
        return keras.saving.load_model(p, safe_mode=True)
    except Exception as exc:  # corrupt, foreign, or unsafe (code in it): say so, not a Keras traceback
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"Cannot load {p} as a Keras model in safe mode ({reason}). Pass a .keras file saved "
                        f"with model.save(); models holding Python code (Lambda layers) are refused.") from exc


def check_model_path(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it names an existing ``.keras`` file (what
    :func:`load_model` accepts), checked without importing Keras; else the error load_model raises."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidTypeError(f"`path` must be a file path. Received: path={path!r} (type {type(path).__name__}).")
    p = Path(os.fspath(path))
    if not p.is_file():
        raise ModelNotFoundError(f"No model file at {p}. Pass a .keras file written by mnistopt baseline or search.")
    if p.suffix != ".keras":
        raise SpecError(f"{p} is not a .keras file. Pass a model saved with model.save() (model.keras, "
                        f"models/budget-N.keras).")
    return p


def make_optimizer(spec: MLPSpec, keras_module: ModuleType | None = None) -> Any:
    """The optimizer object a spec names, from ``keras_module`` (default: Keras 3)."""
    if keras_module is None:
        import keras as keras_module
    opt = keras_module.optimizers
    if spec.optimizer == "adam":
        return opt.Adam(learning_rate=spec.learning_rate)
    if spec.optimizer == "sgd":
        return opt.SGD(learning_rate=spec.learning_rate, momentum=spec.momentum)
    return opt.RMSprop(learning_rate=spec.learning_rate)


def load_checkpoint(model: Any, path: str) -> Any:
    """Load weights *and* optimizer state saved by ``model.save_weights`` into a built model."""
    if getattr(model, "optimizer", None) is not None:
        model.optimizer.build(model.trainable_variables)  # so its saved state has somewhere to go
    model.load_weights(path)
    return model


def _build(spec: MLPSpec, k: ModuleType, *, compile: bool = True, steps_per_execution: int = 1) -> Any:
    """Build with the given Keras module (``keras`` or ``tf_keras``, same layer API)."""
    if not isinstance(spec, TrainingFields):
        raise InvalidTypeError(
            f"`spec` must be a model spec (an MLPSpec, a CNNSpec). Received: spec={spec!r} (type {type(spec).__name__})."
        )
    model = spec.build(k)  # each family builds its own layers
    if compile:
        model.compile(optimizer=make_optimizer(spec, k), loss=LOSS, metrics=["accuracy"],
                      steps_per_execution=steps_per_execution)
    return model


def spec_from_model(model: Any, **training: Any) -> MLPSpec:
    """The :class:`MLPSpec` of a model that :func:`build_model` built (e.g. a saved ``.keras`` file).

    The architecture (input, crop, pooling, widths, activation, batch norm,
    dropout, L2) is read from the layers; the optimizer and learning rate from
    the compiled optimizer when there is one. Settings a model does not record
    (batch size, epochs, schedule) take ``training``'s values or the defaults.

    Raises:
        SpecError: the model is not an mnistopt MLP.

    Example:
        >>> from mnistopt import MLPSpec, build_model
        >>> from mnistopt.build import spec_from_model
        >>> spec = MLPSpec(hidden=(20, 10), crop=2, pool=True, dropout=0.1)
        >>> spec_from_model(build_model(spec)) == spec
        True
    """
    from .errors import SpecError

    def fail(why: str) -> SpecError:
        return SpecError(
            f"Cannot read an MLPSpec from model {getattr(model, 'name', model)!r}: {why}. "
            "mnistopt compresses models that mnistopt built (mnistopt baseline, search or build_model)."
        )

    layers = {layer.name: layer for layer in getattr(model, "layers", [])}
    if "output" not in layers or "flatten" not in layers:
        raise fail("no 'flatten' and 'output' layers")
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    if len(shape) != 2 or None in shape:
        raise fail(f"its input shape {shape} is not (height, width)")
    fields: dict[str, Any] = {"input_shape": tuple(int(s) for s in shape)}
    if "crop" in layers:
        fields["crop"] = int(layers["crop"].cropping[0][0])
    fields["pool"] = "pool" in layers
    hidden, i = [], 1
    while f"dense_{i}" in layers:
        hidden.append(int(layers[f"dense_{i}"].units))
        i += 1
    fields["hidden"] = tuple(hidden)
    fields["num_classes"] = int(layers["output"].units)
    fields["batch_norm"] = "bn_1" in layers
    if hidden:
        if fields["batch_norm"]:
            fields["activation"] = layers["act_1"].get_config()["activation"]
        else:
            fields["activation"] = layers["dense_1"].get_config()["activation"]
        if "dropout_1" in layers:
            fields["dropout"] = _short(layers["dropout_1"].rate)
    reg = getattr(layers["output"], "kernel_regularizer", None)
    if reg is not None:
        fields["l2"] = _short(reg.get_config().get("l2", 0.0))
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        name = type(optimizer).__name__.lower()
        if name in ("adam", "sgd", "rmsprop"):
            fields["optimizer"] = name
            config = optimizer.get_config()
            if isinstance(config.get("learning_rate"), (int, float)):
                fields["learning_rate"] = _short(config["learning_rate"])
            if name == "sgd":
                fields["momentum"] = _short(config.get("momentum", 0.0))
    fields.update(training)
    try:
        spec = MLPSpec(**fields)
    except (TypeError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if spec.params != model.count_params():
        raise fail(f"the layers read give {spec.params:,} parameters but the model has {model.count_params():,}")
    return spec


def _short(value: float) -> float:
    """A float32 setting back as the decimal it was written as (0.0010000000474974513 -> 0.001)."""
    return float(f"{float(value):.7g}")
