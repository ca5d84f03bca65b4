"""API Gateway: explicit routes; the stage cache serves GET /payload/{id} only, briefly.

The stage cache replays whatever the function answered, for the cache key, for the TTL: the key
holds If-None-Match so a 304 reaches only requests that asked for it, and the TTL is short
because a 503 or a 404 is replayed as faithfully as a 200 (INSTRUCTIONS.md, "API Gateway's
cache").
"""

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
    assert parts == {"payload", "{id}", "health", "ready", "docs", "openapi.json"}
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


def test_cached_get_is_encrypted_with_a_ten_second_ttl(stack: Synth) -> None:
    (setting,) = [s for s in _stage(stack)["MethodSettings"] if s.get("CachingEnabled")]
    assert setting["CacheDataEncrypted"] is True
    assert setting["CacheTtlInSeconds"] == 10


def test_cache_ttl_comes_from_context(with_transformer: Synth) -> None:
    (setting,) = [s for s in _stage(with_transformer)["MethodSettings"] if s.get("CachingEnabled")]
    assert setting["CacheTtlInSeconds"] == 30


def test_a_zero_ttl_leaves_out_the_cache_cluster_and_its_bill(variant: Synth) -> None:
    stage = _stage(variant)
    assert stage["CacheClusterEnabled"] is False
    assert "CacheClusterSize" not in stage
    assert [s for s in stage["MethodSettings"] if s.get("CachingEnabled")] == []


def test_get_payload_is_cached_by_id_and_if_none_match(stack: Synth) -> None:
    method = _method(stack, "GET", "{id}")
    assert method["Integration"]["CacheKeyParameters"] == [
        "method.request.path.id",
        "method.request.header.If-None-Match",
    ]


def test_get_payload_requires_the_id_and_accepts_if_none_match(stack: Synth) -> None:
    method = _method(stack, "GET", "{id}")
    assert method["RequestParameters"] == {
        "method.request.path.id": True,
        "method.request.header.If-None-Match": False,
    }
    assert "RequestValidatorId" in method


def test_the_cached_method_keeps_the_stage_throttling_logging_and_metrics(stack: Synth) -> None:
    settings = _stage(stack)["MethodSettings"]
    (everything,) = [s for s in settings if s["ResourcePath"] == "/*"]
    (cached,) = [s for s in settings if s.get("CachingEnabled")]
    shared = ("ThrottlingRateLimit", "ThrottlingBurstLimit", "LoggingLevel", "MetricsEnabled")
    assert {k: cached[k] for k in shared} == {k: everything[k] for k in shared}


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


