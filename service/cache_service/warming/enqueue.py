"""``cache-service warm FILE --queue URL``: a JSON Lines file into the warm worker's SQS queue.

Lines are judged here first, by the API's rules and this process's ``CACHE_*`` limits (keep
them the stack's), so an invalid line is reported and never sent. Valid lines are packed into
messages of at most SQS's 262,144 bytes (several lines per message, one per line of the body:
what ``aws/warm_worker.py`` reads), and the messages into ``SendMessageBatch`` calls of at most
10 entries whose bodies together stay within the same 262,144 bytes (SQS's limit for one call).
Full messages mean one call carries one message most of the time: the same bytes per call as
ten small ones, and ten times the lines in each worker invocation (its batch is 10 messages),
so more of the strings they share are batched together.

stdout gets one JSON line per input line: ``queued`` (with the SQS message id and the line's
number within that message, which the worker's log lines name), ``invalid`` or ``failed`` (the
call or its entry was refused; a rerun sends it again, and the worker finds work already done
present). stderr gets the summary. Exit codes as ``warm``: 0 when every line was queued, 1 when
some were invalid or failed, 2 for a usage error.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, cast

from ..settings import Settings
from ..stores.bounded_executor import BoundedExecutor, DeadlinePassed, check
from .lines import Judged, Line, LineJudge, open_source, read_lines

OK, SOME_FAILED, USAGE = 0, 1, 2
#: SQS's bound on one message's body, and on the bodies of one SendMessageBatch together.
MAX_MESSAGE_BYTES = 262_144
#: SQS's bound on the entries of one SendMessageBatch.
MAX_ENTRIES = 10
#: The longest one SendMessageBatch may take, its retries included.
CALL_TIMEOUT_S = 30.0
#: Lines read and judged per trip to the reading thread.
CHUNK_LINES = 256
# The characters SQS accepts in a body; a line with any other is sent re-encoded as ASCII JSON.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_QUEUE_REGION = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


class SqsClient(Protocol):
    """The one call of boto3's SQS client used here."""

    def send_message_batch(  # AWS's parameter names
        self,
        *,
        QueueUrl: str,  # noqa: N803
        Entries: list[dict[str, str]],  # noqa: N803
    ) -> Any: ...


@dataclass(slots=True)
class _Message:
    """A message being packed: its lines (file numbers) and their text."""

    lines: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    size: int = 0

    def body(self) -> str:
        return "".join(self.texts)


@dataclass(slots=True)
class Tally:
    """What an enqueue did, for its summary."""

    lines: int = 0
    queued: int = 0
    invalid: int = 0
    failed: int = 0
    messages: int = 0
    calls: int = 0

    @property
    def ok(self) -> bool:
        return self.invalid == 0 and self.failed == 0


def region_of(queue_url: str) -> str | None:
    """The region an SQS queue URL names (``https://sqs.<region>.amazonaws.com/...``)."""
    found = _QUEUE_REGION.match(queue_url)
    return found.group(1) if found else None


def sqs_client(queue_url: str) -> SqsClient:
    """botocore's SQS client in the queue's region, each attempt bounded; credentials are the
    operator's own (the stack grants nothing for sending)."""
    from botocore.config import Config
    from botocore.session import get_session

    config = Config(
        connect_timeout=5,
        read_timeout=10,
        retries={"mode": "standard", "max_attempts": 2},
    )
    client = get_session().create_client("sqs", region_name=region_of(queue_url), config=config)
    return cast(SqsClient, client)


