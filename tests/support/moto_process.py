"""DynamoDB as moto's HTTP server, reached the way the service reaches AWS: by endpoint URL."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import boto3
from moto.server import ThreadedMotoServer

from .processes import free_port

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class MotoServer:
    """moto's server in a thread. Its data lives in process-global backends, so ``stop`` then
    ``restart`` is an outage of the endpoint that keeps the tables, like a network partition."""

    port: int = field(default_factory=free_port)
    _server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

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
