"""The floor: a minimal FastAPI app that validates the same request model and returns a constant.

Served by the same server and settings as the service (``cache_service.http.server.serve``, through
``python -m bench.edge --serve-baseline PORT``), so the ratio isolates what the cache adds.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from cache_service.http.contract import PayloadRequest

app = FastAPI()
CONSTANT = {"id": "0" * 64, "output": "FIRST STRING, OTHER STRING"}


@app.post("/payload")
async def post_payload(body: PayloadRequest) -> dict[str, str]:
    return CONSTANT


@app.get("/payload/{id}")
async def get_payload(id: str) -> dict[str, str]:
    return CONSTANT


@app.post("/slow")
async def slow_payload(body: PayloadRequest) -> dict[str, str]:
    """The floor of a miss: one transformer delay (the service's default 100 ms), no more."""
    await asyncio.sleep(0.1)
    return CONSTANT


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
