"""Doing each unit of work once: coalesced inside a process, claimed in the store across them.

What is guaranteed: a key is made by at most one holder at a time while its claim holds (it is
renewed while the work runs), and a value once stored is never made again. A holder whose
claim lapses (its renewals failed or came too late, its process stalled) can be overtaken, and
then both make the key: a paid call cannot be fenced. That is counted (``on_lapse``, the
``cache_claims_lapsed`` metric) and logged, never hidden.

Every claim a flight takes is completed or released before the flight ends, on every path;
one whose call was cut off or whose answer was lost is released too, as it may have landed.
A killed process's claims expire by their TTL, which a deadline bounds (on Lambda, the
invocation's): nothing is held past the time its holder had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..breaker import CircuitOpen
from ..errors import OutOfTime, WaitTimeout
from .claims import ClaimResult, Claims
from .wakeups import Wakeups

log = logging.getLogger(__name__)

#: Makes the values of a batch of claimed keys; raising fails just that batch.
Make = Callable[[list[str]], Awaitable[Mapping[str, str]]]

# While wake-ups flow, a waiter still looks at the store this often: an announcement can be
# lost (a publisher cut off from Redis), and the store is the truth.
_SAFETY_POLL_S = 0.25
_WAIT_MARGIN_S = 0.05
# How long ``drain`` waits for cancelled flights to let go of their claims.
_RELEASE_GRACE_S = 1.0


@dataclass(frozen=True, slots=True)
class Settled:
    """The value of every key asked for, and the keys whose value this caller's work stored."""

    values: dict[str, str]
    created: frozenset[str]


class _Flight:
    """One run of the work for some keys: what it has settled so far, and when it is over.

    One record per flight rather than a future per key: a miss of 2,000 strings spent more CPU
    waking 2,000 futures than claiming and storing them.
    """

    def __init__(self, keys: list[str], deadline: float | None) -> None:
        self.keys = keys
        self.deadline = deadline
        self.values: dict[str, tuple[str, bool]] = {}
        self.errors: dict[str, BaseException] = {}
        #: The first failure of this flight's own work: it ends the flight at once.
        self.failure: Exception | None = None
        self.lapsed: set[str] = set()
        self.over = asyncio.Event()

    def raise_failure(self) -> None:
        """Raise what failed this flight, if anything did."""
        for key in self.keys:
            self.outcome(key)

    def outcome(self, key: str) -> tuple[str, bool]:
        """The value of ``key`` and whether this flight stored it; raises what failed it."""
        if key in self.values:
            return self.values[key]
        raise self.errors.get(key) or asyncio.CancelledError()


