"""DynamoDB as moto's HTTP server, reached the way the service reaches AWS: by endpoint URL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .processes import free_port

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class OneRequestAtATime:
    """WSGI middleware: requests are applied one after another.

    DynamoDB applies a conditional write atomically. moto checks the condition and then writes
    the item in Python, and its threaded server runs requests in parallel threads: two claims
    of one key could both pass the check (seen: one string transformed twice in 30). In one
    file, serialising requests gives the harness DynamoDB's atomicity back.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


class _Unlogged(WSGIRequestHandler):
    """No line per request (a benchmark's thousands drowned its results); errors still log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class MotoServer:
    """moto's server in a thread. Its data lives in process-global backends, so ``stop`` then
    ``restart`` is an outage of the endpoint that keeps the tables, like a network partition."""

    port: int = field(default_factory=free_port)
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            "127.0.0.1", self.port, app, threaded=True, request_handler=_Unlogged
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = self._thread = None

    def restart(self) -> None:
        self.stop()
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def env(self, table: str) -> dict[str, str]:
        """What a ``cache-service`` process needs to use ``table`` on this server."""
        return {
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            **CREDENTIALS,
            "CACHE_STORE": "dynamodb",
            "CACHE_DYNAMODB_TABLE": table,
        }

    def create_table(self, name: str) -> str:
        """A table as the CDK stack defines it: ``pk`` string key, on demand, TTL."""
        client = boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        client.close()
        return name


def take_all(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every message in ``queue``, received and deleted, as ``ReceiveMessage`` returns them."""
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return messages
