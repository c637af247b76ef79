"""A search's options, declared once: defaults, checks, command-line flags and the settings
written to ``result.json``.

Each field of :class:`SearchOptions` is one option: its default, its help text and, where the
command line has it, its flag (:func:`option` stores them in the field's metadata; see
:func:`cli_options`). :func:`~mnistopt.search_under_budget` builds a ``SearchOptions`` from
its keyword arguments (a test holds the signature's defaults equal to the fields'), the CLI
derives ``mnistopt search``'s flags and defaults from the fields, and ``result.json``'s
``settings`` are :meth:`SearchOptions.settings`, every field. ``SearchOptions`` is frozen and
validates itself on creation (like scikit-learn's parameter constraints). A distributed
search's role and address are a :class:`ClusterOptions`. Nothing here reads data or imports
TensorFlow, so bad options fail before any work.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ._checks import check_choice, check_float, check_int
from .data import EpochStream
from .errors import ArgumentError, BudgetError, InvalidTypeError
from .tuners import TUNERS, Tuner
from .compression import DEFAULT_COMPRESSION, DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_QUANTIZE, check_compress
from .kinds import BUDGET_KINDS, BudgetKind, ParamsBudget, get_kind
from .limits import LIMIT_FORMAT, LIMITS, Limits
from .dimensions import as_choice
from .families import get_family
from .space import SearchSpace

__all__ = ["SearchOptions", "ClusterOptions", "Tuner", "CliFlag", "option", "cli_options", "DEFAULTS",
           "DEFAULT_COMPRESSION", "DEFAULT_FINE_TUNE_EPOCHS", "DEFAULT_QUANTIZE", "DEFAULT_MAX_EPOCHS",
           "SMALL_BUDGET_MAX_EPOCHS", "DEFAULT_HYPERBAND_FACTOR", "DEFAULT_TRIAL_TIMEOUT", "AUTO_EPOCH_IMAGES",
           "SMALL_BUDGET_EPOCH_IMAGES", "TUNERS", "check_budgets", "parse_int_or_auto", "parse_epoch_images",
           "parse_patience"]


#: Epochs of a fully trained trial (Hyperband's top rung) and Hyperband's reduction factor (44 trials:
#: rungs of 2, 8 and 30 epochs), chosen on a development split carved from the training files
#: (``benchmarks/defaults.py``).
DEFAULT_MAX_EPOCHS = 30
DEFAULT_HYPERBAND_FACTOR = 4
#: ``max_epochs="auto"`` (the default) gives a budget up to its kind's ``small_budget`` (10,000
#: parameters; see :class:`~mnistopt.kinds.ParamsBudget`) a top rung of ``SMALL_BUDGET_MAX_EPOCHS``:
#: a small model's epoch costs little, and on the development split its selected model kept gaining
#: past 30 epochs where a 72,842-parameter one did not (``benchmarks/defaults.py``, new / new-60).
SMALL_BUDGET_MAX_EPOCHS = 60
#: ``epoch_images="auto"`` (the default): above a budget kind's ``small_budget`` a schedule epoch is
#: ``AUTO_EPOCH_IMAGES`` images, the size of MNIST-10k's train split on which the schedules (epochs,
#: Hyperband rungs) were chosen; up to it, ``SMALL_BUDGET_EPOCH_IMAGES`` (a small model's epoch costs
#: little, and it keeps gaining from more steps). A larger train split is read as a class-stratified
#: stream (:class:`~mnistopt.data.EpochStream`). Measured with ``benchmarks/fullsize.py`` on
#: MNIST-10k tiled to 60,000 images against full passes, on validation accuracy: 9,000 images cost
#: the 4,034 budget 1.8 points, 27,000 0.4 and 36,000 0.3; 72,842 and 93,322 lost 0.3 and 0.2 at
#: 9,000. The three budgets took 10.1 minutes instead of 24.8 on this project's 2-core machine.
AUTO_EPOCH_IMAGES = 9_000
SMALL_BUDGET_EPOCH_IMAGES = 36_000
#: Seconds a distributed worker may stay silent while it runs a trial (it beats every few seconds
#: while it trains) before the chief takes the trial from it and queues it again.
DEFAULT_TRIAL_TIMEOUT = 600.0
_MAX_BUDGET = 10**9


def parse_int_or_auto(text: str) -> int | str:
    """A command line's ``N`` or ``auto`` (the range is checked by :class:`SearchOptions`)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number or auto, got {text!r}") from None


