"""The checks a run makes beyond "it answered": the contract and stable ids."""

from __future__ import annotations

from typing import Any

# The contract: POST answers 201 when it computed (MISS) and 200 when stored (HIT).
_POST_CACHE = {201: "MISS", 200: "HIT"}


class ConsistencyCheck:
    """Collects every inconsistency seen; equal payloads must always get one id."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self.problems: list[str] = []

    @property
    def distinct_ids(self) -> int:
        return len(set(self._ids.values()))

    def post(self, key: str, status: int, cache: str | None, body: Any) -> tuple[str, Any] | None:
        """Check a successful POST; its (id, output), or None when the body is unusable."""
        expected = _POST_CACHE.get(status)
        if cache != expected:
            self.problems.append(f"POST answered {status} with X-Cache {cache}, not {expected}")
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("id"), str)
            or "output" not in body
        ):
            self.problems.append(f"POST answered {status} without an id and output")
            return None
        payload_id: str = body["id"]
        known = self._ids.setdefault(key, payload_id)
        if known != payload_id:
            self.problems.append(f"the same payload got two ids: {known} and {payload_id}")
        return payload_id, body["output"]

    def get(self, payload_id: str, posted_output: Any, body: Any) -> None:
        """Check a successful GET against the POST it follows."""
        if not isinstance(body, dict) or body.get("id") != payload_id:
            self.problems.append(f"GET {payload_id} answered another id")
        elif body.get("output") != posted_output:
            self.problems.append(f"GET {payload_id} answered an output the POST did not")
