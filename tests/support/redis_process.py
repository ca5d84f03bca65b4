"""Real ``redis-server`` processes on free ports: a standalone server and a 3-master cluster."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from .processes import free_port


def _wait_for_ping(port: int, process: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server on {port} exited with {process.returncode}")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    finally:
        client.close()


def _redis_server(port: int, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make test installs it)")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", *extra]
    process = subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_ping(port, process)
    except BaseException:
        _stop(process)
        raise
    return process


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class RedisServer:
    """A standalone server with no persistence; ``kill`` and ``restart`` keep its port."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = _redis_server(self.port, self.workdir)
        return self

    def kill(self) -> None:
        """``kill -9``: no shutdown, connections cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        deadline = time.monotonic() + 10
        while True:  # The port may linger for a moment after the kill.
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        _stop(self.process)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def connections_received(self) -> int:
        with self.client() as client:
            return int(client.info("stats")["total_connections_received"])

    def flushall(self) -> None:
        """Every key gone, as after an operator's FLUSHALL or a failover to an empty node."""
        with self.client() as client:
            client.flushall()


@dataclass
class RedisCluster:
    """Three masters, no replicas, every slot covered: the shape of ElastiCache's cluster mode."""

    workdir: Path
    ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> RedisCluster:
        try:
            self._start()
        except BaseException:
            self.stop()  # No node may outlive a cluster that did not come up.
            raise
        return self

    def _start(self) -> None:
        for port in self.ports:
            self.processes.append(
                _redis_server(
                    port,
                    self.workdir / str(port),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    "2000",
                    # Its own free port: the default bus port (port + 10000) may not exist.
                    "--cluster-port",
                    str(free_port()),
                )
            )
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self._wait_until_ok()

    def _wait_until_ok(self, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        for port in self.ports:
            with redis.Redis(port=port, decode_responses=True) as node:
                while node.cluster("info").get("cluster_state") != "ok":
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"cluster node {port} never reported ok")
                    time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes:
            _stop(process)

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.ports[0], decode_responses=True)

    def flushall(self) -> None:
        """FLUSHALL on every master."""
        for port in self.ports:
            with redis.Redis(port=port) as node:
                node.flushall()
