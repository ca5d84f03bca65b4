"""API Gateway: explicit routes; the stage cache serves GET /payload/{id} only, keyed by id."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synth

CACHED = {"HttpMethod": "GET", "ResourcePath": "/~1payload~1{id}"}


def _stage(stack: Synth) -> dict[str, Any]:
    return stack.one("AWS::ApiGateway::Stage")


def _method(stack: Synth, verb: str, path_part: str) -> dict[str, Any]:
    resources = stack.resources("AWS::ApiGateway::Resource")
    (resource_id,) = [
        name for name, r in resources.items() if r["Properties"]["PathPart"] == path_part
    ]
    (method,) = [
        m["Properties"]
        for m in stack.resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["ResourceId"] == {"Ref": resource_id}
        and m["Properties"]["HttpMethod"] == verb
    ]
    return dict(method)


def test_routes_are_explicit_resources_without_a_proxy(stack: Synth) -> None:
    parts = {
        r["Properties"]["PathPart"] for r in stack.resources("AWS::ApiGateway::Resource").values()
    }
    assert parts == {"payload", "{id}", "health", "docs", "openapi.json"}
    methods = {
        m["Properties"]["HttpMethod"] for m in stack.resources("AWS::ApiGateway::Method").values()
    }
    assert methods == {"GET", "POST"}


def test_every_route_is_a_lambda_proxy_integration(stack: Synth) -> None:
    for method in stack.resources("AWS::ApiGateway::Method").values():
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"


def test_stage_has_an_encrypted_cache_cluster(stack: Synth) -> None:
    stage = _stage(stack)
    assert stage["CacheClusterEnabled"] is True
    assert stage["CacheClusterSize"] == "0.5"


def test_caching_is_off_stage_wide(stack: Synth) -> None:
    (everything,) = [s for s in _stage(stack)["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert everything["HttpMethod"] == "*"
    assert everything["CachingEnabled"] is False


def test_caching_is_on_for_get_payload_by_id_only(stack: Synth) -> None:
    cached = [s for s in _stage(stack)["MethodSettings"] if s.get("CachingEnabled")]
    assert [{k: s[k] for k in CACHED} for s in cached] == [CACHED]


def test_cached_get_is_encrypted_with_a_one_hour_ttl(stack: Synth) -> None:
    (setting,) = [s for s in _stage(stack)["MethodSettings"] if s.get("CachingEnabled")]
    assert setting["CacheDataEncrypted"] is True
    assert setting["CacheTtlInSeconds"] == 3600


def test_cache_ttl_comes_from_context(variant: Synth) -> None:
    (setting,) = [s for s in _stage(variant)["MethodSettings"] if s.get("CachingEnabled")]
    assert setting["CacheTtlInSeconds"] == 600


def test_get_payload_integration_is_keyed_by_the_id_path_parameter(stack: Synth) -> None:
    method = _method(stack, "GET", "{id}")
    assert method["Integration"]["CacheKeyParameters"] == ["method.request.path.id"]


def test_get_payload_declares_the_id_path_parameter_as_required(stack: Synth) -> None:
    method = _method(stack, "GET", "{id}")
    assert method["RequestParameters"] == {"method.request.path.id": True}
    assert "RequestValidatorId" in method


def test_post_payload_has_no_cache_key_and_no_cache_setting(stack: Synth) -> None:
    method = _method(stack, "POST", "payload")
    assert "CacheKeyParameters" not in method["Integration"]
    posts = [s for s in _stage(stack)["MethodSettings"] if s["HttpMethod"] == "POST"]
    assert posts == []


def test_stage_throttling_defaults(stack: Synth) -> None:
    (everything,) = [s for s in _stage(stack)["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert (everything["ThrottlingRateLimit"], everything["ThrottlingBurstLimit"]) == (100, 200)


def test_stage_throttling_comes_from_context(variant: Synth) -> None:
    (everything,) = [s for s in _stage(variant)["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert (everything["ThrottlingRateLimit"], everything["ThrottlingBurstLimit"]) == (11, 13)


def test_stage_writes_access_logs_to_a_log_group_with_retention(stack: Synth) -> None:
    destination = _stage(stack)["AccessLogSetting"]["DestinationArn"]
    (group,) = [
        name
        for name, r in stack.resources("AWS::Logs::LogGroup").items()
        if destination == {"Fn::GetAtt": [name, "Arn"]}
    ]
    assert stack.json["Resources"][group]["Properties"]["RetentionInDays"] == 30


def test_stage_is_named_prod(stack: Synth) -> None:
    stack.template.has_resource_properties("AWS::ApiGateway::Stage", {"StageName": "prod"})


def test_no_binary_media_types_because_nothing_is_compressed(stack: Synth) -> None:
    assert "BinaryMediaTypes" not in stack.one("AWS::ApiGateway::RestApi")


def test_outputs_name_the_api_url_table_and_cache_endpoint(stack: Synth) -> None:
    outputs = stack.json["Outputs"]
    assert {"ApiUrl", "TableName", "CacheEndpoint"} <= set(outputs)
    stack.template.has_output(
        "CacheEndpoint", {"Value": {"Fn::Join": ["", Match.array_with(["rediss://"])]}}
    )
