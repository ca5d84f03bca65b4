"""Real Redis for tests: a standalone ``redis-server`` and a 3-master Redis Cluster.

The implementation lives in :mod:`tests.support.redis_process` (the fixtures in
``tests/conftest.py`` already build on it); this module is the harness's public face and adds
the skip test. Both names import the same classes, so there is one implementation.

``RedisServer(workdir, port=free_port())``
    ``start()`` (waits for PING), ``stop()`` (SIGTERM, then SIGKILL after 10 s), ``kill()``
    (``kill -9``), ``restart()`` (kills, then starts on the same port, retrying for 10 s while
    the port is still taken), ``url``, ``client()``, ``connections_received()``.
``RedisCluster(workdir, ports=[3 free ports])``
    ``start()`` (three masters, ``redis-cli --cluster create``, waits for ``cluster_state:ok``
    on every node), ``stop()``, ``url`` (first node), ``client()`` (``redis.RedisCluster``).
"""

from __future__ import annotations

import shutil

import pytest

from .redis_process import RedisCluster, RedisServer

__all__ = ["RedisCluster", "RedisServer", "redis_installed", "require_redis"]


def redis_installed() -> bool:
    """Whether ``redis-server`` and ``redis-cli`` (cluster creation needs it) are on PATH."""
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


def require_redis() -> None:
    """Skip the calling test unless Redis is installed (CI installs it, so there it runs)."""
    if not redis_installed():
        pytest.skip("redis-server/redis-cli not on PATH (make test installs them)")
