"""Fuzz every operation from the service's own OpenAPI document (schemathesis)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from cache_service.app import create_app
from cache_service.settings import Settings, StoreKind

# Built at collection: schemathesis.pytest.from_fixture reads a pytest attribute that pytest 9
# removed. Building the app does no I/O, and the memory store leaves nothing behind.
app = create_app(Settings(store=StoreKind.MEMORY, transformer_delay_ms=0, max_items=20))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_operation_answers_5xx_or_breaks_its_documented_schema(case: Case[Any]) -> None:
    # positive_data_acceptance is left out: JSON Schema cannot say "both lists have the same
    # length", so schema-valid bodies are rightly refused with 422.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])
