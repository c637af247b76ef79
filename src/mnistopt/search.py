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
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._io import ensure_dir
from .data import Dataset, load_dataset
from .errors import ArgumentError, InvalidTypeError
from .kinds import BudgetKind, get_kind
from .limits import Limits
from ._select import RetrainProgress, select
from .records import FAILED, CompressionResult, ProgressEvent, SearchResult, SelectedModel, TrialRecord, select_best
from .options import (DEFAULT_COMPRESSION, DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_HYPERBAND_FACTOR, DEFAULT_QUANTIZE,
                      DEFAULT_TRIAL_TIMEOUT, TUNERS, ClusterOptions, SearchOptions, check_budgets)
from .space import SearchSpace

__all__ = ["search_under_budget", "compress_selected", "check_search_arguments", "load_trial_model", "TrialProgress",
           "RetrainProgress",
           "TUNERS", "DEFAULT_COMPRESSION"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrialProgress:
    """What a search's ``progress`` callback receives after each finished trial (a
    :class:`~mnistopt.records.ProgressEvent`).

    Example:
        >>> from mnistopt import load_dataset
        >>> ds = load_dataset("mnist-sample").subset(train=300, val=60, test=100)  # real digits, shipped
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


def search_under_budget(
    budget: int | Sequence[int],
    dataset: str | os.PathLike | Dataset | None = None,
    options: SearchOptions | None = None,
    *,
    directory: str | os.PathLike | None = None,
    data_path: str | os.PathLike | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    distributed: str | None = None,
    oracle: str | None = None,
    worker_id: str | None = None,
    trial_timeout: float = DEFAULT_TRIAL_TIMEOUT,
    **overrides: Any,
) -> SearchResult:
    """Find the most accurate MLP with at most ``budget`` parameters.

    One KerasTuner search per budget (the data is loaded once). Every sampled
    model fits its budget by construction. The best trial on validation
    accuracy is selected; its test accuracy is computed once, after its search.

    The search's options are one :class:`~mnistopt.options.SearchOptions`:
    ``options``, with any of its fields given as keywords over it
    (``search_under_budget(4034, options=SearchOptions(tuner="random"), seed=3)``),
    or the keywords alone (``search_under_budget(4034, tuner="random")``).
    The keyword arguments below are those fields; the rest say where the data
    and the search's state are, whom to tell of progress, and how processes
    share a distributed search.

    Args:
        budget: a positive int, or a list of them (one search each). For an
            accuracy-versus-size curve pass :func:`~mnistopt.budget_sweep`'s
            budgets: ``search_under_budget(budget_sweep(1000, 128000, 8))``;
            the report then draws the best fully trained model at or below
            each size.
        dataset: a name (``"mnist"``, ``"fashion_mnist"``), a path, or a
            :class:`~mnistopt.Dataset`; ``None`` (default): the data at
            ``data_path`` (or ``$MNISTOPT_DATA``), else MNIST (see
            :func:`~mnistopt.load_dataset`).
        options: the search's options (default: ``SearchOptions()``); a
            keyword naming one of its fields overrides it
            (:meth:`~mnistopt.options.SearchOptions.replace`), and an unknown
            keyword is an :class:`~mnistopt.errors.ArgumentError`.
        tuner: ``"hyperband"`` (multi-fidelity, default), ``"bayesian"``,
            ``"random"`` or ``"grid"``.
        max_trials: stop after this many trials per budget (default: the whole
            Hyperband schedule; 20 for random/bayesian; the whole grid).
        max_epochs: epochs of a fully trained trial (Hyperband's top rung).
            ``"auto"`` (default): 60 at parameter and non-zero budgets up
            to 10,000 in MLP-only searches (small models' epochs are cheap
            and they keep gaining; sparse ones recover), 30 otherwise; see
            :meth:`~mnistopt.options.SearchOptions.epochs_for`.
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
            a sparsity (``space.sparsity``), trains a model about
            ``budget / (1 - sparsity)`` parameters large and magnitude-prunes
            it while it trains (:class:`~mnistopt.training.GradualPruning`)
            to at most ``budget`` non-zero weights; the pruned model is the
            candidate. ``"bytes"``: size of the ``.tflite`` file;
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
        distributed: ``"chief"`` or ``"worker"`` to share the search between
            processes or machines with KerasTuner's gRPC oracle (the same
            arguments, budgets in the same order, and a ``directory`` every
            process can read and write). The chief serves every budget's
            oracle at once, the ``i``-th budget at ``PORT + i``, and runs no
            trials; each worker goes through the budgets in order, asking
            each budget's oracle for trials until it says the search is over,
            trains them and writes them into ``directory`` (a worker that
            joins late finds the finished budgets over at once). When every
            budget's search has ended the chief merges every trial into
            ``result.json`` and selects (and compresses) each budget's model;
            a worker returns the records of the trials it ran, with no
            selection.
        oracle: ``"HOST:PORT"`` of the chief (the chief listens there, and
            on the next ports for further budgets).
        worker_id: a worker's name in KerasTuner (default: ``worker-<pid>``).
        trial_timeout: chief only: seconds a worker may stay silent while it
            runs a trial (workers beat every few seconds as they train) before
            the trial counts as lost with its worker and is queued again for
            the next worker; a trial lost twice is recorded as failed.
        refit: after selection, retrain the selected spec from scratch on
            train + validation for the selected trial's epoch count (pruned
            to the budget again for ``nonzero``, exported again for
            ``bytes``); that model is the one saved, compressed and reported.
            Its record has ``refit=True`` and keeps the trial's validation
            accuracy, which chose it (the refit model has seen the
            validation images).
        retrain_factor: after selection, train the selected spec again from
            scratch for this many times its trial's epochs (the learning-rate
            schedule stretched with it; on train + validation with ``refit``)
            and ship that model: saved, tested, compressed and reported. Its
            record keeps the trial's ``val_accuracy``, which chose it, and adds
            ``retrain_epochs`` and the new model's ``retrain_val_accuracy``.
            ``1``: ship the trial's own model. ``"auto"`` (default): 2 for a
            CNN and for a non-zero budget, 1 for an MLP at a parameter or byte
            budget (each chosen by 5-fold cross-validation over the training
            files: :attr:`~mnistopt.families.CNNFamily.retrain_factor`,
            :attr:`~mnistopt.kinds.NonzeroBudget.retrain_factor`).
        time_limit: seconds per budget: once a budget's search has run this
            long it starts no new trial (the one in progress finishes) and
            selects among the trials it has; ``result.info["time_limit_reached"]``
            says which budgets stopped so and after how many seconds. A later
            call with the same ``directory`` resumes the schedule. ``None``
            (default): the whole schedule (or ``max_trials``).
        epoch_images: what one epoch of the schedule trains on when the
            train split is larger: that many images, drawn in a
            class-stratified order through the whole split
            (:class:`~mnistopt.data.EpochStream`), so trials of short
            Hyperband rungs train on a stratified subset and survivors go on
            through all of it. ``"auto"`` (default): 9,000 images (the train
            split on which the schedules were chosen) above 10,000
            parameters, 36,000 up to it (see
            :meth:`~mnistopt.options.SearchOptions.epoch_images_for`); on
            60,000 images the reference's three budgets took 10 minutes
            against 25 with full passes (``benchmarks/fullsize.py``).
            ``None``: every epoch is a full pass.
            A split no larger than an epoch is always trained in full passes.
        limits: device limits every model must meet besides its budget
            (:class:`~mnistopt.limits.Limits`, or a mapping such as
            ``{"macs": 100_000, "arena": 4096}``, or ``["macs=100000"]``):
            ``macs`` (per image) and ``arena`` (the tensor arena TensorFlow
            Lite Micro allocates for the model's ``int8-io`` file) are met
            by construction (each sampled model is as wide as the budget and
            these limits allow, by arithmetic on the spec); every trained
            trial's ``int8-io`` file is then run on TFLM, its arena measured
            there, and ``bytes`` and ``latency_us`` measured on it too; a
            trial over a limit, or whose file TFLM cannot run, is recorded
            as failed with the reason. Under limits the space holds only
            activations TFLM runs, and each selected model's ``int8-io``
            file is written and measured (an ``int8-io`` compression stage:
            accuracy on LiteRT and on TFLM). The limits are in
            ``result.json``'s settings and the report. A resumed search must
            be given the same limits.

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
    budgets, options, cluster = check_search_arguments(
        budget, options, directory=directory, distributed=distributed, oracle=oracle, worker_id=worker_id,
        trial_timeout=trial_timeout, **overrides)
    if directory is None:
        root = Path(tempfile.mkdtemp(prefix="mnistopt-search-"))
        logger.info("search state in %s", root)
    else:
        root = ensure_dir(directory, "directory")
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, path=data_path, seed=options.seed)
    # Resolve every budget before any training, so a bad budget fails fast.
    resolved = {b: options.space.resolve(b, data.image_shape, data.num_classes, kind=options.budget_kind,
                                         limits=options.limits, device=options.device_target) for b in budgets}
    if not options.overwrite:
        _check_resumed_limits(root, options.limits)
    else:
        for sub in ("tuner", "models", "compress"):
            shutil.rmtree(root / sub, ignore_errors=True)
        (root / "result.json").unlink(missing_ok=True)
    from ._tuner import kerastuner_cluster  # imports KerasTuner: only once the arguments and data are good

    run = _Run(root, data, options, cluster)
    if cluster is not None and cluster.role == "chief":  # serves every budget at once, then selects
        run.serve([resolved[b] for b in budgets], progress)
        return run.result()
    for i, b in enumerate(budgets):
        with kerastuner_cluster(cluster, i):
            run.search_one(resolved[b], progress)
        if cluster is None and options.compress is not None:  # a worker leaves this to the chief
            run.compress(b, progress)
    return run.result()


