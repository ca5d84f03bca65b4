"""DynamoDB for tests: moto's server on a free loopback port, reached by endpoint URL.

The implementation lives in :mod:`tests.support.moto_process` (the ``moto_server`` and
``dynamodb_table`` fixtures in ``tests/conftest.py`` build on it); this module is the
harness's public face, so both names import the same class.

``MotoServer(port=free_port())``: ``start()``, ``stop()``, ``restart()`` (same port, retrying
for 10 s while it is still taken), ``endpoint``, ``create_table(name) -> name`` (``pk`` string
hash key, PAY_PER_REQUEST, TTL on ``expires_at``) and ``env(table)`` (what a ``cache-service``
process needs: ``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_DEFAULT_REGION=us-east-1``, dummy
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``CACHE_STORE=dynamodb``,
``CACHE_DYNAMODB_TABLE``).

State across ``restart()`` (checked with moto 5.2.5, and by ``tests/integration/test_harness``):
moto keeps its tables in process-global backends (``moto.backends.get_backend("dynamodb")``),
not in the server, so a table and its items and TTL setting survive ``stop()`` then
``restart()`` on the same port; between the two the endpoint refuses connections (boto3 raises
``EndpointConnectionError``). It is an outage of the endpoint, like a network partition, never a
loss of data. The same holds across different ``MotoServer`` instances in one process: they all
serve the same tables, so tests keep apart by table name, not by server.
"""

from __future__ import annotations

from .moto_process import CREDENTIALS, REGION, MotoServer

__all__ = ["CREDENTIALS", "REGION", "MotoServer"]
