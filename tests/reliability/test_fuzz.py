"""Fuzz every operation from the service's own OpenAPI document (schemathesis)."""

from __future__ import annotations

from itertools import cycle, islice
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from cache_service.app import create_app
from cache_service.settings import Settings, StoreKind

# Built at collection: schemathesis.pytest.from_fixture reads a pytest attribute that pytest 9
# removed. Building the app does no I/O, and the memory store leaves nothing behind.
# The body limit covers the largest body the schema allows (JSON Schema cannot bound a
# serialized size): 2 lists x 20 items x 1,000 code points, each up to 12 bytes as a
# surrogate-pair escape.
MAX_ITEMS, MAX_LENGTH = 20, 1000
app = create_app(
    Settings(
        store=StoreKind.MEMORY,
        transformer_delay_ms=0,
        max_items=MAX_ITEMS,
        max_string_length=MAX_LENGTH,
        max_body_bytes=2 * MAX_ITEMS * MAX_LENGTH * 12 + 4096,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


def equal_lengths(body: Any) -> Any:
    """Apply the one documented rule JSON Schema cannot express: both lists equally long.

    The shorter list is padded with its own items, which never repairs a deliberately invalid
    body (a longer list stays too long, a wrong type stays wrong) and keeps a valid one valid.
    """
    if not isinstance(body, dict):
        return body
    first, second = body.get("list_1"), body.get("list_2")
    if not (isinstance(first, list) and isinstance(second, list) and first and second):
        return body
    length = max(len(first), len(second))
    return {
        **body,
        "list_1": list(islice(cycle(first), length)),
        "list_2": list(islice(cycle(second), length)),
    }


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_operation_answers_5xx_or_breaks_its_documented_schema(case: Case[Any]) -> None:
    # Every check, positive data acceptance included: the schema states the limits, and the
    # equal-length rule it cannot express is applied here, in every generation phase (a
    # ``map_body`` hook misses the coverage phase's boundary cases).
    case.body = equal_lengths(case.body)
    case.call_and_validate()
