"""The table, the cache and the network that reaches them, and nothing else."""

from __future__ import annotations

import json
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


def test_table_is_retained_when_the_stack_is_deleted_but_not_after_a_failed_create(
    stack: Synth,
) -> None:
    table = _table(stack)
    assert table["DeletionPolicy"] == "RetainExceptOnCreate"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_throwaway_stacks_delete_the_table(variant: Synth) -> None:
    assert _table(variant)["DeletionPolicy"] == "Delete"


def test_cache_is_serverless_valkey_by_default(stack: Synth) -> None:
    # Valkey bills lower rates and meters a 100 MB minimum where Redis OSS meters 1 GB.
    cache = stack.one("AWS::ElastiCache::ServerlessCache")
    assert (cache["Engine"], cache["MajorEngineVersion"]) == ("valkey", "8")


def test_cache_engine_redis_oss_is_selectable(variant: Synth) -> None:
    cache = variant.one("AWS::ElastiCache::ServerlessCache")
    assert (cache["Engine"], cache["MajorEngineVersion"]) == ("redis", "7")


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


def _egress(stack: Synth, group: str) -> list[dict[str, Any]]:
    """Every egress rule of ``group``: inline, and the separate resources CDK adds."""
    inline = stack.json["Resources"][group]["Properties"].get("SecurityGroupEgress", [])
    separate = [
        r["Properties"]
        for r in stack.resources("AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    return [*inline, *separate]


def _prefix_list_lookup(stack: Synth) -> str:
    (name,) = stack.resources("Custom::AWS")
    return name


def test_function_egress_is_dynamodb_x_ray_and_the_cache_only(stack: Synth) -> None:
    rules = _egress(stack, _group_of(stack, "cache-service function"))
    destinations = sorted(
        (r["IpProtocol"], r["FromPort"], r["ToPort"], str(r.get("DestinationSecurityGroupId")))
        for r in rules
        if "DestinationSecurityGroupId" in r
    )
    assert destinations == sorted(
        [
            ("tcp", 443, 443, str({"Fn::GetAtt": [_group_of(stack, "X-Ray"), "GroupId"]})),
            ("tcp", 6379, 6379, str({"Fn::GetAtt": [_group_of(stack, "ElastiCache"), "GroupId"]})),
        ]
    )
    (dynamodb,) = [r for r in rules if "DestinationPrefixListId" in r]
    assert (dynamodb["IpProtocol"], dynamodb["FromPort"], dynamodb["ToPort"]) == ("tcp", 443, 443)
    assert [r for r in rules if "CidrIp" in r] == []  # nothing to "anywhere"


def test_dynamodb_egress_goes_to_the_prefix_list_found_at_deploy_time(stack: Synth) -> None:
    lookup = _prefix_list_lookup(stack)
    (dynamodb,) = [
        r
        for r in _egress(stack, _group_of(stack, "cache-service function"))
        if "DestinationPrefixListId" in r
    ]
    assert dynamodb["DestinationPrefixListId"] == {
        "Fn::GetAtt": [lookup, "PrefixLists.0.PrefixListId"]
    }
    call = json.dumps(stack.json["Resources"][lookup]["Properties"]["Create"])
    assert "describeManagedPrefixLists" in call
    assert "prefix-list-name" in call
    assert ".dynamodb" in call


def test_the_prefix_list_lookup_may_only_describe_prefix_lists(stack: Synth) -> None:
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for name, p in stack.resources("AWS::IAM::Policy").items()
        if name.startswith("NetworkDynamoDbPrefixListLookup")
    ]
    assert [(s["Action"], s["Resource"]) for s in policy["Statement"]] == [
        ("ec2:DescribeManagedPrefixLists", "*")
    ]


def test_x_ray_endpoint_is_private_and_open_to_the_function_only(stack: Synth) -> None:
    (endpoint,) = [
        e["Properties"]
        for e in stack.resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Interface"
    ]
    assert ".xray" in str(endpoint["ServiceName"])
    assert endpoint["PrivateDnsEnabled"] is True
    assert len(endpoint["SubnetIds"]) == 2
    group = _group_of(stack, "X-Ray")
    ingress = [
        r["Properties"]
        for r in stack.resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    function_group = _group_of(stack, "cache-service function")
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in ingress] == [
        (443, {"Fn::GetAtt": [function_group, "GroupId"]})
    ]
    assert "SecurityGroupIngress" not in stack.json["Resources"][group]["Properties"]


def test_without_the_x_ray_endpoint_there_is_no_egress_for_it(variant: Synth) -> None:
    endpoints = [
        e["Properties"]["VpcEndpointType"]
        for e in variant.resources("AWS::EC2::VPCEndpoint").values()
    ]
    assert endpoints == ["Gateway"]
    rules = _egress(variant, _group_of(variant, "cache-service function"))
    assert [r["FromPort"] for r in rules if "DestinationSecurityGroupId" in r] == [6379]


def test_flow_logs_follow_retention_and_are_kept_with_the_data(stack: Synth) -> None:
    group = stack.one("AWS::EC2::FlowLog")["LogGroupName"]["Ref"]
    log_group = stack.json["Resources"][group]
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert log_group["DeletionPolicy"] == "RetainExceptOnCreate"


def test_throwaway_stacks_delete_the_flow_logs(variant: Synth) -> None:
    group = variant.one("AWS::EC2::FlowLog")["LogGroupName"]["Ref"]
    log_group = variant.json["Resources"][group]
    assert log_group["Properties"]["RetentionInDays"] == 7
    assert log_group["DeletionPolicy"] == "Delete"


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
    (endpoint,) = [
        e["Properties"]
        for e in stack.resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"]["VpcEndpointType"] == "Gateway"
    ]
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
    function = with_transformer.service_function()
    subnet_refs = {ref["Ref"] for ref in function["VpcConfig"]["SubnetIds"]}
    assert len(subnet_refs) == 2
    assert not subnet_refs & public


def test_the_function_may_reach_the_transformer_port(with_transformer: Synth) -> None:
    rules = _egress(with_transformer, _group_of(with_transformer, "cache-service function"))
    anywhere = [(r["IpProtocol"], r["FromPort"], r["CidrIp"]) for r in rules if "CidrIp" in r]
    assert anywhere == [("tcp", 8080, "0.0.0.0/0")]
