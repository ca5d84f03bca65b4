"""A deterministic fault simulation of the claims protocol, in the FoundationDB / TigerBeetle way.

Several simulated processes (servers and Lambda environments) run the real ``PayloadService``,
``SingleFlight`` and ``LayeredStore`` over one real durable store (memory, SQLite, or DynamoDB
through moto), on one event loop whose clock is virtual: time only moves when every task is
waiting, and then jumps to the next timer. Every store operation is applied atomically (the
loop waits for it, its virtual time frozen), behind a wrapper that injects faults at the port:
latency, a failure before the write, an answer lost after it took effect. On top: transformer
calls that fail or hang, holders that die (their flight abandoned, nothing released), Lambda
environments frozen between invocations, lost wake-ups, and on DynamoDB answers lost on the
wire (the store retries) and TTL deletions of heads and parts in any order. One seed decides
all of it, so a failing seed replays exactly.

After each run the checker looks at what happened (``Violation`` names the invariant):

- ``outcome``: every request ends with the right output or a named error (502/503/504), and
  a 503 of the store only from a fault the simulation injected;
- ``twice``: a string is transformed by two successful calls at once, or after it was stored,
  and no lapse was counted for it;
- ``orphan``: a live process whose flights are over still holds a claim; an invocation that
  answered still holds one; a killed invocation's claim outlives its deadline;
- ``blocked``: a request answered 503 waiting on a claim whose holder was gone for longer than
  the claim TTL;
- ``stale-503``: a request answered 503 although what it waited for was stored before it gave up;
- ``slow-502``: a transformer failure of a request's own work was answered as 503, or later than
  one call's time;
- ``created``: a request's MISS/HIT disagrees with whether its own work stored the payload;
- ``garbage``: an item that nothing references and nothing will delete (DynamoDB);
- ``hang``: a request still running when the simulation's time ran out.

``python -m tests.coordination.simulation --store sqlite --seeds 100000`` (``make simulate``)
runs as many seeds as asked; the test suite runs a few hundred per store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import dataclasses
import itertools
import logging
import multiprocessing
import os
import random
import selectors
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cache_service.caches.layered import LayeredStore
from cache_service.caches.memory import MemoryCache
from cache_service.coordination.claims import ClaimResult, Completion
from cache_service.coordination.singleflight import SingleFlight
from cache_service.coordination.watchers import Watchers
from cache_service.errors import (
    OutOfTime,
    StoreUnavailable,
    TransformerError,
    TransformerTimeout,
    Unavailable,
    WaitTimeout,
)
from cache_service.metrics import Metrics
from cache_service.payload import payload_id, render, string_key
from cache_service.service import PAYLOAD_PREFIX, STRING_PREFIX, PayloadService
from cache_service.stores.memory import MemoryStore, MemoryTable
from cache_service.stores.port import DurableStore
from cache_service.transformer_calls import TransformerCalls

T = TypeVar("T")

#: Wall-clock time of virtual time 0: claim expiries are wall-clock in every store.
EPOCH = 1_800_000_000.0
WAIT_S = 9.0
LAMBDA_MARGIN_S = 0.5
TRANSFORMER_TIMEOUT_S = 4.0
MAX_STORE_LATENCY_S = 0.4
LIMIT_S = 400.0
BIG = "big"  # strings starting with this are transformed into values stored in parts
BIG_BYTES = 310_000

#: The request a task works for: flights copy it from the request that started them.
REQUEST: contextvars.ContextVar[int] = contextvars.ContextVar("request", default=-1)


class Hang(Exception):
    """Every task waits and no timer is left: something waits forever."""


# -- virtual time ----------------------------------------------------------------------------


class _VirtualSelector(selectors.BaseSelector):
    """Never blocks: when nothing is ready, the loop's clock jumps to the next timer."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.now = 0.0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise Hang("every task waits and no timer is set")
        self.now += timeout
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual and runs ahead whenever the loop is idle."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


# -- the stores, applied atomically -----------------------------------------------------------


class Backend(Protocol):
    """One real durable store, and what the checker needs to look into it."""

    store: DurableStore
    #: Whether large values are stored in parts (only DynamoDB's are).
    splits_values: bool

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Apply ``operation`` on the store with the simulation's clock standing still."""
        ...

    def claims(self, keys: Sequence[str]) -> dict[str, tuple[str, float]]:
        """The claim records (token, wall-clock expiry) among ``keys``, live or not."""
        ...

    def lose_next_answer(self) -> bool:
        """Make the next write's answer get lost on the wire (the store retries); false when
        the store has no wire."""
        ...

    def expire(self, rng: random.Random, now: float, keys: Sequence[str]) -> None:
        """Delete some items past their TTL attribute, as DynamoDB's sweeper does."""
        ...

    def garbage(self, keys: Sequence[str], now: float) -> list[str]:
        """Items nothing references and nothing will delete."""
        ...

    def close(self) -> None: ...


