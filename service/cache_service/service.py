"""The use cases: submit a payload, fetch a result. Reads top to bottom: tiers, then work."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .caches.layered import LayeredStore
from .caches.reads import NoRecording, ReadRecorder
from .coordination.singleflight import SingleFlight
from .errors import TransformerError, TransformerOutputTooLarge
from .metrics import Metrics
from .payload import SEPARATOR, payload_id, render, string_key, utf8_size
from .transformers.port import Transformer

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
        max_output_bytes_per_string: int,
        max_output_bytes_per_payload: int,
        reads: ReadRecorder | None = None,
    ) -> None:
        self._transformer = transformer
        self._reads = reads if reads is not None else NoRecording()
        self._store = store
        self._flight = flight
        self._metrics = metrics
        self._slots = asyncio.Semaphore(transformer_concurrency)
        self._batch_size = transformer_batch_size
        self._max_string_bytes = max_output_bytes_per_string
        self._max_payload_bytes = max_output_bytes_per_payload

    def id_for(self, list_1: Sequence[str], list_2: Sequence[str]) -> str:
        return payload_id(self._transformer.identity, list_1, list_2)

    async def fetch(self, id_: str) -> Result | None:
        """The stored result for ``id_``; a store read is strongly consistent."""
        found = await self._store.get(PAYLOAD_PREFIX + id_, consistent=True)
        if found is None:
            return None
        output, tier = found
        self._reads.record(id_)
        return Result(id_, output, created=False, tier=tier)

    async def submit(
        self, list_1: Sequence[str], list_2: Sequence[str], *, deadline: float | None = None
    ) -> Result:
        """The payload's result; computed when absent, once among all callers (see
        ``coordination.singleflight`` for what a lapsed claim allows).

        ``deadline`` (event-loop time) bounds the work; past it, ``OutOfTime`` (504).
        """
        id_ = self.id_for(list_1, list_2)
        key = PAYLOAD_PREFIX + id_
        found = await self._store.get(key)
        if found is not None:
            output, tier = found
            self._reads.record(id_)
            return Result(id_, output, created=False, tier=tier)

        async def make(keys: list[str]) -> dict[str, str]:
            return {key: await self._output(list_1, list_2, deadline)}

        settled = await self._flight.settle([key], make, deadline=deadline)
        await self._store.remember(settled.values)
        self._reads.record(id_)  # Made now, read next: it counts toward the hot set too.
        return Result(id_, settled.values[key], created=key in settled.created)

    async def _output(
        self, list_1: Sequence[str], list_2: Sequence[str], deadline: float | None
    ) -> str:
        identity = self._transformer.identity
        # Each distinct string once, in first-seen order, and how often the output repeats it.
        counts = Counter([*list_1, *list_2])
        keys = {value: STRING_PREFIX + string_key(identity, value) for value in counts}
        found = await self._store.get_many(list(keys.values()))
        results = {value: found[k] for value, k in keys.items() if k in found}
        size = _OutputSize(self._max_payload_bytes, counts)
        size.add(results)
        size.check()  # Strings already stored may pass the bound: then no call at all.
        missing = {keys[value]: value for value in keys if value not in results}
        if missing:

            async def make(batch: list[str]) -> dict[str, str]:
                values = [missing[k] for k in batch]
                async with self._slots:
                    # Checked once a slot is had: no call starts after the bound is passed.
                    # A call that passes it is still stored (each output is within its own
                    # bound, and paid for); only the payload is refused.
                    size.check()
                    outputs = await self._call_transformer(values)
                size.add(dict(zip(values, outputs, strict=True)))
                return dict(zip(batch, outputs, strict=True))

            # Not flushed one by one: the payload's flushed completion carries them to disk.
            settled = await self._flight.settle(
                list(missing), make, batch_size=self._batch_size, flush=False, deadline=deadline
            )
            await self._store.remember(settled.values)
            results.update((missing[k], v) for k, v in settled.values.items())
            # Values made by another process, or stored first by one, are counted here.
            size.add(results)
            size.check()
        return render([results[v] for v in list_1], [results[v] for v in list_2])

    async def _call_transformer(self, values: Sequence[str]) -> list[str]:
        """One paid call, inside a slot of ``transformer_concurrency``."""
        started = time.perf_counter()
        try:
            outputs = self._within_bound(await self._transformer.transform(values))
        except Exception as exc:
            self._metrics.count_transformer_call(ok=False, strings=len(values))
            # A failure is kept by the flights that share it, in reference cycles that only
            # a full collection frees, and the frames below it hold the answer and its
            # connection (megabytes when it was too large). Keep the traceback's lines, drop
            # their variables: without this, 120 refused 20 MB answers left the process about
            # 180 MB larger; with it, about 3 MB.
            traceback.clear_frames(exc.__traceback__)
            if isinstance(exc, TransformerError):
                raise
            raise TransformerError(f"transformer failed: {exc!r}") from exc
        finally:
            self._metrics.transformer_latency.observe(time.perf_counter() - started)
        self._metrics.count_transformer_call(ok=True, strings=len(values))
        return outputs

    def _within_bound(self, outputs: list[str]) -> list[str]:
        """``outputs``, unless one is over the bound: then the whole call is refused."""
        for output in outputs:
            if (size := utf8_size(output)) > self._max_string_bytes:
                raise TransformerOutputTooLarge(
                    f"the transformer answered {size} bytes for one string, more than "
                    f"CACHE_MAX_OUTPUT_BYTES_PER_STRING ({self._max_string_bytes})"
                )
        return outputs


class _OutputSize:
    """The UTF-8 size of one payload's output, counted as its strings arrive.

    Counting before rendering means a payload that would be too large is refused without
    building it, and without paying for the calls that remain once the bound is passed.
    """

    def __init__(self, bound: int, counts: Mapping[str, int]) -> None:
        self._bound = bound
        self._counts = counts
        self._counted: set[str] = set()
        self._bytes = len(SEPARATOR) * (sum(counts.values()) - 1)

    def add(self, results: Mapping[str, str]) -> None:
        """Count the outputs not counted yet, each as often as the output repeats it."""
        for value, output in results.items():
            if value not in self._counted:
                self._counted.add(value)
                self._bytes += utf8_size(output) * self._counts[value]

    def check(self) -> None:
        """Raise once the output counted so far is over the bound."""
        if self._bytes > self._bound:
            raise TransformerOutputTooLarge(
                f"the payload's output would be more than CACHE_MAX_OUTPUT_BYTES_PER_PAYLOAD "
                f"({self._bound}) bytes"
            )