def _int_auto_or(word: str, text: str) -> int | str | None:
    """``text`` as a whole number, ``auto``, or ``word`` (read as ``None``)."""
    if text == word:
        return None
    try:
        return parse_int_or_auto(text)
    except ValueError:
        raise ValueError(f"expected a whole number, auto or {word}, got {text!r}") from None


def parse_epoch_images(text: str) -> int | str | None:
    """A command line's ``--epoch-images``: a whole number, ``auto`` or ``full`` (a full pass: ``None``)."""
    return _int_auto_or("full", text)


def parse_patience(text: str) -> int | str | None:
    """A command line's ``--patience``: a whole number, ``auto`` or ``none`` (no early stopping)."""
    return _int_auto_or("none", text)


@dataclasses.dataclass(frozen=True)
class CliFlag:
    """How an option is written on ``mnistopt search``'s command line: ``parse`` turns the text into
    the value (``None``: a switch, ``--flag`` for ``True``)."""

    flag: str
    parse: Callable[[str], Any] | None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    repeat: bool = False  # the flag may be given several times; the option gets the list


def option(default: Any, help: str, cli: CliFlag | None = None) -> Any:
    """A :class:`SearchOptions` field: its default, its help text (the CLI's and the docs') and its
    command-line flag (``None``: not on the command line)."""
    return dataclasses.field(default=default, metadata={"help": help, "cli": cli})


def cli_options() -> Iterator[tuple[dataclasses.Field, CliFlag]]:
    """Every option ``mnistopt search`` takes on its command line, with its flag, in declaration order.

    Example:
        >>> [flag.flag for _, flag in cli_options()][:3]
        ['--budget-kind', '--tuner', '--max-trials']
    """
    for f in dataclasses.fields(SearchOptions):
        if f.metadata.get("cli") is not None:
            yield f, f.metadata["cli"]


