"""``search_under_budget``: the most accurate MLP with at most N parameters.

KerasTuner runs the search (its oracles propose, own trial state, resume and
distribution); every sampled model fits the budget by construction
(:mod:`mnistopt.space`); each trial trains with mnistopt's fast loop; the
selected model per budget is the best on *validation* accuracy, and only it
is evaluated on the test set, once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_choice, check_float, check_int
from ._io import atomic_write_with, ensure_dir
from .data import Dataset, load_dataset
from .errors import ArgumentError, ArgumentTypeError, BudgetError, SearchFailedError
from .records import COMPLETED, FAILED, SearchResult, SelectedModel, TrialRecord, chain_history, select_best
from .space import BUDGET_KINDS, SearchSpace

#: Epochs of a fully trained trial (Hyperband's top rung) and Hyperband's reduction factor
#: (44 trials: rungs of 2, 8 and 30 epochs), chosen on a development split (``benchmarks/defaults.py``).
DEFAULT_MAX_EPOCHS = 30
DEFAULT_HYPERBAND_FACTOR = 4

__all__ = ["search_under_budget", "check_search_arguments", "TrialProgress", "TUNERS", "DEFAULT_COMPRESSION",
           "reference_grid_search"]

logger = logging.getLogger(__name__)

#: Tuners a search can use (KerasTuner oracles).
TUNERS = ("hyperband", "bayesian", "random", "grid")
_MAX_BUDGET = 10**9
#: A search stops after this many failed trials in a row (e.g. a space that always diverges).
MAX_CONSECUTIVE_FAILURES = 10


@dataclasses.dataclass(frozen=True)
class TrialProgress:
    """What a search's ``progress`` callback receives after each finished trial.

    Example:
        >>> from mnistopt.data import synthetic_dataset
        >>> ds = synthetic_dataset()
        >>> import tempfile
        >>> from mnistopt import search_under_budget
        >>> events = []
        >>> _ = search_under_budget(3000, ds, tuner="random", max_trials=2, max_epochs=1,
        ...                         directory=tempfile.mkdtemp(), progress=events.append)
        >>> [(e.budget, e.done, e.total) for e in events]
        [(3000, 1, 2), (3000, 2, 2)]
        >>> str(events[0]).startswith("budget 3,000: trial 1/2")
        True
    """

    budget: int
    done: int
    total: int | None
    record: TrialRecord
    best_val_accuracy: float | None
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        """Rough seconds left for this budget (assumes equal trial lengths)."""
        if not self.total or self.done == 0:
            return None
        return self.elapsed_s / self.done * max(self.total - self.done, 0)

    def __str__(self) -> str:
        r = self.record
        total = f"/{self.total}" if self.total else ""
        val = f"{r.val_accuracy:.4f}" if r.val_accuracy is not None else "failed"
        best = f"{self.best_val_accuracy:.4f}" if self.best_val_accuracy is not None else "-"
        eta = f"{self.eta_s:.0f}s" if self.eta_s is not None else "?"
        size = f"params {r.params:,}"
        if r.nonzero_params is not None and r.nonzero_params != r.params:
            size += f"  nonzero {r.nonzero_params:,}"
        if r.bytes is not None:
            size += f"  bytes {r.bytes:,}"
        return (
            f"budget {self.budget:,}: trial {self.done}{total}  {size}  val_acc {val}  "
            f"best {best}  elapsed {self.elapsed_s:.0f}s  eta {eta}"
        )


def _check_budgets(budget: Any) -> list[int]:
    items = list(budget) if isinstance(budget, (list, tuple)) else [budget]
    if not items:
        raise BudgetError("`budget` is an empty list. Pass a positive integer or a list of them, e.g. [4034, 72842].")
    out: list[int] = []
    for b in items:
        value = check_int("budget", b, minimum=1, maximum=_MAX_BUDGET, error=BudgetError)
        if value not in out:
            out.append(value)
    return out


def search_under_budget(
    budget: int | Sequence[int],
    dataset: str | os.PathLike | Dataset | None = None,
    *,
    tuner: str = "hyperband",
    max_trials: int | None = None,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    seed: int = 0,
    directory: str | os.PathLike | None = None,
    overwrite: bool = False,
    space: SearchSpace | None = None,
    patience: int | None | str = "auto",
    data_path: str | os.PathLike | None = None,
    hyperband_factor: int = DEFAULT_HYPERBAND_FACTOR,
    progress: Callable[[TrialProgress], None] | None = None,
    budget_kind: str = "params",
    compress: bool | Mapping[str, Any] = False,
    distributed: str | None = None,
    oracle: str | None = None,
    worker_id: str | None = None,
    trial_timeout: float = 1800.0,
    refit: bool = False,
) -> SearchResult:
    """Find the most accurate MLP with at most ``budget`` parameters.

    One KerasTuner search per budget (the data is loaded once). Every sampled
    model fits its budget by construction. The best trial on validation
    accuracy is selected; its test accuracy is computed once, after its search.

    Args:
        budget: a positive int, or a list of them (one search each).
        dataset: a name (``"mnist"``, ``"fashion_mnist"``), a path, or a
            :class:`~mnistopt.Dataset`; ``None`` (default): the data at
            ``data_path`` (or ``$MNISTOPT_DATA``), else MNIST (see
            :func:`~mnistopt.load_dataset`).
        tuner: ``"hyperband"`` (multi-fidelity, default), ``"bayesian"``,
            ``"random"`` or ``"grid"``.
        max_trials: stop after this many trials per budget (default: the whole
            Hyperband schedule; 20 for random/bayesian; the whole grid).
        max_epochs: epochs of a fully trained trial.
        seed: seeds the sampler and each trial's training.
        directory: where the search state, checkpoints, models and
            ``result.json`` live; rerunning with the same directory resumes.
            ``None`` uses a new temporary directory.
        overwrite: start afresh, deleting the previous state in ``directory``.
        space: a :class:`~mnistopt.space.SearchSpace` to fix or narrow
            dimensions (default: the full space).
        patience: early-stopping patience for non-Hyperband trials
            (``"auto"``: 3 for random/bayesian, none for hyperband and grid).
        data_path: where the data is: used as it is, nothing else is tried
            (see :func:`~mnistopt.load_dataset`).
        hyperband_factor: Hyperband's reduction factor.
        progress: called with a :class:`TrialProgress` after every trial
            (and a :class:`~mnistopt.compress.pipeline.StageProgress` after
            every compression stage).
        budget_kind: what ``budget`` counts. ``"params"``: every parameter of
            a dense model. ``"nonzero"``: non-zero weights; each trial samples
            a sparsity (``space.sparsity``), trains a dense model about
            ``budget / (1 - sparsity)`` parameters large and magnitude-prunes
            it (tfmot) to at most ``budget`` non-zero weights; the pruned
            model is the candidate. ``"bytes"``: size of the ``.tflite`` file;
            each trial samples a format (``space.quantize``), narrows its model
            until the file fits, trains it, exports it and is judged on the
            file's own validation accuracy. Selection is always on validation
            accuracy.
        compress: also compress each budget's selected model
            (:func:`~mnistopt.compress_model`) and add one record per stage
            (``float32``, ``dynamic``, ``float16``, ``int8``, ``sparse-S``,
            ``sparse-S+Q``), each measured on its ``.tflite`` file in
            ``directory/compress/<budget>/``. ``True`` uses
            :data:`DEFAULT_COMPRESSION`; a mapping with any of ``quantize``,
            ``sparsity`` and ``fine_tune_epochs`` overrides it. A ``nonzero``
            search's model is already pruned, so only its quantization stages
            run; a ``bytes`` search's model is already a file, so
            ``compress`` is refused there.
        distributed: ``"chief"`` or ``"worker"`` to share one search between
            processes or machines with KerasTuner's gRPC oracle (one budget,
            the same arguments and a ``directory`` every process can read and
            write). The chief serves the oracle at ``oracle`` and runs no
            trials; each worker asks it for trials, trains them and writes
            them into ``directory``. When the search ends the chief merges every
            trial into ``result.json`` and selects the model; a worker returns
            the records of the trials it ran, with no selection.
        oracle: ``"HOST:PORT"`` of the chief (the chief listens there).
        worker_id: a worker's name in KerasTuner (default: ``worker-<pid>``).
        trial_timeout: chief only: seconds after which a trial still running
            counts as lost (its worker died), is recorded as failed and stops
            holding up the end of the search.
        refit: after selection, retrain the selected spec from scratch on
            train + validation for the selected trial's epoch count (pruned
            to the budget again for ``nonzero``, exported again for
            ``bytes``); that model is the one saved, compressed and reported.
            Its record has ``refit=True`` and keeps the trial's validation
            accuracy, which chose it (the refit model has seen the
            validation images).

    Returns:
        A :class:`~mnistopt.records.SearchResult`; ``result.best(budget)``
        gives the selected model.

    Raises:
        BudgetError: a budget is not a positive integer or no model fits it.
        SearchFailedError: every trial of a budget failed.

    Example:
        >>> from mnistopt import search_under_budget
        >>> result = search_under_budget([4034, 72842], "mnist", directory="runs/search")  # doctest: +SKIP
        >>> result.best(4034).record.test_accuracy  # doctest: +SKIP
        0.94...
    """
    checked = check_search_arguments(
        budget, tuner=tuner, max_trials=max_trials, max_epochs=max_epochs, seed=seed, directory=directory,
        overwrite=overwrite, space=space, patience=patience, hyperband_factor=hyperband_factor,
        budget_kind=budget_kind, compress=compress, distributed=distributed, oracle=oracle, worker_id=worker_id,
        trial_timeout=trial_timeout, refit=refit,
    )
    budgets, budget_kind, tuner, max_epochs = (checked[k] for k in ("budget", "budget_kind", "tuner", "max_epochs"))
    seed, hyperband_factor, max_trials, patience = (checked[k] for k in ("seed", "hyperband_factor", "max_trials",
                                                                         "patience"))
    space, compression, cluster = checked["space"], checked["compress"], checked["cluster"]

    if directory is None:
        root = Path(tempfile.mkdtemp(prefix="mnistopt-search-"))
        logger.info("search state in %s", root)
    else:
        root = ensure_dir(directory, "directory")
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, path=data_path, seed=seed)
    # Resolve every budget before any training, so a bad budget fails fast.
    resolved = {b: space.resolve(b, data.image_shape, data.num_classes, kind=budget_kind) for b in budgets}
    if overwrite:
        for sub in ("tuner", "models", "compress"):
            shutil.rmtree(root / sub, ignore_errors=True)
        (root / "result.json").unlink(missing_ok=True)

    settings = {
        "budget_kind": budget_kind, "tuner": tuner, "max_trials": max_trials, "max_epochs": max_epochs, "seed": seed,
        "patience": patience, "hyperband_factor": hyperband_factor, "space": space.to_dict(),
        "compress": compression, "refit": checked["refit"],
    }
    run = _Run(root, data, settings, cluster)
    for b in budgets:
        with _kerastuner_cluster(cluster):
            run.search_one(resolved[b], tuner, max_trials, max_epochs, seed, patience, hyperband_factor, progress)
        if cluster is not None and cluster.role == "worker":
            return run.result()  # the chief selects, compresses and writes result.json
        if compression is not None:
            run.compress(b, budget_kind, compression, seed, progress)
    return run.result()


def check_search_arguments(
    budget: Any,
    *,
    tuner: Any = "hyperband",
    max_trials: Any = None,
    max_epochs: Any = DEFAULT_MAX_EPOCHS,
    seed: Any = 0,
    directory: Any = None,
    overwrite: Any = False,
    space: Any = None,
    patience: Any = "auto",
    hyperband_factor: Any = DEFAULT_HYPERBAND_FACTOR,
    budget_kind: Any = "params",
    compress: Any = False,
    distributed: Any = None,
    oracle: Any = None,
    worker_id: Any = None,
    trial_timeout: Any = 1800.0,
    refit: Any = False,
) -> dict[str, Any]:
    """Check :func:`search_under_budget`'s arguments without reading data or importing TensorFlow.

    Raises the same typed errors the search would, before any work. Returns
    the normalised values (``budget`` as a list, ``patience`` resolved,
    ``compress`` as options or ``None``, ``cluster`` for a distributed search).
    Whether the budgets fit any model is checked later, against the data's
    image shape.

    Example:
        >>> checked = check_search_arguments([4034, 4034], tuner="Random")
        >>> checked["budget"], checked["tuner"], checked["patience"]
        ([4034], 'random', 3)
    """
    budgets = _check_budgets(budget)
    budget_kind = check_choice("budget_kind", budget_kind, BUDGET_KINDS)
    tuner = check_choice("tuner", tuner, TUNERS)
    max_epochs = check_int("max_epochs", max_epochs, minimum=1, maximum=10_000)
    seed = check_int("seed", seed, minimum=0)
    hyperband_factor = check_int("hyperband_factor", hyperband_factor, minimum=2)
    if max_trials is not None:
        max_trials = check_int("max_trials", max_trials, minimum=1)
    if patience == "auto":
        patience = 3 if tuner in ("random", "bayesian") else None
    elif patience is not None:
        patience = check_int("patience", patience, minimum=0)
    space = SearchSpace() if space is None else space
    if not isinstance(space, SearchSpace):
        raise ArgumentTypeError(f"`space` must be a SearchSpace. Received: {type(space).__name__}. "
                                f"Build one with mnistopt.SearchSpace(...).")
    for name, flag in (("overwrite", overwrite), ("refit", refit)):
        if not isinstance(flag, bool):
            raise ArgumentTypeError(f"`{name}` must be True or False. Received: {name}={flag!r}.")
    return {
        "budget": budgets, "budget_kind": budget_kind, "tuner": tuner, "max_epochs": max_epochs, "seed": seed,
        "hyperband_factor": hyperband_factor, "max_trials": max_trials, "patience": patience, "space": space,
        "overwrite": overwrite, "refit": refit, "compress": _check_compress(compress, budget_kind),
        "cluster": _check_distributed(distributed, oracle, worker_id, trial_timeout, budgets, directory),
    }


#: What ``compress=True`` runs on each selected model.
DEFAULT_COMPRESSION: dict[str, Any] = {"quantize": ["dynamic", "float16", "int8"], "sparsity": [0.5, 0.9],
                                       "fine_tune_epochs": 4}


def _check_compress(compress: Any, budget_kind: str) -> dict[str, Any] | None:
    """``compress`` as compress_model options, validated before any training."""
    from .compress.pipeline import check_stages

    if compress is False or compress is None:
        return None
    if compress is True:
        options = dict(DEFAULT_COMPRESSION)
    elif isinstance(compress, Mapping):
        unknown = sorted(set(compress) - set(DEFAULT_COMPRESSION))
        if unknown:
            raise ArgumentError(
                f"`compress` keys must be among {sorted(DEFAULT_COMPRESSION)}. Received unknown keys: {unknown}."
            )
        options = {**DEFAULT_COMPRESSION, **compress}
    else:
        raise ArgumentTypeError(
            f"`compress` must be True, False or a dict of options such as {{'sparsity': [0.9]}}. "
            f"Received: {type(compress).__name__}."
        )
    if budget_kind == "bytes":
        raise ArgumentError(
            "`compress` applies to 'params' and 'nonzero' budgets: a 'bytes' search already selects a "
            "compressed .tflite file. Run compress_model on a params search's model instead."
        )
    modes, sparsities = check_stages(options["quantize"], options["sparsity"])
    if budget_kind == "nonzero":
        sparsities = []  # the selected model is already pruned to its budget
    epochs = check_int("fine_tune_epochs", options["fine_tune_epochs"], minimum=1, maximum=1000)
    return {"quantize": modes, "sparsity": sparsities, "fine_tune_epochs": epochs}


@dataclasses.dataclass(frozen=True)
class _Cluster:
    """A distributed search's role and the chief oracle's address."""

    role: str  # "chief" | "worker"
    host: str
    port: int
    tuner_id: str
    trial_timeout: float


def _check_distributed(distributed, oracle, worker_id, trial_timeout, budgets, directory) -> _Cluster | None:
    if distributed is None:
        if oracle is not None:
            raise ArgumentError(f"`oracle` needs distributed='chief' or 'worker'. Received: oracle={oracle!r} "
                                f"with distributed=None.")
        return None
    role = check_choice("distributed", distributed, ("chief", "worker"))
    if not isinstance(oracle, str) or oracle.count(":") < 1:
        raise ArgumentError(f"`oracle` must be 'HOST:PORT', e.g. '10.0.0.5:8000'. Received: oracle={oracle!r}.")
    host, _, port_text = oracle.rpartition(":")
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ArgumentError(
            f"`oracle` must be 'HOST:PORT' with a port in [1, 65535], e.g. '10.0.0.5:8000'. Received: oracle={oracle!r}."
        )
    if len(budgets) != 1:
        raise ArgumentError(
            f"A distributed search takes one budget (the chief serves one KerasTuner oracle at a time). "
            f"Received: budget={budgets}. Run one distributed search per budget, each with its own directory or port."
        )
    if directory is None:
        raise ArgumentError("A distributed search needs `directory`: a folder every process can read and write, "
                            "where workers leave their trials for the chief. Received: directory=None.")
    timeout = check_float("trial_timeout", trial_timeout, minimum=0.0, min_inclusive=False)
    if worker_id is not None and (not isinstance(worker_id, str) or not worker_id or "chief" in worker_id):
        raise ArgumentError(f"`worker_id` must be a non-empty name without 'chief' in it (KerasTuner reads that as "
                            f"the chief). Received: worker_id={worker_id!r}.")
    tuner_id = "chief" if role == "chief" else (worker_id or f"worker-{os.getpid()}")
    return _Cluster(role, host, int(port_text), tuner_id, timeout)


@contextlib.contextmanager
def _kerastuner_cluster(cluster: _Cluster | None):
    """KerasTuner's distributed mode is switched on by three environment variables; set them
    for the duration of one budget's search and restore them afterwards."""
    if cluster is None:
        yield
        return
    keys = {"KERASTUNER_TUNER_ID": cluster.tuner_id, "KERASTUNER_ORACLE_IP": cluster.host,
            "KERASTUNER_ORACLE_PORT": str(cluster.port)}
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _LostTrialWatchdog:
    """Chief side: end trials that have run longer than ``timeout`` as failed.

    KerasTuner's chief stops serving only when no trial is running and every
    worker has been told the search is over, so a worker killed mid-trial would
    keep it waiting forever. This thread checks the oracle's running trials
    every ``interval`` seconds; one running longer than ``timeout`` is ended as
    failed and its worker forgotten.
    """

    def __init__(self, oracle, timeout: float, interval: float = 1.0):
        import threading

        self.oracle, self.timeout, self.interval = oracle, timeout, interval
        self.seen: dict[str, float] = {}
        self.lost: dict[str, str] = {}  # trial id -> message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mnistopt-lost-trials", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
                started = self.seen.setdefault(trial.trial_id, now)
                if now - started > self.timeout:
                    message = (f"Trial {trial.trial_id} on {tuner_id} ran over trial_timeout={self.timeout:g} s; "
                               f"its worker is taken as lost and the trial as failed.")
                    logger.warning("%s", message)
                    trial.status = "FAILED"
                    trial.message = message
                    self.lost[trial.trial_id] = message
                    self.oracle.end_trial(trial)
                    self.oracle.tuner_ids.discard(tuner_id)