def _check_resumed_limits(root: Path, limits: Limits) -> None:
    """A search resumed in ``root`` must run under the limits its trials were built under."""
    saved = root / "result.json"
    if not saved.is_file():
        return
    try:
        before = json.loads(saved.read_text()).get("settings", {}).get("limits") or {}
    except (OSError, ValueError):
        return  # unreadable: the run rewrites it
    if Limits(before) != limits:
        raise ArgumentError(f"{root} holds a search run under the limits {Limits(before).describe()}; resuming it "
                            f"under {limits.describe()} would mix trials built for other limits. Pass the same "
                            f"limits, or overwrite=True (--overwrite) to start afresh.")


def check_search_arguments(
    budget: Any,
    options: SearchOptions | None = None,
    *,
    directory: Any = None,
    distributed: Any = None,
    oracle: Any = None,
    worker_id: Any = None,
    trial_timeout: Any = DEFAULT_TRIAL_TIMEOUT,
    **overrides: Any,
) -> tuple[list[int], SearchOptions, ClusterOptions | None]:
    """Check :func:`search_under_budget`'s arguments without reading data or importing TensorFlow.

    Raises the same typed errors the search would, before any work. Returns
    the budgets (a list of distinct ints), the :class:`~mnistopt.options.SearchOptions`
    (``options`` with ``overrides``, its fields by name) and the cluster's options (``None``
    unless distributed).
    Whether the budgets fit any model is checked later, against the data's
    image shape.

    Example:
        >>> budgets, options, cluster = check_search_arguments([4034, 4034], tuner="Random")
        >>> budgets, str(options.tuner), options.patience, cluster
        ([4034], 'random', 3, None)
    """
    budgets = check_budgets(budget)
    if options is not None and not isinstance(options, SearchOptions):
        raise InvalidTypeError(f"`options` must be a mnistopt.options.SearchOptions or None. "
                               f"Received: {type(options).__name__}.")
    checked = (options or SearchOptions()).replace(**overrides) if overrides else options or SearchOptions()
    cluster = ClusterOptions.create(distributed, oracle, worker_id, trial_timeout)
    if cluster is not None:
        cluster.check_search(budgets, directory, checked.time_limit)
    return budgets, checked, cluster


