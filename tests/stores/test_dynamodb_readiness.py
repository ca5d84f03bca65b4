"""The DynamoDB store's readiness check writes, so a table the role may only read is not ready."""

from __future__ import annotations

import pytest

from cache_service.errors import StoreUnavailable
from cache_service.stores.dynamodb.store import DynamoDbStore
from tests.support.recording_proxy import RecordingProxy


async def test_a_table_that_takes_writes_is_ready_for_one_write_and_one_read(
    recording: RecordingProxy, dynamodb_table: str
) -> None:
    store = DynamoDbStore(dynamodb_table, timeout_s=30, retry_after_s=1)
    try:
        await store.ping()
    finally:
        await store.aclose()
    assert recording.actions == ["dynamodb:PutItem", "dynamodb:GetItem"]


async def test_a_table_the_role_may_only_read_is_not_ready(
    recording: RecordingProxy, dynamodb_table: str
) -> None:
    recording.refused = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    store = DynamoDbStore(dynamodb_table, timeout_s=30, retry_after_s=1)
    try:
        found = await store.get_many(["string:x", "string:y"])  # Reads still answer.
        with pytest.raises(StoreUnavailable, match="AccessDeniedException"):
            await store.ping()
    finally:
        await store.aclose()
    assert found == {}
