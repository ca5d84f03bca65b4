"""The service records every payload it serves in the hot set, and a dead Redis costs no
request anything."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from cache_service.app import create_app
from cache_service.settings import Settings
from tests.support.processes import free_port

DOCUMENT = {"list_1": ["hot", "set"], "list_2": ["read", "counts"]}


def settings(redis_url: str, prefix: str, **extra: Any) -> Settings:
    # A flush interval longer than any test: the tests flush when they mean to.
    base = {"store": "memory", "transformer_delay_ms": 0, "hot_flush_s": 600}
    return Settings.model_validate(base | {"redis_url": redis_url, "redis_prefix": prefix} | extra)


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def document() -> dict[str, list[str]]:
    return {"list_1": [uuid.uuid4().hex], "list_2": ["b"]}


async def test_posts_made_and_hit_and_gets_found_are_reads_and_a_404_is_not(
    redis_server: Any, redis_prefix: str
) -> None:
    app = create_app(settings(redis_server.url, redis_prefix))
    async with serving(app) as client:
        body = document()
        made = await client.post("/payload", json=body)
        hit = await client.post("/payload", json=body)
        found = await client.get(f"/payload/{made.json()['id']}")
        absent = await client.get("/payload/" + "e" * 64)
        assert [made.status_code, hit.status_code, found.status_code] == [201, 200, 200]
        assert absent.status_code == 404
        hot_set = app.state.components.hot_set
        assert await hot_set.flush()
        assert await hot_set.top(10) == [(made.json()["id"], 3.0)]


async def test_the_counts_left_at_shutdown_are_sent(redis_server: Any, redis_prefix: str) -> None:
    app = create_app(settings(redis_server.url, redis_prefix))
    async with serving(app) as client:
        id_ = (await client.post("/payload", json=document())).json()["id"]
    raw = redis_server.client()
    try:
        # This generation's set, or the last one's if the hour turned since the write.
        now = int(time.time() // 3600)
        counted = [raw.zscore(f"{{{redis_prefix}hot}}:{g}", id_) for g in (now - 1, now)]
        assert sum(n or 0 for n in counted) == 1
    finally:
        raw.close()


async def test_with_redis_down_requests_are_served_and_the_flush_fails_without_raising() -> None:
    app = create_app(settings(f"redis://127.0.0.1:{free_port()}/0", "down:"))
    async with serving(app) as client:
        made = await client.post("/payload", json=document())
        found = await client.get(f"/payload/{made.json()['id']}")
        assert [made.status_code, found.status_code] == [201, 200]
        assert not await app.state.components.hot_set.flush()
        metrics = (await client.get("/metrics")).text
        assert 'cache_hot_set_flushes_total{outcome="error"} 1.0' in metrics


def test_recording_is_off_without_redis_or_with_size_zero(redis_server: Any) -> None:
    without_redis = Settings.model_validate({"store": "memory"})
    size_zero = settings(redis_server.url, "off:", hot_set_size=0)
    assert create_app(without_redis).state.components.hot_set is None
    assert create_app(size_zero).state.components.hot_set is None
