"""The table, the cache and the network that reaches them."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synth


def _group_of(stack: Synth, description_start: str) -> str:
    (name,) = [
        name
        for name, r in stack.resources("AWS::EC2::SecurityGroup").items()
        if r["Properties"]["GroupDescription"].startswith(description_start)
    ]
    return name


def _table(stack: Synth) -> dict[str, Any]:
    (table,) = stack.resources("AWS::DynamoDB::Table").values()
    return table


def test_table_is_keyed_by_pk_on_demand(stack: Synth) -> None:
    table = _table(stack)["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_table_has_point_in_time_recovery(stack: Synth) -> None:
    spec = _table(stack)["Properties"]["PointInTimeRecoverySpecification"]
    assert spec["PointInTimeRecoveryEnabled"] is True


def test_table_is_encrypted_with_kms(stack: Synth) -> None:
    assert _table(stack)["Properties"]["SSESpecification"] == {"SSEEnabled": True}


def test_table_expires_items_by_the_ttl_attribute(stack: Synth) -> None:
    ttl = _table(stack)["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}


def test_table_is_retained_when_the_stack_is_deleted(stack: Synth) -> None:
    table = _table(stack)
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_throwaway_stacks_delete_the_table(variant: Synth) -> None:
    assert _table(variant)["DeletionPolicy"] == "Delete"


def test_cache_is_serverless_redis_oss_by_default(stack: Synth) -> None:
    cache = stack.one("AWS::ElastiCache::ServerlessCache")
    assert (cache["Engine"], cache["MajorEngineVersion"]) == ("redis", "7")


def test_cache_engine_valkey_is_selectable(variant: Synth) -> None:
    assert variant.one("AWS::ElastiCache::ServerlessCache")["Engine"] == "valkey"


def test_cache_storage_has_a_ceiling(stack: Synth) -> None:
    limits = stack.one("AWS::ElastiCache::ServerlessCache")["CacheUsageLimits"]
    assert limits["DataStorage"] == {"Maximum": 5, "Unit": "GB"}


def test_cache_lives_in_both_isolated_subnets(stack: Synth) -> None:
    cache = stack.one("AWS::ElastiCache::ServerlessCache")
    assert len(cache["SubnetIds"]) == 2


def test_cache_ingress_is_only_the_redis_port_from_the_function_group(stack: Synth) -> None:
    cache_group = _group_of(stack, "ElastiCache")
    function_group = _group_of(stack, "cache-service function")
    rules = [
        r["Properties"]
        for r in stack.resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [cache_group, "GroupId"]}
    ]
    assert [
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r["SourceSecurityGroupId"]) for r in rules
    ] == [("tcp", 6379, 6379, {"Fn::GetAtt": [function_group, "GroupId"]})]
    assert "SecurityGroupIngress" not in stack.json["Resources"][cache_group]["Properties"]


def test_cache_group_sends_nothing(stack: Synth) -> None:
    group = stack.json["Resources"][_group_of(stack, "ElastiCache")]["Properties"]
    # CDK's marker for "no egress": a rule that matches no traffic.
    assert group["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"


def test_function_egress_is_https_and_the_redis_port_to_the_cache_only(stack: Synth) -> None:
    function_group = _group_of(stack, "cache-service function")
    inline = stack.json["Resources"][function_group]["Properties"]["SecurityGroupEgress"]
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in inline] == [("tcp", 443, 443)]
    extra = [
        r["Properties"]
        for r in stack.resources("AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [function_group, "GroupId"]}
    ]
    cache_group = _group_of(stack, "ElastiCache")
    assert [(r["FromPort"], r["DestinationSecurityGroupId"]) for r in extra] == [
        (6379, {"Fn::GetAtt": [cache_group, "GroupId"]})
    ]


def test_vpc_has_two_isolated_subnets_and_no_nat_or_internet_gateway(stack: Synth) -> None:
    assert len(stack.resources("AWS::EC2::Subnet")) == 2
    for subnet in stack.resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    assert stack.resources("AWS::EC2::NatGateway") == {}
    assert stack.resources("AWS::EC2::InternetGateway") == {}


def test_subnets_are_in_two_availability_zones(stack: Synth) -> None:
    zones = {
        str(s["Properties"]["AvailabilityZone"])
        for s in stack.resources("AWS::EC2::Subnet").values()
    }
    assert len(zones) == 2


def test_dynamodb_is_reached_through_a_gateway_endpoint(stack: Synth) -> None:
    endpoint = stack.one("AWS::EC2::VPCEndpoint")
    assert endpoint["VpcEndpointType"] == "Gateway"
    assert "dynamodb" in str(endpoint["ServiceName"])
    assert len(endpoint["RouteTableIds"]) == 2


def test_nat_gateways_give_the_private_subnets_a_way_out(with_transformer: Synth) -> None:
    assert len(with_transformer.resources("AWS::EC2::NatGateway")) == 1
    routes = with_transformer.resources("AWS::EC2::Route").values()
    assert sum("NatGatewayId" in r["Properties"] for r in routes) == 2  # both private subnets


def test_the_function_runs_in_the_subnets_that_route_through_nat(with_transformer: Synth) -> None:
    public = {
        name
        for name, subnet in with_transformer.resources("AWS::EC2::Subnet").items()
        if subnet["Properties"]["MapPublicIpOnLaunch"]
    }
    function = with_transformer.one("AWS::Lambda::Function")
    subnet_refs = {ref["Ref"] for ref in function["VpcConfig"]["SubnetIds"]}
    assert len(subnet_refs) == 2
    assert not subnet_refs & public


def test_the_function_may_reach_the_transformer_port(with_transformer: Synth) -> None:
    function_group = _group_of(with_transformer, "cache-service function")
    inline = with_transformer.json["Resources"][function_group]["Properties"]["SecurityGroupEgress"]
    assert ("tcp", 8080, 8080) in [(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in inline]
