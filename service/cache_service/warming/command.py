"""``cache-service warm FILE``: a JSON Lines file through the warm worker, with its report.

stdout gets one JSON line per input line (``line``, ``id``, ``status``, ``error`` when not
ok), so the report can be piped and filtered; stderr gets the progress bar (on a terminal)
and the summary. Exit 0 when every line is stored, 1 when some were invalid or failed (the
others still done), 2 for a usage error.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..app import build_components
from ..settings import Settings
from .lines import Judged, Line, LineJudge, open_source, read_lines
from .warmer import Outcome, Totals, build_warmer

OK, SOME_FAILED, USAGE = 0, 1, 2
# 128 + the signal's number, as a shell reports a process the signal ended.
INTERRUPTED, TERMINATED = 130, 143
#: Lines read and judged per trip to the reading thread.
CHUNK_LINES = 256


def outcome_json(outcome: Outcome) -> str:
    """The report line for one outcome."""
    record: dict[str, Any] = {"line": outcome.line, "id": outcome.id, "status": outcome.status}
    if outcome.error is not None:
        record["error"] = outcome.error
    return json.dumps(record)


def summary(totals: Totals, *, wall_s: float, cpu_s: float) -> dict[str, Any]:
    """The end-of-run figures: what became of the lines, and what the transformer was paid."""
    return {
        **totals.as_dict(),
        "wall_s": round(wall_s, 3),
        "cpu_s": round(cpu_s, 3),
    }


def warm_file(settings: Settings, path: str, *, window: int, progress: bool | None = None) -> int:
    """Warm every line of ``path`` (``-`` for stdin); the exit code (see the module)."""
    with ExitStack() as stack:
        source = open_source(path, stack)
        if source is None:
            return USAGE
        size = None if path == "-" else _size(source)
        show = sys.stderr.isatty() if progress is None else progress
        bar = _Bar(size) if show else None
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            with bar or ExitStack():
                totals = asyncio.run(_warm(settings, source, window, bar))
        except BrokenPipeError:  # stdout closed (| head): stop quietly.
            sys.stderr.close()
            return SOME_FAILED
        except (KeyboardInterrupt, asyncio.CancelledError) as stopped:
            # The claims were released on the way out: a rerun resumes at once.
            name = "SIGINT" if isinstance(stopped, KeyboardInterrupt) else "SIGTERM"
            print(
                f"warm: stopped by {name}; what is stored stays stored, rerun to resume",
                file=sys.stderr,
            )
            return INTERRUPTED if isinstance(stopped, KeyboardInterrupt) else TERMINATED
        figures = summary(
            totals,
            wall_s=time.perf_counter() - started,
            cpu_s=time.process_time() - cpu_started,
        )
        print(json.dumps({"summary": figures}), file=sys.stderr)
        return OK if totals.ok else SOME_FAILED


async def _warm(settings: Settings, source: IO[bytes], window: int, bar: _Bar | None) -> Totals:
    # No in-process cache: nothing in this process reads a payload twice, and the window
    # already holds the strings its payloads need.
    components = build_components(settings.model_copy(update={"l1_max_entries": 0}))
    # SIGTERM cancels the run like SIGINT does, so the flights let go of their claims.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        warmer = build_warmer(components, window=window)
        judge = LineJudge.for_settings(settings)
        lines = read_lines(source, max_bytes=settings.max_body_bytes)
        out = sys.stdout

        def emit(outcome: Outcome) -> None:
            out.write(outcome_json(outcome) + "\n")
            if bar is not None:
                bar.advance(outcome)

        totals = await warmer.run(_chunks(lines, judge, source, bar), emit)
        out.flush()
        return totals
    finally:
        await components.aclose()


async def _chunks(
    lines: Iterator[Line], judge: LineJudge, source: IO[bytes], bar: _Bar | None
) -> AsyncIterator[list[Judged]]:
    """Judged lines, read and parsed in a worker thread: a pipe on stdin may block."""

    def next_chunk() -> list[Judged]:
        return [judge.judge(line) for line in itertools.islice(lines, CHUNK_LINES)]

    while chunk := await asyncio.to_thread(next_chunk):
        if bar is not None:
            bar.read_to(_position(source))
        yield chunk


def _size(source: IO[bytes]) -> int | None:
    try:
        return os.fstat(source.fileno()).st_size
    except OSError:
        return None


def _position(source: IO[bytes]) -> int | None:
    try:
        return source.tell()
    except OSError:
        return None


class _Bar:
    """Progress on stderr: lines settled and their rate; the ETA from the bytes read."""

    def __init__(self, size: int | None) -> None:
        self._progress = Progress(
            TextColumn("warming"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[lines]} lines · {task.fields[rate]}/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("warm", total=size, lines=0, rate="-")
        self._lines = 0
        self._started = time.perf_counter()

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._show_lines()
        self._progress.stop()

    def read_to(self, position: int | None) -> None:
        if position is not None:
            self._progress.update(self._task, completed=position)

    def advance(self, outcome: Outcome) -> None:
        self._lines += 1
        if self._lines % 100 == 0:  # rich redraws 10 times a second; this keeps up cheaply
            self._show_lines()

    def _show_lines(self) -> None:
        rate = self._lines / max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(self._task, lines=f"{self._lines:,}", rate=f"{rate:,.0f}")
