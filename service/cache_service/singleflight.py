"""Doing a unit of work once: coalesced inside a process, leased across processes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .errors import WaitTimeout

T = TypeVar("T")


class SingleFlight:
    """Concurrent callers with the same key share one run of the work.

    The work runs in its own task, so a caller that goes away (a client that disconnects)
    neither cancels it for the others nor loses a result that was already paid for.
    """

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Task[Any]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._flights

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The work's result, and whether this caller started it (the leader)."""
        task: asyncio.Task[T] | None = self._flights.get(key)
        leader = task is None
        if task is None:
            task = asyncio.ensure_future(work())
            self._flights[key] = task
            task.add_done_callback(lambda done: self._finish(key, done))
        return await asyncio.shield(task), leader

    def _finish(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # Retrieved here so a flight nobody awaits any more logs nothing.


class Lease(Protocol):
    """Exclusive right to do one unit of work until released or expired."""

    async def release(self) -> None: ...


class Leases(Protocol):
    """Hands out leases that exclude other processes; how is the adapter's business."""

    async def try_acquire(self, key: str) -> Lease | None:
        """A lease on ``key``, or None while someone else holds it."""
        ...

    async def aclose(self) -> None: ...


class _HeldLease:
    async def release(self) -> None:
        return None


class ProcessLocalLeases:
    """For a single process: ``SingleFlight`` already excludes every other caller."""

    async def try_acquire(self, key: str) -> Lease | None:
        return _HeldLease()

    async def aclose(self) -> None:
        return None


class Coordinator:
    """Runs work at most once per key among all processes that share the leases.

    The lease only saves work: the work's own durable write is put-if-absent, so two holders
    (after a lease expired under a slow holder, say) still store one result.
    """

    def __init__(
        self,
        leases: Leases,
        *,
        wait_s: float,
        retry_after_s: int,
        on_wait: Callable[[], None] = lambda: None,
        poll_s: tuple[float, float] = (0.01, 0.05),
    ) -> None:
        self._flights = SingleFlight()
        self._leases = leases
        self._wait_s = wait_s
        self._retry_after_s = retry_after_s
        self._on_wait = on_wait
        self._poll_first_s, self._poll_max_s = poll_s

    async def once(
        self,
        key: str,
        lookup: Callable[[], Awaitable[T | None]],
        produce: Callable[[], Awaitable[T]],
    ) -> tuple[T, bool]:
        """The value for ``key``: found by ``lookup`` or made by ``produce``.

        The flag is true only for the one caller whose ``produce`` made it.
        """
        if key in self._flights:
            self._on_wait()
        (value, produced), leader = await self._flights.run(
            key, lambda: self._leased(key, lookup, produce)
        )
        return value, produced and leader

    async def _leased(
        self,
        key: str,
        lookup: Callable[[], Awaitable[T | None]],
        produce: Callable[[], Awaitable[T]],
    ) -> tuple[T, bool]:
        deadline = time.monotonic() + self._wait_s
        pause = self._poll_first_s
        waited = False
        while True:
            lease = await self._leases.try_acquire(key)
            if lease is not None:
                try:
                    # Checked again under the lease: the previous holder may just have finished.
                    found = await lookup()
                    if found is not None:
                        return found, False
                    return await produce(), True
                finally:
                    with contextlib.suppress(Exception):
                        await lease.release()
            if not waited:
                waited = True
                self._on_wait()
            found = await lookup()
            if found is not None:
                return found, False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"work for {key} is held by another process and did not finish within "
                    f"{self._wait_s}s",
                    self._retry_after_s,
                )
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, self._poll_max_s)
