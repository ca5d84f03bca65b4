"""The use cases: submit a payload, fetch a result. Reads top to bottom: tiers, then work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import TransformerError
from .metrics import Metrics
from .payload import payload_id, render, string_key, unique
from .singleflight import Coordinator
from .tiers.layered import LayeredStore
from .transformer import Transformer

PAYLOAD_PREFIX = "payload:"
STRING_PREFIX = "string:"


@dataclass(frozen=True, slots=True)
class Result:
    """A payload's id and output; ``created`` only for the request that computed it."""

    id: str
    output: str
    created: bool
    tier: str | None = None


class PayloadService:
    """Turns two lists into a stored, id-addressed output, calling the transformer sparingly."""

    def __init__(
        self,
        transformer: Transformer,
        store: LayeredStore,
        coordinator: Coordinator,
        metrics: Metrics,
        *,
        transformer_concurrency: int,
    ) -> None:
        self._transformer = transformer
        self._store = store
        self._coordinator = coordinator
        self._metrics = metrics
        self._slots = asyncio.Semaphore(transformer_concurrency)

    def id_for(self, list_1: Sequence[str], list_2: Sequence[str]) -> str:
        return payload_id(self._transformer.identity, list_1, list_2)

    async def fetch(self, id_: str) -> Result | None:
        """The stored result for ``id_``; a store read is strongly consistent."""
        found = await self._store.get(PAYLOAD_PREFIX + id_, consistent=True)
        if found is None:
            return None
        output, tier = found
        return Result(id_, output, created=False, tier=tier)

    async def submit(self, list_1: Sequence[str], list_2: Sequence[str]) -> Result:
        """The payload's result; computed (at most once among all callers) when absent."""
        id_ = self.id_for(list_1, list_2)
        key = PAYLOAD_PREFIX + id_
        found = await self._store.get(key)
        if found is not None:
            output, tier = found
            return Result(id_, output, created=False, tier=tier)

        async def produce() -> tuple[str, bool]:
            return await self._compute(key, list_1, list_2)

        (output, stored_now), produced = await self._coordinator.once(
            key, lambda: self._lookup_flagged(key), produce
        )
        return Result(id_, output, created=produced and stored_now)

    async def _lookup_flagged(self, key: str) -> tuple[str, bool] | None:
        value = await self._lookup(key)
        return None if value is None else (value, False)

    async def _lookup(self, key: str) -> str | None:
        found = await self._store.get(key, consistent=True)
        return None if found is None else found[0]

    async def _compute(
        self, key: str, list_1: Sequence[str], list_2: Sequence[str]
    ) -> tuple[str, bool]:
        identity = self._transformer.identity
        keys = {
            value: STRING_PREFIX + string_key(identity, value)
            for value in unique([*list_1, *list_2])
        }
        found = await self._store.get_many(list(keys.values()))
        results = {value: found[k] for value, k in keys.items() if k in found}
        missing = [value for value in keys if value not in results]
        if missing:
            made = await asyncio.gather(*(self._transform_once(v, keys[v]) for v in missing))
            results.update(zip(missing, made, strict=True))
        output = render([results[v] for v in list_1], [results[v] for v in list_2])
        # Durable before anyone sees the id; put-if-absent so concurrent writers agree.
        put = await self._store.put_if_absent({key: output})
        return put.stored[key], key in put.created

    async def _transform_once(self, value: str, key: str) -> str:
        async def produce() -> str:
            output = await self._call_transformer(value)
            put = await self._store.put_if_absent({key: output})
            return put.stored[key]

        result, _ = await self._coordinator.once(key, lambda: self._lookup(key), produce)
        return result

    async def _call_transformer(self, value: str) -> str:
        async with self._slots:
            started = time.perf_counter()
            try:
                output = await self._transformer.transform(value)
            except TransformerError:
                self._metrics.transformer_calls.labels("error").inc()
                raise
            except Exception as exc:
                self._metrics.transformer_calls.labels("error").inc()
                raise TransformerError(f"transformer failed: {exc!r}") from exc
            finally:
                self._metrics.transformer_latency.observe(time.perf_counter() - started)
            self._metrics.transformer_calls.labels("ok").inc()
            return output
