"""Doing each unit of work once: coalesced inside a process, claimed in the store across them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from .claims import Claims
from .errors import WaitTimeout
from .wakeups import Wakeups

log = logging.getLogger(__name__)

#: Makes the values of a batch of claimed keys; raising fails just that batch.
Make = Callable[[list[str]], Awaitable[Mapping[str, str]]]

# While wake-ups flow, a waiter still looks at the store this often: an announcement can be
# lost (a publisher cut off from Redis), and the store is the truth.
_SAFETY_POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class Settled:
    """The value of every key asked for, and the keys whose value this caller's work stored."""

    values: dict[str, str]
    created: frozenset[str]


class SingleFlight:
    """Runs the work for a key at most once among all processes sharing the claims.

    Inside a process, a key has at most one flight: later callers join it. The flight claims
    its keys in the store in one call, makes the claimed ones in batches (each batch completed
    and announced as soon as it is made), and waits for the keys another process holds, woken
    by an announcement or a poll, taking over a claim whose holder let it expire.

    Flights run in their own tasks, so a caller that goes away neither cancels the work for the
    others nor loses a result already paid for; ``aclose`` cancels what is left at shutdown.
    """

    def __init__(
        self,
        claims: Claims,
        wakeups: Wakeups,
        *,
        ttl_s: float,
        wait_s: float,
        retry_after_s: int,
        on_wait: Callable[[str], None] = lambda kind: None,
        poll_s: tuple[float, float] = (0.01, 0.05),
    ) -> None:
        self._claims = claims
        self._wakeups = wakeups
        self._ttl_s = ttl_s
        self._wait_s = wait_s
        self._retry_after_s = retry_after_s
        self._on_wait = on_wait
        self._poll_first_s, self._poll_max_s = poll_s
        self._pending: dict[str, asyncio.Future[tuple[str, bool]]] = {}
        self._flights: set[asyncio.Task[None]] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._pending

    async def settle(self, keys: Sequence[str], make: Make, *, batch_size: int = 1) -> Settled:
        """The values for ``keys``: found completed, made by ``make`` or waited for."""
        unique = list(dict.fromkeys(keys))
        joined = [key for key in unique if key in self._pending]
        own = [key for key in unique if key not in self._pending]
        if joined:
            self._on_wait("coalesced")
        futures = {key: self._pending[key] for key in joined}
        if own:
            loop = asyncio.get_running_loop()
            mine = {key: loop.create_future() for key in own}
            for future in mine.values():
                future.add_done_callback(_retrieve)
            self._pending.update(mine)
            futures.update(mine)
            flight = asyncio.create_task(self._fly(mine, make, batch_size))
            self._flights.add(flight)
            flight.add_done_callback(self._flights.discard)
        # Shielded: a caller cancelled here must not cancel futures other callers share.
        results = await asyncio.shield(asyncio.gather(*futures.values()))
        values = {key: value for key, (value, _) in zip(futures, results, strict=True)}
        created = frozenset(
            key for key, (_, made) in zip(futures, results, strict=True) if made and key in own
        )
        return Settled(values, created)

    async def aclose(self) -> None:
        """Cancel the flights still running and wait until each has let go of its claims."""
        flights = list(self._flights)
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)

    async def _fly(
        self,
        futures: dict[str, asyncio.Future[tuple[str, bool]]],
        make: Make,
        batch_size: int,
    ) -> None:
        try:
            await self._claim_make_wait(futures, make, batch_size)
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else asyncio.CancelledError()
            for future in futures.values():
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
        finally:
            for key, future in futures.items():
                if self._pending.get(key) is future:
                    del self._pending[key]

    async def _claim_make_wait(
        self,
        futures: dict[str, asyncio.Future[tuple[str, bool]]],
        make: Make,
        batch_size: int,
    ) -> None:
        token = secrets.token_hex(16)
        deadline = time.monotonic() + self._wait_s
        pending = list(futures)
        pause = self._poll_first_s
        waited = False
        # Watched before the first claim, so an announcement between claim and wait is kept.
        with self._wakeups.watch(pending) as woken:
            while True:
                woken.clear()
                outcome = await self._claims.claim(pending, token, self._ttl_s)
                for key, value in outcome.completed.items():
                    _resolve(futures[key], (value, False))
                if outcome.claimed:
                    claimed = [key for key in pending if key in outcome.claimed]
                    await self._make_claimed(claimed, token, futures, make, batch_size)
                pending = [key for key in pending if key in outcome.held]
                if not pending:
                    return
                if not waited:
                    waited = True
                    self._on_wait("claimed elsewhere")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(
                        f"{len(pending)} unit(s) of work held by another process did not "
                        f"finish within {self._wait_s}s",
                        self._retry_after_s,
                    )
                interval = _SAFETY_POLL_S if self._wakeups.listening else pause
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(interval, remaining)):
                        await woken.wait()
                pause = min(pause * 2, self._poll_max_s)

    async def _make_claimed(
        self,
        claimed: list[str],
        token: str,
        futures: dict[str, asyncio.Future[tuple[str, bool]]],
        make: Make,
        batch_size: int,
    ) -> None:
        held = set(claimed)
        renewal = asyncio.create_task(self._renew_while_held(held, token))
        batches = [claimed[i : i + batch_size] for i in range(0, len(claimed), batch_size)]
        try:
            await asyncio.gather(
                *(self._make_batch(batch, token, futures, make, held) for batch in batches)
            )
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    async def _make_batch(
        self,
        batch: list[str],
        token: str,
        futures: dict[str, asyncio.Future[tuple[str, bool]]],
        make: Make,
        held: set[str],
    ) -> None:
        try:
            made = await make(batch)
            completion = await self._claims.complete({key: made[key] for key in batch}, token)
        except BaseException as exc:
            held.difference_update(batch)
            await self._release(batch, token)
            if not isinstance(exc, Exception):
                raise
            for key in batch:
                if not futures[key].done():
                    futures[key].set_exception(exc)
            return
        held.difference_update(batch)
        for key in batch:
            _resolve(futures[key], (completion.stored[key], key in completion.created))
        try:
            await self._wakeups.announce(batch)
        except Exception:
            log.warning("could not announce %d completed key(s)", len(batch), exc_info=True)

    async def _release(self, keys: list[str], token: str) -> None:
        try:
            # Shielded so a flight cancelled at shutdown still lets go of what it claimed.
            await asyncio.shield(self._claims.release(keys, token))
        except Exception:
            log.warning(
                "could not release %d claim(s); they lapse after %ss",
                len(keys),
                self._ttl_s,
                exc_info=True,
            )

    async def _renew_while_held(self, held: set[str], token: str) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            if not held:
                return
            try:
                await self._claims.renew(sorted(held), token, self._ttl_s)
            except Exception:
                log.warning("could not renew %d claim(s)", len(held), exc_info=True)


def _resolve(future: asyncio.Future[tuple[str, bool]], result: tuple[str, bool]) -> None:
    if not future.done():
        future.set_result(result)


def _retrieve(future: asyncio.Future[tuple[str, bool]]) -> None:
    # A failure nobody awaits any more (its caller went away) must not be logged as lost.
    if not future.cancelled():
        future.exception()