class _Run:
    """The state of one ``search_under_budget`` call: records, selection, files."""

    def __init__(self, root: Path, data: Dataset, settings: dict[str, Any], cluster: _Cluster | None = None):
        self.root = root
        self.data = data
        self.settings = settings
        self.cluster = cluster
        self.records: dict[tuple[int, str, str], TrialRecord] = {}
        self.selected: dict[int, SelectedModel] = {}
        self.start = time.perf_counter()
        self._tensors = None  # the train split as tensors, shared by every budget's trials

    def result(self) -> SearchResult:
        from ._env import environment

        info = {
            "dataset": self.data.describe(),
            "settings": self.settings,
            "environment": environment(),
            "wall_time_s": time.perf_counter() - self.start,
            "note": "Models are selected on validation accuracy; test accuracy is reported for "
            "selected models only and chose nothing.",
        }
        return SearchResult(records=tuple(self.records.values()), selected=dict(self.selected), info=info)

    def flush(self) -> None:
        if self.cluster is None or self.cluster.role == "chief":  # result.json is the chief's alone
            self.result().to_json(self.root / "result.json")

    def add(self, record: TrialRecord) -> None:
        self.records.pop(record.key, None)  # a re-run trial replaces its earlier record
        self.records[record.key] = record
        self.flush()

    def search_one(self, space, tuner_name, max_trials, max_epochs, seed, patience, factor, progress) -> None:
        from ._tuner import BudgetTuner, SpaceHyperModel, atomic_kerastuner_state  # imports KerasTuner

        budget = space.budget
        started = time.perf_counter()
        count = {"done": 0}
        streams = (sys.stdout, sys.stderr)  # KerasTuner's prints are silenced; the user's are not

        def on_record(record: TrialRecord) -> None:
            self.add(record)
            count["done"] += 1
            best = select_best(r for r in self.records.values() if r.budget == budget)
            event = TrialProgress(
                budget, count["done"], total, record,
                best.val_accuracy if best else None, time.perf_counter() - started,
            )
            logger.info("%s", event)
            if progress is not None:
                with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
                    progress(event)

        if self._tensors is None:
            from .training import train_tensors

            self._tensors = train_tensors(self.data)
        hypermodel = SpaceHyperModel(space, epochs=max_epochs)
        oracle = _make_oracle(tuner_name, max_trials, max_epochs, seed, factor)
        with _kerastuner_output(), atomic_kerastuner_state():
            tuner = BudgetTuner(
                oracle, hypermodel, dataset=self.data, tensors=self._tensors, seed=seed, max_epochs=max_epochs,
                patience=patience, on_record=on_record,
                directory=str(self.root / "tuner"),
                project_name=f"budget-{budget}" if space.kind == "params" else f"{space.kind}-{budget}",
            )
        worker = self.cluster is not None and self.cluster.role == "worker"
        if not worker:  # records of trials finished in an earlier run (resume)
            count["done"] += self._collect(tuner, budget)
        total = None if worker else _planned_trials(tuner.oracle, tuner_name, max_trials)
        if count["done"]:
            logger.info("budget %s: resuming after %d finished trials", budget, count["done"])
        chief = self.cluster is not None and self.cluster.role == "chief"
        try:
            with _kerastuner_output(), atomic_kerastuner_state(), contextlib.ExitStack() as stack:
                if chief:  # serves the oracle until the workers have finished the search
                    logger.info("budget %s: chief serving the oracle at %s:%s", budget, self.cluster.host,
                                self.cluster.port)
                    lost = stack.enter_context(_LostTrialWatchdog(tuner.oracle, self.cluster.trial_timeout))
                tuner.search(verbose=0)
        except RuntimeError as exc:  # KerasTuner stops after too many consecutive failed trials
            if "consecutive failures" not in str(exc):
                raise
            logger.warning("budget %s: search stopped after %d consecutive failed trials", budget, MAX_CONSECUTIVE_FAILURES)
        if worker:
            return
        if chief:  # the workers' trials, from their files in the shared directory
            self._collect(tuner, budget, lost=lost.lost)
        self._select(budget, tuner)

    def _collect(self, tuner, budget: int, lost: Mapping[str, str] | None = None) -> int:
        """Add the records of every ended trial found in the tuner's directory; return how many."""
        added = 0
        for trial_id in list(tuner.oracle.end_order):
            trial = tuner.oracle.trials.get(trial_id)
            if trial is None or trial.status not in ("COMPLETED", "FAILED"):
                continue
            record = tuner.load_record(trial_id)
            if record is None and lost and trial_id in lost:  # its worker died mid-trial
                record = TrialRecord(budget=budget, trial_id=trial_id, status=FAILED, spec=None, params=0,
                                     reason=lost[trial_id])
            if record is not None and record.key not in self.records:
                self.records[record.key] = record
                added += 1
        self.flush()
        return added

    def compress(self, budget: int, kind: str, options: dict[str, Any], seed: int, progress) -> None:
        """Compression stages of the budget's selected model, as records of this result."""
        from .compress.pipeline import compress_model

        chosen = self.selected[budget]
        name = str(budget) if kind == "params" else f"{kind}-{budget}"
        result = compress_model(
            chosen.model, self.data, self.root / "compress" / name, spec=chosen.spec, budget=budget,
            trial_id=chosen.record.trial_id, seed=seed, progress=progress, **options,
        )
        for record in result.records:
            self.add(record)
        logger.info("budget %s: %d compression stages", budget, len(result.records))

    def _select(self, budget: int, tuner) -> None:
        from .build import build_model, load_checkpoint
        from .report.classification import classification_summary
        from .training import evaluate_arrays, loss_and_accuracy, predict_proba, regularization_penalty

        mine = [r for r in self.records.values() if r.budget == budget]
        best = select_best(mine)
        if best is None:
            reasons = sorted({r.reason.rstrip(".") for r in mine if r.reason})[:3]
            self.flush()
            raise SearchFailedError(
                f"Every trial of the search at budget={budget:,} failed ({len(mine)} trials). "
                f"Reasons: {'; '.join(reasons) or 'unknown'}. Narrow the search space (e.g. lower "
                f"learning rates) and rerun with overwrite=True."
            )
        kind = tuner.hypermodel.space.kind
        models = ensure_dir(self.root / "models", "directory")
        refit = bool(self.settings.get("refit"))
        if refit:
            model, artifact = self._refit(best, tuner, models)
        elif kind == "nonzero":  # the pruned model
            model = build_model(best.spec)
            model.load_weights(tuner.final_model_path(best.trial_id))
        else:
            model = load_checkpoint(build_model(best.spec), tuner.checkpoint_path(best.trial_id))
        if kind == "bytes":  # the file is the model: its own accuracy
            from .compress.artifact import evaluate_tflite, tflite_predict

            artifact = artifact if refit else Path(tuner.final_model_path(best.trial_id))
            path = atomic_write_with(models / f"budget-{budget}.tflite",
                                     lambda tmp: Path(tmp).write_bytes(artifact.read_bytes()), ".tflite")
            train_acc = evaluate_tflite(path, self.data.x_train, self.data.y_train)
            probs, penalty = tflite_predict(path, self.data.x_test), 0.0
            extra = {"artifact": str(path)}
        else:
            train_loss, train_acc = evaluate_arrays(model, self.data.x_train, self.data.y_train)
            probs, penalty = predict_proba(model, self.data.x_test), regularization_penalty(model)
            path = atomic_write_with(models / f"budget-{budget}.keras", lambda tmp: model.save(tmp), ".keras")
            extra = {}
        test_loss, test_acc = loss_and_accuracy(probs, self.data.y_test)  # one pass over the test set
        test_loss += penalty
        classification = {"split": "test", **classification_summary(self.data.y_test, probs.argmax(axis=1))}
        chosen = dataclasses.replace(
            best, selected=True, train_accuracy=train_acc, test_accuracy=test_acc, test_loss=test_loss, refit=refit,
            **extra
        )
        self.records[best.key] = chosen  # same position; the old record object is untouched
        self.selected[budget] = SelectedModel(chosen, model, chain_history(chosen, mine), str(path), classification)
        logger.info(
            "budget %s: selected trial %s (%s, %s params): val %.4f, test %.4f",
            budget, chosen.trial_id, chosen.spec.architecture, f"{chosen.params:,}",
            chosen.val_accuracy, test_acc,
        )
        self.flush()


    def _refit(self, best: TrialRecord, tuner, models: Path) -> tuple[Any, Path | None]:
        """The selected spec trained afresh on train + validation for the selected trial's epochs, then
        finished like its trials (pruned to a ``nonzero`` budget, exported for a ``bytes`` one)."""
        import keras

        from .build import build_model
        from .training import fit_model

        merged = dataclasses.replace(self.data, x_train=np.concatenate([self.data.x_train, self.data.x_val]),
                                     y_train=np.concatenate([self.data.y_train, self.data.y_val]))
        seed = int(self.settings.get("seed", 0))
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = build_model(best.spec)
        fit_model(model, best.spec, merged, epochs=best.epochs, seed=seed)
        space = tuner.hypermodel.space
        logger.info("budget %s: refit %s on %d images for %d epochs", space.budget, best.spec.architecture,
                    len(merged.y_train), best.epochs)
        if space.kind == "nonzero" and best.stage != "dense":
            from .compress.sparsity import prune_magnitude

            model = prune_magnitude(model, best.spec, merged, nonzero_budget=space.budget,
                                    epochs=tuner.prune_epochs, seed=seed).model
        if space.kind != "bytes":
            return model, None
        from .compress.artifact import export_tflite

        path = models / f"budget-{space.budget}-refit-unchecked.tflite"
        export_tflite(model, path, best.stage, representative=merged.x_train)
        if path.stat().st_size > space.budget:
            raise BudgetError(f"The refit {best.stage} file of {best.spec.architecture} has {path.stat().st_size:,} "
                              f"bytes, over budget={space.budget:,}.")
        return model, path


