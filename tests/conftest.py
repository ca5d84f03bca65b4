"""Fixtures shared by every test folder: the real servers the tests talk to."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.moto_process import CREDENTIALS, REGION, MotoServer
from tests.support.processes import ServiceProcess
from tests.support.recording_proxy import RecordingProxy
from tests.support.redis_process import RedisCluster, RedisServer
from tests.support.transformer_server import TransformerServer


@pytest.fixture
def transformer_server() -> Iterator[TransformerServer]:
    """A fresh counting HTTP transformer for one test."""
    with TransformerServer(delay_s=0.02) as server:
        yield server


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A standalone redis-server for one test module (tests keep apart by ``redis_prefix``)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster for the session."""
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def dynamodb_table(moto_server: MotoServer) -> str:
    """A fresh table per test on the shared moto server."""
    return moto_server.create_table(f"cache-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def aws_env(moto_server: MotoServer, dynamodb_table: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 in this process pointed at moto (``AWS_*`` variables); the fresh table's name."""
    for name, value in moto_server.env(dynamodb_table).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    return dynamodb_table


@pytest.fixture
def sqs(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """boto3's SQS client on moto; boto3 in this process (a command under test) reaches it too."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return boto3.client("sqs", endpoint_url=moto_server.endpoint, region_name=REGION)


@pytest.fixture
def queue(sqs: Any) -> str:
    """A fresh queue's URL on moto."""
    return str(sqs.create_queue(QueueName=f"warm-{uuid.uuid4().hex[:8]}")["QueueUrl"])


@pytest.fixture
def recording(
    moto_server: MotoServer, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RecordingProxy]:
    """A proxy between boto3 and moto that records each DynamoDB action and can refuse or hang."""
    proxy = RecordingProxy(moto_server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    yield proxy
    proxy.close()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of one's own on a shared Redis."""
    return f"t{uuid.uuid4().hex[:8]}:"


class Services:
    """Starts ``cache-service`` processes for one test and stops them all at its end."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._started: list[ServiceProcess] = []

    def start(self, env: Mapping[str, str]) -> ServiceProcess:
        service = ServiceProcess(env=env, workdir=self._workdir).start()
        self._started.append(service)
        return service

    def stop_all(self) -> None:
        for service in self._started:
            service.stop()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    started = Services(tmp_path)
    yield started
    started.stop_all()
