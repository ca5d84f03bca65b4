"""The warm worker: many payloads at once, their missing strings sent in full batches.

The API's miss path sees one payload, so its transformer calls carry only that payload's
missing strings. A worker sees a window of payloads: it looks each one up, gathers the strings
none of the tiers holds, sends each distinct string once in calls of ``batch_size`` (a partial
call only when nothing more can arrive: the input is exhausted or the window is full), and
stores a payload as soon as its last string is known. Strings and payloads are claimed through
the same ``SingleFlight`` as the API's, so the work is done once among the API's requests and
any number of workers; what is already stored costs a lookup and no call, which makes a rerun
after a crash a resume.

Memory is bounded by the window: a string's output is kept only while a payload in the window
still needs it; a later payload that needs it again finds it in the tiers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..caches.layered import LayeredStore
from ..coordination.singleflight import SingleFlight
from ..payload import SEPARATOR, output_too_large, payload_id, render, string_key, utf8_size
from ..service import PAYLOAD_PREFIX, STRING_PREFIX
from ..transformer_calls import TransformerCalls
from .lines import Judged

if TYPE_CHECKING:
    from ..app import Components

log = logging.getLogger(__name__)

#: Strings whose key a run remembers at most (about 250 bytes each: 8 MB).
_REMEMBERED_KEYS = 32_768


class Status(StrEnum):
    """What became of one input line."""

    CREATED = "created"  # this run's work stored it
    PRESENT = "present"  # stored already (or by another process meanwhile)
    INVALID = "invalid"  # the API would refuse it; the reason is in ``error``
    FAILED = "failed"  # not stored this time (transformer, store, output bound); rerun


@dataclass(frozen=True, slots=True)
class Outcome:
    """The report for one input line."""

    line: int
    id: str | None
    status: Status
    error: str | None = None


@dataclass(slots=True)
class Totals:
    """What a run did, for its summary."""

    lines: int = 0
    created: int = 0
    present: int = 0
    invalid: int = 0
    failed: int = 0
    strings_transformed: int = 0
    transformer_requests: int = 0

    def count(self, outcome: Outcome) -> None:
        self.lines += 1
        setattr(self, outcome.status.value, getattr(self, outcome.status.value) + 1)

    @property
    def ok(self) -> bool:
        return self.invalid == 0 and self.failed == 0

    def as_dict(self) -> dict[str, int]:
        """The counts, as a summary or a log line carries them."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(eq=False, slots=True)
class _Payload:
    """One distinct payload in the window, and the input lines that asked for it."""

    id: str
    list_1: list[str]
    list_2: list[str]
    lines: list[int]
    keys: dict[str, str] = field(default_factory=dict)  # value -> string key
    unresolved: int = 0
    done: bool = False

    @property
    def key(self) -> str:
        return PAYLOAD_PREFIX + self.id


@dataclass(frozen=True, slots=True)
class Warmer:
    """Precomputes payloads through the API's tiers, claims and transformer (see the module).

    ``window`` bounds the payloads in flight, and with them the memory a run holds (a chunk
    of lines is admitted whole, so a window smaller than a chunk holds one chunk at most).
    """

    calls: TransformerCalls
    store: LayeredStore
    flight: SingleFlight
    batch_size: int
    concurrency: int
    max_output_bytes_per_payload: int
    window: int

    async def run(
        self,
        chunks: AsyncIterator[list[Judged]],
        emit: Callable[[Outcome], None],
        *,
        deadline: float | None = None,
    ) -> Totals:
        """Warm every judged line of ``chunks``; ``emit`` hears one outcome per line, in the
        order they are settled. Never raises for a line: failures are outcomes.

        ``deadline`` (loop time) bounds every claim the run takes, as a request's does: on
        Lambda, work cut off with its invocation is claimed no longer than the invocation.
        """
        run = _Run(self, emit, deadline)
        await run.run(chunks)
        return run.totals


def build_warmer(components: Components, *, window: int) -> Warmer:
    """A warm worker over the tiers, claims and transformer of ``components``."""
    settings = components.settings
    return Warmer(
        calls=components.calls,
        store=components.layered,
        flight=components.flight,
        batch_size=settings.batch_size,
        concurrency=settings.transformer_concurrency,
        max_output_bytes_per_payload=settings.max_output_bytes_per_payload,
        window=window,
    )


