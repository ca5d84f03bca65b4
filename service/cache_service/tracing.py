"""Traced ports: one span per call to the transformer, the durable store and Redis.

The composition root wraps the adapters in these only when it is given ``Spans`` (on Lambda,
with X-Ray tracing on). Everywhere else the service holds the bare adapters, so the local
server's hit path does no tracing work at all, not even a no-op context manager.

Each span is a leaf: nothing traced runs inside another traced call, so a span's parent is
always the invocation's own, whichever asyncio task the call runs in. A span is named after
the dependency, not the operation, so that a trace map shows one node per dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from .caches.port import CacheTier
from .coordination.claims import ClaimResult, Completion
from .coordination.wakeups import Wakeups
from .stores.port import DurableStore
from .transformers.port import Transformer


class Spans(Protocol):
    """Where the spans go (X-Ray on Lambda: ``lambda_observe.XRaySpans``)."""

    def span(
        self, dependency: str, operation: str, *, keys: int, remote: bool
    ) -> contextlib.AbstractContextManager[None]:
        """Time the enclosed call: ``operation`` on ``dependency``, carrying ``keys`` strings
        or keys; ``remote`` when the dependency is a service of its own.

        An exception leaving the block, a cancellation included (a deadline cut the call
        off), marks the span as failed and is raised on.
        """
        ...


class TracedTransformer:
    """``Transformer`` whose every paid call is a span on the transformer."""

    def __init__(self, transformer: Transformer, spans: Spans) -> None:
        self._transformer = transformer
        self._spans = spans

    @property
    def identity(self) -> str:
        return self._transformer.identity

    async def transform(self, values: Sequence[str]) -> list[str]:
        with self._spans.span("transformer", "transform", keys=len(values), remote=True):
            return await self._transformer.transform(values)

    async def aclose(self) -> None:
        await self._transformer.aclose()


class TracedCache:
    """``CacheTier`` (Redis) whose reads, writes and pings are spans on that remote tier."""

    def __init__(self, cache: CacheTier, spans: Spans) -> None:
        self._cache = cache
        self._spans = spans
        self.name = cache.name

    async def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        with self._spans.span(self.name, "get_many", keys=len(keys), remote=True):
            return await self._cache.get_many(keys)

    async def set_many(self, items: Mapping[str, str]) -> None:
        with self._spans.span(self.name, "set_many", keys=len(items), remote=True):
            await self._cache.set_many(items)

    async def ping(self) -> None:
        with self._spans.span(self.name, "ping", keys=0, remote=True):
            await self._cache.ping()

    async def aclose(self) -> None:
        await self._cache.aclose()


class TracedStore:
    """``DurableStore`` whose reads, claims and writes are spans of the process's own work.

    Local spans: SQLite and the memory store live in the process, and DynamoDB's requests
    (each retry one) appear as the AWS SDK's own remote subsegments beside them.
    """

    def __init__(self, store: DurableStore, spans: Spans) -> None:
        self._store = store
        self._spans = spans
        self.name = store.name

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        with self._spans.span(self.name, "get_many", keys=len(keys), remote=False):
            return await self._store.get_many(keys, consistent=consistent)

    async def claim(self, keys: Sequence[str], token: str, ttl_s: float) -> ClaimResult:
        with self._spans.span(self.name, "claim", keys=len(keys), remote=False):
            return await self._store.claim(keys, token, ttl_s)

    async def renew(self, keys: Sequence[str], token: str, ttl_s: float) -> frozenset[str]:
        with self._spans.span(self.name, "renew", keys=len(keys), remote=False):
            return await self._store.renew(keys, token, ttl_s)

    async def complete(
        self, items: Mapping[str, str], token: str, *, flush: bool = True
    ) -> Completion:
        with self._spans.span(self.name, "complete", keys=len(items), remote=False):
            return await self._store.complete(items, token, flush=flush)

    async def release(self, keys: Sequence[str], token: str) -> None:
        with self._spans.span(self.name, "release", keys=len(keys), remote=False):
            await self._store.release(keys, token)

    async def ping(self) -> None:
        with self._spans.span(self.name, "ping", keys=0, remote=False):
            await self._store.ping()

    async def aclose(self) -> None:
        await self._store.aclose()


class TracedWakeups:
    """``Wakeups`` whose announcements (a Redis PUBLISH) are spans on Redis."""

    def __init__(self, wakeups: Wakeups, spans: Spans) -> None:
        self._wakeups = wakeups
        self._spans = spans

    @property
    def listening(self) -> bool:
        return self._wakeups.listening

    def watch(self, keys: Sequence[str]) -> contextlib.AbstractContextManager[asyncio.Event]:
        return self._wakeups.watch(keys)

    async def announce(self, keys: Sequence[str]) -> None:
        with self._spans.span("redis", "announce", keys=len(keys), remote=True):
            await self._wakeups.announce(keys)

    async def aclose(self) -> None:
        await self._wakeups.aclose()
