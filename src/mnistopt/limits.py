"""Device limits a search holds every trial within, beside its budget: one declaration each.

A microcontroller has flash for the file, RAM for the tensor arena and a time per inference,
not "a parameter budget". Each :class:`Limit` says what it measures, in what unit, which
:class:`~mnistopt.records.TrialRecord` field holds it, and how it is checked:

* **by arithmetic on the spec** (``macs``, ``arena``): a sampled model is made as wide as the
  budget *and* these limits allow before it trains (:meth:`Limits.fits` in the search space),
  so no trial is spent on a model over them; the arena is the one TensorFlow Lite Micro
  allocates for the model's int8 file with int8 input and output
  (:func:`mnistopt.footprint.tflm_arena`, an upper bound of TFLM's own figure), and each trained
  trial's file is then allocated on TFLM, its arena measured there and held to the limit;
* **on the file** (``bytes``, ``latency_us``): each trained trial's int8 file (int8 input and
  output) is exported and measured; a trial over a limit is recorded as failed, with the
  reason, and is never selected. ``bytes`` also narrows the model before training, by the int8
  format's byte per weight, so few trials fail it.

:class:`Limits` is the set a search runs under: ``Limits.parse(["macs=100000", "arena=4096"])``,
``Limits({"macs": 100_000})``, or :meth:`Limits.from_device` for a device profile file.

Pure Python: no TensorFlow import.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import ArgumentError, InvalidTypeError
from .footprint import tflm_arena
from .tflm import NOT_INSTALLED

__all__ = ["Limit", "LIMITS", "Limits", "LIMIT_FORMAT", "DEVICE_KEYS", "OVER_LIMITS"]

#: The file a limit is measured on, and whose arena the arithmetic gives: int8 weights and
#: activations with int8 input and output (what a microcontroller runs).
LIMIT_FORMAT = "int8-io"
#: How a trial over a measured limit's failure reason begins (the report counts them).
OVER_LIMITS = "over the limits"
_FILE_ALLOWANCE = 2048  # bytes of a small file's own structure, for narrowing before training (checked on the file)


@dataclasses.dataclass(frozen=True)
class Limit:
    """One kind of device limit.

    Attributes:
        name: its key (``--limit NAME=VALUE``).
        unit: what its value counts.
        field: the :class:`~mnistopt.records.TrialRecord` field that holds a trial's figure.
        description: one line for the docs and the report.
        of_spec: the figure by arithmetic on a spec (the limit is met by construction), or
            ``None`` (measured on the trained trial's file).
        params_cap: for a measured limit, the most parameters a model within it can have (it
            narrows models before training), or ``None``.
        on_file: also checked on each trained trial's file, though met by construction (the
            arena: the arithmetic is checked against TFLM's own allocator).
    """

    name: str
    unit: str
    field: str
    description: str
    of_spec: Callable[[Any], int] | None = None
    params_cap: Callable[[float], int] | None = None
    on_file: bool = False

    @property
    def by_construction(self) -> bool:
        """Whether the search meets it before training (arithmetic on the spec)."""
        return self.of_spec is not None

    @property
    def measured(self) -> bool:
        """Whether each trained trial's file is measured against it."""
        return self.on_file or self.of_spec is None

    def arithmetic(self, spec: Any) -> int | None:
        """The figure by arithmetic on ``spec``, or ``None`` when this limit has none or the spec's family
        does not say how the converter lowers it (a family of the user's own: the arena is then only
        measured on each trained trial's file)."""
        if self.of_spec is None:
            return None
        try:
            return self.of_spec(spec)
        except NotImplementedError:
            return None


#: Every limit a search takes, by name.
LIMITS: dict[str, Limit] = {limit.name: limit for limit in (
    Limit("macs", "multiply-accumulates per image", "macs",
          "multiply-accumulates for one image (arithmetic on the model)", of_spec=lambda spec: spec.macs),
    Limit("arena", "bytes", "tflm_arena_bytes",
          f"tensor arena TensorFlow Lite Micro allocates for the model's {LIMIT_FORMAT} file (arithmetic on the "
          f"model, an upper bound; then measured on TFLM)", of_spec=tflm_arena, on_file=True),
    Limit("bytes", "bytes", "bytes", f"size of the trained model's {LIMIT_FORMAT} .tflite file (measured)",
          params_cap=lambda value: max(1, int(value - _FILE_ALLOWANCE))),
    Limit("latency_us", "microseconds", "latency_us",
          f"median single-image latency of the trained model's {LIMIT_FORMAT} file on this machine's CPU, one "
          f"thread (measured)"),
)}

#: A device profile's keys (:meth:`Limits.from_device`) and the limit each one sets.
DEVICE_KEYS = {"flash_bytes": "bytes", "ram_bytes": "arena", "macs": "macs", "latency_us": "latency_us"}


class Limits(Mapping[str, float]):
    """The device limits of a search, by name (:data:`LIMITS`); empty: none.

    Example:
        >>> from mnistopt import MLPSpec
        >>> from mnistopt.limits import Limits
        >>> limits = Limits.parse(["macs=100000", "arena=4096"])
        >>> dict(limits), limits.by_construction
        ({'macs': 100000, 'arena': 4096}, True)
        >>> limits.fits(MLPSpec(hidden=(128, 64))), limits.fits(MLPSpec(hidden=(16,), crop=4, pool=True))
        (False, True)
        >>> limits.violations(MLPSpec(hidden=(128, 64)))
        ['macs 109,184 > 100,000', 'arena 4,208 > 4,096']
        >>> Limits.parse(["ram=4096"])
        Traceback (most recent call last):
        ...
        mnistopt.errors.ArgumentError: Unknown limit 'ram' in 'ram=4096'. Limits: macs, arena, bytes, latency_us.
    """

    def __init__(self, values: Mapping[str, float] | None = None):
        if values is None:
            values = {}
        if isinstance(values, Limits):
            values = dict(values)
        if not isinstance(values, Mapping):
            raise InvalidTypeError(f"`limits` must be a mapping of limit names to values, e.g. "
                                   f"{{'macs': 100000}}. Received: {values!r} (type {type(values).__name__}).")
        checked = {}
        for name, value in values.items():
            if name not in LIMITS:
                raise ArgumentError(f"Unknown limit {name!r}. Limits: {', '.join(LIMITS)}.")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ArgumentError(f"Limit {name!r} must be a positive number. Received: {value!r}.")
            checked[name] = int(value) if float(value).is_integer() else float(value)
        self._values = {name: checked[name] for name in LIMITS if name in checked}  # declaration order

    @classmethod
    def parse(cls, items: Iterable[str]) -> Limits:
        """Limits from ``NAME=VALUE`` strings (``--limit``); a name given twice keeps the last value."""
        values: dict[str, float] = {}
        for item in items:
            name, sep, text = str(item).partition("=")
            name = name.strip()
            if not sep or not name:
                raise ArgumentError(f"A limit is NAME=VALUE, e.g. macs=100000. Received: {item!r}.")
            if name not in LIMITS:
                raise ArgumentError(f"Unknown limit {name!r} in {item!r}. Limits: {', '.join(LIMITS)}.")
            try:
                values[name] = float(text.replace("_", ""))
            except ValueError:
                raise ArgumentError(f"Limit {name!r} must be a positive number. Received: {item!r}.") from None
        return cls(values)

    @classmethod
    def from_device(cls, path: str | os.PathLike) -> Limits:
        """The limits of a device profile: a JSON object with any of ``flash_bytes`` (the file's
        bytes), ``ram_bytes`` (the tensor arena), ``macs`` and ``latency_us``, and an optional
        ``name``. The numbers are the user's, from the device's datasheet; mnistopt ships none.

        Example:
            >>> import json, tempfile, os
            >>> from mnistopt.limits import Limits
            >>> path = os.path.join(tempfile.mkdtemp(), "board.json")
            >>> _ = open(path, "w").write(json.dumps({"name": "my board", "flash_bytes": 65536, "ram_bytes": 8192}))
            >>> dict(Limits.from_device(path))
            {'arena': 8192, 'bytes': 65536}
        """
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ArgumentError(f"No device profile at {p}.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArgumentError(f"Cannot read the device profile {p}: {exc}. It must be a JSON object such as "
                                f'{{"name": "my board", "flash_bytes": 65536, "ram_bytes": 8192}}.') from None
        if not isinstance(data, dict):
            raise ArgumentError(f"The device profile {p} must be a JSON object. Received: {type(data).__name__}.")
        unknown = sorted(set(data) - set(DEVICE_KEYS) - {"name"})
        if unknown:
            raise ArgumentError(f"Unknown key(s) {unknown} in the device profile {p}. Keys: name, "
                                f"{', '.join(DEVICE_KEYS)}.")
        return cls({DEVICE_KEYS[k]: v for k, v in data.items() if k in DEVICE_KEYS})

    # -- the Mapping protocol ---------------------------------------------------------------------------

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Limits({self._values!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    __hash__ = None  # type: ignore[assignment]

    # -- checks --------------------------------------------------------------------------------------------

    @property
    def by_construction(self) -> bool:
        """Whether every limit is met before training (none needs the trained file)."""
        return all(LIMITS[name].by_construction for name in self)

    @property
    def measured(self) -> tuple[str, ...]:
        """The limits checked on each trained trial's file."""
        return tuple(name for name in self if LIMITS[name].measured)

    def params_cap(self) -> int | None:
        """The most parameters the measured limits allow a model (narrowing it before training)."""
        caps = [LIMITS[n].params_cap(v) for n, v in self.items() if LIMITS[n].params_cap is not None]
        return min(caps) if caps else None

    def figures(self, spec: Any) -> dict[str, int]:
        """The record fields the arithmetic gives for ``spec`` (e.g. ``{"macs": ..., "arena_bytes": ...}``),
        for every limit known by arithmetic, set or not."""
        return {limit.field: int(figure) for limit in LIMITS.values() if (figure := limit.arithmetic(spec)) is not None}

    def violations(self, spec: Any) -> list[str]:
        """What ``spec`` exceeds among the limits known by arithmetic (and the parameter cap)."""
        out = []
        for name, value in self.items():
            limit = LIMITS[name]
            if (figure := limit.arithmetic(spec)) is not None and figure > value:
                out.append(f"{name} {figure:,} > {value:,}")
        cap = self.params_cap()
        if cap is not None and spec.params > cap:
            out.append(f"params {spec.params:,} > {cap:,} (what bytes={self['bytes']:,} allows)")
        return out

    def fits(self, spec: Any) -> bool:
        """Whether ``spec`` is within every limit known before training."""
        return not self.violations(spec)

    def file_violations(self, costs: Mapping[str, Any]) -> list[str]:
        """What a measured file exceeds: ``costs`` holds the :class:`~mnistopt.artifacts.FileCosts` fields.
        A file TFLM does not run breaks every limit (a device cannot run it); one TFLM did not measure
        (not installed) is held to the arena by the arithmetic alone."""
        reason = costs.get("tflm_reason")
        if self and reason is not None and costs.get("tflm_arena_bytes") is None and reason != NOT_INSTALLED:
            return [f"does not run on TFLM ({reason})"]
        out = []
        for name in self.measured:
            figure = costs.get(LIMITS[name].field)
            if figure is not None and figure > self[name]:
                out.append(f"{name} {figure:,.1f} > {self[name]:,}" if isinstance(figure, float)
                           else f"{name} {figure:,} > {self[name]:,}")
        return out

    def describe(self) -> str:
        """One line for logs and the report, e.g. ``macs <= 100,000; arena <= 4,096 bytes``."""
        return "; ".join(f"{n} <= {v:,} {'' if LIMITS[n].unit.startswith('multiply') else LIMITS[n].unit}".rstrip()
                         for n, v in self.items()) or "none"

    def to_dict(self) -> dict[str, float]:
        """JSON-ready (for result files and settings)."""
        return dict(self._values)
