"""On Lambda the hot set has no background task: an invocation sends the counts when due."""

from __future__ import annotations

import time
import uuid
from typing import Any

from cache_service.aws.handler import LambdaHandler
from cache_service.settings import Settings
from tests.aws.conftest import SETTINGS, Invoker


def test_an_invocation_ends_by_sending_the_read_counts_once_a_flush_is_due(
    redis_server: Any, redis_prefix: str
) -> None:
    configured = {
        **SETTINGS,
        "redis_url": redis_server.url,
        "redis_prefix": redis_prefix,
        "hot_flush_s": 0.001,
    }
    handler = LambdaHandler(lambda: Settings.model_validate(configured), observe=False)
    raw = redis_server.client()
    try:
        invoke = Invoker(handler, "rest")
        id_ = invoke.post({"list_1": [uuid.uuid4().hex], "list_2": ["b"]}).json()["id"]
        time.sleep(0.01)  # Past the flush interval, so the next invocation's end sends.
        assert invoke("GET", f"/payload/{id_}").status == 200
        # This generation's set, or the last one's if the hour turned since the write.
        now = int(time.time() // 3600)
        counted = [raw.zscore(f"{{{redis_prefix}hot}}:{g}", id_) for g in (now - 1, now)]
        assert sum(n or 0 for n in counted) == 2
    finally:
        raw.close()
        handler.close()
