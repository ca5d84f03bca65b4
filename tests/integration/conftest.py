"""Redis fixtures for the integration tests that skip, not error, when Redis is not installed.

``redis_server`` (module scope: a fresh standalone server per module) and ``redis_cluster``
(session scope) override the ones in ``tests/conftest.py`` for this folder only; they start no
more servers than those would (a module-scoped server is per module anyway, and no test outside
this folder uses the cluster). The check runs inside the fixture, so a test that asks for one
with ``request.getfixturevalue`` is skipped too.

``moto_server`` (session scope), ``dynamodb_table`` (function scope: the name of a fresh table on
it) and ``redis_prefix`` (function scope: ``t<hex8>:``) come from ``tests/conftest.py``, shared
with the ``aws`` and ``reliability`` tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_servers import RedisCluster, RedisServer, require_redis


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A standalone redis-server for one test module (tests keep apart by ``redis_prefix``)."""
    require_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster for the session."""
    require_redis()
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()
