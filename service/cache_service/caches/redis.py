"""Redis (ElastiCache) as the shared cache tier.

Multi-key reads go through ``mget_nonatomic`` on a cluster (one MGET per hash slot, pipelined
per node), so no command ever crosses slots; writes are non-transactional pipelines, which the
cluster client splits per node the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis, RedisCluster

from ..redis_connection import RedisConnection


class RedisCache:
    """``CacheTier`` on Redis: JSON values, namespaced keys, every entry expiring."""

    name = "redis"

    def __init__(self, connection: RedisConnection, *, prefix: str, ttl_s: int) -> None:
        self._connection = connection
        self._prefix = prefix
        self._ttl_s = ttl_s

    async def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        names = [self._prefix + key for key in keys]

        async def read(client: Redis | RedisCluster) -> list[bytes | str | None]:
            if len(names) == 1:
                return [await client.get(names[0])]
            if isinstance(client, RedisCluster):
                return await client.mget_nonatomic(names)
            return await client.mget(names)

        found: dict[str, str] = {}
        for key, raw in zip(keys, await self._connection.call(read), strict=True):
            value = _decode(raw)
            if value is not None:
                found[key] = value
        return found

    async def set_many(self, items: Mapping[str, str]) -> None:
        if not items:
            return
        encoded = {self._prefix + key: json.dumps(value) for key, value in items.items()}

        async def write(client: Redis | RedisCluster) -> None:
            if len(encoded) == 1:
                ((name, value),) = encoded.items()
                await client.set(name, value, ex=self._ttl_s)
                return
            pipe = client.pipeline(transaction=False)
            for name, value in encoded.items():
                pipe.set(name, value, ex=self._ttl_s)
            await pipe.execute()

        await self._connection.call(write)

    async def ping(self) -> None:
        await self._connection.call(lambda client: client.ping())

    async def aclose(self) -> None:
        await self._connection.aclose()


def _decode(raw: object) -> str | None:
    """A stored value, or None for anything that is not one (a foreign or damaged entry)."""
    if not isinstance(raw, bytes | str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included.
        return None
    return value if isinstance(value, str) else None
