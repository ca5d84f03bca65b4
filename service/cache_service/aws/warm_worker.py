"""The warm worker on Lambda: SQS messages of JSON Lines, and the scheduled hot refill.

``handler`` is what the worker function's configuration names
(``cache_service.aws.warm_worker.handler``). Two events reach it:

- An SQS batch (``Records`` from ``aws:sqs``). Each message body holds one or more
  ``POST /payload`` bodies, one per line (JSON Lines). Every line of every message goes through
  ONE ``Warmer.run``, so a string that several messages share is sent to the transformer once,
  in full batches. Each outcome is mapped back to its message, and the answer is the partial
  batch response: ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` names every
  message with a ``failed`` line (or one the invocation's time cut off); SQS deletes the others.
  A redelivered message finds its stored payloads present, so a retry is a resume.
  ``invalid`` lines are logged with the message id and line and are not retried: the same bytes
  fail the same way on every delivery, and would only carry the message to the dead-letter
  queue, whose alarm is for work that failed, not for input that never could succeed.
- An EventBridge scheduled event (``"source": "aws.events"``, ``"detail-type": "Scheduled
  Event"``): the hot refill, the N most-read payloads from the durable store into Redis, N
  being the event's ``detail`` (``{"hot": N}``, which the stack's rule puts there; see
  ``hot_refill``).

Powertools' batch utility is not used: its processors call a record handler per record
(``BatchProcessor`` one after another, ``AsyncBatchProcessor`` concurrently through
``asyncio.gather``), so each record would be warmed apart from the others and strings shared
across messages would no longer be batched together. The response shape is built here instead.

Like the API's handler, the components are built on the first invocation and kept for the
environment's life, every invocation runs on one event loop, the run is bounded by the
invocation's remaining time (claims are cut to it), and the flights are drained before the
handler returns, so that no claim is held by a frozen environment.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..settings import Settings, describe_error
from ..warming.lines import Judged, LineJudge, read_lines
from ..warming.warmer import Outcome, Status, Totals, build_warmer
from .environment import ExecutionEnvironment, LambdaEvent

if TYPE_CHECKING:
    from ..app import Components

log = logging.getLogger(__name__)

#: Most payloads in flight in one run: bounds the memory an invocation holds.
WINDOW = 1000
#: Lines judged per chunk handed to the warmer (as ``cache-service warm`` reads them).
CHUNK_LINES = 256
# Kept back from the remaining time when finishing flights, so the answer still leaves in time.
_ANSWER_MARGIN_S = 0.2


class UnknownEvent(ValueError):
    """An event that is neither an SQS batch nor a scheduled event: a wiring mistake."""


class WorkerMisconfigured(RuntimeError):
    """The ``CACHE_*`` settings are invalid; the message names the variable."""


def is_sqs_batch(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is an SQS event source mapping's batch."""
    records = event.get("Records")
    return isinstance(records, list) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records
    )


