"""The failures a user can cause; each becomes one line on stderr and exit code 2."""

from __future__ import annotations


class UsageError(Exception):
    """Flags or ``CACHE_CLI_*`` variables that cannot work together or are invalid."""


class InputError(UsageError):
    """The payload input cannot be read or is not JSON objects."""