class SingleFlight:
    """Runs the work for a key once among all processes sharing the claims (see the module).

    Inside a process, a key has at most one flight: later callers join it. The flight claims
    its keys in the store in one call, makes the claimed ones in batches (each batch completed
    and announced as soon as it is made), and waits for the keys another process holds, woken
    by an announcement or a poll, taking over a claim whose holder let it expire.

    Flights run in their own tasks, so a caller that goes away neither cancels the work for the
    others nor loses a result already paid for; ``drain`` lets them finish (on Lambda, before
    the handler returns), ``aclose`` cancels what is left at shutdown.
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
        on_lapse: Callable[[Sequence[str]], None] = lambda keys: None,
        poll_s: tuple[float, float] = (0.01, 0.05),
    ) -> None:
        self._claims = claims
        self._wakeups = wakeups
        self._ttl_s = ttl_s
        self._wait_s = wait_s
        self._retry_after_s = retry_after_s
        self._on_wait = on_wait
        self._on_lapse = on_lapse
        self._poll_first_s, self._poll_max_s = poll_s
        self._pending: dict[str, _Flight] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        """Whether any flight is still under way (it may hold claims)."""
        return bool(self._tasks)

    async def settle(
        self,
        keys: Sequence[str],
        make: Make,
        *,
        batch_size: int = 1,
        flush: bool = True,
        deadline: float | None = None,
    ) -> Settled:
        """The values for ``keys``: found completed, made by ``make`` or waited for.

        ``flush`` is passed to the store's ``complete`` (see ``Claims``). ``deadline`` (loop
        time) bounds this caller, the flight it starts and the expiry of that flight's claims:
        past it, the flight lets go of its claims, so that another process takes the work over
        at once, and fails with ``OutOfTime`` (``WaitTimeout`` if it was waiting on another
        process).
        """
        unique = list(dict.fromkeys(keys))
        now = asyncio.get_running_loop().time()
        # A flight past its deadline is letting go of its claims: a new one waits for them.
        of = {
            key: flight
            for key in unique
            if (flight := self._pending.get(key)) is not None
            and (flight.deadline is None or flight.deadline > now)
        }
        if of:
            self._on_wait("coalesced")
        own = [key for key in unique if key not in of]
        mine: _Flight | None = None
        if own:
            mine = _Flight(own, deadline)
            for key in own:
                self._pending[key] = of[key] = mine
            task = asyncio.create_task(self._fly(mine, make, batch_size, flush, deadline))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Waiting on events: a caller cancelled here cancels nothing the others share.
        try:
            async with asyncio.timeout_at(deadline):
                if mine is not None:
                    # Its own work first: if that failed, the caller hears it now, not after
                    # the flights it joined are over.
                    await mine.over.wait()
                    mine.raise_failure()
                for flight in {id(f): f for f in of.values()}.values():
                    await flight.over.wait()
        except TimeoutError:
            raise OutOfTime("the request ran out of time waiting for the work") from None
        values: dict[str, str] = {}
        created: set[str] = set()
        for key in unique:
            value, made = of[key].outcome(key)  # Raises the flight's failure.
            values[key] = value
            if made and of[key] is mine:
                created.add(key)
        return Settled(values, frozenset(created))

    async def drain(self, deadline: float) -> None:
        """Let every flight finish; cancel those still running shortly before ``deadline``
        (loop time) and give them until it to release their claims.

        On Lambda the loop stops when the handler returns: a flight still running then (a
        release after a 504) would hold its claims until the environment's next invocation.
        """
        tasks = list(self._tasks)
        if not tasks:
            return
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        # The moment kept for releasing comes out of the time given, never on top of it.
        grace = min(_RELEASE_GRACE_S, remaining / 2)
        _, late = await asyncio.wait(tasks, timeout=remaining - grace)
        if late:
            log.warning("%d flight(s) still running at the deadline; cancelled", len(late))
            for task in late:
                task.cancel()
            await asyncio.wait(late, timeout=grace)

    async def aclose(self) -> None:
        """Cancel the flights still running and wait until each has let go of its claims."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fly(
        self, flight: _Flight, make: Make, batch_size: int, flush: bool, deadline: float | None
    ) -> None:
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._claim_make_wait(flight, make, batch_size, flush, deadline)
            except TimeoutError:
                raise OutOfTime("the request ran out of time before the work was done") from None
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else asyncio.CancelledError()
            # Every key without a value fails with what ended the flight.
            for key in flight.keys:
                if key not in flight.values:
                    flight.errors[key] = failure
            if not isinstance(exc, Exception):
                raise
        finally:
            for key in flight.keys:
                if self._pending.get(key) is flight:
                    del self._pending[key]
            flight.over.set()

    def _ttl(self, deadline: float | None) -> float:
        """A claim's lifetime: ``ttl_s``, cut to what is left before ``deadline``, so that a
        holder killed or frozen (a Lambda environment) holds nothing past its own time."""
        if deadline is None:
            return self._ttl_s
        left = deadline - asyncio.get_running_loop().time()
        return max(0.001, min(self._ttl_s, left))

    async def _claim(self, keys: list[str], token: str, deadline: float | None) -> ClaimResult:
        try:
            return await self._claims.claim(keys, token, self._ttl(deadline))
        except BaseException:
            # Failed, cut off, or its answer lost: the claim may have landed all the same.
            # Released under the same token (which can drop nobody else's), so that no claim
            # outlives this flight.
            await self._release(keys, token)
            raise

    async def _claim_make_wait(
        self, flight: _Flight, make: Make, batch_size: int, flush: bool, deadline: float | None
    ) -> None:
        token = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        pending = list(flight.keys)
        pause = self._poll_first_s
        waiting_since: float | None = None
        give_up_at = 0.0
        # Watched before the first claim, so an announcement between claim and wait is kept.
        with self._wakeups.watch(pending) as woken:
            while True:
                woken.clear()
                asked = loop.time()
                outcome = await self._claim(pending, token, deadline)
                for key, value in outcome.completed.items():
                    flight.values[key] = (value, False)
                pending = [key for key in pending if key in outcome.held]
                if outcome.claimed:
                    claimed = [key for key in flight.keys if key in outcome.claimed]
                    started = loop.time()
                    await self._make_claimed(claimed, token, flight, make, batch_size, flush)
                    if flight.failure is not None:
                        # This flight's own work failed: its callers hear it now, rather than
                        # after waiting for what others hold.
                        raise flight.failure
                    if pending:
                        # Its own work was not waiting: the bound moves on by its time, and
                        # what others hold is read again at once.
                        if waiting_since is not None:
                            give_up_at += loop.time() - started
                            if deadline is not None:
                                give_up_at = min(give_up_at, deadline - _WAIT_MARGIN_S)
                        continue
                if not pending:
                    return
                now = loop.time()
                if waiting_since is None:
                    # The wait bound counts from here: this flight's own work was not waiting.
                    waiting_since, give_up_at = now, now + self._wait_s
                    if deadline is not None:
                        # A waiter answers 503 (retry later) just before its request is out
                        # of time.
                        give_up_at = min(give_up_at, deadline - _WAIT_MARGIN_S)
                    self._on_wait("claimed elsewhere")
                elif asked >= give_up_at:
                    # Given up only when a read made at the bound (the claim above) found
                    # them still held: an answer that was slow to come back is asked again.
                    raise WaitTimeout(
                        f"{len(pending)} unit(s) of work held by another process did not "
                        f"finish within {now - waiting_since:.1f}s",
                        self._retry_after_s,
                    )
                interval = _SAFETY_POLL_S if self._wakeups.listening else pause
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, min(interval, give_up_at - now))):
                        await woken.wait()
                pause = min(pause * 2, self._poll_max_s)

    async def _make_claimed(
        self,
        claimed: list[str],
        token: str,
        flight: _Flight,
        make: Make,
        batch_size: int,
        flush: bool,
    ) -> None:
        held = set(claimed)
        renewal = asyncio.create_task(self._renew_while_held(held, token, flight))
        batches = [claimed[i : i + batch_size] for i in range(0, len(claimed), batch_size)]
        try:
            await asyncio.gather(
                *(self._make_batch(batch, token, flight, make, held, flush) for batch in batches)
            )
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    async def _make_batch(
        self,
        batch: list[str],
        token: str,
        flight: _Flight,
        make: Make,
        held: set[str],
        flush: bool,
    ) -> None:
        try:
            made = await make(batch)
            # No longer renewed: a renewal racing the completion would find them gone.
            held.difference_update(batch)
            completion = await self._claims.complete(
                {key: made[key] for key in batch}, token, flush=flush
            )
        except BaseException as exc:
            held.difference_update(batch)
            await self._release(batch, token)
            if not isinstance(exc, Exception):
                raise
            for key in batch:
                flight.errors[key] = exc
            if flight.failure is None:
                flight.failure = exc
            return
        for key in batch:
            flight.values[key] = (completion.stored[key], key in completion.created)
        if completion.lapsed:
            self._lapsed(flight, completion.lapsed)
        try:
            await self._wakeups.announce(batch)
        except CircuitOpen:
            pass  # Redis is known to be down; the breaker logged it once.
        except Exception:
            log.warning("could not announce %d completed key(s)", len(batch), exc_info=True)

    def _lapsed(self, flight: _Flight, keys: Iterable[str]) -> None:
        new = sorted(set(keys) - flight.lapsed)
        if not new:
            return
        flight.lapsed.update(new)
        self._on_lapse(new)
        log.warning(
            "the claim on %d key(s) lapsed while this process still worked on them (renewals "
            "failed or came late); another process may have made them too, paying twice",
            len(new),
        )

    async def _release(self, keys: list[str], token: str) -> None:
        try:
            # Shielded so a flight cancelled at shutdown still lets go of what it claimed.
            await asyncio.shield(self._claims.release(keys, token))
        except Exception as exc:
            # One line, no traceback: during a store outage every failed request gets here,
            # and its own 503 is logged already.
            log.warning(
                "could not release %d claim(s) (%s); they lapse after %ss at most",
                len(keys),
                exc,
                self._ttl_s,
            )

    async def _renew_while_held(self, held: set[str], token: str, flight: _Flight) -> None:
        while True:
            await asyncio.sleep(self._ttl_s / 3)
            if not held:
                return
            try:
                lost = await self._claims.renew(sorted(held), token, self._ttl(flight.deadline))
            except Exception:
                log.warning("could not renew %d claim(s)", len(held), exc_info=True)
                continue
            lost = lost & held  # Keys completed meanwhile left ``held`` on purpose.
            if lost:
                held.difference_update(lost)
                self._lapsed(flight, lost)
