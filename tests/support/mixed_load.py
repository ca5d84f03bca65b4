"""Mixed load against running services: new payloads, repeated ones and GETs, with a ledger.

The ledger is what the fault tests judge by: which requests failed and how, the slowest
answer, and every id a POST handed out (each must still GET afterwards).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class Ledger:
    """What the load saw, by kind of request."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)

    def record(self, kind: str, status: int, elapsed_s: float) -> None:
        self.statuses.setdefault(kind, Counter())[status] += 1
        self.slowest_s = max(self.slowest_s, elapsed_s)

    def count(self, kind: str, *, at_least: int = 0, at_most: int = 999) -> int:
        return sum(
            n for s, n in self.statuses.get(kind, Counter()).items() if at_least <= s <= at_most
        )

    def summary(self) -> str:
        kinds = ", ".join(
            f"{kind}: {dict(sorted(counts.items()))}" for kind, counts in self.statuses.items()
        )
        return (
            f"{kinds}; client failures {dict(self.failures)}; slowest {self.slowest_s:.2f}s; "
            f"{len(self.outputs)} ids handed out"
        )


@dataclass
class MixedLoad:
    """``workers`` clients spread over ``urls`` until ``stop`` is set.

    A third of the requests are new payloads (misses), a third repeat a payload that already
    has an id, a third GET such an id. ``kind`` in the ledger: ``new``, ``repeat``, ``get``.
    """

    urls: list[str]
    workers: int = 8
    timeout_s: float = 30.0
    ledger: Ledger = field(default_factory=Ledger)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _known: list[tuple[dict[str, list[str]], str]] = field(default_factory=list)

    async def run(self, seconds: float) -> Ledger:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            urls = itertools.cycle(self.urls)
            tasks = [
                asyncio.create_task(self._worker(client, next(urls), n))
                for n in range(self.workers)
            ]
            await asyncio.sleep(seconds)
            self.stop.set()
            await asyncio.gather(*tasks)
        return self.ledger

    async def _worker(self, client: httpx.AsyncClient, url: str, number: int) -> None:
        rng = random.Random(number)
        while not self.stop.is_set():
            choice = rng.random()
            if not self._known or choice < 1 / 3:
                body = {
                    "list_1": [f"new-{uuid.uuid4().hex[:10]}", "shared"],
                    "list_2": ["common", f"w{number}"],
                }
                await self._post(client, url, "new", body)
            elif choice < 2 / 3:
                body, _ = rng.choice(self._known)
                await self._post(client, url, "repeat", body)
            else:
                _, id_ = rng.choice(self._known)
                await self._get(client, url, id_)
            await asyncio.sleep(0.005)

    async def _post(
        self, client: httpx.AsyncClient, url: str, kind: str, body: dict[str, list[str]]
    ) -> None:
        started = time.monotonic()
        try:
            response = await client.post(f"{url}/payload", json=body)
        except httpx.HTTPError as exc:
            self.ledger.failures[f"{kind}: {type(exc).__name__}"] += 1
            return
        self.ledger.record(kind, response.status_code, time.monotonic() - started)
        if response.status_code in (200, 201):
            document = response.json()
            self.ledger.outputs[document["id"]] = document["output"]
            if kind == "new":
                self._known.append((body, document["id"]))

    async def _get(self, client: httpx.AsyncClient, url: str, id_: str) -> None:
        started = time.monotonic()
        try:
            response = await client.get(f"{url}/payload/{id_}")
        except httpx.HTTPError as exc:
            self.ledger.failures[f"get: {type(exc).__name__}"] += 1
            return
        self.ledger.record("get", response.status_code, time.monotonic() - started)


async def check_every_id_still_answers(url: str, ledger: Ledger) -> int:
    """GET every id the load was handed; return how many answered with their output."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        semaphore = asyncio.Semaphore(16)

        async def check(id_: str, output: str) -> bool:
            async with semaphore:
                response = await client.get(f"/payload/{id_}")
            return response.status_code == 200 and response.json()["output"] == output

        results = await asyncio.gather(*(check(i, o) for i, o in ledger.outputs.items()))
    return sum(results)