def _make_oracle(name: str, max_trials: int | None, max_epochs: int, seed: int, factor: int):
    import keras_tuner as kt

    objective = kt.Objective("val_accuracy", direction="max")
    # KerasTuner treats seed=0 as "no seed" (``seed or random.randint(...)``): shift by one.
    common = dict(objective=objective, seed=seed + 1, max_consecutive_failed_trials=MAX_CONSECUTIVE_FAILURES)
    if name == "hyperband":
        oracle = kt.oracles.HyperbandOracle(max_epochs=max_epochs, factor=factor, **common)
        oracle.max_trials = max_trials  # Oracle.create_trial stops once this many exist
        return oracle
    if name == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(max_trials=max_trials or 20, **common)
    if name == "random":
        return kt.oracles.RandomSearchOracle(max_trials=max_trials or 20, **common)
    return kt.oracles.GridSearchOracle(max_trials=max_trials, **common)


def _planned_trials(oracle, name: str, max_trials: int | None) -> int | None:
    """How many trials the search will run (for progress and ETA)."""
    if name == "hyperband":
        brackets = oracle._get_num_brackets()
        total = sum(
            oracle._get_size(b, r) for b in range(brackets) for r in range(oracle._get_num_rounds(b))
        ) * int(oracle.hyperband_iterations)
        return min(total, max_trials) if max_trials else total
    if name == "grid":
        import math

        sizes = [len(hp.values) for hp in oracle.hyperparameters.space if hasattr(hp, "values") and hp.values]
        grid = math.prod(sizes) if sizes else 1
        return min(grid, max_trials) if max_trials else grid
    return oracle.max_trials


