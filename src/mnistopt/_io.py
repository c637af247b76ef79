"""Atomic file writes: a reader never sees a half-written file.

Each writer writes a temporary file in the target's directory, flushes and
fsyncs it, then renames it over the target (atomic on POSIX). Also
:func:`silence_fd`, for C++ libraries that print to a file descriptor.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import OutputDirError

__all__ = ["ensure_dir", "atomic_write_text", "atomic_write_json", "atomic_write_with", "silence_fd"]


def ensure_dir(path: str | os.PathLike, name: str = "out") -> Path:
    """Create ``path`` (and parents) if needed and check it is writable."""
    p = Path(path).expanduser()
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(
            f"`{name}` directory {str(p)!r} cannot be created ({exc.strerror or exc}). "
            f"Choose a directory you can write to."
        ) from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputDirError(
            f"`{name}` directory {str(p)!r} is not writable. Choose a directory you can write to."
        )
    return p


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _temporary_beside(path: Path, suffix: str) -> Iterator[Path]:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    with contextlib.suppress(OSError):  # mkstemp makes 0600; give the file the usual permissions
        os.chmod(tmp, 0o666 & ~_umask())
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _fsync_and_replace(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # directory fsync is best-effort
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], Any], suffix: str = "") -> Path:
    """Call ``writer(tmp_path)`` then atomically move the file to ``path``.

    ``suffix`` keeps an extension writers insist on (e.g. ``.keras``, ``.png``).
    """
    path = Path(path)
    with _temporary_beside(path, suffix or path.suffix) as tmp:
        writer(tmp)
        _fsync_and_replace(tmp, path)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


@contextlib.contextmanager
def silence_fd(fd: int) -> Iterator[None]:
    """Point file descriptor ``fd`` at ``/dev/null`` for the duration (C++ libraries' own
    prints, which Python's redirections do not reach)."""
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor (e.g. an embedded interpreter): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)
