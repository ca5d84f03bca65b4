"""What one request did: the unit the runner produces, the tally counts and the report streams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .consistency import Failed

POST = "POST /payload"
GET = "GET /payload/{id}"
ENDPOINTS = (POST, GET)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request: its outcome and latency; ``error`` when no usable answer came, and the
    checks its answer failed."""

    iteration: int
    payload: int
    endpoint: str
    status: int | None
    latency_ms: float
    cache: str | None
    id: str | None
    error: str | None = None
    error_kind: str | None = None
    failed: tuple[Failed, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "payload": self.payload,
            "endpoint": self.endpoint,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 3),
            "cache": self.cache,
            "id": self.id,
            "error": self.error,
            "failed_checks": [{"check": f.check, "detail": f.message} for f in self.failed],
        }