class _Runner:
    """A thread with its own event loop, on which a store that uses threads is run: the
    simulation's loop blocks while a call runs, so its virtual time stands still."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class WallClock:
    """The wall clock the stores read: ``EPOCH`` plus the simulation's virtual time."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> float:
        assert self.loop is not None
        return EPOCH + self.loop.time()


# -- the world ------------------------------------------------------------------------------


@dataclasses.dataclass
class Request:
    id: int
    process: int
    at: float
    list_1: list[str]
    list_2: list[str]
    deadline: float | None = None
    started: float = 0.0
    ended: float | None = None
    outcome: str = "running"  # ok, an error's class name, killed
    error: BaseException | None = None
    created: bool | None = None
    output: str | None = None


@dataclasses.dataclass
class Call:
    """One transformer call, as the paying side saw it."""

    process: int
    request: int
    values: list[str]
    started: float
    ended: float | None = None
    ok: bool = False


class Process:
    """A simulated service process: its own single-flight, L1 and transformer client."""

    def __init__(self, world: World, index: int, *, kind: str) -> None:
        self.world = world
        self.index = index
        self.kind = kind  # "server" or "lambda"
        self.dead = False
        self.died_at: float | None = None
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.frozen_at: float | None = None
        self.tokens: set[str] = set()
        self.watchers = SimWakeups(world, self)
        self.store = FaultyStore(world, self)
        self.metrics = Metrics()
        self.lapsed: set[str] = set()
        self.flight = SingleFlight(
            self.store,
            self.watchers,
            ttl_s=world.ttl_s,
            wait_s=world.wait_s,
            retry_after_s=1,
            **world.flight_options(self),
        )
        self.service = PayloadService(
            TransformerCalls(
                SimTransformer(world, self),
                self.metrics,
                concurrency=world.rng.choice([1, 2, 16]),
                max_output_bytes_per_string=10_000_000,
            ),
            LayeredStore([MemoryCache(100, 10_000_000)], self.store, self.metrics),
            self.flight,
            transformer_batch_size=world.rng.choice([1, 2, 100]),
            max_output_bytes_per_payload=50_000_000,
        )
        self.busy = asyncio.Lock()  # one invocation at a time in a Lambda environment

    async def alive(self) -> None:
        """Return once this process may act: never for a dead one, after the thaw when frozen."""
        while True:
            if self.dead:
                await asyncio.get_running_loop().create_future()  # never done
            if self.thawed.is_set():
                return
            await self.thawed.wait()

    def freeze(self) -> None:
        self.thawed.clear()
        self.frozen_at = self.world.loop.time()

    def thaw(self) -> None:
        self.frozen_at = None
        self.thawed.set()

    def kill(self) -> None:
        if not self.dead:
            self.dead = True
            self.died_at = self.world.loop.time()
            self.thawed.set()  # a dead process blocks in ``alive`` forever instead

    def gone_since(self) -> float | None:
        """Since when this process can no longer act on its claims (dead, or frozen)."""
        return self.died_at if self.dead else self.frozen_at


