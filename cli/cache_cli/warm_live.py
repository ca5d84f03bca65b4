"""The ``--warm`` progress bar on a terminal: lines done, lines/s, outcomes, and the ETA.

Drawn as a load run's ``live.LiveDisplay`` is (``live.Redrawn``). The bar and the ETA measure
bytes of the input, known only for a regular file; from a pipe: the counts and the rate alone.
"""

from __future__ import annotations

import time

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .live import Redrawn
from .warming import Status, WarmCounts


class WarmProgress(Redrawn):
    """Redrawn from the run's counts; ``total_bytes`` is the input's size when it is known."""

    def __init__(self, console: Console, counts: WarmCounts, *, total_bytes: int | None) -> None:
        self._counts = counts
        self._total = total_bytes
        super().__init__(console)  # Last: it draws once already.

    def _render(self) -> RenderableType:
        now = time.monotonic()
        counts = self._counts
        elapsed = now - self._started
        rate = self.rate(now, counts.lines)
        line = Text(
            f"{elapsed:.1f} s  {counts.lines:,} lines  {rate:,.0f} lines/s  "
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
