"""The checks a run makes beyond "it answered": the contract and stable ids.

Memory grows with the distinct payloads of the input, never with the requests: a payload sent
once (``--unique``) is not remembered, since nothing can repeat it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The contract: POST answers 201 when it computed (MISS) and 200 when stored (HIT).
_POST_CACHE = {201: "MISS", 200: "HIT"}

CONTRACT = "status and X-Cache"
BODY = "id and output"
SAME_ID = "one id per payload"
GET_AGREES = "GET agrees with POST"


@dataclass(frozen=True, slots=True)
class Failed:
    """One check one answer failed: which check, and what was seen."""

    check: str
    message: str


@dataclass(frozen=True, slots=True)
class Posted:
    """A POST's answer as checked: what failed, and the id and output a GET must match."""

    failed: list[Failed]
    id: str | None
    output: Any


class ConsistencyCheck:
    """Checks each answer; equal payloads must always get one id."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._once = 0  # Successful POSTs of payloads sent once: each its own id.

    @property
    def remembered(self) -> int:
        """Payloads whose id is kept to compare with their repeats."""
        return len(self._ids)

    @property
    def distinct_ids(self) -> int:
        return len(set(self._ids.values())) + self._once

    def post(self, key: str | None, status: int, cache: str | None, body: bytes) -> Posted:
        """Check a POST answered with an allowed status."""
        failed = []
        expected = _POST_CACHE.get(status)
        if cache != expected:
            failed.append(
                Failed(CONTRACT, f"POST answered {status} with X-Cache {cache}, not {expected}")
            )
        answer = _json_or_none(body)
        if (
            not isinstance(answer, dict)
            or not isinstance(answer.get("id"), str)
            or "output" not in answer
        ):
            failed.append(Failed(BODY, f"POST answered {status} without an id and output"))
            return Posted(failed, None, None)
        payload_id: str = answer["id"]
        if key is None:
            self._once += 1
        else:
            known = self._ids.setdefault(key, payload_id)
            if known != payload_id:
                failed.append(
                    Failed(SAME_ID, f"the same payload got two ids: {known} and {payload_id}")
                )
        return Posted(failed, payload_id, answer["output"])

    def get(self, payload_id: str, posted_output: Any, body: bytes) -> list[Failed]:
        """Check a GET answered 200 against the POST it follows."""
        answer = _json_or_none(body)
        if not isinstance(answer, dict) or answer.get("id") != payload_id:
            return [Failed(GET_AGREES, f"GET {payload_id} answered another id")]
        if answer.get("output") != posted_output:
            return [Failed(GET_AGREES, f"GET {payload_id} answered an output the POST did not")]
        return []


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body.decode())  # Decoded here: json.loads(bytes) sniffs the encoding.
    except ValueError:  # UnicodeDecodeError included.
        return None
