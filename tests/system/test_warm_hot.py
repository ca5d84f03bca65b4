"""``cache-service warm --hot N``: after a FLUSHALL, the most-read payloads come back into
Redis from the durable store, and a fresh process reads them from Redis again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cache_service.__main__ import main
from cache_service.breaker import CircuitBreaker
from cache_service.caches.hot_set import HotSet
from cache_service.caches.redis import RedisCache
from cache_service.redis_connection import UNREACHABLE, RedisConnection
from cache_service.stores.memory import MemoryStore
from cache_service.warming.refill import RefillReport, refill_hot
from tests.conftest import Services


@pytest.fixture(params=["standalone", "cluster"])
def redis_target(request: pytest.FixtureRequest) -> Any:
    name = "redis_server" if request.param == "standalone" else "redis_cluster"
    return request.getfixturevalue(name)


def warm(env: dict[str, str], n: int, workdir: Path) -> subprocess.CompletedProcess[str]:
    """``cache-service warm --hot n`` as an operator runs it, with only ``env``'s settings."""
    command = [sys.executable, "-m", "cache_service", "warm", "--hot", str(n)]
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("CACHE_")}
    return subprocess.run(
        command,
        env=inherited | env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_warm_hot_refills_redis_with_the_most_read_payloads_after_a_flushall(
    services: Services, redis_target: Any, redis_prefix: str, tmp_path: Path
) -> None:
    env = {
        "CACHE_REDIS_URL": redis_target.url,
        "CACHE_REDIS_CLUSTER": str(type(redis_target).__name__ == "RedisCluster").lower(),
        "CACHE_REDIS_PREFIX": redis_prefix,
        "CACHE_SQLITE_PATH": str(tmp_path / "cache.db"),
        "CACHE_TRANSFORMER_DELAY_MS": "0",
        "CACHE_HOT_FLUSH_S": "0.2",
    }
    first = services.start(env)
    documents = [{"list_1": [uuid.uuid4().hex], "list_2": ["b"]} for _ in range(5)]
    ids = [httpx.post(f"{first.url}/payload", json=d).json()["id"] for d in documents]
    hot, cold = ids[:3], ids[3:]
    for id_ in hot * 2:  # Three reads each (the POST and two GETs) against one for the rest.
        assert httpx.get(f"{first.url}/payload/{id_}").status_code == 200
    redis_target.flushall()

    warmed = warm(env, 3, tmp_path)

    assert warmed.returncode == 0, warmed.stderr
    summary = json.loads(warmed.stdout)
    assert (summary["asked"], summary["hot"], summary["loaded"], summary["missing"]) == (3, 3, 3, 0)
    fresh = services.start(env)  # An empty L1: every hit comes from Redis or the store.
    tiers = {id_: httpx.get(f"{fresh.url}/payload/{id_}").headers["x-cache-tier"] for id_ in ids}
    assert [tiers[id_] for id_ in hot] == ["redis"] * 3
    assert [tiers[id_] for id_ in cold] == ["sqlite"] * 2  # FLUSHALL emptied Redis; warm did not


def test_warm_hot_without_redis_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CACHE_REDIS_URL", raising=False)
    assert main(["warm", "--hot", "10"]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert len(printed.err.strip().splitlines()) == 1
    assert "CACHE_REDIS_URL" in printed.err


async def test_a_hot_id_the_store_no_longer_has_is_counted_missing_and_the_rest_loaded(
    redis_server: Any, redis_prefix: str
) -> None:
    breaker = CircuitBreaker("redis", cooldown_s=5, failures=UNREACHABLE)
    link = RedisConnection(
        redis_server.url, cluster=False, timeout_s=0.5, max_connections=4, breaker=breaker
    )
    hot_set = HotSet(link, prefix=redis_prefix, size=100, flush_s=1)
    redis = RedisCache(link, prefix=redis_prefix, ttl_s=600)
    store = MemoryStore()
    try:
        await store.claim(["payload:kept", "payload:also"], "t", 60)
        await store.complete({"payload:kept": "K", "payload:also": "A"}, "t")
        for id_ in ["kept", "gone", "also", "kept"]:
            hot_set.record(id_)
        assert await hot_set.flush()
        report = RefillReport(asked=10)
        await refill_hot(hot_set, store, redis, 10, wait_s=0, report=report)
        assert (report.hot, report.loaded, report.missing) == (3, 2, 1)
        found = await redis.get_many(["payload:kept", "payload:also", "payload:gone"])
        assert found == {"payload:kept": "K", "payload:also": "A"}
    finally:
        await link.aclose()
