"""What one request did: the unit the runner produces and the report aggregates."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

POST = "POST /payload"
GET = "GET /payload/{id}"
ENDPOINTS = (POST, GET)


@dataclass(frozen=True)
class RequestRecord:
    """One request: its endpoint, outcome and latency; ``error`` set when it failed."""

    iteration: int
    endpoint: str
    status: int | None
    latency_ms: float
    cache: str | None
    id: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
