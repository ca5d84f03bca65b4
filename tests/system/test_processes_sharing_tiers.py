"""Real ``cache-service`` processes sharing Redis and a durable store, with faults injected.

Each test starts its processes, does something to the shared parts (kill Redis, stop the
DynamoDB endpoint, kill -9 a service), and prints what it did and the counts it saw.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Services
from tests.support.processes import free_port
from tests.support.transformer_server import TransformerServer


def _env(**values: str) -> dict[str, str]:
    return {"CACHE_TRANSFORMER_DELAY_MS": "0", **values}


def shared_env(
    transformer: TransformerServer,
    moto_server: Any,
    table: str,
    redis_url: str | None,
    prefix: str,
    **extra: str,
) -> dict[str, str]:
    env = _env(CACHE_TRANSFORMER_URL=transformer.url, **moto_server.env(table), **extra)
    if redis_url is not None:
        env.update(CACHE_REDIS_URL=redis_url, CACHE_REDIS_PREFIX=prefix)
    return env


def overlapping_payloads(count: int) -> list[dict[str, list[str]]]:
    """Payloads that share most of their strings, so processes race for the same work."""
    words = [f"word-{i}" for i in range(12)]
    return [
        {"list_1": [words[i % 12], words[(i + 1) % 12]], "list_2": [words[(i + 5) % 12], "x"]}
        for i in range(count)
    ]


async def post_all(
    urls: list[str], bodies: list[dict[str, list[str]]], timeout_s: float = 30
) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        return await asyncio.gather(
            *(
                client.post(f"{url}/payload", json=body)
                for url, body in zip(itertools.cycle(urls), bodies, strict=False)
            )
        )


def check_exactly_once(
    transformer: TransformerServer,
    bodies: list[dict[str, list[str]]],
    responses: list[httpx.Response],
) -> None:
    distinct_strings = {s for body in bodies for s in body["list_1"] + body["list_2"]}
    payloads = {repr(body) for body in bodies}
    print(
        f"{len(responses)} POSTs, {len(payloads)} payloads, {len(distinct_strings)} strings, "
        f"{transformer.total_calls} transformer calls, statuses "
        f"{sorted(Counter(r.status_code for r in responses).items())}"
    )
    assert {r.status_code for r in responses} <= {200, 201}
    assert dict(transformer.calls) == dict.fromkeys(distinct_strings, 1)
    check_one_answer_per_payload(bodies, responses)


def check_one_answer_per_payload(
    bodies: list[dict[str, list[str]]], responses: list[httpx.Response]
) -> None:
    """Every payload was created by exactly one request and got one same answer everywhere."""
    by_payload: dict[str, list[httpx.Response]] = {}
    for body, response in zip(bodies, responses, strict=True):
        by_payload.setdefault(repr(body), []).append(response)
    created = Counter(
        key for key, replies in by_payload.items() for r in replies if r.status_code == 201
    )
    assert created == dict.fromkeys(by_payload, 1)
    for replies in by_payload.values():
        assert len({r.content for r in replies}) == 1


@pytest.mark.parametrize("redis_kind", ["standalone", "cluster"])
async def test_two_processes_sharing_redis_and_dynamodb_call_the_transformer_once_per_string(
    redis_kind: str,
    services: Services,
    request: pytest.FixtureRequest,
    transformer_server: TransformerServer,
    moto_server: Any,
    dynamodb_table: str,
    redis_prefix: str,
) -> None:
    transformer_server.delay_s = 0.3  # All 40 requests arrive while the first calls run.
    cluster = redis_kind == "cluster"
    redis: Any = request.getfixturevalue("redis_cluster" if cluster else "redis_server")
    env = shared_env(
        transformer_server,
        moto_server,
        dynamodb_table,
        redis.url,
        redis_prefix,
        CACHE_REDIS_CLUSTER=str(cluster).lower(),
    )
    first, second = services.start(env), services.start(env)
    bodies = overlapping_payloads(20) * 2
    responses = await post_all([first.url, second.url], bodies)
    check_exactly_once(transformer_server, bodies, responses)


async def test_without_redis_two_processes_on_one_sqlite_file_claim_through_the_store(
    services: Services, tmp_path: Path, transformer_server: TransformerServer
) -> None:
    transformer_server.delay_s = 0.3
    env = _env(
        CACHE_TRANSFORMER_URL=transformer_server.url,
        CACHE_SQLITE_PATH=str(tmp_path / "shared.db"),
    )
    first, second = services.start(env), services.start(env)
    bodies = overlapping_payloads(20) * 2
    responses = await post_all([first.url, second.url], bodies)
    check_exactly_once(transformer_server, bodies, responses)


async def test_a_redis_that_is_down_at_start_costs_nothing_but_speed(
    services: Services, tmp_path: Path
) -> None:
    env = _env(CACHE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", CACHE_STORE="memory")
    service = services.start(env)
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        posted = await client.post("/payload", json={"list_1": ["a"], "list_2": ["b"]})
        got = await client.get(f"/payload/{posted.json()['id']}")
        ready = await client.get("/ready")
    print("ready while Redis is down:", ready.json())
    assert (posted.status_code, got.status_code) == (201, 200)
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["tiers"]["redis"] != "ok"


async def test_redis_killed_mid_run_and_restarted_is_survived_and_rejoined(
    services: Services,
    tmp_path: Path,
    redis_server: Any,
    redis_prefix: str,
) -> None:
    env = _env(
        CACHE_REDIS_URL=redis_server.url,
        CACHE_REDIS_PREFIX=redis_prefix,
        CACHE_REDIS_COOLDOWN_S="0.5",
        CACHE_SQLITE_PATH=str(tmp_path / "store.db"),
        CACHE_L1_MAX_ENTRIES="0",  # Every GET goes to Redis first, so its loss shows.
    )
    service = services.start(env)
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:

        async def round_trip(i: int) -> None:
            posted = await client.post("/payload", json={"list_1": [f"s{i}"], "list_2": ["b"]})
            statuses[posted.status_code] += 1
            got = await client.get(f"/payload/{posted.json()['id']}")
            statuses[got.status_code] += 1

        for i in range(20):
            await round_trip(i)
        redis_server.kill()
        for i in range(20, 60):
            await round_trip(i)
        down = (await client.get("/ready")).json()
        redis_server.restart()
        deadline = time.monotonic() + 10
        while (ready := (await client.get("/ready")).json())["status"] != "ready":
            assert time.monotonic() < deadline, f"never rejoined Redis: {ready}"
            await asyncio.sleep(0.2)
        posted = await client.post("/payload", json={"list_1": ["after"], "list_2": ["b"]})
        again = await client.get(f"/payload/{posted.json()['id']}")
    print(f"statuses across the outage: {dict(statuses)}; ready while down: {down}")
    assert set(statuses) == {200, 201}
    assert down["status"] == "degraded"
    assert again.headers["x-cache-tier"] == "redis"


async def test_with_the_durable_store_down_a_new_post_is_503_and_cached_gets_still_answer(
    services: Services,
    tmp_path: Path,
    moto_server: Any,
    dynamodb_table: str,
    redis_server: Any,
    redis_prefix: str,
) -> None:
    env = _env(
        **moto_server.env(dynamodb_table),
        CACHE_REDIS_URL=redis_server.url,
        CACHE_REDIS_PREFIX=redis_prefix,
        CACHE_STORE_TIMEOUT_S="2",
        CACHE_RETRY_AFTER_S="7",
    )
    service = services.start(env)
    async with httpx.AsyncClient(base_url=service.url, timeout=15) as client:
        stored = await client.post("/payload", json={"list_1": ["kept"], "list_2": ["b"]})
        moto_server.stop()
        try:
            refused = await client.post("/payload", json={"list_1": ["new"], "list_2": ["b"]})
            cached = await client.get(f"/payload/{stored.json()['id']}")
            ready = await client.get("/ready")
        finally:
            moto_server.restart()
        retried = await client.post("/payload", json={"list_1": ["new"], "list_2": ["b"]})
    print(
        f"store down: POST {refused.status_code} {refused.json()}, GET of a stored id "
        f"{cached.status_code}, /ready {ready.status_code}; "
        f"after restart POST {retried.status_code}"
    )
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "7")
    assert "DynamoDB" in service.log()  # the cause is logged; the client gets a stable sentence
    assert cached.status_code == 200
    assert ready.status_code == 503
    assert retried.status_code == 201


async def test_a_claim_holder_killed_mid_work_is_replaced_after_the_claim_expires(
    services: Services,
    tmp_path: Path,
    transformer_server: TransformerServer,
    moto_server: Any,
    dynamodb_table: str,
    redis_server: Any,
    redis_prefix: str,
) -> None:
    env = shared_env(
        transformer_server,
        moto_server,
        dynamodb_table,
        redis_server.url,
        redis_prefix,
        CACHE_CLAIM_TTL_S="2",
        CACHE_CLAIM_WAIT_S="10",
    )
    holder, survivor = services.start(env), services.start(env)
    body = {"list_1": ["orphaned"], "list_2": ["work"]}
    transformer_server.mode = "hang"
    async with httpx.AsyncClient(timeout=15) as client:
        stuck = asyncio.create_task(client.post(f"{holder.url}/payload", json=body))
        deadline = time.monotonic() + 10
        while transformer_server.total_calls < 2:  # The holder is inside the transformer.
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        waiting = asyncio.create_task(client.post(f"{survivor.url}/payload", json=body))
        await asyncio.sleep(0.3)
        holder.kill()
        transformer_server.mode = "ok"
        started = time.monotonic()
        finished = await waiting
        waited = time.monotonic() - started
        with pytest.raises(httpx.HTTPError):
            await stuck
    print(
        f"holder killed; the survivor answered {finished.status_code} after {waited:.1f}s; "
        f"transformer calls {dict(transformer_server.calls)}"
    )
    assert finished.status_code == 201
    assert finished.json()["output"] == "ORPHANED, WORK"
    assert waited < 10  # Bounded by CACHE_CLAIM_WAIT_S, not a speed claim.
    # The killed holder's calls were paid and lost; each string was redone once, no more.
    assert dict(transformer_server.calls) == {"orphaned": 2, "work": 2}


def shared_strings_payloads(
    tag: str, count: int = 200, strings: int = 30
) -> list[dict[str, list[str]]]:
    """``count`` payloads of four strings each, drawn from ``strings`` distinct strings: most
    payloads differ, and every string is shared by many of them."""
    words = [f"{tag}-w{i}" for i in range(strings)]
    pick = random.Random(tag).sample
    return [{"list_1": pick(words, 2), "list_2": pick(words, 2)} for _ in range(count)]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("store", ["sqlite", "dynamodb"])
async def test_redis_faults_never_cost_a_second_transformer_call(
    store: str,
    services: Services,
    tmp_path: Path,
    transformer_server: TransformerServer,
    request: pytest.FixtureRequest,
    redis_server: Any,
    redis_prefix: str,
) -> None:
    transformer_server.delay_s = 0.05
    env = _env(
        CACHE_TRANSFORMER_URL=transformer_server.url,
        CACHE_TRANSFORMER_BATCH_SIZE="4",
        CACHE_REDIS_URL=redis_server.url,
        CACHE_REDIS_PREFIX=redis_prefix,
        CACHE_STORE_TIMEOUT_S="20",
        CACHE_CLAIM_WAIT_S="60",
    )
    if store == "dynamodb":
        moto: Any = request.getfixturevalue("moto_server")
        env.update(moto.env(request.getfixturevalue("dynamodb_table")))
    else:
        env.update(CACHE_SQLITE_PATH=str(tmp_path / "shared.db"))
    # They rejoin a restarted Redis at different times: one retries it every 0.2 s, the
    # other every 3 s, so for a while one uses Redis and the other does not.
    first = services.start({**env, "CACHE_REDIS_COOLDOWN_S": "0.2"})
    second = services.start({**env, "CACHE_REDIS_COOLDOWN_S": "3"})
    urls = [first.url, second.url]
    phases: list[tuple[str, list[dict[str, list[str]]], list[httpx.Response]]] = []

    steady = shared_strings_payloads("steady")
    phases.append(("steady", steady, await post_all(urls, steady, timeout_s=120)))

    killed = shared_strings_payloads("killed")
    in_flight = asyncio.create_task(post_all(urls, killed, timeout_s=120))
    await asyncio.sleep(0.05)
    redis_server.kill()
    phases.append(("Redis killed mid-run", killed, await in_flight))

    redis_server.restart()
    restarted = shared_strings_payloads("restarted")
    phases.append(("after the restart", restarted, await post_all(urls, restarted, timeout_s=120)))

    for name, bodies, responses in phases:
        print(f"{store}, {name}:", end=" ")
        tag = bodies[0]["list_1"][0].split("-")[0]
        transformer_calls = {s: n for s, n in transformer_server.calls.items() if s.startswith(tag)}
        strings = {s for body in bodies for s in body["list_1"] + body["list_2"]}
        print(
            f"{len(responses)} POSTs, {len({repr(b) for b in bodies})} payloads, "
            f"{len(strings)} strings, "
            f"{sum(transformer_calls.values())} transformed, statuses "
            f"{sorted(Counter(r.status_code for r in responses).items())}"
        )
        assert {r.status_code for r in responses} <= {200, 201}
        assert transformer_calls == dict.fromkeys(strings, 1)
        check_one_answer_per_payload(bodies, responses)
