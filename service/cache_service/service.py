"""The use cases: submit a payload, fetch a result. Reads top to bottom: tiers, then work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import TransformerError
from .metrics import Metrics
from .payload import payload_id, render, string_key, unique
from .singleflight import SingleFlight
from .tiers.layered import LayeredStore
from .transformer import Transformer

PAYLOAD_PREFIX = "payload:"
STRING_PREFIX = "string:"


@dataclass(frozen=True, slots=True)
class Result:
    """A payload's id and output; ``created`` only for the request whose work stored it."""

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
        flight: SingleFlight,
        metrics: Metrics,
        *,
        transformer_concurrency: int,
        transformer_batch_size: int,
    ) -> None:
        self._transformer = transformer
        self._store = store
        self._flight = flight
        self._metrics = metrics
        self._slots = asyncio.Semaphore(transformer_concurrency)
        self._batch_size = transformer_batch_size
        self._calls_ok = metrics.transformer_calls.labels("ok")
        self._calls_failed = metrics.transformer_calls.labels("error")

    def id_for(self, list_1: Sequence[str], list_2: Sequence[str]) -> str:
        return payload_id(self._transformer.identity, list_1, list_2)

    async def fetch(self, id_: str) -> Result | None:
        """The stored result for ``id_``; a store read is strongly consistent."""
        found = await self._store.get(PAYLOAD_PREFIX + id_, consistent=True)
        if found is None:
            return None
        output, tier = found
        return Result(id_, output, created=False, tier=tier)

    async def submit(
        self, list_1: Sequence[str], list_2: Sequence[str], *, deadline: float | None = None
    ) -> Result:
        """The payload's result; computed (at most once among all callers) when absent.

        ``deadline`` (event-loop time) bounds the work; past it, ``OutOfTime`` (504).
        """
        id_ = self.id_for(list_1, list_2)
        key = PAYLOAD_PREFIX + id_
        found = await self._store.get(key)
        if found is not None:
            output, tier = found
            return Result(id_, output, created=False, tier=tier)

        async def make(keys: list[str]) -> dict[str, str]:
            return {key: await self._output(list_1, list_2, deadline)}

        settled = await self._flight.settle([key], make, deadline=deadline)
        await self._store.remember(settled.values)
        return Result(id_, settled.values[key], created=key in settled.created)

    async def _output(
        self, list_1: Sequence[str], list_2: Sequence[str], deadline: float | None
    ) -> str:
        identity = self._transformer.identity
        keys = {
            value: STRING_PREFIX + string_key(identity, value)
            for value in unique([*list_1, *list_2])
        }
        found = await self._store.get_many(list(keys.values()))
        results = {value: found[k] for value, k in keys.items() if k in found}
        missing = {keys[value]: value for value in keys if value not in results}
        if missing:

            async def make(batch: list[str]) -> dict[str, str]:
                outputs = await self._call_transformer([missing[k] for k in batch])
                return dict(zip(batch, outputs, strict=True))

            # Not flushed one by one: the payload's flushed completion carries them to disk.
            settled = await self._flight.settle(
                list(missing), make, batch_size=self._batch_size, flush=False, deadline=deadline
            )
            await self._store.remember(settled.values)
            results.update((missing[k], v) for k, v in settled.values.items())
        return render([results[v] for v in list_1], [results[v] for v in list_2])

    async def _call_transformer(self, values: Sequence[str]) -> list[str]:
        async with self._slots:
            started = time.perf_counter()
            try:
                outputs = await self._transformer.transform(values)
            except TransformerError:
                self._calls_failed.inc()
                raise
            except Exception as exc:
                self._calls_failed.inc()
                raise TransformerError(f"transformer failed: {exc!r}") from exc
            finally:
                self._metrics.transformer_latency.observe(time.perf_counter() - started)
            self._calls_ok.inc()
            self._metrics.transformer_strings.inc(len(values))
            return outputs
