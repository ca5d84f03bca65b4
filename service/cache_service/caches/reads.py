"""The read-recording port: which payloads are read, told from the hit path.

Kept apart from its Redis adapter (``hot_set.py``) so the service imports no Redis client
when nothing records (no ``CACHE_REDIS_URL``: a Lambda cold start pays for every import).
"""

from __future__ import annotations

from typing import Protocol


class ReadRecorder(Protocol):
    """Told of every payload served; must cost a dict update at most (no await, no I/O)."""

    def record(self, id_: str) -> None: ...


class NoRecording:
    """The recorder when recording is off: forgets every read."""

    def record(self, id_: str) -> None:
        return None