def compress_selected(
    result: SearchResult,
    dataset: Dataset,
    directory: str | os.PathLike,
    *,
    budgets: Sequence[int] | None = None,
    quantize: Sequence[str] = DEFAULT_QUANTIZE,
    sparsity: Sequence[float] = tuple(DEFAULT_COMPRESSION["sparsity"]),
    fine_tune_epochs: int = DEFAULT_FINE_TUNE_EPOCHS,
    seed: int = 0,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> CompressionResult:
    """Compress the selected model of each budget of a finished search: a step of its own.

    Runs :func:`~mnistopt.compress_model` on each selected model (loaded from
    its file when ``result`` was read from ``result.json``), writing its
    stages to ``directory/compress/<budget>/``. A ``nonzero`` search's model
    is already pruned, so only its quantization stages run; a ``bytes``
    search's model is already a file, which is an error here.
    ``search_under_budget(compress=...)`` calls this after each budget.

    Returns:
        A :class:`~mnistopt.records.CompressionResult` with every stage of every budget.

    Example:
        >>> from mnistopt import search_under_budget
        >>> from mnistopt.search import compress_selected
        >>> result = search_under_budget(4034, directory="runs/search")  # doctest: +SKIP
        >>> stages = compress_selected(result, load_dataset(), "runs/search", quantize=["int8"])  # doctest: +SKIP
        >>> [r.stage for r in stages.records]  # doctest: +SKIP
        ['float32', 'int8', 'sparse-0.5', 'sparse-0.5+int8', 'sparse-0.9', 'sparse-0.9+int8']
    """
    from .build import load_model
    from .compress.pipeline import compress_model

    kind = get_kind(result.info.get("settings", {}).get("budget_kind", "params"))
    options = SearchOptions(budget_kind=kind, compress={"quantize": list(quantize), "sparsity": list(sparsity),
                                                         "fine_tune_epochs": fine_tune_epochs}).compress
    root = ensure_dir(directory, "directory")
    records: list[TrialRecord] = []
    for budget in result.selected if budgets is None else budgets:
        chosen = result.best(budget)
        model = chosen.model if chosen.model is not None else load_model(chosen.model_path)
        stages = compress_model(
            model, dataset, root / "compress" / kind.compress_name(budget), spec=chosen.record.spec, budget=budget,
            trial_id=chosen.record.trial_id, seed=seed, progress=progress, **options,
        )
        records.extend(stages.records)
    return CompressionResult(records=tuple(records), info={"dataset": dataset.describe(), "compress": options})


def load_trial_model(directory: str | os.PathLike, record: TrialRecord, budget_kind: str | BudgetKind | None = None):
    """The model a finished trial of the search in ``directory`` left behind.

    The trial's last checkpoint (its weights as its last epoch ended; a Hyperband trial cut short
    at a lower rung included), or, for a kind whose trial ends in a compressed candidate, that
    candidate (the pruned model of a ``nonzero`` trial). ``budget_kind``: the search's (default:
    as ``directory/result.json`` records it). Benchmarks use it to score the then-best model of
    an anytime curve.

    Raises:
        ModelNotFoundError: the trial left no checkpoint in ``directory``.
    """
    from ._tuner import CHECKPOINT_FILE
    from .errors import ModelNotFoundError

    if budget_kind is None:
        saved = Path(directory) / "result.json"
        settings = json.loads(saved.read_text()).get("settings", {}) if saved.is_file() else {}
        budget_kind = settings.get("budget_kind", "params")
    kind = get_kind(budget_kind)
    trial = Path(directory) / "tuner" / kind.directory_name(record.budget) / f"trial_{record.trial_id}"
    checkpoint = trial / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise ModelNotFoundError(f"Trial {record.trial_id!r} of budget {record.budget:,} left no checkpoint: "
                                 f"{checkpoint} does not exist. Pass the search's `directory` and one of its records.")
    candidate = trial / kind.candidate_file if kind.candidate_file is not None else None
    return kind.load_candidate(record.spec, str(checkpoint), str(candidate) if candidate is not None else None)


class _Run:
    """The state of one ``search_under_budget`` call (its records, selected models and
    ``result.json``) and its searches: a budget's tuner (:meth:`search_one`), or every budget's
    oracle served to workers (:meth:`serve`); then :func:`mnistopt._select.select` picks and tests
    each budget's model and :meth:`compress` compresses it."""

    def __init__(self, root: Path, data: Dataset, options: SearchOptions, cluster: ClusterOptions | None = None):
        self.root = root
        self.data = data
        self.options = options
        self.cluster = cluster
        self.records: dict[tuple[int, str, str], TrialRecord] = {}
        self.selected: dict[int, SelectedModel] = {}
        self.start = time.perf_counter()
        self.time_limit_reached: dict[int, float] = {}  # budget -> seconds its search ran before it stopped
        self.distributed: dict[str, dict[str, Any]] = {}  # chief: budget -> exit lag, lost trials, gone workers
        self._tensors = None  # the train split as tensors, shared by every budget's trials
        self.families: dict[int, list[dict[str, Any]]] = {}  # budget -> each family's best and its int8-io file

    def result(self) -> SearchResult:
        from ._env import environment

        info = {
            "dataset": self.data.describe(),
            "settings": self.options.settings(),
            "environment": environment(),
            "wall_time_s": time.perf_counter() - self.start,
            **({"time_limit_reached": {str(b): s for b, s in self.time_limit_reached.items()}}
               if self.time_limit_reached else {}),
            **({"distributed": dict(self.distributed)} if self.distributed else {}),
            **({"families": {str(b): rows for b, rows in self.families.items()}} if self.families else {}),
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

    def _tuner(self, space, progress):
        """The budget's :class:`~mnistopt._tuner.BudgetTuner` (its state reloaded when resuming), with
        the records of trials an earlier run finished added; returns ``(tuner, started, count)``."""
        from ._tuner import BudgetTuner, SpaceHyperModel, atomic_kerastuner_state, kerastuner_output, make_oracle

        o = self.options
        budget = space.budget
        started = time.perf_counter()
        count = {"done": 0, "total": None}
        streams = (sys.stdout, sys.stderr)  # KerasTuner's prints are silenced; the user's are not

        def on_record(record: TrialRecord) -> None:
            self.add(record)
            count["done"] += 1
            best = select_best(r for r in self.records.values() if r.budget == budget)
            event = TrialProgress(
                budget, count["done"], count["total"], record,
                best.val_accuracy if best else None, time.perf_counter() - started,
            )
            logger.info("%s", event)
            if progress is not None:
                with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
                    progress(event)

        if self._tensors is None:
            from .training import train_tensors

            self._tensors = train_tensors(self.data)
        max_epochs = o.epochs_for(budget)
        hypermodel = SpaceHyperModel(space, epochs=max_epochs)
        oracle = make_oracle(o.tuner, o.max_trials, max_epochs, o.seed, o.hyperband_factor)
        with kerastuner_output(), atomic_kerastuner_state():
            tuner = BudgetTuner(
                oracle, hypermodel, dataset=self.data, tensors=self._tensors, seed=o.seed, max_epochs=max_epochs,
                patience=o.patience, on_record=on_record,
                deadline=None if o.time_limit is None else started + o.time_limit,
                stream=o.epoch_stream(len(self.data.y_train), budget),
                directory=str(self.root / "tuner"),
                project_name=space.kind.directory_name(budget),
            )
        if not self._worker:  # records of trials finished in an earlier run (resume)
            from ._tuner import planned_trials

            count["done"] += self._collect(tuner, budget)
            count["total"] = planned_trials(tuner.oracle, o.tuner, o.max_trials)
        if count["done"]:
            logger.info("budget %s: resuming after %d finished trials", budget, count["done"])
        return tuner, started, count

    @property
    def _worker(self) -> bool:
        return self.cluster is not None and self.cluster.role == "worker"

    def search_one(self, space, progress) -> None:
        """One budget's search in this process (alone, or as a worker of a chief), then (not on a
        worker) its selection."""
        from ._tuner import MAX_CONSECUTIVE_FAILURES, TimeLimitReached, atomic_kerastuner_state, kerastuner_output

        tuner, started, count = self._tuner(space, progress)
        budget = space.budget
        try:
            with kerastuner_output(), atomic_kerastuner_state():
                tuner.search(verbose=0)
        except TimeLimitReached:
            self.time_limit_reached[budget] = time.perf_counter() - started
            logger.info("budget %s: time limit of %s s reached after %d trials; selecting among them", budget,
                        f"{self.options.time_limit:g}", count["done"])
        except RuntimeError as exc:  # KerasTuner stops after too many consecutive failed trials
            if "consecutive failures" not in str(exc):
                raise
            logger.warning("budget %s: search stopped after %d consecutive failed trials", budget,
                           MAX_CONSECUTIVE_FAILURES)
        if not self._worker:
            select(self, budget, tuner, progress)

    def serve(self, spaces, progress) -> None:
        """The chief: serve every budget's oracle (the ``i``-th at ``port + i``) until the workers have
        run every budget's trials, then collect their records, select and compress each budget."""
        from ._tuner import LostTrialWatchdog, atomic_kerastuner_state, kerastuner_cluster, kerastuner_output, \
            serve_oracles

        c = self.cluster
        tuners = []
        for i, space in enumerate(spaces):
            with kerastuner_cluster(c, i):
                tuners.append(self._tuner(space, progress)[0])
        ports = [c.port + i for i in range(len(spaces))]
        logger.info("chief serving %s", ", ".join(f"budget {s.budget} at {c.host}:{p}" for s, p in zip(spaces, ports)))
        with kerastuner_output(), atomic_kerastuner_state(), contextlib.ExitStack() as stack:
            for tuner in tuners:
                tuner.save()
            watchdogs = [stack.enter_context(LostTrialWatchdog(t.oracle, c.trial_timeout)) for t in tuners]
            serve_oracles(c.host, ports, [t.oracle for t in tuners])
            stopped = time.monotonic()
        last_end = max((w.last_end for w in watchdogs if w.last_end is not None), default=None)
        lag = None if last_end is None else round(stopped - last_end, 2)
        logger.info("the chief stopped serving %s s after the last trial ended", lag)
        for space, port, tuner, watchdog in zip(spaces, ports, tuners, watchdogs):
            budget = space.budget
            self.distributed[str(budget)] = {"port": port, "exit_lag_s": lag, "lost_trials": watchdog.lost,
                                             "gone_workers": watchdog.gone}
            self._collect(tuner, budget, lost=watchdog.lost)
            select(self, budget, tuner, progress)
            if self.options.compress is not None:
                self.compress(budget, progress)

    def _collect(self, tuner, budget: int, lost: Mapping[str, str] | None = None) -> int:
        """Add the records of every ended trial found in the tuner's directory; return how many."""
        from keras_tuner.engine.trial import TrialStatus as KerasTunerStatus

        added = 0
        for trial_id in list(tuner.oracle.end_order):
            trial = tuner.oracle.trials.get(trial_id)
            if trial is None or trial.status not in (KerasTunerStatus.COMPLETED, KerasTunerStatus.FAILED):
                continue
            record = tuner.load_record(trial_id)
            if record is None and trial.status == KerasTunerStatus.FAILED:  # no worker wrote its record:
                reason = (lost or {}).get(trial_id) or trial.message or "failed on a worker that wrote no record"
                record = TrialRecord(budget=budget, trial_id=trial_id, status=FAILED, spec=None, params=0,
                                     reason=reason)  # its worker died mid-trial, or ended it and died
            if record is not None and record.key not in self.records:
                self.records[record.key] = record
                added += 1
        self.flush()
        return added

    def compress(self, budget: int, progress) -> None:
        """Compression stages of the budget's selected model, as records of this result."""
        stages = compress_selected(self.result(), self.data, self.root, budgets=[budget], seed=self.options.seed,
                                   progress=progress, **self.options.compress)
        for record in stages.records:
            self.add(record)
        logger.info("budget %s: %d compression stages", budget, len(stages.records))