@dataclasses.dataclass(frozen=True)
class SearchOptions:
    """Every option of a budget search, with its default; checked and normalised on creation.

    ``patience="auto"`` becomes 3 for random/bayesian and ``None`` for the
    others; ``compress`` becomes ``None`` or the stages' options; ``space``
    is checked against ``budget_kind`` (its choices, not yet a budget).

    Example:
        >>> options = SearchOptions(tuner="Random", compress=True)
        >>> options.tuner, options.patience, options.compress["sparsity"], options.max_epochs
        (<Tuner.RANDOM: 'random'>, 3, [0.5, 0.9], 'auto')
        >>> options.epochs_for(4034), options.epochs_for(72842), SearchOptions(max_epochs=20).epochs_for(4034)
        (60, 30, 20)
        >>> SearchOptions(budget_kind="nonzero").epochs_for(4034), SearchOptions(budget_kind="bytes").epochs_for(4034)
        (60, 30)
        >>> SearchOptions(max_epochs=0)
        Traceback (most recent call last):
        ...
        mnistopt.errors.ArgumentError: `max_epochs` must be an integer in [1, 10000]. Received: max_epochs=0. Pass a value in that range.
        >>> SearchOptions(max_epochs="long")
        Traceback (most recent call last):
        ...
        mnistopt.errors.ArgumentError: `max_epochs` must be 'auto' or an integer in [1, 10000]. Received: max_epochs='long'.
    """

    budget_kind: str | BudgetKind = option(
        "params", "what a budget counts: parameters (default), non-zero weights after magnitude pruning, or bytes "
        "of the exported .tflite file", CliFlag("--budget-kind", str, choices=tuple(BUDGET_KINDS)))
    tuner: str | Tuner = option(
        Tuner.HYPERBAND.value, f"the KerasTuner oracle: {', '.join(TUNERS[:-1])} or {TUNERS[-1]} (default: "
        f"{Tuner.HYPERBAND.value})",
        CliFlag("--tuner", str))
    max_trials: int | None = option(
        None, "trials per budget (default: the whole Hyperband schedule; 20 for random and bayesian; the whole grid)",
        CliFlag("--max-trials", int, "N"))
    max_epochs: int | str = option(
        "auto", f"epochs of a fully trained trial (Hyperband's top rung), or auto (default): "
        f"{SMALL_BUDGET_MAX_EPOCHS} at parameter and non-zero budgets up to {ParamsBudget.small_budget:,} in MLP-only "
        f"searches, "
        f"{DEFAULT_MAX_EPOCHS} otherwise",
        CliFlag("--max-epochs", parse_int_or_auto, "N"))
    seed: int = option(0, "seeds the sampler, the validation split and each trial's training")
    patience: int | None | str = option(
        "auto", "early-stopping patience in epochs, auto (default: 3 for random and bayesian, no early stopping for "
        "hyperband and grid) or none", CliFlag("--patience", parse_patience, "N"))
    hyperband_factor: int = option(
        DEFAULT_HYPERBAND_FACTOR, f"Hyperband's reduction factor (default: {DEFAULT_HYPERBAND_FACTOR})",
        CliFlag("--hyperband-factor", int, "N"))
    space: SearchSpace | None = option(None, "a SearchSpace that fixes or narrows dimensions (default: the full space)")
    compress: bool | Mapping[str, Any] | None = option(
        False, "also compress each budget's selected model (quantization, magnitude pruning); every stage is "
        "measured on its .tflite file and added to the result and the report", CliFlag("--compress", None))
    refit: bool = option(
        False, "retrain each selected spec on train + validation for its selected epochs; that model is saved, "
        "compressed and reported (its record keeps the validation accuracy that chose it)", CliFlag("--refit", None))
    retrain_factor: int | str = option(
        "auto", "train each selected spec again from scratch for N times its trial's epochs (its learning-rate "
        "schedule stretched with it) and ship that model, whose validation accuracy is recorded beside the "
        "trial's; 1: ship the trial's own model; auto (default): chosen by k-fold cross-validation, 2 for a CNN "
        "and for a non-zero budget, else 1", CliFlag("--retrain-factor", parse_int_or_auto, "N"))
    limits: Limits | Mapping[str, float] | Sequence[str] | None = option(
        None, f"device limits every model must meet besides the budget, as NAME=VALUE (repeatable): "
        f"{', '.join(LIMITS)}. macs and arena (the tensor arena TensorFlow Lite Micro allocates for the "
        f"{LIMIT_FORMAT} file, in bytes) are met by construction; every trained trial's {LIMIT_FORMAT} file is run "
        f"on TFLM (arena), bytes and latency_us are measured on it, and a trial over a limit fails; the selected "
        f"model's {LIMIT_FORMAT} file is written and measured (default: none)",
        CliFlag("--limit", str, "NAME=VALUE", repeat=True))
    overwrite: bool = option(False, "start afresh instead of resuming", CliFlag("--overwrite", None))
    time_limit: float | None = option(
        None, "per budget: start no new trial after this many seconds and select among the trials run "
        "(default: none)", CliFlag("--time-limit", float, "SECONDS"))
    epoch_images: int | str | None = option(
        "auto", f"images one schedule epoch trains on, drawn in a class-stratified order through a larger train "
        f"split: auto (default: {AUTO_EPOCH_IMAGES:,}, the split the schedules were chosen on, and "
        f"{SMALL_BUDGET_EPOCH_IMAGES:,} at parameter and non-zero budgets up to {ParamsBudget.small_budget:,} in MLP-only "
        f"searches), a whole "
        f"number, or full (every epoch a full pass)", CliFlag("--epoch-images", parse_epoch_images, "N"))

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "_given", {f.name: getattr(self, f.name) for f in dataclasses.fields(self)})  # for replace()
        kind = get_kind(self.budget_kind)
        set_(self, "budget_kind", kind)
        tuner = Tuner(check_choice("tuner", self.tuner, TUNERS))
        set_(self, "tuner", tuner)
        if isinstance(self.max_epochs, str):
            if self.max_epochs != "auto":
                raise ArgumentError(f"`max_epochs` must be 'auto' or an integer in [1, 10000]. "
                                    f"Received: max_epochs={self.max_epochs!r}.")
        else:
            set_(self, "max_epochs", check_int("max_epochs", self.max_epochs, minimum=1, maximum=10_000))
        set_(self, "seed", check_int("seed", self.seed, minimum=0))
        set_(self, "hyperband_factor", check_int("hyperband_factor", self.hyperband_factor, minimum=2))
        if self.max_trials is not None:
            set_(self, "max_trials", check_int("max_trials", self.max_trials, minimum=1))
        if self.time_limit is not None:
            set_(self, "time_limit", check_float("time_limit", self.time_limit, minimum=0.0, min_inclusive=False))
        if self.patience == "auto":
            set_(self, "patience", 3 if tuner.early_stopping else None)
        elif self.patience is not None:
            set_(self, "patience", check_int("patience", self.patience, minimum=0))
        space = SearchSpace() if self.space is None else self.space
        if not isinstance(space, SearchSpace):
            raise InvalidTypeError(f"`space` must be a SearchSpace. Received: {type(space).__name__}. "
                                   f"Build one with mnistopt.SearchSpace(...).")
        space.check(kind)
        set_(self, "space", space)
        if self.retrain_factor != "auto":
            if isinstance(self.retrain_factor, str):
                raise ArgumentError(f"`retrain_factor` must be 'auto' or an integer in [1, 100]. "
                                    f"Received: retrain_factor={self.retrain_factor!r}.")
            set_(self, "retrain_factor", check_int("retrain_factor", self.retrain_factor, minimum=1, maximum=100))
        for name in ("overwrite", "refit"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidTypeError(f"`{name}` must be True or False. Received: {name}={getattr(self, name)!r}.")
        set_(self, "compress", check_compress(self.compress, kind))
        limits = self.limits
        if isinstance(limits, str):
            limits = [limits]
        if isinstance(limits, (list, tuple)):
            limits = Limits.parse(limits)
        set_(self, "limits", Limits(limits))
        if self.limits and kind.selects_model:  # a search for a device ships each selected model's device
            stages = self.compress or {**DEFAULT_COMPRESSION, "quantize": [], "sparsity": []}  # file, run on TFLM
            if LIMIT_FORMAT not in stages["quantize"]:
                set_(self, "compress", {**stages, "quantize": [*stages["quantize"], LIMIT_FORMAT]})
        if self.epoch_images is not None and self.epoch_images != "auto":
            if isinstance(self.epoch_images, str):
                raise ArgumentError(f"`epoch_images` must be 'auto', None or a positive integer. "
                                    f"Received: epoch_images={self.epoch_images!r}.")
            set_(self, "epoch_images", check_int("epoch_images", self.epoch_images, minimum=1))

    def replace(self, **changes: Any) -> SearchOptions:
        """These options with ``changes`` (option names and values) made, checked again as on creation.

        Options these were created with as ``"auto"`` (or left at their default) are resolved again
        against the changed ones, as if all had been given at once.

        Raises:
            ArgumentError: a name in ``changes`` is not an option (the error lists them), or a value is bad.

        Example:
            >>> options = SearchOptions(tuner="random", max_trials=8)
            >>> options.patience, options.replace(tuner="hyperband").patience, options.replace(seed=3).max_trials
            (3, None, 8)
            >>> options.replace(max_trails=4)
            Traceback (most recent call last):
            ...
            mnistopt.errors.ArgumentError: Unknown search option(s) ['max_trails']. Expected among ['budget_kind', 'tuner', 'max_trials', 'max_epochs', 'seed', 'patience', 'hyperband_factor', 'space', 'compress', 'refit', 'retrain_factor', 'limits', 'overwrite', 'time_limit', 'epoch_images'].
        """
        names = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise ArgumentError(f"Unknown search option(s) {unknown}. Expected among {names}.")
        return SearchOptions(**{**self._given, **changes})

    @property
    def device_target(self) -> bool:
        """Whether the search's models are meant for a microcontroller: it has device limits, or it
        exports int8-io files. Its space then holds only activations TensorFlow Lite Micro runs
        (:data:`~mnistopt.footprint.TFLM_ACTIVATIONS`)."""
        return bool(self.limits) or (self.compress is not None and LIMIT_FORMAT in self.compress["quantize"])

    def epoch_images_for(self, budget: int) -> int | None:
        """Images per schedule epoch at ``budget``: ``epoch_images``, or for ``"auto"``
        :data:`SMALL_BUDGET_EPOCH_IMAGES` up to the budget kind's ``small_budget`` and
        :data:`AUTO_EPOCH_IMAGES` above (and for kinds without one); ``None``: full passes."""
        if self.epoch_images != "auto":
            return self.epoch_images
        small = self._small_budget()
        return SMALL_BUDGET_EPOCH_IMAGES if small is not None and budget <= small else AUTO_EPOCH_IMAGES

    def epoch_stream(self, train_images: int, budget: int) -> EpochStream | None:
        """What a schedule epoch at ``budget`` trains on for a train split of ``train_images`` images:
        an :class:`~mnistopt.data.EpochStream` of :meth:`epoch_images_for` images seeded by the
        search's seed, or ``None`` (a full pass) when the split is no larger."""
        return EpochStream.for_split(self.epoch_images_for(budget), train_images, self.seed)

    def epochs_for(self, budget: int) -> int:
        """Epochs of a fully trained trial at ``budget``: ``max_epochs``, or for ``"auto"``
        :data:`SMALL_BUDGET_MAX_EPOCHS` up to the budget kind's ``small_budget`` and
        :data:`DEFAULT_MAX_EPOCHS` above (and for kinds without one)."""
        if self.max_epochs != "auto":
            return self.max_epochs
        small = self._small_budget()
        return SMALL_BUDGET_MAX_EPOCHS if small is not None and budget <= small else DEFAULT_MAX_EPOCHS

    def retrain_factor_for(self, family: str) -> int:
        """How many times its trial's epochs the selected spec of ``family`` trains again:
        ``retrain_factor``, or for ``"auto"`` the larger of the family's own
        (:attr:`~mnistopt.families.CNNFamily.retrain_factor`) and the budget kind's
        (:attr:`~mnistopt.kinds.NonzeroBudget.retrain_factor`); 1 ships the trial's model.

        Example:
            >>> SearchOptions().retrain_factor_for("cnn"), SearchOptions().retrain_factor_for("mlp")
            (2, 1)
            >>> SearchOptions(budget_kind="nonzero").retrain_factor_for("mlp")
            2
            >>> SearchOptions(retrain_factor=3).retrain_factor_for("mlp")
            3
        """
        if self.retrain_factor != "auto":
            return self.retrain_factor
        return max(get_family(family).retrain_factor, self.budget_kind.retrain_factor)

    def _small_budget(self) -> int | None:
        """The budget kind's ``small_budget``, unless a family of the space trains too slowly for the
        small-budget schedule (:attr:`~mnistopt.families.CNNFamily.small_budget_schedule`).

        Example:
            >>> from mnistopt import Choice, SearchSpace
            >>> SearchOptions(space=SearchSpace(family=Choice("mlp", "cnn"))).epochs_for(4034)
            30
        """
        families = as_choice(self.space.family, "family")
        if not all(get_family(f).small_budget_schedule for f in families):
            return None
        return self.budget_kind.small_budget

    def settings(self) -> dict[str, Any]:
        """What ``result.json`` records under ``settings``: every option, JSON-ready.

        Example:
            >>> sorted(SearchOptions().settings()) == sorted(f.name for f in dataclasses.fields(SearchOptions))
            True
        """
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, BudgetKind):
                value = value.name
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, (SearchSpace, Limits)):
                value = value.to_dict()
            out[f.name] = value
        return out


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """A distributed search's role, the chief oracle's address and the lost-trial timeout.

    Example:
        >>> ClusterOptions.create("chief", "127.0.0.1:8000").tuner_id
        'chief'
    """

    role: str  # "chief" | "worker"
    host: str
    port: int
    tuner_id: str
    trial_timeout: float = DEFAULT_TRIAL_TIMEOUT

    @classmethod
    def create(cls, distributed: Any, oracle: Any, worker_id: Any = None,
               trial_timeout: Any = DEFAULT_TRIAL_TIMEOUT) -> ClusterOptions | None:
        """Checked options from the search's arguments (``None``: not distributed)."""
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
            raise ArgumentError(f"`oracle` must be 'HOST:PORT' with a port in [1, 65535], e.g. '10.0.0.5:8000'. "
                                f"Received: oracle={oracle!r}.")
        timeout = check_float("trial_timeout", trial_timeout, minimum=0.0, min_inclusive=False)
        if worker_id is not None and (not isinstance(worker_id, str) or not worker_id or "chief" in worker_id):
            raise ArgumentError(f"`worker_id` must be a non-empty name without 'chief' in it (KerasTuner reads that "
                                f"as the chief). Received: worker_id={worker_id!r}.")
        tuner_id = "chief" if role == "chief" else (worker_id or f"worker-{os.getpid()}")
        return cls(role, host, int(port_text), tuner_id, timeout)

    def check_search(self, budgets: Sequence[int], directory: Any, time_limit: float | None = None) -> None:
        """What a distributed search needs of the rest: a port per budget, a shared directory, no time limit."""
        if time_limit is not None:
            raise ArgumentError(f"`time_limit` applies to a search in one process; a distributed search ends when its "
                                f"workers have run its trials. Received: time_limit={time_limit!r} with "
                                f"distributed={self.role!r}. Bound it with max_trials instead.")
        if self.port + len(budgets) - 1 > 65535:
            raise ArgumentError(
                f"A distributed search serves its i-th budget at port + i: {len(budgets)} budgets from port "
                f"{self.port} run past 65535. Received: oracle='{self.host}:{self.port}'. Choose a lower port."
            )
        if directory is None:
            raise ArgumentError("A distributed search needs `directory`: a folder every process can read and write, "
                                "where workers leave their trials for the chief. Received: directory=None.")


def check_budgets(budget: Any) -> list[int]:
    """``budget`` (an int or a list of them) as a list of distinct positive ints, in order.

    Example:
        >>> check_budgets([4034, 72842, 4034])
        [4034, 72842]
    """
    items = list(budget) if isinstance(budget, (list, tuple)) else [budget]
    if not items:
        raise BudgetError("`budget` is an empty list. Pass a positive integer or a list of them, e.g. [4034, 72842].")
    out: list[int] = []
    for b in items:
        value = check_int("budget", b, minimum=1, maximum=_MAX_BUDGET, error=BudgetError)
        if value not in out:
            out.append(value)
    return out


#: The options' defaults, as one object (the CLI's defaults come from here).
DEFAULTS = SearchOptions()
