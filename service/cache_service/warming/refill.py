"""Refilling the shared cache from the hot set: ``cache-service warm --hot N``.

After a FLUSHALL, a failover or an eviction, the most-read payloads are read from the durable
store once, in batches, and written to Redis, so that the next reads of them are Redis hits
instead of store reads.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..caches.hot_set import HotSet
from ..caches.port import CacheTier
from ..service import PAYLOAD_PREFIX
from ..settings import Settings
from ..stores.port import DurableStore

if TYPE_CHECKING:
    from ..app import Components

#: Ids per store read and per Redis pipeline: one round trip each, of a bounded size.
BATCH = 250
#: How much longer than one flush interval to wait for an emptied hot set: the live
#: processes' re-seeding flushes take a few Redis calls each.
RESEED_MARGIN_S = 0.5


@dataclass
class RefillReport:
    """What a refill did: ``loaded`` payloads are now in Redis."""

    asked: int
    hot: int = 0  # ids the hot set named (at most ``asked``)
    loaded: int = 0
    missing: int = 0  # named by the hot set but not in the durable store (expired, other data)
    waited_s: float = 0.0  # waiting for the live processes to put an emptied hot set back
    elapsed_s: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {key: value for key, value in asdict(self).items() if value is not None}


async def refill_hot(
    hot_set: HotSet,
    store: DurableStore,
    redis: CacheTier,
    n: int,
    *,
    wait_s: float,
    report: RefillReport,
) -> None:
    """Load the ``n`` most-read payloads from the durable ``store`` into the ``redis`` tier.

    An empty hot set is read again after ``wait_s`` (a flush interval and a margin): after a
    FLUSHALL, every live process puts its own counts back by its next flush. ``report`` is
    filled as the work goes, so a failure still says how far it got.
    """
    started = time.perf_counter()
    try:
        top = await hot_set.top(n)
        if not top and wait_s > 0:
            await asyncio.sleep(wait_s)
            report.waited_s = wait_s
            top = await hot_set.top(n)
        report.hot = len(top)
        ids = [id_ for id_, _ in top]
        for start in range(0, len(ids), BATCH):
            keys = [PAYLOAD_PREFIX + id_ for id_ in ids[start : start + BATCH]]
            found = await store.get_many(keys)
            await redis.set_many(found)
            report.loaded += len(found)
            report.missing += len(keys) - len(found)
    finally:
        report.elapsed_s = round(time.perf_counter() - started, 3)


async def refill_from(components: Components, n: int, report: RefillReport) -> bool:
    """``refill_hot`` with the hot set, store and Redis tier of ``components``; False (and
    nothing done) when they have no hot set (no Redis, or ``CACHE_HOT_SET_SIZE=0``)."""
    hot_set = components.hot_set
    redis = next((cache for cache in components.caches if cache.name == "redis"), None)
    if hot_set is None or redis is None:
        return False
    wait_s = components.settings.hot_flush_s + RESEED_MARGIN_S
    await refill_hot(hot_set, components.store, redis, n, wait_s=wait_s, report=report)
    return True


def warm_hot(settings: Settings, n: int) -> int:
    """Refill Redis with the ``n`` most-read payloads; one JSON summary line on stdout."""
    if settings.redis_url is None or not settings.hot_set_size:
        print(
            "warm --hot: the hot set lives in Redis: set CACHE_REDIS_URL (and keep "
            "CACHE_HOT_SET_SIZE above 0)",
            file=sys.stderr,
        )
        return 2
    from ..app import build_components

    components = build_components(settings)
    report = RefillReport(asked=n)

    async def run() -> None:
        try:
            await refill_from(components, n, report)
        finally:
            await components.aclose()

    try:
        asyncio.run(run())
    except Exception as exc:  # One line for the operator, not a traceback.
        report.error = f"{type(exc).__name__}: {exc}"
        print(f"warm --hot: {report.error}", file=sys.stderr)
    print(json.dumps(report.as_dict()))
    return 0 if report.error is None else 1