def is_scheduled(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is what an EventBridge schedule sends."""
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


@dataclass(slots=True)
class _Message:
    """One SQS message's lines: where each came from, and what became of them."""

    id: str
    first: int  # the run's number of the message's first line
    lines: int = 0
    settled: int = 0
    failed: int = 0


@dataclass
class SqsBatch:
    """An SQS batch as one numbered stream of lines, each outcome mapped back to its message.

    Lines are numbered across the whole batch (the warmer reports by number); a log line or a
    failure names the message id and the line's number within its message, from 1.
    """

    judge: LineJudge
    messages: list[_Message] = field(default_factory=list)
    _judged: list[Judged] = field(default_factory=list)
    _owner: dict[int, _Message] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[Mapping[str, Any]], judge: LineJudge) -> SqsBatch:
        batch = cls(judge)
        number = 0
        for record in records:
            body = str(record.get("body") or "").encode()
            message = _Message(str(record["messageId"]), first=number + 1)
            batch.messages.append(message)
            source = io.BytesIO(body)
            for line in read_lines(source, max_bytes=judge.max_bytes, first=message.first):
                message.lines += 1
                batch._owner[line.number] = message
                batch._judged.append(judge.judge(line))
            number += body.count(b"\n") + 1
        return batch

    @property
    def lines(self) -> int:
        return len(self._judged)

    async def chunks(self) -> AsyncIterator[list[Judged]]:
        """The judged lines, in the chunks a ``Warmer.run`` takes."""
        for start in range(0, len(self._judged), CHUNK_LINES):
            yield self._judged[start : start + CHUNK_LINES]

    def settle(self, outcome: Outcome) -> None:
        """Take one line's outcome (``Warmer.run``'s ``emit``); log what needs a reader."""
        message = self._owner[outcome.line]
        message.settled += 1
        where = outcome.line - message.first + 1
        if outcome.status is Status.INVALID:
            log.warning(
                "message %s line %d is invalid, not retried: %s", message.id, where, outcome.error
            )
        elif outcome.status is Status.FAILED:
            message.failed += 1
            log.warning(
                "message %s line %d failed, the message will be retried: %s",
                message.id,
                where,
                outcome.error,
            )

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response: the messages with a failed or unsettled line."""
        retry = [m for m in self.messages if m.failed or m.settled < m.lines]
        for message in retry:
            if message.settled < message.lines:
                log.warning(
                    "message %s: %d of %d lines unsettled when the time ran out; retried",
                    message.id,
                    message.lines - message.settled,
                    message.lines,
                )
        return {"batchItemFailures": [{"itemIdentifier": m.id} for m in retry]}


class WarmWorker(ExecutionEnvironment):
    """The worker function's handler: components built once, one loop, bounded runs."""

    def __init__(
        self, settings: Callable[[], Settings] = Settings, *, observe: bool = True
    ) -> None:
        super().__init__(observe=observe)
        self._settings = settings
        self._components: Components | None = None

    @property
    def components(self) -> Components | None:
        """The components, once the first invocation has built them."""
        return self._components

    def _serve(self, event: LambdaEvent, context: Any) -> dict[str, Any]:
        components = self._build()
        assert self._loop is not None
        budget = _Budget.of(context, self._loop, components.settings.budget_margin_s)
        try:
            if is_sqs_batch(event):
                return self._loop.run_until_complete(self._warm(components, event, budget))
            if is_scheduled(event):
                return self._loop.run_until_complete(self._refill(components, event, budget))
            raise UnknownEvent(
                "neither an SQS batch nor a scheduled event: keys " + ", ".join(sorted(event))
            )
        finally:
            self._let_go(components, budget)

    def _build(self) -> Components:
        if self._components is not None:
            return self._components
        from pydantic import ValidationError

        from ..app import build_components

        collecting = gc.isenabled()
        gc.disable()  # As the API's handler: what is built now lives as long as the process.
        try:
            try:
                settings = self._settings()
            except ValidationError as exc:
                # Raised, not answered: a failed invocation leaves the messages in the queue,
                # and the function's Errors metric says something is wrong.
                message = describe_error(exc)
                log.error("%s", message)
                raise WorkerMisconfigured(message) from None
            spans = self._observe.spans(settings) if self._observe is not None else None
            self._components = build_components(settings, spans)
            if self._observe is not None:
                self._observe.count(self._components.metrics)
        finally:
            gc.freeze()
            if collecting:
                gc.enable()
        return self._components

    async def _warm(
        self, components: Components, event: LambdaEvent, budget: _Budget
    ) -> dict[str, Any]:
        batch = SqsBatch.of(event["Records"], LineJudge.for_settings(components.settings))
        warmer = build_warmer(components, window=WINDOW)
        totals = Totals()
        try:
            async with asyncio.timeout_at(budget.run_until):
                totals = await warmer.run(batch.chunks(), batch.settle, deadline=budget.run_until)
        except TimeoutError:
            log.warning("the invocation's time ran out with lines unsettled")
        response = batch.response()
        log.info(
            "warmed %d messages, %d lines",
            len(batch.messages),
            batch.lines,
            extra={
                "warm": {
                    "messages": len(batch.messages),
                    "retried": len(response["batchItemFailures"]),
                    **totals.as_dict(),
                }
            },
        )
        return response

    async def _refill(
        self, components: Components, event: LambdaEvent, budget: _Budget
    ) -> dict[str, Any]:
        from .hot_refill import hot_count, refill

        async with asyncio.timeout_at(budget.run_until):
            return await refill(components, hot_count(event))

    def _let_go(self, components: Components, budget: _Budget) -> None:
        """Finish the flights this invocation started before the handler returns (a frozen
        environment would hold their claims until its next invocation)."""
        if components.flight.running and self._loop is not None:
            self._loop.run_until_complete(components.flight.drain(budget.answer_by))

    def close(self) -> None:
        """Release the clients and the loop (tests; Lambda just freezes the process)."""
        if self._components is not None and self._loop is not None:
            self._loop.run_until_complete(self._components.aclose())
        if self._loop is not None:
            self._loop.close()
        if self._observe is not None:
            self._observe.close()
        self._components = self._loop = self._observe = None


@dataclass(frozen=True, slots=True)
class _Budget:
    """An invocation's time, in loop time: the run ends at ``run_until``, the handler answers
    by ``answer_by`` (the flights drained meanwhile)."""

    run_until: float | None
    answer_by: float

    @classmethod
    def of(cls, context: Any, loop: asyncio.AbstractEventLoop, margin_s: float) -> _Budget:
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        now = loop.time()
        if remaining_ms is None:  # Not on Lambda (a test's bare call): no bound to keep.
            return cls(run_until=None, answer_by=now + 60)
        end = now + remaining_ms() / 1000
        answer_by = max(now, end - _ANSWER_MARGIN_S)
        return cls(run_until=max(now, min(end - margin_s, answer_by)), answer_by=answer_by)


handler = WarmWorker()