class FaultyStore:
    """A process's view of the shared store: each call delayed, failed or its answer lost."""

    def __init__(self, world: World, process: Process) -> None:
        self.world = world
        self.process = process
        self.name = world.backend.store.name

    async def _call(self, kind: str, keys: Sequence[str], apply: Callable[[], Awaitable[T]]) -> T:
        """``apply`` after a delay on the way there; the answer after one on the way back."""
        world, rng = self.world, self.world.rng
        await self.process.alive()
        await asyncio.sleep(world.latency() / 2)
        await self.process.alive()
        roll = rng.random()
        if roll < world.p_fail_before:
            world.trace(self.process, kind, keys, "failed before the write")
            if kind == "release":
                world.refused_releases.update(keys)
            raise StoreUnavailable(f"simulated: {kind} failed before the write", 1)
        lose_on_wire = kind in {"claim", "complete"} and rng.random() < world.p_lose_on_wire
        if lose_on_wire:
            world.backend.lose_next_answer()
        result = await world.backend.call(apply)
        if kind in {"claim", "get", "complete"}:
            # What the request last did before deciding anything: releases come after.
            world.last_step[REQUEST.get()] = world.loop.time()
        if roll > 1 - world.p_lose_answer:
            world.trace(self.process, kind, keys, f"{result!r}, answer lost")
            raise StoreUnavailable(f"simulated: the answer to {kind} was lost", 1)
        world.trace(self.process, kind, keys, repr(result))
        # On its way back the caller may be cut off (a deadline): the write stands.
        await asyncio.sleep(world.latency() / 2)
        await self.process.alive()
        return result

    def _ttl_as_sent(self, ttl_s: float, sent: float) -> float:
        # The real stores fix a claim's expiry when the call is made (SQLite in the caller,
        # DynamoDB before sending), not when it lands: so does the simulation.
        return max(0.001, ttl_s - (self.world.loop.time() - sent))

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        return await self._call(
            "get", keys, lambda: self.world.store.get_many(keys, consistent=consistent)
        )

    async def claim(self, keys: Sequence[str], token: str, ttl_s: float) -> ClaimResult:
        self.process.tokens.add(token)
        self.world.token_owner[token] = self.process
        self.world.token_request[token] = REQUEST.get()

        sent = self.world.loop.time()

        async def claim() -> ClaimResult:
            ttl = self._ttl_as_sent(ttl_s, sent)
            outcome = await self.world.store.claim(keys, token, ttl)
            self.world.last_held[REQUEST.get()] = set(outcome.held)
            return outcome

        return await self._call("claim", keys, claim)

    async def renew(self, keys: Sequence[str], token: str, ttl_s: float) -> Any:
        sent = self.world.loop.time()
        return await self._call(
            "renew",
            keys,
            lambda: self.world.store.renew(keys, token, self._ttl_as_sent(ttl_s, sent)),
        )

    async def complete(
        self, items: Mapping[str, str], token: str, *, flush: bool = True
    ) -> Completion:
        async def complete() -> Completion:
            keys = list(items)
            before = await self.world.store.get_many(keys, consistent=True)
            completion = await self.world.store.complete(items, token, flush=flush)
            after = await self.world.store.get_many(keys, consistent=True)
            now = self.world.loop.time()
            for key in keys:
                if key not in before and key in after:
                    self.world.creators[key].add(REQUEST.get())
                    self.world.completed_at[key] = now
            return completion

        completion = await self._call("complete", list(items), complete)
        self.world.stored_by.update((REQUEST.get(), key) for key in items)
        return completion

    async def release(self, keys: Sequence[str], token: str) -> None:
        await self._call("release", keys, lambda: self.world.store.release(keys, token))

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class SimWakeups(Watchers):
    """Wake-ups between the simulated processes; an announcement may be lost."""

    def __init__(self, world: World, process: Process) -> None:
        super().__init__()
        self.world = world
        self.process = process
        self._listening = world.rng.random() < 0.7

    @property
    def listening(self) -> bool:
        return self._listening

    async def announce(self, keys: Sequence[str]) -> None:
        await self.process.alive()
        for other in self.world.processes:
            if other.dead or not other.thawed.is_set():
                continue
            if self.world.rng.random() < 0.1:
                continue  # lost
            other.watchers.wake(keys)

    async def aclose(self) -> None:
        return None


class SimTransformer:
    """Upper-cases after a delay; may fail or hang (then times out as the HTTP client would)."""

    def __init__(self, world: World, process: Process) -> None:
        self.world = world
        self.process = process

    @property
    def identity(self) -> str:
        return self.world.identity

    async def transform(self, values: Sequence[str]) -> list[str]:
        world, rng = self.world, self.world.rng
        await self.process.alive()
        call = Call(self.process.index, REQUEST.get(), list(values), world.loop.time())
        world.calls.append(call)
        for value in values:
            world.call_started_on_stored[(id(call), value)] = await world.is_stored(
                STRING_PREFIX + string_key(world.identity, value)
            )
        roll = rng.random()
        if roll < world.p_transformer_hang:
            await asyncio.sleep(TRANSFORMER_TIMEOUT_S)
            await self.process.alive()
            call.ended = world.loop.time()
            world.transformer_failures.append((REQUEST.get(), call.ended))
            raise TransformerTimeout("simulated: the transformer did not answer in time")
        await asyncio.sleep(rng.uniform(0.05, 1.0))
        await self.process.alive()
        call.ended = world.loop.time()
        if roll < world.p_transformer_hang + world.p_transformer_fail:
            world.transformer_failures.append((REQUEST.get(), call.ended))
            raise TransformerError("simulated: the transformer failed")
        call.ok = True
        return [expected(value, world.identity) for value in values]

    async def aclose(self) -> None:
        return None


