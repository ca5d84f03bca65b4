"""The L1 cache: an in-process LRU bounded by entries and by bytes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence


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
        if self._max_entries == 0:  # Off (CACHE_L1_MAX_ENTRIES=0, and the warm worker).
            return
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
