"""Faults under mixed load, with real processes: Redis killed, the store stopped, a hanging
transformer, a service killed while it holds claims.

For each: no request hangs past its bound, no 5xx for a result that was already durable,
every id handed out still answers afterwards, and the service recovers by itself. Each test
prints what it did and the counts it saw (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Services
from tests.support.mixed_load import Ledger, MixedLoad, check_every_id_still_answers
from tests.support.transformer_server import TransformerServer

# The client's bound on one request: past CACHE_CLAIM_WAIT_S and every store timeout.
REQUEST_BOUND_S = 15.0


def assert_no_failure_for_durable_results(ledger: Ledger) -> None:
    assert ledger.count("repeat", at_least=500) == 0
    assert ledger.count("get", at_least=500) == 0
    assert ledger.count("get", at_least=404, at_most=404) == 0
    assert not ledger.failures, "a request hung past its bound or lost its connection"
    assert ledger.slowest_s < REQUEST_BOUND_S


async def test_redis_killed_and_restarted_during_30s_of_load_costs_no_request(
    services: Services, tmp_path: Path, redis_server: Any, redis_prefix: str
) -> None:
    env = {
        "CACHE_TRANSFORMER_DELAY_MS": "20",
        "CACHE_SQLITE_PATH": str(tmp_path / "store.db"),
        "CACHE_REDIS_URL": redis_server.url,
        "CACHE_REDIS_PREFIX": redis_prefix,
        "CACHE_REDIS_COOLDOWN_S": "1",
        "CACHE_CLAIM_WAIT_S": "10",
        "CACHE_CLAIM_TTL_S": "5",
    }
    first, second = services.start(env), services.start(env)
    load = MixedLoad([first.url, second.url], timeout_s=REQUEST_BOUND_S)
    running = asyncio.create_task(load.run(30))
    await asyncio.sleep(8)
    redis_server.kill()
    await asyncio.sleep(12)
    redis_server.restart()
    ledger = await running
    answered = await check_every_id_still_answers(second.url, ledger)
    async with httpx.AsyncClient(timeout=10) as client:
        ready = [(await client.get(f"{s.url}/ready")).json()["status"] for s in (first, second)]
    print(f"kill -9 Redis at 8s, restart at 20s: {ledger.summary()}; ready after: {ready}")
    assert_no_failure_for_durable_results(ledger)
    # The store is fine, so even new work never failed.
    assert ledger.count("new", at_least=500) == 0
    assert answered == len(ledger.outputs)
    assert ready == ["ready", "ready"]


async def test_the_durable_store_stopped_and_restarted_fails_only_new_work(
    services: Services,
    tmp_path: Path,
    moto_server: Any,
    dynamodb_table: str,
    redis_server: Any,
    redis_prefix: str,
) -> None:
    env = {
        "CACHE_TRANSFORMER_DELAY_MS": "20",
        **moto_server.env(dynamodb_table),
        "CACHE_REDIS_URL": redis_server.url,
        "CACHE_REDIS_PREFIX": redis_prefix,
        "CACHE_STORE_TIMEOUT_S": "2",
        "CACHE_CLAIM_WAIT_S": "10",
        "CACHE_CLAIM_TTL_S": "5",
    }
    first, second = services.start(env), services.start(env)
    load = MixedLoad([first.url, second.url], timeout_s=REQUEST_BOUND_S)
    running = asyncio.create_task(load.run(15))
    await asyncio.sleep(4)
    moto_server.stop()
    await asyncio.sleep(5)
    moto_server.restart()
    ledger = await running
    answered = await check_every_id_still_answers(first.url, ledger)
    statuses_of_new = dict(ledger.statuses.get("new", {}))
    print(f"store stopped at 4s for 5s: {ledger.summary()}")
    assert_no_failure_for_durable_results(ledger)
    assert set(statuses_of_new) <= {200, 201, 503}
    assert statuses_of_new.get(503, 0) > 0, "the outage was not noticed: the test tested nothing"
    assert answered == len(ledger.outputs)


async def test_a_hanging_transformer_times_out_new_work_and_nothing_else(
    services: Services, tmp_path: Path, transformer_server: TransformerServer
) -> None:
    env = {
        "CACHE_TRANSFORMER_URL": transformer_server.url,
        "CACHE_TRANSFORMER_TIMEOUT_S": "1",
        "CACHE_TRANSFORMER_RETRIES": "0",
        "CACHE_SQLITE_PATH": str(tmp_path / "store.db"),
    }
    service = services.start(env)
    load = MixedLoad([service.url], timeout_s=REQUEST_BOUND_S)
    running = asyncio.create_task(load.run(10))
    await asyncio.sleep(3)
    transformer_server.mode = "hang"
    await asyncio.sleep(4)
    transformer_server.mode = "ok"
    ledger = await running
    answered = await check_every_id_still_answers(service.url, ledger)
    async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
        after = await client.post("/payload", json={"list_1": ["after"], "list_2": ["hang"]})
    statuses_of_new = dict(ledger.statuses.get("new", {}))
    print(f"transformer hung from 3s to 7s: {ledger.summary()}; afterwards {after.status_code}")
    assert_no_failure_for_durable_results(ledger)
    assert set(statuses_of_new) <= {200, 201, 504}
    assert statuses_of_new.get(504, 0) > 0, "the hang was not noticed: the test tested nothing"
    assert answered == len(ledger.outputs)
    assert after.status_code == 201


async def test_a_service_killed_while_it_holds_claims_is_replaced_by_the_survivor(
    services: Services,
    tmp_path: Path,
    transformer_server: TransformerServer,
    redis_server: Any,
    redis_prefix: str,
) -> None:
    transformer_server.delay_s = 0.3  # Long enough that the victim always holds some claims.
    env = {
        "CACHE_TRANSFORMER_URL": transformer_server.url,
        "CACHE_SQLITE_PATH": str(tmp_path / "store.db"),
        "CACHE_REDIS_URL": redis_server.url,
        "CACHE_REDIS_PREFIX": redis_prefix,
        "CACHE_CLAIM_TTL_S": "2",
        "CACHE_CLAIM_WAIT_S": "10",
    }
    victim, survivor = services.start(env), services.start(env)
    # Requests to the victim fail when it dies; the judged load goes to the survivor.
    doomed = MixedLoad([victim.url], workers=4, timeout_s=REQUEST_BOUND_S)
    judged = MixedLoad([survivor.url], workers=4, timeout_s=REQUEST_BOUND_S)
    doomed_run = asyncio.create_task(doomed.run(12))
    judged_run = asyncio.create_task(judged.run(12))
    await asyncio.sleep(4)
    in_flight = transformer_server.in_flight
    victim.kill()
    ledger = await judged_run
    lost = await doomed_run
    answered = await check_every_id_still_answers(survivor.url, ledger)
    answered_from_victim = await check_every_id_still_answers(survivor.url, lost)
    print(
        f"victim killed at 4s with {in_flight} transformer calls in flight; survivor: "
        f"{ledger.summary()}; victim's clients: {lost.summary()}"
    )
    assert_no_failure_for_durable_results(ledger)
    assert ledger.count("new", at_least=500) == 0
    assert answered == len(ledger.outputs)
    # Every id the victim handed out before it died was durable: the survivor serves it.
    assert answered_from_victim == len(lost.outputs)
