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
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import keras_tuner as kt
from keras_tuner.engine.trial import TrialStatus as KerasTunerStatus  # KerasTuner's own trial states

from ._io import atomic_write_json, atomic_write_text, atomic_write_with
from .artifacts import export_tflite, file_costs
from .build import build_model, load_checkpoint
from .compression import DEFAULT_FINE_TUNE_EPOCHS
from .data import Dataset
from .dimensions import DimensionKind
from .kinds import fit_file_budget
from .limits import LIMIT_FORMAT, OVER_LIMITS
from .tuners import Tuner
from .records import COMPLETED, FAILED, TrialRecord
from .space import ResolvedSpace
from .training import divergence_reason, fit_model

logger = logging.getLogger(__name__)

RECORD_FILE = "mnistopt_record.json"
#: A trial's int8-io file, exported when the search has device limits (run on TFLM; bytes, latency measured).
LIMIT_FILE = "limits.tflite"

#: KerasTuner's names this module relies on beyond its public API, as ``module:attribute``
#: (KerasTuner is pinned in pyproject.toml; ``tests/test_kerastuner_surface.py`` fails, naming
#: the missing one, when an upgrade removes any). Oracle attributes are checked on each oracle.
KERASTUNER_INTERNALS = (
    "keras_tuner.src.utils:save_json",  # atomic_kerastuner_state
    "keras_tuner.src.engine.oracle:LOCKS",  # oracle_lock
    "keras_tuner.src.engine.oracle:THREADS",
    "keras_tuner.src.protos:get_service_grpc",  # serve_oracles
    "keras_tuner.src.distribute.oracle_chief:OracleServicer",
    "keras_tuner.engine.base_tuner:BaseTuner._is_worker",  # BudgetTuner
    "keras_tuner.engine.base_tuner:BaseTuner.get_trial_dir",
    "keras_tuner.oracles:HyperbandOracle._get_num_brackets",  # planned_trials
    "keras_tuner.oracles:HyperbandOracle._get_size",
    "keras_tuner.oracles:HyperbandOracle._get_num_rounds",
)
#: Attributes every oracle must have (its state, read and repaired by reconcile_interrupted,
#: LostTrialWatchdog and the search's record collection).
ORACLE_INTERNALS = ("_retry_queue", "ongoing_trials", "tuner_ids", "end_order", "trials", "create_trial",
                    "end_trial", "get_trial")


def missing_kerastuner_internals() -> list[str]:
    """The names in :data:`KERASTUNER_INTERNALS` and :data:`ORACLE_INTERNALS` (on an oracle of each
    tuner) that the installed KerasTuner lacks: empty when every one is there."""
    import importlib

    missing = []
    for name in KERASTUNER_INTERNALS:
        module_name, _, path = name.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in path.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            missing.append(name)
    for tuner in Tuner:
        oracle = make_oracle(tuner, 1, 2, 0, 3)
        missing += [f"{type(oracle).__name__}.{a}" for a in ORACLE_INTERNALS if not hasattr(oracle, a)]
    return missing
#: A search stops after this many failed trials in a row (e.g. a space that always diverges).
MAX_CONSECUTIVE_FAILURES = 10
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
    ended = {KerasTunerStatus.COMPLETED, KerasTunerStatus.FAILED, KerasTunerStatus.STOPPED}
    queue[:] = [t for t in queue if t in oracle.trials and oracle.trials[t].status not in ended]
    orphans = [t for t, trial in sorted(oracle.trials.items())
               if trial.status == KerasTunerStatus.RUNNING and t not in queue]
    queue.extend(reversed(orphans))  # the queue is popped from its end: oldest first
    return list(queue)


