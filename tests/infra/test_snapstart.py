"""SnapStart on the service function: versions, the ``live`` alias, and what the API invokes."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synth


def _only(stack: Synth, type_: str) -> tuple[str, dict[str, Any]]:
    ((name, resource),) = stack.resources(type_).items()
    return name, resource


def _function_id(stack: Synth) -> str:
    function = stack.service_function()
    (name,) = [
        name
        for name, resource in stack.resources("AWS::Lambda::Function").items()
        if resource["Properties"] is function
    ]
    return name


def _invoked(stack: Synth) -> list[Any]:
    """What each API method's integration URI names as the function."""
    return [
        method["Properties"]["Integration"]["Uri"]["Fn::Join"][1][5]
        for method in stack.resources("AWS::ApiGateway::Method").values()
        if method["Properties"].get("Integration", {}).get("Type") == "AWS_PROXY"
    ]


def _permitted(stack: Synth) -> list[Any]:
    return [
        permission["Properties"]["FunctionName"]
        for permission in stack.resources("AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]


def test_snapstart_applies_to_published_versions_by_default(stack: Synth) -> None:
    assert stack.service_function()["SnapStart"] == {"ApplyOn": "PublishedVersions"}


def test_every_deploy_publishes_a_version_under_the_live_alias(stack: Synth) -> None:
    function = _function_id(stack)
    version_id, version = _only(stack, "AWS::Lambda::Version")
    assert version["Properties"]["FunctionName"] == {"Ref": function}
    # Replaced versions go: a version kept would keep its snapshot cached, and billed.
    assert version["DeletionPolicy"] == "Delete"
    _, alias = _only(stack, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]


def test_the_api_invokes_the_alias_and_may_invoke_only_it(stack: Synth) -> None:
    alias_id, _ = _only(stack, "AWS::Lambda::Alias")
    invoked = _invoked(stack)
    permitted = _permitted(stack)
    assert invoked, "the API integrates the function"
    assert all(target == {"Ref": alias_id} for target in invoked), invoked
    assert permitted
    assert all(target == {"Ref": alias_id} for target in permitted), permitted


def test_the_warm_worker_stays_on_demand(stack: Synth) -> None:
    assert "SnapStart" not in stack.warm_function()


def test_without_snapstart_the_api_invokes_the_function_itself(without_snapstart: Synth) -> None:
    assert "SnapStart" not in without_snapstart.service_function()
    assert not without_snapstart.resources("AWS::Lambda::Alias")
    assert not without_snapstart.resources("AWS::Lambda::Version")
    function = _function_id(without_snapstart)
    assert all(
        target == {"Fn::GetAtt": [function, "Arn"]} for target in _invoked(without_snapstart)
    )
    assert all(
        target == {"Fn::GetAtt": [function, "Arn"]} for target in _permitted(without_snapstart)
    )


def test_provisioned_concurrency_instead_sits_on_the_alias(variant: Synth) -> None:
    assert "SnapStart" not in variant.service_function()
    alias_id, alias = _only(variant, "AWS::Lambda::Alias")
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": 2
    }
    assert all(target == {"Ref": alias_id} for target in _invoked(variant))


def test_nothing_snapstart_excludes_is_configured(stack: Synth) -> None:
    function = stack.service_function()
    assert function["Runtime"] == "python3.12"
    assert "FileSystemConfigs" not in function
    assert function.get("EphemeralStorage", {"Size": 512})["Size"] <= 512
