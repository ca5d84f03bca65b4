"""The cold-start floor: a bare FastAPI app behind Mangum with one route, nothing else.

Packaged and started exactly like the service (same layer, bytecode, runtime client), so the
ratio isolates what cache-service adds to init and the first invocation.
"""

from __future__ import annotations

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


handler = Mangum(app, lifespan="off")
