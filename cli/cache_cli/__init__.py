"""cache-cli: exercise, measure and verify a cache-service deployment from the command line."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version


def version() -> str:
    """The installed cache-service distribution's version (the CLI ships inside it)."""
    try:
        return _installed_version("cache-service")
    except PackageNotFoundError:  # Run from a source tree that was never installed.
        return "0+unknown"
