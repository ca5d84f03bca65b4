"""The use cases: submit a payload, fetch a result. Reads top to bottom: tiers, then work."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .caches.layered import LayeredStore
from .caches.reads import NoRecording, ReadRecorder
from .coordination.singleflight import SingleFlight
from .payload import OutputSize, payload_id, render, string_key
from .transformer_calls import TransformerCalls

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
        calls: TransformerCalls,
        store: LayeredStore,
        flight: SingleFlight,
        *,
        transformer_batch_size: int,
        max_output_bytes_per_payload: int,
        reads: ReadRecorder | None = None,
    ) -> None:
        self._calls = calls
        self._reads = reads if reads is not None else NoRecording()
        self._store = store
        self._flight = flight
        self._batch_size = transformer_batch_size
        self._max_payload_bytes = max_output_bytes_per_payload

    def id_for(self, list_1: Sequence[str], list_2: Sequence[str]) -> str:
        return payload_id(self._calls.identity, list_1, list_2)

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
        identity = self._calls.identity
        # Each distinct string once, in first-seen order, and how often the output repeats it.
        counts = Counter([*list_1, *list_2])
        keys = {value: STRING_PREFIX + string_key(identity, value) for value in counts}
        found = await self._store.get_many(list(keys.values()))
        results = {value: found[k] for value, k in keys.items() if k in found}
        size = OutputSize(self._max_payload_bytes, counts)
        size.add(results)
        size.check()  # Strings already stored may pass the bound: then no call at all.
        missing = {keys[value]: value for value in keys if value not in results}
        if missing:

            async def make(batch: list[str]) -> dict[str, str]:
                values = [missing[k] for k in batch]
                # Checked once a slot is had: no call starts after the bound is passed. A
                # call that passes it is still stored (each output is within its own bound,
                # and paid for); only the payload is refused.
                outputs = await self._calls.transform(values, admit=size.check)
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
