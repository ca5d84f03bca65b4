"""The ``--warm`` progress bar on a terminal: lines done, lines/s, outcomes, and the ETA.

Drawn as ``live.LiveDisplay`` draws a load run: on stderr, four times a second from rich's
refresh thread, gone when the run ends. The bar and the ETA measure bytes of the input, known
only for a regular file; from a pipe it shows the counts and the rate alone.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .warming import Status, WarmCounts


class WarmProgress:
    """Redrawn from the run's counts; ``total_bytes`` is the input's size when it is known."""

    def __init__(self, console: Console, counts: WarmCounts, *, total_bytes: int | None) -> None:
        self._counts = counts
        self._total = total_bytes
        self._started = time.monotonic()
        self._last = (self._started, 0)
        self._rate = 0.0
        self._live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,  # stdout carries the per-line report; leave it alone.
            redirect_stderr=False,
        )

    def __enter__(self) -> WarmProgress:
        self._started = time.monotonic()
        self._last = (self._started, 0)
        self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._live.stop()

    def _render(self) -> RenderableType:
        now = time.monotonic()
        counts = self._counts
        then, before = self._last
        if now - then >= 0.5:  # Lines/s over the last half second or so, not since start.
            self._rate = (counts.lines - before) / (now - then)
            self._last = (now, counts.lines)
        elapsed = now - self._started
        line = Text(
            f"{elapsed:.1f} s  {counts.lines:,} lines  {self._rate:,.0f} lines/s  "
            + "  ".join(f"{counts.by_status[s]:,} {s}" for s in Status)
        )
        if not self._total:
            return line
        done = min(counts.bytes_done, self._total)
        eta = f"  ETA {_clock(elapsed * (self._total - done) / done)}" if done else ""
        bar = Table.grid()  # The bar and its numbers on one line, under the counts.
        bar.add_row(
            ProgressBar(total=self._total, completed=done, width=40),
            Text(f"  {done / self._total:.0%}{eta}"),
        )
        return Group(line, bar)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"
