"""The function: Python 3.12 in the VPC, arm64 by default, wired to the tiers, least privilege."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synth

# What the store calls, listed by the store (and checked against a recorded workload).
ITEM_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:BatchGetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
]


HANDLER = "cache_service.aws.handler.handler"


def _function(stack: Synth) -> dict[str, Any]:
    return stack.service_function()


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def _logical_id(stack: Synth, type_: str) -> str:
    (name,) = stack.resources(type_)
    return name


def test_runs_the_mangum_handler_on_python_3_12(stack: Synth) -> None:
    function = _function(stack)
    assert (function["Runtime"], function["Handler"]) == (
        "python3.12",
        "cache_service.aws.handler.handler",
    )


def test_architecture_defaults_to_arm64(stack: Synth) -> None:
    assert _function(stack)["Architectures"] == ["arm64"]


def test_architecture_is_selectable(variant: Synth) -> None:
    assert _function(variant)["Architectures"] == ["x86_64"]
    assert variant.one("AWS::Lambda::LayerVersion")["CompatibleArchitectures"] == ["x86_64"]


def test_runs_in_the_isolated_subnets_with_its_own_security_group(stack: Synth) -> None:
    vpc_config = _function(stack)["VpcConfig"]
    subnets = [{"Ref": name} for name in stack.resources("AWS::EC2::Subnet")]
    assert sorted(map(str, vpc_config["SubnetIds"])) == sorted(map(str, subnets))
    assert len(vpc_config["SecurityGroupIds"]) == 1


def test_timeout_is_below_the_api_gateway_integration_timeout(stack: Synth) -> None:
    assert _function(stack)["Timeout"] < 29


def test_logs_go_to_a_log_group_with_retention(stack: Synth) -> None:
    group = _function(stack)["LoggingConfig"]["LogGroup"]["Ref"]
    assert stack.json["Resources"][group]["Properties"]["RetentionInDays"] == 30


def test_log_retention_comes_from_context(variant: Synth) -> None:
    group = _function(variant)["LoggingConfig"]["LogGroup"]["Ref"]
    assert variant.json["Resources"][group]["Properties"]["RetentionInDays"] == 7


def test_lambda_writes_its_own_lines_as_json_at_info_so_emf_documents_pass(
    stack: Synth,
) -> None:
    logging = _function(stack)["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["ApplicationLogLevel"] == "INFO"
    assert logging["SystemLogLevel"] == "INFO"


def test_no_reserved_concurrency_by_default(stack: Synth) -> None:
    assert "ReservedConcurrentExecutions" not in _function(stack)


def test_reserved_concurrency_is_optional(variant: Synth) -> None:
    assert _function(variant)["ReservedConcurrentExecutions"] == 7


def test_environment_points_the_service_at_dynamodb_and_tls_redis(stack: Synth) -> None:
    env = _function(stack)["Environment"]["Variables"]
    table = _logical_id(stack, "AWS::DynamoDB::Table")
    cache = _logical_id(stack, "AWS::ElastiCache::ServerlessCache")
    assert env["CACHE_STORE"] == "dynamodb"
    assert env["CACHE_DYNAMODB_TABLE"] == {"Ref": table}
    assert env["CACHE_REDIS_URL"] == {
        "Fn::Join": [
            "",
            [
                "rediss://",
                {"Fn::GetAtt": [cache, "Endpoint.Address"]},
                ":",
                {"Fn::GetAtt": [cache, "Endpoint.Port"]},
            ],
        ]
    }
    assert env["CACHE_REDIS_CLUSTER"] == "true"


def test_claim_wait_and_expiry_are_bounded_below_the_function_timeout(stack: Synth) -> None:
    function = _function(stack)
    env = function["Environment"]["Variables"]
    assert float(env["CACHE_CLAIM_WAIT_S"]) < function["Timeout"]
    # A holder cut off with its invocation blocks its work for less than a waiter's own run.
    assert float(env["CACHE_CLAIM_TTL_S"]) < float(env["CACHE_CLAIM_WAIT_S"])
    assert "CACHE_REDIS_TTL_S" in env


def test_only_environment_variables_the_service_and_powertools_read(stack: Synth) -> None:
    env = _function(stack)["Environment"]["Variables"]
    assert all(name.startswith(("CACHE_", "POWERTOOLS_")) for name in env)


def test_environment_names_the_service_and_metrics_namespace_for_powertools(stack: Synth) -> None:
    env = _function(stack)["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "cache-service"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CacheService"


def test_x_ray_traces_every_invocation(stack: Synth) -> None:
    assert _function(stack)["TracingConfig"] == {"Mode": "Active"}


def test_the_function_may_write_traces(stack: Synth) -> None:
    role = _function(stack)["Role"]["Fn::GetAtt"][0]
    actions = {
        action
        for p in stack.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for statement in p["Properties"]["PolicyDocument"]["Statement"]
        for action in _actions(statement)
    }
    assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= actions


def test_iam_grants_exactly_the_item_actions_on_exactly_the_table(stack: Synth) -> None:
    table = _logical_id(stack, "AWS::DynamoDB::Table")
    role = _function(stack)["Role"]["Fn::GetAtt"][0]
    (policy,) = [
        p["Properties"]
        for p in stack.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    (statement,) = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if any(a.startswith("dynamodb:") for a in _actions(s))
    ]
    resources = statement["Resource"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(ITEM_ACTIONS)
    assert (resources if isinstance(resources, list) else [resources]) == [
        {"Fn::GetAtt": [table, "Arn"]}
    ]


def test_no_statement_anywhere_allows_dynamodb_wildcards_or_scans(stack: Synth) -> None:
    for policy in stack.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            dynamo = [a for a in actions if a.startswith("dynamodb:")]
            assert set(dynamo) <= set(ITEM_ACTIONS)


def test_dependencies_ship_as_a_layer_for_python_3_12(stack: Synth) -> None:
    layer = stack.one("AWS::Lambda::LayerVersion")
    assert layer["CompatibleRuntimes"] == ["python3.12"]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    assert _function(stack)["Layers"] == [{"Ref": _logical_id(stack, "AWS::Lambda::LayerVersion")}]


def test_besides_the_service_only_cdks_prefix_list_lookup_runs(stack: Synth) -> None:
    # The DynamoDB prefix list's id is found at deploy time by CDK's AwsCustomResource provider
    # (CloudFormation has no attribute for it); nothing else runs code in the stack.
    functions = set(stack.resources("AWS::Lambda::Function"))
    ours = [
        name
        for name in functions
        if stack.json["Resources"][name]["Properties"].get("Handler")
        in (HANDLER, "cache_service.aws.warm_worker.handler")
    ]
    assert len(ours) == 2  # the API and the warm worker
    (provider,) = functions - set(ours)
    assert provider.startswith("AWS679f53fac002430cb0da5b7982bd2287")
    assert "VpcConfig" not in stack.json["Resources"][provider]["Properties"]
