"""The one Redis (ElastiCache) client a process holds, shared by the cache tier
(``caches.redis``) and the wake-ups (``coordination.redis_wakeups``).

Works against a standalone server and a Redis Cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.maint_notifications import MaintNotificationsConfig

from .breaker import CircuitBreaker

T = TypeVar("T")

# Failures that mean "Redis is not there right now", as opposed to a bug in our commands.
UNREACHABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ClusterDownError,
    redis_errors.RedisClusterException,  # "cannot be connected": no startup node answered
    redis_errors.MaxConnectionsError,
    OSError,
    TimeoutError,
)


class RedisConnection:
    """One lazily made client, bounded in time and in connections, behind a circuit breaker.

    Timeouts and retries are set here on purpose: redis-py's defaults (5 s socket timeouts,
    retries with backoff) would make every request wait seconds while Redis is unreachable.
    One quick retry stays, because the first use of a pooled connection after a Redis restart
    fails once. The semaphore makes callers queue for a connection instead of failing (the
    cluster client raises when its per-node pool runs out), inside the call's time bound.
    """

    def __init__(
        self,
        url: str,
        *,
        cluster: bool,
        timeout_s: float,
        max_connections: int,
        breaker: CircuitBreaker,
    ) -> None:
        self._url = url
        self._cluster = cluster
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._breaker = breaker
        self._slots = asyncio.Semaphore(max_connections)
        self._connecting = asyncio.Lock()
        self._client: Redis | RedisCluster | None = None

    def _make_client(self) -> Redis | RedisCluster:
        retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1)
        common = {
            "socket_timeout": self._timeout_s,
            "socket_connect_timeout": self._timeout_s,
            # Bytes, decoded per value: one foreign non-UTF-8 entry must not fail a whole batch.
            "decode_responses": False,
            "retry": retry,
            "client_name": "cache-service",
            # redis-py 8 probes for maintenance push notifications on every new connection;
            # ElastiCache and Redis OSS 7 do not send them, and the probe is one more round trip.
            "maint_notifications_config": MaintNotificationsConfig(enabled=False),
        }
        if self._cluster:
            return RedisCluster.from_url(self._url, max_connections=self._max_connections, **common)
        pool = BlockingConnectionPool.from_url(
            self._url,
            max_connections=self._max_connections,
            timeout=max(1.0, self._timeout_s * 4),
            **common,
        )
        return Redis(connection_pool=pool)

    async def call(self, operation: Callable[[Redis | RedisCluster], Awaitable[T]]) -> T:
        """Run ``operation`` with the client, failing fast while Redis is known to be down."""

        async def bounded() -> T:
            # One bound over the whole call: queueing for a connection, connecting, retries,
            # cluster moves. ``timeout()`` rather than ``wait_for``, which costs a task per call.
            async with asyncio.timeout(self._timeout_s * 4), self._slots:
                # Looked at again once a connection is had: Redis may have been found dead
                # while this caller queued, and it must not then try it anyway.
                self._breaker.check()
                client = self._client or await self._connect()
                return await operation(client)

        return await self._breaker.call(bounded)

    async def client(self) -> Redis | RedisCluster:
        """The client itself, for what holds a connection of its own (a subscription)."""
        self._breaker.check()
        return self._client or await self._connect()

    async def _connect(self) -> Redis | RedisCluster:
        """Make the client once. A cluster client learns the slot map first, under a lock:
        left to itself, each concurrent first command starts its own discovery, and each one
        closes the connections the others are using."""
        async with self._connecting:
            if self._client is None:
                client = self._make_client()
                if isinstance(client, RedisCluster):
                    try:
                        await client.initialize()
                    except BaseException:
                        await client.aclose()  # The next call starts afresh.
                        raise
                self._client = client
            return self._client

    def prepare(self) -> None:
        """Make a standalone client now, without connecting (a cluster's needs the network)."""
        if self._client is None and not self._cluster:
            self._client = self._make_client()

    async def reset(self) -> None:
        """Close the client and its connections; a new one is made on first use.

        Before a SnapStart snapshot: every environment restored from it connects anew, with a
        pool, a queue and a lock bound to no event loop yet (making them costs microseconds).
        """
        await self.aclose()
        self._slots = asyncio.Semaphore(self._max_connections)
        self._connecting = asyncio.Lock()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if isinstance(client, Redis):
            # The pool is ours (given to the client), so the client would leave it open.
            await client.aclose(close_connection_pool=True)
        elif client is not None:
            await client.aclose()
