"""Results back in input order, from work that finishes in any order, in bounded memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ReorderWindow(Generic[T]):
    """Hands results to ``emit`` in sequence order; at most ``size`` admitted and not yet emitted.

    A slow item holds the ones after it here, and ``admit`` waits once ``size`` are held: the
    input stops being read instead of memory growing, at the cost of idle workers meanwhile.
    """

    def __init__(self, size: int, emit: Callable[[T], None]) -> None:
        self._size = size
        self._emit = emit
        self._held: dict[int, T] = {}
        self._admitted = 0
        self._emitted = 0
        self._room = asyncio.Event()

    async def admit(self) -> int:
        """The next sequence number, once the window has room for it."""
        while self._admitted - self._emitted >= self._size:
            self._room.clear()
            await self._room.wait()
        self._admitted += 1
        return self._admitted - 1

    def done(self, sequence: int, result: T) -> None:
        """``result`` for ``sequence``; emits it and every held one that now follows in order."""
        self._held[sequence] = result
        while self._emitted in self._held:
            self._emit(self._held.pop(self._emitted))
            self._emitted += 1
        self._room.set()

    def release(self) -> None:
        """Emit what is held, in order, past the gaps a stopped run leaves."""
        for sequence in sorted(self._held):
            self._emit(self._held.pop(sequence))
