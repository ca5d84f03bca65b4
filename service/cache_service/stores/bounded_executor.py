"""Blocking calls with a deadline, on worker threads a store owns.

sqlite3 and botocore block, and the event loop must not. Each call gets a deadline that travels
into its worker thread, which checks it before every step (``check``), so a call the caller
gave up on neither starts late nor keeps a thread from the calls queued behind it. The caller
waits until the deadline plus a short grace, in which the worker can say that it stopped.

A step already under way cannot be stopped: a write the caller gave up on (its deadline, or
its own caller's, cut it off) may still land. ``undo`` names what reverses it, and runs on
the pool when such a write lands after its caller has left (a claim nobody would release).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_GRACE_S = 0.25

log = logging.getLogger(__name__)


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

    async def run(
        self, work: Callable[[float], T], *, undo: Callable[[T, float], None] | None = None
    ) -> T:
        """``work(deadline)`` on a worker thread; ``DeadlinePassed`` if it ran out of time.

        If the caller stops waiting (timed out or cancelled) and ``work`` then succeeds,
        ``undo(result, deadline)`` runs on the pool with a deadline of its own.
        """
        deadline = time.monotonic() + self.timeout_s
        call = self._pool.submit(work, deadline)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(call), self.timeout_s + _GRACE_S)
        except (TimeoutError, asyncio.CancelledError) as exc:
            # A call that had not started is cancelled with the wait; one under way runs on.
            if undo is not None and not call.cancelled():
                call.add_done_callback(lambda done: self._undo_late(done, undo))
            if isinstance(exc, TimeoutError):
                raise DeadlinePassed from None
            raise

    def _undo_late(
        self, done: concurrent.futures.Future[T], undo: Callable[[T, float], None]
    ) -> None:
        if done.cancelled() or done.exception() is not None:
            return  # It took no effect.
        result = done.result()

        def reverse(deadline: float) -> None:
            try:
                undo(result, deadline)
            except Exception:
                log.warning(
                    "could not undo a call that landed after its caller left", exc_info=True
                )

        try:
            self._pool.submit(reverse, time.monotonic() + self.timeout_s)
        except RuntimeError:  # The pool is shut down: the process is closing.
            log.warning("could not undo a call that landed after its caller left: closing")

    async def run_unbounded(self, work: Callable[[], T]) -> T:
        """``work()`` on a worker thread, without a deadline: set-up and shutdown steps."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop taking calls; a call still running finishes on its thread (awaited if ``wait``:
        each ends by its deadline)."""
        self._pool.shutdown(wait=wait)