def expected(value: str, identity: str) -> str:
    """The transformer's output; a large one names the run, so no two runs share its parts."""
    if not value.startswith(BIG):
        return value.upper()
    unit = f"{value.upper()}/{identity}/"
    return unit * (BIG_BYTES // len(unit) + 1)


@dataclasses.dataclass
class Violation:
    seed: int
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"seed {self.seed}: {self.invariant}: {self.detail}"


class World:
    """One seeded run: processes, requests, faults, and what was observed."""

    def __init__(self, seed: int, backend: Backend, loop: VirtualTimeLoop) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.backend = backend
        self.store = backend.store
        self.loop = loop
        self.identity = f"sim-{seed}"
        rng = self.rng
        calm = rng.random() < 0.2  # some runs without store faults at all
        self.p_fail_before = 0.0 if calm else rng.choice([0.0, 0.02, 0.08])
        self.p_lose_answer = 0.0 if calm else rng.choice([0.0, 0.02, 0.08])
        self.p_lose_on_wire = rng.choice([0.0, 0.1])
        self.p_transformer_fail = rng.choice([0.0, 0.05, 0.2])
        self.p_transformer_hang = rng.choice([0.0, 0.03])
        self.p_slow_store = rng.choice([0.0, 0.05])
        # Claims always expire before waiters give up (the settings refuse the opposite).
        self.wait_s = rng.choice([1.0, 3.0, WAIT_S])
        self.ttl_s = round(self.wait_s * rng.uniform(0.3, 0.9), 2)
        self.processes: list[Process] = []
        self.requests: list[Request] = []
        self.calls: list[Call] = []
        self.call_started_on_stored: dict[tuple[int, str], bool] = {}
        self.transformer_failures: list[tuple[int, float]] = []
        self.token_owner: dict[str, Process] = {}
        self.token_request: dict[str, int] = {}
        #: Keys whose release the store refused: their claims lapse by their TTL instead.
        self.refused_releases: set[str] = set()
        #: (request, key) of every completion whose caller heard it succeed.
        self.stored_by: set[tuple[int, str]] = set()
        #: What the run saw besides violations: lapses counted, lapses no holder could see.
        self.stats: Counter[str] = Counter()
        #: Each Lambda invocation's end (loop time), by request: its claims may last that long.
        self.invocation_end: dict[int, float] = {}
        #: Who stored each key; a value swept by its TTL may be made (and stored) again.
        self.creators: defaultdict[str, set[int]] = defaultdict(set)
        self.completed_at: dict[str, float] = {}
        self.last_step: dict[int, float] = {}
        self.last_held: dict[int, set[str]] = {}
        self.violations: list[Violation] = []
        self.keys: set[str] = set()
        self.tracing = False
        self.names: dict[str, str] = {}

    def flight_options(self, process: Process) -> dict[str, Any]:
        def lapsed(keys: Sequence[str]) -> None:
            process.lapsed.update(keys)

        return {"poll_s": (0.01, 0.2), "on_lapse": lapsed}

    def latency(self) -> float:
        if self.rng.random() < self.p_slow_store:
            return self.rng.uniform(1.0, 3.0)
        return self.rng.uniform(0.0, MAX_STORE_LATENCY_S) if self.rng.random() < 0.5 else 0.0

    async def is_stored(self, key: str) -> bool:
        return bool(await self.backend.call(lambda: self.store.get_many([key], consistent=True)))

    def trace(self, process: Process, kind: str, keys: Sequence[str], what: str) -> None:
        if self.tracing:
            names = [self.names.get(k, k[:10]) for k in keys]
            print(
                f"{self.loop.time():8.3f} p{process.index} r{REQUEST.get()} {kind} {names}: "
                f"{what[:300]}"
            )

    def violation(self, invariant: str, detail: str) -> None:
        self.violations.append(Violation(self.seed, invariant, detail))

    # -- the run ----------------------------------------------------------------------------

    async def run(self) -> None:
        rng = self.rng
        kinds = [rng.choice(["server", "lambda"]) for _ in range(rng.randint(2, 4))]
        self.processes = [Process(self, i, kind=kind) for i, kind in enumerate(kinds)]
        alphabet = ["a", "b", "c", "d", "e"]
        if self.backend.splits_values:
            alphabet += [f"{BIG}1", f"{BIG}2"]
        for index in range(rng.randint(3, 10)):
            width = rng.randint(1, 3)
            self.requests.append(
                Request(
                    index,
                    rng.randrange(len(self.processes)),
                    rng.uniform(0, 12),
                    [rng.choice(alphabet) for _ in range(width)],
                    [rng.choice(alphabet) for _ in range(width)],
                )
            )
        for request in self.requests:
            self.keys.add(
                PAYLOAD_PREFIX + payload_id(self.identity, request.list_1, request.list_2)
            )
            self.keys.update(
                STRING_PREFIX + string_key(self.identity, value)
                for value in (*request.list_1, *request.list_2)
            )
        tasks = [asyncio.create_task(self._request(r)) for r in self.requests]
        background = [asyncio.create_task(self._kills())]
        background.append(asyncio.create_task(self._expiries()))
        try:
            async with asyncio.timeout(LIMIT_S):
                while any(
                    r.outcome == "running" and not self.processes[r.process].dead
                    for r in self.requests
                ):
                    await asyncio.wait(tasks, timeout=1.0)
        except TimeoutError:
            for request in self.requests:
                if request.outcome == "running" and not self.processes[request.process].dead:
                    self.violation("hang", f"request {request.id} still running at {LIMIT_S}s")
        for task in background:
            task.cancel()
        # Every flight of a live process is over once its requests are.
        await asyncio.sleep(MAX_STORE_LATENCY_S * 4 + 1)
        await self._check_orphans_at_end()
        self._check_calls()
        self._check_outcomes()
        now = self.loop.time()
        for item in self.backend.garbage(sorted(self.keys), EPOCH + now):
            self.violation("garbage", item)
        for task in tasks:
            task.cancel()

    async def _request(self, request: Request) -> None:
        process = self.processes[request.process]
        await asyncio.sleep(request.at)
        if process.kind == "lambda":
            async with process.busy:
                await self._invoke(process, request)
        else:
            await self._serve(process, request, deadline=None)

    async def _invoke(self, process: Process, request: Request) -> None:
        """One Lambda invocation: thawed, served within its budget, drained, frozen."""
        if process.dead:
            request.outcome = "killed"
            return
        process.thaw()
        budget = self.rng.uniform(2.0, 12.0)
        end = self.loop.time() + budget
        self.invocation_end[request.id] = end
        await self._serve(process, request, deadline=end - LAMBDA_MARGIN_S)
        if process.dead:
            return
        await process.flight.drain(end)  # as the Lambda handler does before it returns
        process.freeze()
        if process.dead:
            return
        # A release the store refused leaves its claim to expire, by its invocation's end.
        await self._check_no_live_claims(process, "an invocation that answered", bounded=True)

    async def _serve(self, process: Process, request: Request, deadline: float | None) -> None:
        request.started = self.loop.time()
        request.deadline = deadline
        REQUEST.set(request.id)
        try:
            result = await process.service.submit(request.list_1, request.list_2, deadline=deadline)
        except (TransformerError, Unavailable) as exc:
            request.outcome, request.error = type(exc).__name__, exc
        except asyncio.CancelledError:
            request.outcome = "killed"
            raise
        except Exception as exc:
            request.outcome, request.error = type(exc).__name__, exc
            self.violation(
                "outcome",
                f"request {request.id} raised {exc!r}: "
                + "".join(traceback.format_exception(exc))[-600:],
            )
        else:
            request.outcome, request.created, request.output = "ok", result.created, result.output
        request.ended = self.loop.time()
        if process.dead:
            request.outcome = "killed"
            return
        if isinstance(request.error, WaitTimeout):
            await self._check_wait_timeout(request)

    async def _kills(self) -> None:
        rng = self.rng
        if rng.random() < 0.6:
            return
        await asyncio.sleep(rng.uniform(0, 15))
        victim = rng.choice(self.processes)
        victim.kill()
        if victim.kind == "lambda":
            await self._check_killed_lambda(victim)

    async def _expiries(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(1, 4))
            self.backend.expire(self.rng, EPOCH + self.loop.time(), sorted(self.keys))

    # -- the checker -----------------------------------------------------------------------

    def _live_claims_of(self, process: Process) -> dict[str, tuple[str, float]]:
        now = EPOCH + self.loop.time()
        return {
            key: (token, until)
            for key, (token, until) in self.backend.claims(sorted(self.keys)).items()
            if token in process.tokens and until > now
        }

    async def _check_no_live_claims(
        self, process: Process, who: str, *, bounded: bool = False
    ) -> None:
        held = self._live_claims_of(process)
        if not bounded:
            held = {k: v for k, v in held.items() if not self._refused(k)}
        else:
            held = {
                key: (token, until)
                for key, (token, until) in held.items()
                if until > EPOCH + self.invocation_end.get(self.token_request[token], 0) + 0.001
            }
        if held:
            self.violation(
                "orphan",
                f"{who} (process {process.index}) still holds {len(held)} claim(s), the "
                f"longest for {max(u for _, u in held.values()) - EPOCH - self.loop.time():.1f}s",
            )

    async def _check_killed_lambda(self, process: Process) -> None:
        """A killed environment's claims last no longer than the invocation that took each."""
        for key, (token, until) in self._live_claims_of(process).items():
            end = self.invocation_end.get(self.token_request[token], 0.0)
            if until > EPOCH + end + 0.001:
                self.violation(
                    "orphan",
                    f"killed invocation's claim on {key[:16]} lasts "
                    f"{until - EPOCH - end:.1f}s past its invocation's end",
                )

    async def _check_orphans_at_end(self) -> None:
        for process in self.processes:
            if process.dead or process.kind == "lambda":
                continue
            await self._check_no_live_claims(process, "a server whose requests are over")

    def _refused(self, key: str) -> bool:
        return key in self.refused_releases

    async def _check_wait_timeout(self, request: Request) -> None:
        now = self.loop.time()
        payload = PAYLOAD_PREFIX + payload_id(self.identity, request.list_1, request.list_2)
        held = self.last_held.get(request.id, set())
        waited_for = held or {payload}
        # When it gave up: its last read or write; what it released afterwards does not count.
        decided = self.last_step.get(request.id, now)
        if all(self.completed_at.get(key, now) < decided for key in waited_for):
            self.violation(
                "stale-503",
                f"request {request.id} gave up at {decided:.2f}s (503); what it waited for was "
                f"stored at {max(self.completed_at[k] for k in waited_for):.2f}s",
            )
        claims = self.backend.claims(sorted(waited_for))
        for token, _ in claims.values():
            owner = self.token_owner.get(token)
            gone = owner.gone_since() if owner is not None else None
            if gone is not None and decided - gone > self.ttl_s + 1.0:
                self.violation(
                    "blocked",
                    f"request {request.id} gave up at {decided:.2f}s (503) on a claim whose "
                    f"holder (process {owner.index if owner else '?'}) was gone since {gone:.2f}s",
                )
        if any(r == request.id for r, _ in self.transformer_failures):
            self.violation("slow-502", f"request {request.id}'s own work failed; it answered 503")

    def _check_calls(self) -> None:
        by_value: dict[str, list[Call]] = defaultdict(list)
        for call in self.calls:
            if call.ok:
                for value in call.values:
                    by_value[value].append(call)
        lapsed = set().union(*(p.lapsed for p in self.processes))
        self.stats["lapses counted"] += len(lapsed)
        for value, calls in by_value.items():
            key = STRING_PREFIX + string_key(self.identity, value)
            if key in lapsed:
                continue
            for call in calls:
                if not self.call_started_on_stored.get((id(call), value)):
                    continue
                if (call.request, key) not in self.stored_by:
                    self.stats["lapses no holder could see"] += 1  # Its completion never came back.
                else:
                    self.violation(
                        "twice",
                        f"{value!r} transformed at {call.started:.2f}s (process {call.process}) "
                        "although it was stored, and no lapse was counted",
                    )
            ordered = sorted(calls, key=lambda c: c.started)
            for first, second in itertools.pairwise(ordered):
                assert first.ended is not None
                if second.started >= first.ended:
                    continue
                if not all((c.request, key) in self.stored_by for c in (first, second)):
                    # One holder's claim lapsed and its completion failed, so it never learned
                    # of the lapse (nor stored its result). Paid twice, seen only here.
                    self.stats["lapses no holder could see"] += 1
                else:
                    self.violation(
                        "twice",
                        f"{value!r} transformed at once by processes {first.process} and "
                        f"{second.process} ({first.started:.2f}-{first.ended:.2f}s and "
                        f"{second.started:.2f}s), and no lapse was counted",
                    )

    def _check_outcomes(self) -> None:
        failures: dict[int, float] = {}
        for request_id, at in self.transformer_failures:
            failures.setdefault(request_id, at)
        for request in self.requests:
            if request.outcome == "ok":
                want = render(
                    [expected(v, self.identity) for v in request.list_1],
                    [expected(v, self.identity) for v in request.list_2],
                )
                if request.output != want:
                    self.violation("outcome", f"request {request.id} got a wrong output")
                key = PAYLOAD_PREFIX + payload_id(self.identity, request.list_1, request.list_2)
                mine = request.id in self.creators[key]
                if request.created != mine:
                    self.violation(
                        "created",
                        f"request {request.id} answered {'MISS' if request.created else 'HIT'} "
                        f"but {'its own' if mine else 'other'} work stored the payload",
                    )
            elif request.outcome in {"killed", "running"}:
                continue
            elif not isinstance(request.error, TransformerError | Unavailable | OutOfTime):
                self.violation("outcome", f"request {request.id}: {request.outcome}")
            elif isinstance(request.error, StoreUnavailable) and not str(request.error).startswith(
                "simulated"
            ):
                # Only the faults the simulation injects may make the store unavailable; any
                # other 503 (a damaged value, say) would recur for every request of the key.
                self.violation("outcome", f"request {request.id}: 503 {request.error}")
            if request.id in failures and request.ended is not None and request.outcome != "ok":
                late = request.ended - failures[request.id]
                bound = TRANSFORMER_TIMEOUT_S + 1.0 + 4 * MAX_STORE_LATENCY_S + 3.0
                if late > bound and not isinstance(request.error, OutOfTime):
                    self.violation(
                        "slow-502",
                        f"request {request.id} answered {late:.1f}s after its own work failed",
                    )


# -- backends -------------------------------------------------------------------------------


class _NoWire:
    """What a store without a network or a TTL sweeper does about them: nothing."""

    def lose_next_answer(self) -> bool:
        return False

    def expire(self, rng: random.Random, now: float, keys: Sequence[str]) -> None:
        return None

    def garbage(self, keys: Sequence[str], now: float) -> list[str]:
        return []


class MemoryBackend(_NoWire):
    splits_values = False

    def __init__(self, clock: WallClock) -> None:
        self.table = MemoryTable()
        self.store: DurableStore = MemoryStore(clock=clock, table=self.table)

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await operation()  # never suspends: atomic on the simulation's loop

    def claims(self, keys: Sequence[str]) -> dict[str, tuple[str, float]]:
        return {k: self.table.claims[k] for k in keys if k in self.table.claims}

    def close(self) -> None:
        return None


async def _on(runner: _Runner, operation: Callable[[], Awaitable[T]]) -> T:
    """``operation`` on the runner's loop, this loop (and its clock) waiting for it."""

    async def run() -> T:
        return await operation()

    return runner.run(run())


class SqliteBackend(_NoWire):
    splits_values = False

    def __init__(self, clock: WallClock, path: Path, runner: _Runner) -> None:
        from cache_service.stores.sqlite import SqliteStore

        self.path = path
        self.runner = runner
        self.store: DurableStore = SqliteStore(path, timeout_s=10, retry_after_s=1, clock=clock)
        self._peek = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await _on(self.runner, operation)

    def claims(self, keys: Sequence[str]) -> dict[str, tuple[str, float]]:
        found: dict[str, tuple[str, float]] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._peek.execute(
                f"SELECT key, token, expires_at FROM claims WHERE key IN ({marks})",
                chunk,
            )
            found.update({key: (token, until) for key, token, until in rows})
        return found

    def close(self) -> None:
        self._peek.close()
        self.runner.run(self.store.aclose())


class DynamoBackend:
    """A table of its own per seed on one moto server, reached through a proxy that can lose
    the answer of a write after it took effect."""

    splits_values = True

    def __init__(self, clock: WallClock, moto: Any, proxy: Any, runner: _Runner) -> None:
        import boto3

        from cache_service.stores.dynamodb.store import DynamoDbStore

        self.runner = runner
        self.proxy = proxy
        self.moto = moto
        self.table = moto.create_table(f"sim-{threading.get_ident()}-{time.monotonic_ns()}")
        self.store: DurableStore = DynamoDbStore(
            self.table, timeout_s=10, retry_after_s=1, ttl_s=8, clock=clock, max_workers=4
        )
        self._peek = boto3.client("dynamodb", endpoint_url=moto.endpoint)

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await _on(self.runner, operation)

    def _items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            reply = self._peek.scan(**kwargs)
            items += reply["Items"]
            if "LastEvaluatedKey" not in reply:
                return items
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def claims(self, keys: Sequence[str]) -> dict[str, tuple[str, float]]:
        wanted = set(keys)
        return {
            item["pk"]["S"]: (item["token"]["S"], int(item["claimed_until"]["N"]) / 1000)
            for item in self._items()
            if item["pk"]["S"] in wanted and "token" in item and "claimed_until" in item
        }

    def lose_next_answer(self) -> bool:
        self.proxy.lose_next_write()
        return True

    def expire(self, rng: random.Random, now: float, keys: Sequence[str]) -> None:
        expired = [
            item
            for item in self._items()
            if "expires_at" in item and int(item["expires_at"]["N"]) < now
        ]
        rng.shuffle(expired)
        for item in expired[: rng.randint(0, len(expired))]:
            self._peek.delete_item(TableName=self.table, Key={"pk": item["pk"]})

    def garbage(self, keys: Sequence[str], now: float) -> list[str]:
        from cache_service.stores.dynamodb.codec import part_key

        items = self._items()
        referenced = {
            part_key(item["digest"]["S"], i)
            for item in items
            if "parts" in item
            for i in range(int(item["parts"]["N"]))
        }
        found = []
        for item in items:
            name = item["pk"]["S"]
            if "expires_at" in item:
                continue
            if name.startswith("part#") and name not in referenced:
                found.append(f"part {name[:24]} is referenced by no head and never expires")
            elif "token" in item:
                found.append(f"claim on {name[:24]} never expires")
        return found

    def close(self) -> None:
        self.runner.run(self.store.aclose())
        self._peek.delete_table(TableName=self.table)
        self._peek.close()


# -- running seeds ---------------------------------------------------------------------------


@contextmanager
def backend_for(store: str, workdir: Path) -> Iterator[Callable[[WallClock], Backend]]:
    """Makes a fresh backend (per seed) over one store instance's files or table."""
    if store == "memory":
        yield MemoryBackend
        return
    runner = _Runner()
    try:
        if store == "sqlite":
            path = workdir / "sim.db"
            yield lambda clock: SqliteBackend(clock, path, runner)
        else:
            from tests.support.moto_process import MotoServer
            from tests.support.recording_proxy import RecordingProxy

            moto = MotoServer().start()
            proxy = RecordingProxy(moto.endpoint)
            # The stores go through the proxy; the checker reads moto directly.
            env = {k: v for k, v in moto.env("unused").items() if k.startswith("AWS_")}
            env["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.url
            saved = {name: os.environ.get(name) for name in env}
            os.environ.update(env)
            try:
                yield lambda clock: DynamoBackend(clock, moto, proxy, runner)
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
                proxy.close()
                moto.stop()
    finally:
        runner.close()


def run_seed(
    seed: int, make_backend: Callable[[WallClock], Backend], *, trace: bool = False
) -> tuple[list[Violation], Counter[str]]:
    loop = VirtualTimeLoop()
    clock = WallClock()
    clock.loop = loop
    backend = make_backend(clock)
    world = World(seed, backend, loop)
    world.tracing = trace
    try:
        loop.run_until_complete(world.run())
    except Hang as exc:
        world.violation("hang", str(exc))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        with contextlib.suppress(BaseException):  # cancelled leftovers of dead processes
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        backend.close()
    world.stats["requests"] += len(world.requests)
    world.stats.update(f"answered {r.outcome}" for r in world.requests)
    world.stats["transformer calls"] += len(world.calls)
    return world.violations, world.stats


def run_seeds(store: str, seeds: Sequence[int]) -> tuple[list[Violation], Counter[str]]:
    found: list[Violation] = []
    stats: Counter[str] = Counter()
    with (
        tempfile.TemporaryDirectory(dir=_fast_tmp()) as workdir,
        backend_for(store, Path(workdir)) as make_backend,
    ):
        for seed in seeds:
            violations, seen = run_seed(seed, make_backend)
            found += violations
            stats += seen
    return found, stats


def _fast_tmp() -> str | None:
    return "/dev/shm" if Path("/dev/shm").is_dir() else None


def _worker(args: tuple[str, list[int]]) -> tuple[list[str], Counter[str]]:
    store, seeds = args
    quiet_logs()
    violations, stats = run_seeds(store, seeds)
    return [str(v) for v in violations], stats


def quiet_logs() -> None:
    """The service logs every fault it meets; thousands of seeds would drown the report."""
    logging.getLogger("cache_service").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["memory", "sqlite", "dynamodb"], default="memory")
    parser.add_argument("--seeds", type=int, default=1000, help="how many seeds to run")
    parser.add_argument("--first", type=int, default=0, help="the first seed")
    parser.add_argument("--seed", type=int, action="append", help="run just this seed (again)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--trace", action="store_true", help="print every store call (--seed)")
    args = parser.parse_args(argv)
    if args.trace:
        with (
            tempfile.TemporaryDirectory() as workdir,
            backend_for(args.store, Path(workdir)) as make_backend,
        ):
            for seed in args.seed or []:
                for violation in run_seed(seed, make_backend, trace=True)[0]:
                    print(violation)
        return 0
    seeds = args.seed or list(range(args.first, args.first + args.seeds))
    started = time.perf_counter()
    chunks = [seeds[i :: args.jobs] for i in range(args.jobs)]
    if args.jobs == 1:
        parts = [_worker((args.store, seeds))]
    else:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            parts = pool.map(_worker, [(args.store, chunk) for chunk in chunks])
    lines = [line for part, _ in parts for line in part]
    stats: Counter[str] = sum((seen for _, seen in parts), Counter())
    elapsed = time.perf_counter() - started
    by_invariant: dict[str, int] = defaultdict(int)
    first: dict[str, str] = {}
    for line in sorted(lines, key=lambda text: int(text.split(":")[0].split()[1])):
        invariant = line.split(": ")[1]
        by_invariant[invariant] += 1
        first.setdefault(invariant, line)
    for line in first.values():
        print("first:", line)
    print(f"seen: {dict(sorted(stats.items()))}")
    print(
        f"{args.store}: {len(seeds)} seeds, {len(lines)} violation(s) "
        f"{dict(by_invariant)} in {elapsed:.1f}s"
    )
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
