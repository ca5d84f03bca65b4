"""Waking the requests that wait on work another process holds, instead of making them poll.

The claim records in the store stay the truth; a wake-up is only a hint to look again now.
A waiter therefore still re-reads the store on a slow timer while wake-ups flow, and on a
fast one (``listening`` false) while they cannot: losing Redis costs latency, never results.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator, Sequence
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


class Watchers:
    """The local half of wake-ups: which events wait on which keys."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}

    def watch(self, keys: Sequence[str]) -> contextlib.AbstractContextManager[asyncio.Event]:
        return self._watching(keys)

    @contextlib.contextmanager
    def _watching(self, keys: Sequence[str]) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        for key in keys:
            self._events.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            for key in keys:
                waiting = self._events.get(key)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._events[key]

    def wake(self, keys: Iterable[str]) -> None:
        for key in keys:
            for event in self._events.get(key, ()):
                event.set()


class NoWakeups(Watchers):
    """Without Redis nothing carries wake-ups between processes: waiters poll the store."""

    @property
    def listening(self) -> bool:
        return False

    async def announce(self, keys: Sequence[str]) -> None:
        return None

    async def aclose(self) -> None:
        return None
