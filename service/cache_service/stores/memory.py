"""The throwaway durable store: lives as long as the process (``CACHE_STORE=memory``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..coordination.claims import ClaimResult, Completion


@dataclass
class MemoryTable:
    """What a memory store holds: values, and claims as (token, expiry by the store's clock).

    Several ``MemoryStore``s may share one table, as processes share a database (the claims
    simulation does); each store's operations are atomic, since none of them awaits.
    """

    entries: dict[str, str] = field(default_factory=dict)
    claims: dict[str, tuple[str, float]] = field(default_factory=dict)


class MemoryStore:
    """A durable-store stand-in that lives as long as the process (``CACHE_STORE=memory``).

    Claims follow the same rules as in the real stores, so the single-flight code above it
    runs the same path whatever the store.
    """

    name = "memory-store"

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, table: MemoryTable | None = None
    ) -> None:
        self.table = table or MemoryTable()
        self._entries = self.table.entries
        self._claims = self.table.claims
        self._clock = clock

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        return {key: self._entries[key] for key in keys if key in self._entries}

    async def claim(self, keys: Sequence[str], token: str, ttl_s: float) -> ClaimResult:
        now = self._clock()
        completed: dict[str, str] = {}
        claimed: set[str] = set()
        held: set[str] = set()
        for key in keys:
            if key in self._entries:
                completed[key] = self._entries[key]
            elif (holder := self._claims.get(key)) is not None and holder[1] > now:
                if holder[0] == token:
                    self._claims[key] = (token, now + ttl_s)
                    claimed.add(key)
                else:
                    held.add(key)
            else:
                self._claims[key] = (token, now + ttl_s)
                claimed.add(key)
        return ClaimResult(completed, frozenset(claimed), frozenset(held))

    async def renew(self, keys: Sequence[str], token: str, ttl_s: float) -> frozenset[str]:
        until = self._clock() + ttl_s
        lost = set()
        for key in keys:
            if self._claims.get(key, ("", 0.0))[0] == token:
                self._claims[key] = (token, until)
            else:
                lost.add(key)
        return frozenset(lost)

    async def complete(
        self, items: Mapping[str, str], token: str, *, flush: bool = True
    ) -> Completion:
        lapsed = frozenset(key for key in items if self._claims.get(key, ("", 0.0))[0] != token)
        created = frozenset(key for key in items if key not in self._entries)
        for key in created:
            self._entries[key] = items[key]
        for key in items:
            self._claims.pop(key, None)
        return Completion(
            stored={key: self._entries[key] for key in items}, created=created, lapsed=lapsed
        )

    async def release(self, keys: Sequence[str], token: str) -> None:
        for key in keys:
            if self._claims.get(key, ("", 0.0))[0] == token:
                del self._claims[key]

    async def ping(self) -> None:
        """Always ready: nothing here can refuse a write."""

    async def aclose(self) -> None:
        return None
