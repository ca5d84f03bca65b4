"""What an operator and a load balancer ask: liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.responses import Response

from ..caches.port import CacheTier
from ..metrics import CONTENT_TYPE_LATEST, Metrics
from ..stores.port import DurableStore
from .api_keys import ApiKeys

log = logging.getLogger(__name__)


def install_operation_routes(
    app: FastAPI,
    tiers: list[CacheTier | DurableStore],
    metrics: Metrics,
    *,
    timeout_s: float,
    keys: ApiKeys | None = None,
) -> None:
    """``/health``, ``/ready`` (``tiers`` ends with the durable store) and ``/metrics``; the
    last two behind ``keys`` when given. ``/health`` stays open: a load balancer has no key."""
    store_name = tiers[-1].name
    guarded = [Depends(keys.check)] if keys is not None else []

    @app.get("/health", summary="Liveness: the process answers (no I/O)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        dependencies=guarded,
        summary="Readiness: every configured tier answers, and the durable store takes a write",
        responses={503: {"description": "The durable store cannot be reached or written."}},
    )
    async def ready() -> JSONResponse:
        checks = await asyncio.gather(*(_ping(tier, timeout_s) for tier in tiers))
        states = {tier.name: state for tier, state in zip(tiers, checks, strict=True)}
        if states[store_name] != "ok":
            status, code = "unavailable", 503
        elif any(state != "ok" for state in states.values()):
            # A cache tier down costs speed, not correctness: stay in service.
            status, code = "degraded", 200
        else:
            status, code = "ready", 200
        return JSONResponse({"status": status, "tiers": states}, status_code=code)

    @app.get(
        "/metrics", dependencies=guarded, summary="Prometheus metrics", response_class=Response
    )
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _ping(tier: CacheTier | DurableStore, timeout_s: float) -> str:
    """``ok`` or ``error``; the cause goes to the log, where paths and library messages belong."""
    try:
        await asyncio.wait_for(tier.ping(), timeout_s)
    except Exception as exc:
        # The cause names paths and hosts: the log has it, the client gets one word. One line
        # per failed check, no traceback: a load balancer asks every few seconds.
        log.warning("readiness check of %s failed: %s: %s", tier.name, type(exc).__name__, exc)
        return "error"
    return "ok"
