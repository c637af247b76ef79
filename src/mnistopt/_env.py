"""What produced the numbers: versions of Python and the libraries that shape them."""

from __future__ import annotations

import importlib.metadata as md
import platform

from ._version import __version__

__all__ = ["environment", "PACKAGES"]

#: Distributions whose versions are recorded with every result.
PACKAGES = ("tensorflow", "keras", "tf-keras", "tensorflow-model-optimization", "keras-tuner", "numpy",
            "scikit-learn", "matplotlib")


def environment() -> dict[str, str]:
    """Versions of Python, mnistopt and :data:`PACKAGES` (those installed), and the machine.

    Example:
        >>> env = environment()
        >>> sorted(k for k in ("mnistopt", "python", "numpy") if k in env)
        ['mnistopt', 'numpy', 'python']
    """
    out = {"mnistopt": __version__, "python": platform.python_version(), "machine": platform.machine()}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out
