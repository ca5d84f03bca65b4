"""The harness itself: real Redis (standalone and cluster) and moto's DynamoDB behave as the
other integration tests assume."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest
import redis
from botocore.exceptions import EndpointConnectionError
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.moto_process import CREDENTIALS, REGION, MotoServer
from tests.support.redis_process import RedisCluster, RedisServer

if TYPE_CHECKING:  # Stubs: a dev dependency, needed by mypy only.
    from mypy_boto3_dynamodb.client import DynamoDBClient


def test_standalone_server_answers_and_comes_back_on_its_port_after_kill_9(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    port = redis_server.port
    assert redis_server.url == f"redis://127.0.0.1:{port}/0"
    with redis_server.client() as client:
        assert client.ping()
        client.set(f"{redis_prefix}k", "v")
        run_id = client.info("server")["run_id"]
        redis_server.kill()
        # A probe that does not retry: redis-py 8's default client backs off for ~4 s.
        with (
            redis.Redis(port=port, retry=Retry(NoBackoff(), 0)) as probe,
            pytest.raises(redis.ConnectionError),
        ):
            probe.ping()
        redis_server.restart()
        assert redis_server.port == port
        # The same client reconnects to the same address, and finds a new, empty server.
        assert client.info("server")["run_id"] != run_id
        assert client.get(f"{redis_prefix}k") is None
    assert redis_server.connections_received() >= 1


def test_cluster_has_three_masters_and_spreads_keys_over_them(
    redis_cluster: RedisCluster, redis_prefix: str
) -> None:
    keys = [f"{redis_prefix}{i}" for i in range(50)]
    with redis_cluster.client() as client:
        assert len(client.get_primaries()) == 3
        assert {node.port for node in client.get_primaries()} == set(redis_cluster.ports)
        for key in keys:
            client.set(key, "v")
        assert [client.get(key) for key in keys] == ["v"] * 50
        per_node = {}
        for port in redis_cluster.ports:
            with redis.Redis(port=port) as node:
                assert node.cluster("info")["cluster_state"] == "ok"
                per_node[port] = sum(1 for _ in node.scan_iter(match=f"{redis_prefix}*"))
        client.delete(*keys)
    assert sum(per_node.values()) == 50
    assert sum(1 for count in per_node.values() if count) > 1, per_node


def _dynamodb(server: MotoServer) -> DynamoDBClient:
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def test_table_is_shaped_like_the_stacks(moto_server: MotoServer, dynamodb_table: str) -> None:
    client = _dynamodb(moto_server)
    table = client.describe_table(TableName=dynamodb_table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=dynamodb_table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert moto_server.env(dynamodb_table) == {
        "AWS_ENDPOINT_URL_DYNAMODB": moto_server.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CACHE_STORE": "dynamodb",
        "CACHE_DYNAMODB_TABLE": dynamodb_table,
    }


def test_moto_data_survives_a_stop_and_restart_on_the_same_port(
    moto_server: MotoServer, dynamodb_table: str
) -> None:
    client = _dynamodb(moto_server)
    item = {"pk": {"S": "survivor"}, "expires_at": {"N": "4102444800"}}
    client.put_item(TableName=dynamodb_table, Item=item)
    port = moto_server.port
    moto_server.stop()
    try:
        with pytest.raises(EndpointConnectionError):
            _dynamodb(moto_server).list_tables()
    finally:
        moto_server.restart()
    assert moto_server.port == port
    got = client.get_item(
        TableName=dynamodb_table, Key={"pk": {"S": "survivor"}}, ConsistentRead=True
    )
    assert got["Item"] == item
