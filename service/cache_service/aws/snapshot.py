"""Lambda SnapStart: initialise before the snapshot, reconnect and re-seed after each restore.

With SnapStart, Lambda runs the function's init once per published version, snapshots the
process, and resumes every new execution environment from that snapshot. So the handler
builds everything at init (``LambdaHandler.prepare``), closes every socket before the snapshot
(``before_snapshot``: no restored copy may share a connection with another) and, after each
restore, gets fresh randomness and a fresh event loop (``after_restore``); clients connect on
their first use, as at any start.

The hooks come from ``snapshot_restore_py``, which exists only in Lambda's Python runtimes:
elsewhere ``register`` registers nothing and the hooks are called directly (the tests fork a
process after ``before_snapshot`` to stand in for the restores).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: ``AWS_LAMBDA_INITIALIZATION_TYPE`` when init runs ahead of any request: SnapStart's init
#: (before the snapshot) and provisioned concurrency's. On demand, init is part of a request's
#: cold start, and the handler builds on the first invocation instead.
AHEAD_OF_TRAFFIC = frozenset({"snap-start", "provisioned-concurrency"})


def initialized_ahead() -> bool:
    """Whether this process's init runs ahead of traffic (SnapStart, provisioned concurrency)."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in AHEAD_OF_TRAFFIC


def register(before_snapshot: Callable[[], None], after_restore: Callable[[], None]) -> bool:
    """Register the runtime hooks with Lambda; false where ``snapshot_restore_py`` is absent."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found, unused-ignore]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


class InitContext:
    """The parts of a Lambda context the app reads, for the requests that warm it at init."""

    function_name = "cache-service-init"
    function_version = "$LATEST"
    invoked_function_arn = ""
    memory_limit_in_mb = 0
    aws_request_id = "init"
    log_group_name = ""
    log_stream_name = ""
    identity = None
    client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def warming_events() -> list[dict[str, Any]]:
    """REST API events that go through the routing, the body reading, the parsing and the
    failure answers, and that no configuration serves with I/O: a liveness check, an id that
    is not one, and a body that is not a payload."""
    return [
        _rest_event("GET", "/health"),
        _rest_event("GET", "/payload/not-an-id"),
        _rest_event("POST", "/payload", json.dumps({"list_1": "not a list"})),
    ]


def _rest_event(method: str, path: str, body: str | None = None) -> dict[str, Any]:
    headers = {"host": "init.invalid", "x-request-id": "snapshot-init"}
    if body is not None:
        headers["content-type"] = "application/json"
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "stage": "init",
            "path": f"/init{path}",
            "httpMethod": method,
            "requestId": "init",
            "identity": {"sourceIp": "127.0.0.1"},
        },
    }
