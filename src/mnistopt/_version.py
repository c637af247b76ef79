"""The package version, in one place (read by the package root, the CLI and run environments)."""

__version__ = "0.2.0"
