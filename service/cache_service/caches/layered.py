"""The read-through chain: caches in order of speed, then the durable store."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..breaker import CircuitOpen
from ..metrics import Metrics
from ..stores.port import DurableStore
from .port import CacheTier

log = logging.getLogger(__name__)


class LayeredStore:
    """Reads walk down the tiers and back-fill the ones above. Values are written to the store
    by completing their claims (see ``SingleFlight``) and only then ``remember``ed here.

    A cache tier that fails is logged, counted and treated as a miss: caches may only cost
    time. The durable store's failures propagate, because without it nothing is certain.
    """

    def __init__(self, caches: Sequence[CacheTier], store: DurableStore, metrics: Metrics) -> None:
        self._caches = list(caches)
        self._store = store
        self._metrics = metrics
        # Bound once: ``labels()`` takes a lock and a dict lookup on every call.
        self._hits = {t.name: metrics.tier_lookups.labels(t.name, "hit") for t in self.tiers}
        self._misses = {t.name: metrics.tier_lookups.labels(t.name, "miss") for t in self.tiers}
        self._hit_dims = {t.name: (("tier", t.name), ("outcome", "hit")) for t in self.tiers}
        self._miss_dims = {t.name: (("tier", t.name), ("outcome", "miss")) for t in self.tiers}

    @property
    def tiers(self) -> list[CacheTier | DurableStore]:
        return [*self._caches, self._store]

    async def get(self, key: str, *, consistent: bool = False) -> tuple[str, str] | None:
        """One key's value and the tier that had it: the hit path, kept free of batch work."""
        for depth, cache in enumerate(self._caches):
            value = (await self._cache_get(cache, (key,))).get(key)
            if value is not None:
                self._record(cache.name, 1, 0)
                await self._backfill(self._caches[:depth], {key: value})
                return value, cache.name
            self._record(cache.name, 0, 1)
        value = (await self._store.get_many((key,), consistent=consistent)).get(key)
        if value is None:
            self._record(self._store.name, 0, 1)
            return None
        self._record(self._store.name, 1, 0)
        await self._backfill(self._caches, {key: value})
        return value, self._store.name

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        """The values found for ``keys``, from whichever tier had each."""
        values: dict[str, str] = {}
        missing = list(dict.fromkeys(keys))
        missed_in: list[CacheTier] = []
        for cache in self._caches:
            if not missing:
                break
            found = await self._cache_get(cache, missing)
            self._record(cache.name, len(found), len(missing) - len(found))
            if found:
                await self._backfill(missed_in, found)
                values.update(found)
                missing = [key for key in missing if key not in found]
            missed_in.append(cache)
        if missing:
            found = await self._store.get_many(missing, consistent=consistent)
            self._record(self._store.name, len(found), len(missing) - len(found))
            if found:
                await self._backfill(missed_in, found)
                values.update(found)
        return values

    async def remember(self, items: Mapping[str, str]) -> None:
        """Put values the durable store already holds into every cache tier."""
        await self._backfill(self._caches, items)

    async def _cache_get(self, cache: CacheTier, keys: Sequence[str]) -> dict[str, str]:
        try:
            return await cache.get_many(keys)
        except Exception as exc:
            self._failed(cache, "get", exc)
            return {}

    async def _backfill(self, caches: Sequence[CacheTier], items: Mapping[str, str]) -> None:
        for cache in caches:
            try:
                await cache.set_many(items)
            except Exception as exc:
                self._failed(cache, "set", exc)

    def _failed(self, cache: CacheTier, operation: str, exc: Exception) -> None:
        self._metrics.tier_errors.labels(cache.name, operation).inc()
        if isinstance(exc, CircuitOpen):
            return  # Skipped on purpose; the breaker logged the failure that opened it.
        log.warning(
            "cache tier %s failed on %s; treated as a miss", cache.name, operation, exc_info=exc
        )

    def _record(self, tier: str, hits: int, misses: int) -> None:
        tally = self._metrics.tally  # set on Lambda only: EMF's TierLookups (tier, outcome)
        if hits:
            self._hits[tier].inc(hits)
            if tally is not None:
                tally.add("TierLookups", self._hit_dims[tier], hits)
        if misses:
            self._misses[tier].inc(misses)
            if tally is not None:
                tally.add("TierLookups", self._miss_dims[tier], misses)
