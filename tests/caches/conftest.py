"""What the Redis-backed tests of this folder share: a connection, and the server under test."""

from __future__ import annotations

from typing import Any

import pytest

from cache_service.breaker import CircuitBreaker
from cache_service.redis_connection import UNREACHABLE, RedisConnection


def connection(url: str, *, cluster: bool, cooldown_s: float = 5) -> RedisConnection:
    breaker = CircuitBreaker("redis", cooldown_s=cooldown_s, failures=UNREACHABLE)
    return RedisConnection(url, cluster=cluster, timeout_s=0.25, max_connections=8, breaker=breaker)


@pytest.fixture(params=["standalone", "cluster"])
def redis_target(request: pytest.FixtureRequest) -> Any:
    """The server under test: a RedisServer or a RedisCluster from the harness."""
    name = "redis_server" if request.param == "standalone" else "redis_cluster"
    return request.getfixturevalue(name)
