"""The local half of wake-ups (which events wait on which keys), and wake-ups without Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator, Sequence


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
