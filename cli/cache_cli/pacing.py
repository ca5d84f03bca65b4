"""``-q``: requests started at a steady rate, evenly spaced, shared by all connections."""

from __future__ import annotations

import asyncio


class Pacer:
    """Hands out start times ``1/rate`` apart; a slot missed while busy is not made up later."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Never in the past: a late start must not let a burst catch up on the schedule.
        slot = max(self._next, now)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)