def test_the_execution_log_group_is_the_stacks_own_made_before_the_stage(stack: Synth) -> None:
    (stage_name,) = stack.resources("AWS::ApiGateway::Stage")
    (api,) = stack.resources("AWS::ApiGateway::RestApi")
    expected = {"Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api}, "/prod"]]}
    (group,) = [
        name
        for name, r in stack.resources("AWS::Logs::LogGroup").items()
        if r["Properties"].get("LogGroupName") == expected
    ]
    resource = stack.json["Resources"][group]
    assert resource["Properties"]["RetentionInDays"] == 30
    assert resource["DeletionPolicy"] == "RetainExceptOnCreate"
    assert group in stack.json["Resources"][stage_name]["DependsOn"]


def test_without_retained_data_the_execution_log_group_goes_with_the_stack(
    variant: Synth,
) -> None:
    groups = [
        r
        for r in variant.resources("AWS::Logs::LogGroup").values()
        if "API-Gateway-Execution-Logs_" in str(r["Properties"].get("LogGroupName"))
    ]
    assert [g["DeletionPolicy"] for g in groups] == ["Delete"]


def test_stage_traces_requests_with_xray(stack: Synth) -> None:
    assert _stage(stack)["TracingEnabled"] is True


def test_the_account_cloudwatch_role_is_left_alone_by_default(stack: Synth) -> None:
    assert stack.resources("AWS::ApiGateway::Account") == {}
    for role in stack.resources("AWS::IAM::Role").values():
        assert "apigateway.amazonaws.com" not in str(role["Properties"]["AssumeRolePolicyDocument"])


def test_the_account_cloudwatch_role_set_on_request_outlives_the_stack(variant: Synth) -> None:
    (account,) = variant.resources("AWS::ApiGateway::Account").values()
    role = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    assert account["DeletionPolicy"] == "RetainExceptOnCreate"
    assert variant.json["Resources"][role]["DeletionPolicy"] == "RetainExceptOnCreate"


def test_the_api_is_named_after_the_stack(stack: Synth) -> None:
    # The name is the ApiName dimension of its metrics: two stacks never share a series.
    assert stack.one("AWS::ApiGateway::RestApi")["Name"] == "CacheService"


def test_stage_is_named_prod(stack: Synth) -> None:
    stack.template.has_resource_properties("AWS::ApiGateway::Stage", {"StageName": "prod"})


def test_no_binary_media_types_because_nothing_is_compressed(stack: Synth) -> None:
    assert "BinaryMediaTypes" not in stack.one("AWS::ApiGateway::RestApi")


def test_outputs_name_the_api_url_table_cache_endpoint_and_alarm_topic(stack: Synth) -> None:
    outputs = stack.json["Outputs"]
    assert {"ApiUrl", "TableName", "CacheEndpoint", "AlarmTopic"} <= set(outputs)
    stack.template.has_output(
        "CacheEndpoint", {"Value": {"Fn::Join": ["", Match.array_with(["rediss://"])]}}
    )


def _methods(stack: Synth) -> dict[str, dict[str, Any]]:
    """Each method by ``VERB /path`` (API Gateway keeps the path as a chain of resources)."""
    resources = stack.resources("AWS::ApiGateway::Resource")

    def path(ref: Any) -> str:
        if not isinstance(ref, dict) or "Ref" not in ref:
            return ""
        parent = resources[ref["Ref"]]["Properties"]
        return f"{path(parent['ParentId'])}/{parent['PathPart']}"

    return {
        f"{m['Properties']['HttpMethod']} {path(m['Properties']['ResourceId'])}": m["Properties"]
        for m in stack.resources("AWS::ApiGateway::Method").values()
    }


def test_no_api_key_or_usage_plan_by_default(stack: Synth) -> None:
    assert stack.resources("AWS::ApiGateway::ApiKey") == {}
    assert stack.resources("AWS::ApiGateway::UsagePlan") == {}
    assert not any(m.get("ApiKeyRequired") for m in _methods(stack).values())


def test_with_api_keys_the_payload_routes_need_one_and_health_does_not(variant: Synth) -> None:
    methods = _methods(variant)
    assert methods["POST /payload"]["ApiKeyRequired"] is True
    assert methods["GET /payload/{id}"]["ApiKeyRequired"] is True
    for open_path in ("/health", "/ready", "/docs", "/openapi.json"):
        assert not methods[f"GET {open_path}"].get("ApiKeyRequired"), open_path


def test_the_usage_plan_limits_each_key_by_rate_burst_and_daily_quota(variant: Synth) -> None:
    ((_, plan),) = variant.resources("AWS::ApiGateway::UsagePlan").items()
    properties = plan["Properties"]
    assert properties["Throttle"] == {"RateLimit": 7, "BurstLimit": 9}
    assert properties["Quota"] == {"Limit": 5000, "Period": "DAY"}
    (stage,) = properties["ApiStages"]
    assert set(stage["Throttle"]) == {"/payload/POST", "/payload/{id}/GET"}


def test_the_stacks_key_is_in_the_plan_and_its_id_an_output(variant: Synth) -> None:
    (key,) = variant.resources("AWS::ApiGateway::ApiKey")
    ((_, link),) = variant.resources("AWS::ApiGateway::UsagePlanKey").items()
    assert link["Properties"]["KeyId"] == {"Ref": key}
    assert variant.json["Outputs"]["ApiKeyId"]["Value"] == {"Ref": key}