class Enqueuer:
    """Packs judged lines into messages and calls, sends them, reports every line."""

    def __init__(
        self,
        client: SqsClient,
        queue_url: str,
        *,
        out: IO[str],
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        call_timeout_s: float = CALL_TIMEOUT_S,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._out = out
        self._max = max_message_bytes
        self._calls = BoundedExecutor(
            timeout_s=call_timeout_s, max_workers=1, thread_name_prefix="sqs"
        )
        self._message = _Message()
        self._ready: list[_Message] = []
        self.tally = Tally()

    async def add(self, chunk: list[Judged], texts: Mapping[int, bytes]) -> None:
        """Report the invalid lines of ``chunk`` and pack the others, sending what is full."""
        for judged in chunk:
            self.tally.lines += 1
            if judged.payload is None:
                self._report(judged.number, "invalid", error=judged.error)
                continue
            text = texts[judged.number].decode().rstrip("\r\n") + "\n"
            if _NOT_SQS_TEXT.search(text):
                text = json.dumps(judged.payload.model_dump()) + "\n"
            size = len(text.encode())
            if size > self._max:
                self._report(
                    judged.number,
                    "invalid",
                    error=f"{size} bytes: more than an SQS message holds ({self._max}); "
                    "warm it without --queue",
                )
                continue
            if self._message.size + size > self._max:
                await self._close_message()
            self._message.lines.append(judged.number)
            self._message.texts.append(text)
            self._message.size += size

    async def finish(self) -> Tally:
        """Send what is left; the tally."""
        await self._close_message()
        await self._send(self._ready)
        self._ready = []
        self._calls.shutdown()
        return self.tally

    async def _close_message(self) -> None:
        if not self._message.lines:
            return
        message, self._message = self._message, _Message()
        if (
            len(self._ready) == MAX_ENTRIES
            or sum(m.size for m in self._ready) + message.size > self._max
        ):
            await self._send(self._ready)
            self._ready = []
        self._ready.append(message)

    async def _send(self, messages: list[_Message]) -> None:
        if not messages:
            return
        entries = [{"Id": str(i), "MessageBody": m.body()} for i, m in enumerate(messages)]

        def call(deadline: float) -> Any:
            check(deadline)
            return self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)

        self.tally.calls += 1
        try:
            answer = await self._calls.run(call)
        except DeadlinePassed:
            # It may still land: a rerun sends these lines again, and warming twice is harmless.
            self._fail(messages, f"no answer from SQS within {self._calls.timeout_s:g} s")
            return
        except Exception as exc:  # One report per line, not a traceback.
            self._fail(messages, f"{type(exc).__name__}: {exc}")
            return
        refused = {f["Id"]: f for f in answer.get("Failed", [])}
        sent = {s["Id"]: s["MessageId"] for s in answer.get("Successful", [])}
        for index, message in enumerate(messages):
            if str(index) in sent:
                self.tally.messages += 1
                for position, line in enumerate(message.lines, start=1):
                    self._report(line, "queued", message=sent[str(index)], message_line=position)
            else:
                failure = refused.get(str(index), {})
                error = f"{failure.get('Code', 'not sent')}: {failure.get('Message', '')}"
                self._fail([message], error.rstrip(": "))

    def _fail(self, messages: list[_Message], error: str) -> None:
        for message in messages:
            for line in message.lines:
                self._report(line, "failed", error=error)

    def _report(self, line: int, status: str, **details: Any) -> None:
        setattr(self.tally, status, getattr(self.tally, status) + 1)
        record = {"line": line, "status": status}
        record.update({key: value for key, value in details.items() if value is not None})
        self._out.write(json.dumps(record) + "\n")


def enqueue_file(
    settings: Settings, path: str, queue_url: str, *, client: SqsClient | None = None
) -> int:
    """Queue every valid line of ``path`` (``-`` for stdin) for the warm worker; the exit code."""
    if not queue_url.startswith(("https://", "http://")):
        print(f"warm: --queue takes the queue's URL, not {queue_url!r}", file=sys.stderr)
        return USAGE
    with ExitStack() as stack:
        source = open_source(path, stack)
        if source is None:
            return USAGE
        try:
            tally = asyncio.run(_enqueue(settings, source, queue_url, client))
        except BrokenPipeError:  # stdout closed (| head): stop quietly.
            sys.stderr.close()
            return SOME_FAILED
        sys.stdout.flush()
        print(json.dumps({"summary": _summary(tally)}), file=sys.stderr)
        return OK if tally.ok else SOME_FAILED


async def _enqueue(
    settings: Settings, source: IO[bytes], queue_url: str, client: SqsClient | None
) -> Tally:
    judge = LineJudge.for_settings(settings)
    lines = read_lines(source, max_bytes=settings.max_body_bytes)
    made = client if client is not None else await asyncio.to_thread(sqs_client, queue_url)
    enqueuer = Enqueuer(made, queue_url, out=sys.stdout)
    while chunk := await asyncio.to_thread(_next_chunk, lines, judge):
        judged, texts = chunk
        await enqueuer.add(judged, texts)
    return await enqueuer.finish()


def _next_chunk(
    lines: Iterator[Line], judge: LineJudge
) -> tuple[list[Judged], dict[int, bytes]] | None:
    """The next lines judged, with their text (read in a worker thread: stdin may block)."""
    taken = list(itertools.islice(lines, CHUNK_LINES))
    if not taken:
        return None
    texts = {line.number: line.text for line in taken if line.text is not None}
    return [judge.judge(line) for line in taken], texts


def _summary(tally: Tally) -> dict[str, int]:
    return {
        "lines": tally.lines,
        "queued": tally.queued,
        "invalid": tally.invalid,
        "failed": tally.failed,
        "messages": tally.messages,
        "calls": tally.calls,
    }