class _Run:
    """The state of one ``Warmer.run``; every method runs on the event loop's thread."""

    def __init__(
        self, warmer: Warmer, emit: Callable[[Outcome], None], deadline: float | None
    ) -> None:
        self._w = warmer
        self._emit = emit
        self._deadline = deadline
        self.totals = Totals()
        self._identity = warmer.calls.identity
        self._by_id: dict[str, _Payload] = {}
        self._queue: dict[str, str] = {}  # string key -> value, not yet sent
        self._needed_by: dict[str, list[_Payload]] = {}  # queued or in-flight string keys
        self._outputs: dict[str, str] = {}  # string key -> output, while a payload needs it
        self._refs: Counter[str] = Counter()
        self._keys: dict[str, str] = {}  # value -> string key (see ``_string_key``)
        self._calls_running = 0
        self._exhausted = False
        self._reader_blocked = False
        self._changed = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None

    async def run(self, chunks: AsyncIterator[list[Judged]]) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            async for chunk in chunks:
                await self._room_for(len(chunk))
                await self._admit(chunk)
            self._exhausted = True
            self._pump()
            while self._by_id:
                self._changed.clear()
                await self._changed.wait()

    async def _room_for(self, count: int) -> None:
        """Wait until the window can take ``count`` more payloads (one at least, always)."""
        while self._by_id and len(self._by_id) + count > self._w.window:
            self._reader_blocked = True
            self._pump()
            self._changed.clear()
            await self._changed.wait()
        self._reader_blocked = False

    def _report(self, line: int, id_: str | None, status: Status, error: str | None) -> None:
        outcome = Outcome(line, id_, status, error)
        self.totals.count(outcome)
        self._emit(outcome)

    async def _admit(self, chunk: list[Judged]) -> None:
        fresh: list[_Payload] = []
        seen: dict[str, _Payload] = {}
        for judged in chunk:
            if judged.payload is None:
                self._report(judged.number, None, Status.INVALID, judged.error)
                continue
            list_1, list_2 = judged.payload.list_1, judged.payload.list_2
            id_ = payload_id(self._identity, list_1, list_2)
            earlier = self._by_id.get(id_) or seen.get(id_)
            if earlier is not None:  # The same payload twice: one piece of work.
                earlier.lines.append(judged.number)
                continue
            seen[id_] = payload = _Payload(id_, list_1, list_2, [judged.number])
            fresh.append(payload)
        if not fresh:
            return
        try:
            stored = await self._w.store.get_many([p.key for p in fresh])
        except Exception as exc:
            for payload in fresh:
                self._finish(payload, Status.FAILED, _reason(exc))
            return
        fresh = [p for p in fresh if not self._present(p, stored)]
        for payload in fresh:
            self._by_id[payload.id] = payload
            for value in dict.fromkeys([*payload.list_1, *payload.list_2]):
                payload.keys[value] = self._string_key(value)
            self._refs.update(payload.keys.values())
        unknown = list(
            {
                key: None
                for p in fresh
                for key in p.keys.values()
                if key not in self._outputs and key not in self._needed_by
            }
        )
        try:
            found = await self._w.store.get_many(unknown) if unknown else {}
        except Exception as exc:
            for payload in fresh:
                self._finish(payload, Status.FAILED, _reason(exc))
            return
        ready = []
        for payload in fresh:
            if payload.done:  # failed meanwhile, by a call it shared
                continue
            for value, key in payload.keys.items():
                if key in self._outputs:
                    continue
                if key in found:
                    self._outputs[key] = found[key]
                    continue
                if key not in self._needed_by:  # Not asked for since the lookup: ask now.
                    self._needed_by[key] = []
                    self._queue[key] = value
                self._needed_by[key].append(payload)
                payload.unresolved += 1
            if payload.unresolved == 0:
                ready.append(payload)
        self._store_payloads(ready)
        self._pump()

    def _string_key(self, value: str) -> str:
        """A string's key, remembered: payloads share strings, and a digest costs more than
        the lookup (bounded: forgotten all at once when full)."""
        key = self._keys.get(value)
        if key is None:
            if len(self._keys) >= _REMEMBERED_KEYS:
                self._keys.clear()
            key = self._keys[value] = STRING_PREFIX + string_key(self._identity, value)
        return key

    def _present(self, payload: _Payload, stored: Mapping[str, str]) -> bool:
        if payload.key not in stored:
            return False
        for line in payload.lines:
            self._report(line, payload.id, Status.PRESENT, None)
        return True

    def _pump(self) -> None:
        """Send what is queued: full batches, and a partial one only when nothing more can
        join it (input exhausted, or the window full and waiting on these very strings)."""
        size = self._w.batch_size
        while (
            self._queue
            and self._calls_running < self._w.concurrency
            and (len(self._queue) >= size or self._exhausted or self._reader_blocked)
        ):
            batch: dict[str, str] = {}
            for key in list(itertools.islice(self._queue, size)):
                value = self._queue.pop(key)
                if self._refs[key] > 0:
                    batch[key] = value
                else:  # Every payload that needed it failed meanwhile.
                    del self._needed_by[key]
            if not batch:
                continue
            self._calls_running += 1
            self._spawn(self._transform(batch))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._group is not None
        self._group.create_task(work)

    async def _transform(self, batch: dict[str, str]) -> None:
        async def make(keys: list[str]) -> dict[str, str]:
            outputs = await self._w.calls.transform([batch[key] for key in keys])
            self.totals.transformer_requests += 1
            self.totals.strings_transformed += len(keys)
            return dict(zip(keys, outputs, strict=True))

        try:
            try:
                settled = await self._w.flight.settle(
                    list(batch),
                    make,
                    batch_size=self._w.batch_size,
                    flush=False,
                    deadline=self._deadline,
                )
                await self._w.store.remember(settled.values)
            except Exception as exc:
                for key in batch:
                    for payload in self._needed_by.pop(key, []):
                        self._finish(payload, Status.FAILED, _reason(exc))
                return
            ready = []
            for key, output in settled.values.items():
                if self._refs[key] > 0:
                    self._outputs[key] = output
                for payload in self._needed_by.pop(key, []):
                    payload.unresolved -= 1
                    if payload.unresolved == 0 and not payload.done:
                        ready.append(payload)
            self._store_payloads(ready)
        finally:
            self._calls_running -= 1
            self._pump()
            self._changed.set()

    def _store_payloads(self, ready: list[_Payload]) -> None:
        if ready:
            self._spawn(self._complete(ready))

    async def _complete(self, ready: list[_Payload]) -> None:
        rendered: dict[str, str] = {}
        owners: dict[str, _Payload] = {}
        for payload in ready:
            try:
                rendered[payload.key] = self._render(payload)
                owners[payload.key] = payload
            except Exception as exc:
                self._finish(payload, Status.FAILED, _reason(exc))

        async def make(keys: list[str]) -> dict[str, str]:
            return {key: rendered[key] for key in keys}

        if not rendered:
            return
        try:
            settled = await self._w.flight.settle(
                list(rendered), make, batch_size=len(rendered), deadline=self._deadline
            )
            await self._w.store.remember(settled.values)
        except Exception as exc:
            for payload in owners.values():
                self._finish(payload, Status.FAILED, _reason(exc))
            return
        for key, payload in owners.items():
            made = key in settled.created
            self._finish(payload, Status.CREATED if made else Status.PRESENT, None)

    def _render(self, payload: _Payload) -> str:
        """The payload's output; refused over the bound before it is built (a string
        repeated a thousand times would otherwise be built a thousand times over)."""
        outputs_1 = [self._outputs[payload.keys[value]] for value in payload.list_1]
        outputs_2 = [self._outputs[payload.keys[value]] for value in payload.list_2]
        size = len(SEPARATOR) * (len(outputs_1) + len(outputs_2) - 1)
        size += sum(map(utf8_size, outputs_1)) + sum(map(utf8_size, outputs_2))
        if size > self._w.max_output_bytes_per_payload:
            raise output_too_large(self._w.max_output_bytes_per_payload)
        return render(outputs_1, outputs_2)

    def _finish(self, payload: _Payload, status: Status, error: str | None) -> None:
        """Report every line of ``payload`` and let go of what it held in the window."""
        if payload.done:
            return
        payload.done = True
        first, *again = payload.lines
        self._report(first, payload.id, status, error)
        # A repeated line asked for work its first line did: it was there by then.
        repeat = Status.PRESENT if status is Status.CREATED else status
        for line in again:
            self._report(line, payload.id, repeat, error)
        if self._by_id.get(payload.id) is payload:
            del self._by_id[payload.id]
            for key in payload.keys.values():
                self._refs[key] -= 1
                if self._refs[key] <= 0:
                    del self._refs[key]
                    self._outputs.pop(key, None)
        self._changed.set()


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
