"""In-process tiers: the L1 LRU cache and the throwaway durable store."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from ..claims import ClaimResult, Completion


class MemoryCache:
    """A least-recently-used map bounded by entry count *and* by bytes.

    A count alone does not bound memory here: one payload's output can be megabytes.
    No library LRU bounds both at once, hence this small class.
    """

    name = "memory"

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @staticmethod
    def _cost(key: str, value: str) -> int:
        # Python's own overhead varies; UTF-8 length is a stable, documented approximation.
        return len(key) + len(value.encode("utf-8", "surrogatepass"))

    async def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for key in keys:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                found[key] = value
        return found

    async def set_many(self, items: Mapping[str, str]) -> None:
        for key, value in items.items():
            self._put(key, value)

    def _put(self, key: str, value: str) -> None:
        cost = self._cost(key, value)
        if cost > self._max_bytes or self._max_entries == 0:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= self._cost(key, old)
        self._entries[key] = value
        self._bytes += cost
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            evicted_key, evicted = self._entries.popitem(last=False)
            self._bytes -= self._cost(evicted_key, evicted)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._entries.clear()
        self._bytes = 0


class MemoryStore:
    """A durable-store stand-in that lives as long as the process (``CACHE_STORE=memory``).

    Claims follow the same rules as in the real stores, so the single-flight code above it
    runs the same path whatever the store.
    """

    name = "memory-store"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, str] = {}
        self._claims: dict[str, tuple[str, float]] = {}
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
                held.add(key)
            else:
                self._claims[key] = (token, now + ttl_s)
                claimed.add(key)
        return ClaimResult(completed, frozenset(claimed), frozenset(held))

    async def renew(self, keys: Sequence[str], token: str, ttl_s: float) -> None:
        until = self._clock() + ttl_s
        for key in keys:
            if self._claims.get(key, ("", 0.0))[0] == token:
                self._claims[key] = (token, until)

    async def complete(
        self, items: Mapping[str, str], token: str, *, flush: bool = True
    ) -> Completion:
        created = frozenset(key for key in items if key not in self._entries)
        for key in created:
            self._entries[key] = items[key]
        for key in items:
            self._claims.pop(key, None)
        return Completion(stored={key: self._entries[key] for key in items}, created=created)

    async def release(self, keys: Sequence[str], token: str) -> None:
        for key in keys:
            if self._claims.get(key, ("", 0.0))[0] == token:
                del self._claims[key]

    async def ping(self) -> None:
        """Always ready: nothing here can refuse a write."""

    async def aclose(self) -> None:
        return None