class TimeLimitReached(Exception):
    """Raised by :class:`BudgetTuner` after a trial ends past its deadline; the search catches it."""


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
            if d.kind is DimensionKind.FIXED:
                hp.Fixed(d.name, d.values[0])
            elif d.kind is DimensionKind.CHOICE:
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
        prune_epochs: int = DEFAULT_FINE_TUNE_EPOCHS,
        deadline: float | None = None,
        stream: Any = None,
        **kwargs: Any,
    ):
        self.stream = stream  # an EpochStream: epochs of a fixed number of images over a larger split
        self.prune_epochs = prune_epochs
        self.deadline = deadline  # time.perf_counter() after which no trial starts
        self.dataset = dataset
        self.tensors = tensors  # the train split as tensors, converted once per search
        self.seed = seed
        self.max_epochs = max_epochs
        self.patience = patience
        self.on_record = on_record
        self._pending: dict[str, TrialRecord] = {}
        super().__init__(oracle, hypermodel, **kwargs)
        if self._is_worker():  # KerasTuner's worker asks again at once after "wait" (IDLE): pause first
            ask = self.oracle.create_trial

            def create_trial(tuner_id):
                trial = ask(tuner_id)
                if trial.status == KerasTunerStatus.IDLE:
                    time.sleep(IDLE_PAUSE)
                return trial

            self.oracle.create_trial = create_trial

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
        checked = self.load_record(parent) if parent is not None else None
        spec = space.kind.prepare(spec, values, space.budget, self.dataset,
                                  checked.spec if checked is not None else None)
        if "bytes" in space.limits:  # narrowed until its int8-io file fits (a continuation's parent fitted)
            if checked is not None:
                spec = dataclasses.replace(checked.spec, epochs=spec.epochs)
            else:
                fitted = fit_file_budget(spec, LIMIT_FORMAT, int(space.limits["bytes"]), self.dataset)
                spec = fitted if fitted.params < spec.params else spec
        budget = space.budget
        start = time.perf_counter()
        keras.backend.clear_session()  # no graph or model leaks from trial to trial
        trial_seed = self.seed * 100_003 + int(trial.trial_id)
        keras.utils.set_random_seed(trial_seed)
        model = build_model(spec)
        if parent is not None:  # Hyperband continuation: the parent's weights and optimizer state
            load_checkpoint(model, self.checkpoint_path(parent))
        outcome = fit_model(
            model, spec, self.dataset, epochs=epochs, initial_epoch=initial_epoch, seed=trial_seed,
            tensors=self.tensors, stream=self.stream, progress=self.heartbeat(trial.trial_id),
            pruning=space.kind.pruning(spec, values, budget, epochs=epochs, initial_epoch=initial_epoch),
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
        finished = space.kind.finish(model, spec, values, budget, self.dataset, self.candidate_path(trial.trial_id),
                                     seed=trial_seed, prune_epochs=self.prune_epochs)
        if finished is not None:  # the candidate is the compressed model, judged as such
            final = finished[1]
            val_accuracy, val_loss = final.pop("val_accuracy"), final.pop("val_loss")
            base.update(final)
        limits = space.limits
        over: list[str] = []
        if limits:  # a device target: the trained model's int8-io file, run on TFLM; over a limit, the trial fails
            path = os.path.join(self.get_trial_dir(trial.trial_id), LIMIT_FILE)
            export_tflite(finished[0] if finished is not None else model, path, LIMIT_FORMAT,
                          representative=self.dataset.x_train)
            costs = dataclasses.asdict(file_costs(path))
            over = limits.file_violations(costs)
            base.update({k: costs[k] for k in ("bytes", "latency_us", "arena_bytes", "tflm_arena_bytes", "tflm_reason")
                         if base.get(k) is None})
        base.update(epochs=initial_epoch + len(history["loss"]), epochs_run=len(history["loss"]),
                    wall_time_s=time.perf_counter() - start)
        if over:
            reason = f"{OVER_LIMITS}: {'; '.join(over)} (the {LIMIT_FORMAT} file of {spec.architecture})"
            self._stash(TrialRecord(status=FAILED, reason=reason, **base))
            raise kt.errors.FailedTrialError(reason)
        record = TrialRecord(status=COMPLETED, val_accuracy=val_accuracy, val_loss=val_loss, **base)
        self._stash(record)
        metrics = {"val_accuracy": val_accuracy}
        if val_loss is not None:
            metrics["val_loss"] = val_loss
        return metrics

    def heartbeat(self, trial_id: str) -> Callable[[Any], None] | None:
        """A worker's per-epoch callback telling the chief it is alive (a ``GetTrial`` request at most
        every :data:`HEARTBEAT_INTERVAL` seconds), or ``None`` outside a distributed search."""
        if not self._is_worker():
            return None
        last = [time.monotonic()]

        def beat(_event: Any) -> None:
            if time.monotonic() - last[0] >= HEARTBEAT_INTERVAL:
                self.oracle.get_trial(trial_id)
                last[0] = time.monotonic()

        return beat

    def candidate_path(self, trial_id: str) -> str | None:
        """The compressed candidate of a trial whose kind has one (``.weights.h5`` or ``.tflite``).

        Every pruned trial fine-tunes ``prune_epochs`` epochs, short trials
        included, with the spec's augmentation and label smoothing, so the
        pruned candidates of a rung are ranked after the same fine-tuning.
        """
        name = self.hypermodel.space.kind.candidate_file
        return None if name is None else os.path.join(self.get_trial_dir(trial_id), name)

    def _stash(self, record: TrialRecord) -> None:
        atomic_write_json(self.record_path(record.trial_id), record.to_dict())
        self._pending[record.trial_id] = record

    def on_trial_end(self, trial: kt.engine.trial.Trial) -> None:
        try:
            super().on_trial_end(trial)  # KerasTuner saves the trial's final state first
        finally:  # ... or raises after too many consecutive failures: record the trial anyway
            self._report(trial)
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            raise TimeLimitReached  # leaves KerasTuner's loop before it creates the next trial

    def _report(self, trial: kt.engine.trial.Trial) -> None:
        record = self._pending.pop(trial.trial_id, None)
        if record is not None and record.status == COMPLETED and trial.status not in (KerasTunerStatus.COMPLETED, None):
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


@contextlib.contextmanager
def kerastuner_cluster(cluster: Any, index: int = 0):
    """KerasTuner's distributed mode is switched on by three environment variables; set them
    for the duration of one budget's search and restore them afterwards. The ``index``-th budget
    of a run has its oracle at ``cluster.port + index``."""
    if cluster is None:
        yield
        return
    keys = {"KERASTUNER_TUNER_ID": cluster.tuner_id, "KERASTUNER_ORACLE_IP": cluster.host,
            "KERASTUNER_ORACLE_PORT": str(cluster.port + index)}
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


#: Seconds a worker pauses after the chief answers "wait" (no trial free yet) before asking again.
IDLE_PAUSE = 0.5
#: Seconds between a worker's heartbeats while it trains a trial (at most one per epoch).
HEARTBEAT_INTERVAL = 5.0
#: Seconds a worker may stay silent *between* trials (no trial running, no request for the next)
#: before the chief takes it as gone. A live worker asks for its next trial within milliseconds
#: of ending one, and asks again at once while the oracle has nothing for it yet.
WORKER_IDLE_TIMEOUT = 30.0


@contextlib.contextmanager
def oracle_lock(oracle) -> Iterator[None]:
    """Hold the lock KerasTuner's ``@synchronized`` oracle methods take (so the gRPC threads and
    the watchdog never change an oracle's state at once); its methods may be called inside."""
    import threading

    from keras_tuner.src.engine import oracle as kt_oracle

    name = threading.current_thread().name
    if kt_oracle.THREADS[oracle] == name:  # already held by this thread
        yield
        return
    kt_oracle.LOCKS[oracle].acquire()
    kt_oracle.THREADS[oracle] = name
    try:
        yield
    finally:
        kt_oracle.THREADS[oracle] = None
        kt_oracle.LOCKS[oracle].release()


class LostTrialWatchdog:
    """Chief side: forget workers that died, mid-trial or between trials, and lose no trial.

    KerasTuner's chief stops serving only when no trial is running and every
    worker it has seen has been told the search is over, so a worker killed at
    any moment would keep it waiting forever. This thread checks every
    ``interval`` seconds. A running trial whose worker has not been heard from
    for ``timeout`` seconds (workers send a heartbeat every
    :data:`HEARTBEAT_INTERVAL` seconds while they train) is taken from it and
    queued again, so the next worker to ask runs it (``lost``); a trial lost a
    second time is ended as failed instead (it may be what kills its workers).
    A worker with no trial running that has not asked for one for
    ``idle_timeout`` seconds is forgotten (``gone``: it ran no trial then, so
    none is lost). A forgotten worker that was only slow is welcome back: its
    next request registers it again.
    """

    def __init__(self, oracle, timeout: float, interval: float = 1.0, idle_timeout: float = WORKER_IDLE_TIMEOUT):
        import threading

        self.oracle, self.timeout, self.interval, self.idle_timeout = oracle, timeout, interval, idle_timeout
        self.lost: dict[str, str] = {}  # trial id -> message
        self.gone: dict[str, str] = {}  # worker (tuner id) -> message
        self.contact: dict[str, float] = {}  # worker -> when it last asked for a trial, beat or ended one
        self.last_end: float | None = None  # when the last trial ended (the chief's exit lag counts from it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mnistopt-lost-trials", daemon=True)
        create, end, get = oracle.create_trial, oracle.end_trial, oracle.get_trial

        def worker_of(trial_id):
            return next((t for t, running in list(self.oracle.ongoing_trials.items())
                         if running.trial_id == trial_id), None)

        def create_trial(tuner_id, *args, **kwargs):  # what the chief's gRPC servicer calls
            self.contact[tuner_id] = time.monotonic()
            with oracle_lock(self.oracle):
                trial = create(tuner_id, *args, **kwargs)
                if trial.status == KerasTunerStatus.STOPPED and self.oracle.ongoing_trials:
                    # KerasTuner stops a worker once no new trial is left, while others still run
                    # theirs; keep it waiting instead, so a lost trial queued again finds a worker
                    self.oracle.tuner_ids.add(tuner_id)
                    trial.status = KerasTunerStatus.IDLE
            self.contact[tuner_id] = time.monotonic()  # a new trial's silence counts from here
            return trial

        def end_trial(trial, *args, **kwargs):
            self.last_end = time.monotonic()
            tuner_id = worker_of(trial.trial_id)
            if tuner_id is not None:
                self.contact[tuner_id] = self.last_end
            return end(trial, *args, **kwargs)

        def get_trial(trial_id, *args, **kwargs):  # a worker's heartbeat (BudgetTuner.heartbeat)
            tuner_id = worker_of(trial_id)
            if tuner_id is not None:
                self.contact[tuner_id] = time.monotonic()
            return get(trial_id, *args, **kwargs)

        oracle.create_trial, oracle.end_trial, oracle.get_trial = create_trial, end_trial, get_trial

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for name in ("create_trial", "end_trial", "get_trial"):
            self.oracle.__dict__.pop(name, None)  # the class's own methods again

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            with oracle_lock(self.oracle):
                self.check(time.monotonic())

    def check(self, now: float) -> None:
        """One round of the watch (the oracle's lock held)."""
        oracle = self.oracle
        for tuner_id, trial in list(oracle.ongoing_trials.items()):
            quiet = now - self.contact.setdefault(tuner_id, now)
            if quiet <= self.timeout:
                continue
            again = trial.trial_id in self.lost
            message = (f"Trial {trial.trial_id}'s worker {tuner_id} was silent for {quiet:.0f} s (over "
                       f"trial_timeout={self.timeout:g} s) and is taken as lost; the trial "
                       + ("was lost before too and is ended as failed." if again else "is queued again."))
            logger.warning("%s", message)
            self.lost[trial.trial_id] = (self.lost[trial.trial_id] + " " + message) if again else message
            oracle.tuner_ids.discard(tuner_id)
            if again:
                trial.status = KerasTunerStatus.FAILED
                trial.message = message
                oracle.end_trial(trial)
            else:  # KerasTuner's own retry queue: the next create_trial hands it out again
                del oracle.ongoing_trials[tuner_id]
                oracle._retry_queue.append(trial.trial_id)
                oracle.save()
        for tuner_id in list(oracle.tuner_ids):
            quiet = now - self.contact.setdefault(tuner_id, now)
            if tuner_id not in oracle.ongoing_trials and quiet > self.idle_timeout:
                message = (f"Worker {tuner_id} ran no trial and asked for none for {quiet:.0f} s (over "
                           f"{self.idle_timeout:g} s); it is taken as gone.")
                logger.warning("%s", message)
                self.gone[tuner_id] = message
                oracle.tuner_ids.discard(tuner_id)


#: Chief: how often the server loop checks whether every budget's search has ended (the
#: chief's exit lag after the last trial, when every worker has been told to stop).
SERVER_POLL = 0.5
#: Chief: seconds it keeps answering after every search has ended, before it stops serving. A
#: worker can be between two requests at that moment (pausing :data:`IDLE_PAUSE` after "wait", or
#: with a request on its way that the ended-check did not see yet): it is told "stopped" then,
#: instead of finding the chief gone (gRPC's "Cancelling all calls", a crashed worker).
STOP_LINGER = IDLE_PAUSE + 1.5


def serve_oracles(host: str, ports: Sequence[int], oracles: Sequence[Any], poll: float = SERVER_POLL) -> None:
    """Serve each oracle over gRPC at ``host:port`` (one port each) until every one's search has ended.

    KerasTuner's own ``start_server`` serves one oracle and checks every 20 s
    whether it may stop; this serves several budgets at once (a worker goes
    from one budget's port to the next, and one that joins late finds the
    finished budgets answering "stopped" at once) and checks every ``poll``
    seconds. A budget has ended when a worker has been told so and no trial
    is running and no worker waits (KerasTuner's rule).
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    servers, servicers = [], []
    try:
        for port, oracle in zip(ports, oracles):
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
            servicer = OracleServicer(oracle)
            protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
            if server.add_insecure_port(f"{host}:{port}") == 0:
                raise OSError(f"the chief cannot listen at {host}:{port} (in use?)")
            server.start()
            servers.append(server)
            servicers.append(servicer)

        def ended(servicer, oracle) -> bool:
            with oracle_lock(oracle):
                return servicer.stop_triggered and not oracle.ongoing_trials and not oracle.tuner_ids

        while not all(ended(s, o) for s, o in zip(servicers, oracles)):
            time.sleep(poll)
        time.sleep(STOP_LINGER)  # every search has ended: a late request is answered "stopped"
    finally:
        for server in servers:
            server.stop(grace=1.0)  # a request already in flight still gets its answer


def make_oracle(name: Tuner, max_trials: int | None, max_epochs: int, seed: int, factor: int):
    import keras_tuner as kt

    objective = kt.Objective("val_accuracy", direction="max")
    # KerasTuner treats seed=0 as "no seed" (``seed or random.randint(...)``): shift by one.
    common = dict(objective=objective, seed=seed + 1, max_consecutive_failed_trials=MAX_CONSECUTIVE_FAILURES)
    if name is Tuner.HYPERBAND:
        oracle = kt.oracles.HyperbandOracle(max_epochs=max_epochs, factor=factor, **common)
        oracle.max_trials = max_trials  # Oracle.create_trial stops once this many exist
        return oracle
    if name is Tuner.BAYESIAN:
        return kt.oracles.BayesianOptimizationOracle(max_trials=max_trials or 20, **common)
    if name is Tuner.RANDOM:
        return kt.oracles.RandomSearchOracle(max_trials=max_trials or 20, **common)
    return kt.oracles.GridSearchOracle(max_trials=max_trials, **common)


def planned_trials(oracle, name: Tuner, max_trials: int | None) -> int | None:
    """How many trials the search will run (for progress and ETA)."""
    if name is Tuner.HYPERBAND:
        brackets = oracle._get_num_brackets()
        total = sum(
            oracle._get_size(b, r) for b in range(brackets) for r in range(oracle._get_num_rounds(b))
        ) * int(oracle.hyperband_iterations)
        return min(total, max_trials) if max_trials else total
    if name is Tuner.GRID:
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
def kerastuner_output():
    with contextlib.redirect_stdout(_LogWriter()), contextlib.redirect_stderr(_LogWriter()):
        yield
