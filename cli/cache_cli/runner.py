"""The load loop: ``-c`` workers, each on its own connection, until plan, time or a stop ends."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .connection import Connection
from .exchange import Exchange
from .plan import Iteration, Plan
from .target import Target


class Stop:
    """Why a run ends before its plan does (a signal, a closed stdout); the first reason wins."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._event = asyncio.Event()

    def __call__(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()


@dataclass(frozen=True)
class RunResult:
    """How long the run took, how many connections it opened, and why it stopped early."""

    duration_s: float
    connections: int
    stopped: str | None

    @property
    def reached(self) -> bool:
        """Whether any connection could be opened at all."""
        return self.connections > 0


async def run_load(
    target: Target,
    plan: Plan,
    exchange: Exchange,
    *,
    concurrency: int,
    duration_s: float | None,
    stop: Stop,
) -> RunResult:
    """Every iteration of the plan, or until ``duration_s``, on ``concurrency`` connections.

    Ends after the first round if it opened no connection at all: the host is unreachable.
    """
    tls = ssl.create_default_context() if target.tls else None
    connections = [Connection(target, tls) for _ in range(concurrency)]
    loop = asyncio.get_running_loop()
    deadline = None if duration_s is None else loop.time() + duration_s
    started = time.perf_counter()
    try:
        for iterations in (plan.first_round(), plan.later_rounds()):
            finished = await _pool(iterations, connections, exchange, stop, deadline)
            if not finished or not any(c.opened for c in connections):
                break
    finally:
        for connection in connections:
            connection.close()
    return RunResult(
        duration_s=time.perf_counter() - started,
        connections=sum(c.opened for c in connections),
        stopped=stop.reason,
    )


async def _pool(
    iterations: Iterator[Iteration],
    connections: list[Connection],
    exchange: Exchange,
    stop: Stop,
    deadline: float | None,
) -> bool:
    """Run ``iterations`` on every connection; False when time or a stop cut them short.

    Requests in flight at the deadline or a stop are abandoned, not waited for (as hey does).
    """

    async def worker(connection: Connection) -> None:
        for iteration in iterations:  # One shared iterator: each iteration runs once.
            await exchange.run(connection, iteration)

    async def every_worker() -> None:
        async with asyncio.TaskGroup() as group:  # A worker's bug cancels the others.
            for connection in connections:
                group.create_task(worker(connection))

    loop = asyncio.get_running_loop()
    work = asyncio.create_task(every_worker())
    stopped = asyncio.create_task(stop.wait())
    timeout = None if deadline is None else max(0.0, deadline - loop.time())
    try:
        await asyncio.wait((work, stopped), timeout=timeout, return_when="FIRST_COMPLETED")
    finally:
        stopped.cancel()
        work.cancel()
        await asyncio.wait((work,))  # Let the workers unwind and close what they opened.
    if work.cancelled():
        return False
    work.result()  # A worker's bug surfaces here.
    return True
