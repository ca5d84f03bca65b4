"""Live displays on a terminal; a load run's: elapsed time, requests/s, errors, what is left."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

from .records import POST
from .tally import Tally


class Redrawn:
    """A view drawn on stderr four times a second from rich's refresh thread, gone at the end.

    Subclasses render from counters the run updates, set before ``__init__`` here (rich draws
    once from it); ``rate`` is their per-second figure.
    """

    def __init__(self, console: Console) -> None:
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

    def __enter__(self) -> Self:
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

    def rate(self, now: float, count: int) -> float:
        """``count`` per second over the last half second or so, not since the start."""
        then, before = self._last
        if now - then >= 0.5:
            self._rate = (count - before) / (now - then)
            self._last = (now, count)
        return self._rate

    def _render(self) -> RenderableType:
        raise NotImplementedError


class LiveDisplay(Redrawn):
    """A load run: elapsed time, requests, requests/s, errors, and what is left."""

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
        super().__init__(console)  # Last: it draws once already.

    def _render(self) -> RenderableType:
        now = time.monotonic()
        requests = self._tally.requests
        elapsed = now - self._started
        line = Text(
            f"{elapsed:.1f} s  {requests:,} requests  {self.rate(now, requests):,.0f} req/s  "
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
