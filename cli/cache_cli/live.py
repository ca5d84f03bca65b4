"""The live display on a terminal: elapsed time, requests, requests/s, errors, and what is left."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

from .records import POST
from .tally import Tally


class LiveDisplay:
    """Redrawn four times a second from the tally's counters, from rich's refresh thread."""

    def __init__(
        self,
        console: Console,
        tally: Tally,
        *,
        iterations: int | None,
        duration_s: float | None,
    ) -> None:
        self._tally = tally
        self._iterations = iterations
        self._duration_s = duration_s
        self._started = time.monotonic()
        self._last = (self._started, 0)
        self._rate = 0.0
        self._live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,  # stdout may carry the report; leave it alone.
            redirect_stderr=False,
        )

    def __enter__(self) -> LiveDisplay:
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
        requests = self._tally.requests
        then, before = self._last
        if now - then >= 0.5:  # Requests/s over the last half second or so, not since start.
            self._rate = (requests - before) / (now - then)
            self._last = (now, requests)
        elapsed = now - self._started
        line = Text(
            f"{elapsed:.1f} s  {requests:,} requests  {self._rate:,.0f} req/s  "
            f"{self._tally.failed_requests:,} errors"
        )
        if self._tally.failed_checks:
            line.append(f"  {self._tally.failed_checks:,} failed checks")
        if self._duration_s is not None:
            left = max(0.0, self._duration_s - elapsed)
            line.append(f"  {left:.0f} s left")
            return Group(line, ProgressBar(total=self._duration_s, completed=elapsed, width=40))
        if self._iterations is not None:
            done = self._tally.endpoints[POST].requests
            line.append(f"  {done:,}/{self._iterations:,} iterations")
            return Group(line, ProgressBar(total=self._iterations, completed=done, width=40))
        return line
