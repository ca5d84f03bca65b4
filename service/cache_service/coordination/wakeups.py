"""Waking the requests that wait on work another process holds, instead of making them poll.

The claim records in the store stay the truth; a wake-up is only a hint to look again now.
A waiter therefore still re-reads the store on a slow timer while wake-ups flow, and on a
fast one (``listening`` false) while they cannot: losing Redis costs latency, never results.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol


class Wakeups(Protocol):
    """Announces completed keys to every process and wakes the local waiters on them."""

    @property
    def listening(self) -> bool:
        """True while announcements from other processes are known to arrive."""
        ...

    def watch(self, keys: Sequence[str]) -> contextlib.AbstractContextManager[asyncio.Event]:
        """An event set whenever one of ``keys`` is announced, for the life of the block."""
        ...

    async def announce(self, keys: Sequence[str]) -> None:
        """Tell every process that ``keys`` are completed; best effort."""
        ...

    async def aclose(self) -> None: ...
