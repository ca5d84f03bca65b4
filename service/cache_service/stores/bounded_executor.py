"""Blocking calls with a deadline, on worker threads a store owns.

sqlite3 and boto3 block, and the event loop must not. Each call gets a deadline that travels
into its worker thread, which checks it before every step (``check``), so a call the caller
gave up on neither starts late nor keeps a thread from the calls queued behind it. The caller
waits until the deadline plus a short grace, in which the worker can say that it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_GRACE_S = 0.25


class DeadlinePassed(Exception):
    """The call's time ran out: it did not start, stopped between steps, or did not answer."""


def check(deadline: float) -> None:
    """Raise ``DeadlinePassed`` once ``deadline`` (``time.monotonic()``) is past."""
    if time.monotonic() >= deadline:
        raise DeadlinePassed


class BoundedExecutor:
    """A thread pool whose calls each carry a deadline ``timeout_s`` from their start."""

    def __init__(self, *, timeout_s: float, max_workers: int, thread_name_prefix: str) -> None:
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix=thread_name_prefix)

    async def run(self, work: Callable[[float], T]) -> T:
        """``work(deadline)`` on a worker thread; ``DeadlinePassed`` if it ran out of time."""
        deadline = time.monotonic() + self.timeout_s
        call = asyncio.get_running_loop().run_in_executor(self._pool, work, deadline)
        try:
            return await asyncio.wait_for(call, self.timeout_s + _GRACE_S)
        except TimeoutError:
            raise DeadlinePassed from None

    async def run_unbounded(self, work: Callable[[], T]) -> T:
        """``work()`` on a worker thread, without a deadline: set-up and shutdown steps."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def shutdown(self) -> None:
        """Stop taking calls; a call still running finishes on its thread."""
        self._pool.shutdown(wait=False)