class _LogWriter(io.TextIOBase):
    """A stdout/stderr stand-in that sends KerasTuner's prints (and the
    tracebacks it prints for failed trials) to the debug log."""

    def write(self, text: str) -> int:
        if text.strip():
            logger.debug("keras_tuner: %s", text.rstrip())
        return len(text)


@contextlib.contextmanager
def _kerastuner_output():
    with contextlib.redirect_stdout(_LogWriter()), contextlib.redirect_stderr(_LogWriter()):
        yield


def reference_grid_search(
    dataset: str | os.PathLike | Dataset | None = None,
    *,
    directory: str | os.PathLike | None = None,
    overwrite: bool = False,
    seed: int = 0,
    epochs: int = 10,
    data_path: str | os.PathLike | None = None,
    progress: Callable[[TrialProgress], None] | None = None,
) -> SearchResult:
    """The reference notebook's experiment: lr {1e-4, 1e-3, 1e-2} x batch {32, 64, 128}.

    Runs KerasTuner's grid tuner over the baseline 784-128-64-10 MLP,
    ``epochs`` (10) epochs per combination, no early stopping. Each record's
    ``spec.learning_rate``/``spec.batch_size`` and ``val_accuracy`` give the
    table; ``result.best(109386)`` the best combination.

    Example:
        >>> result = reference_grid_search("mnist")  # doctest: +SKIP
        >>> len(result.records)  # doctest: +SKIP
        9
    """
    return search_under_budget(
        109_386, dataset, tuner="grid", max_epochs=epochs, seed=seed, directory=directory,
        overwrite=overwrite, space=SearchSpace.reference_grid(), patience=None, data_path=data_path,
        progress=progress,
    )
