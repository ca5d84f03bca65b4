"""Soak: minutes of mixed load against a real process; memory must stay bounded.

Not in the default run (``-m "not soak"`` in pytest's options). Run it with
``.venv/bin/pytest -m soak -s`` (``SOAK_SECONDS`` sets the duration, default 300).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.reliability.test_hostile_input import MiB, rss_bytes
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.soak


async def test_memory_stays_bounded_under_minutes_of_mixed_load(tmp_path: Path) -> None:
    seconds = float(os.environ.get("SOAK_SECONDS", "300"))
    env = {
        "CACHE_SQLITE_PATH": str(tmp_path / "cache.db"),
        "CACHE_TRANSFORMER_DELAY_MS": "5",
        # Small enough that the soak fills L1 and exercises eviction.
        "CACHE_L1_MAX_ENTRIES": "2000",
    }
    rng = random.Random(7)
    statuses: Counter[int] = Counter()
    ids: list[str] = []
    bodies: list[dict[str, list[str]]] = []
    with ServiceProcess(env=env, workdir=tmp_path) as service:
        assert service.process is not None
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:

            async def worker(deadline: float) -> None:
                while time.monotonic() < deadline:
                    roll = rng.random()
                    if roll < 0.3 or not ids:  # a new payload: a miss
                        n = rng.randint(1, 20)
                        words = [f"w{rng.randrange(50_000)}" for _ in range(2 * n)]
                        body = {"list_1": words[:n], "list_2": words[n:]}
                        response = await client.post("/payload", json=body)
                        if response.status_code in (200, 201):
                            ids.append(response.json()["id"])
                            bodies.append(body)
                    elif roll < 0.6:  # a repeated payload: a POST hit
                        response = await client.post("/payload", json=rng.choice(bodies))
                    else:  # a GET hit
                        response = await client.get(f"/payload/{rng.choice(ids)}")
                    statuses[response.status_code] += 1

            warm_up = time.monotonic() + min(30.0, seconds / 5)
            await asyncio.gather(*(worker(warm_up) for _ in range(16)))
            start_rss = rss_bytes(service.process.pid)
            await asyncio.gather(*(worker(time.monotonic() + seconds) for _ in range(16)))
            end_rss = rss_bytes(service.process.pid)
    print(f"\n{sum(statuses.values())} requests {dict(statuses)}, {len(ids)} payloads")
    print(f"RSS after warm-up {start_rss / MiB:.1f} MiB, at the end {end_rss / MiB:.1f} MiB")
    assert set(statuses) <= {200, 201}
    assert end_rss - start_rss < 64 * MiB
