"""``make deploy-check`` against moto's STS, SSM and API Gateway: each missing prerequisite is
named with what to do, and a ready account passes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.preflight import check_bundling
from tests.support.moto_process import MotoServer

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


@pytest.fixture
def account(moto_server: MotoServer) -> dict[str, str]:
    """The environment of moto's account; each test sets the state it needs itself (the
    server is shared by the session)."""
    region = REGION
    return {
        "AWS_ENDPOINT_URL": moto_server.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def client(env: dict[str, str], service: str) -> Any:
    session: Any = boto3.session.Session()
    return session.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def bootstrap(env: dict[str, str]) -> None:
    client(env, "ssm").put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="27", Type="String", Overwrite=True
    )


def unbootstrap(env: dict[str, str]) -> None:
    with contextlib.suppress(client(env, "ssm").exceptions.ParameterNotFound):
        client(env, "ssm").delete_parameter(Name="/cdk-bootstrap/hnb659fds/version")


def set_logging_role(env: dict[str, str]) -> None:
    role = client(env, "iam").create_role(
        RoleName=f"apigw-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    client(env, "apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}]
    )


def clear_logging_role(env: dict[str, str]) -> None:
    client(env, "apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}]
    )


def preflight(env: dict[str, str], *context: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    clean.update(AWS_EC2_METADATA_DISABLED="true", **env)
    args = [arg for pair in context for arg in ("-c", pair)]
    return subprocess.run(
        [sys.executable, "-m", "infra.preflight", *args],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_ready_account_passes(account: dict[str, str]) -> None:
    bootstrap(account)
    set_logging_role(account)

    result = preflight(account)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISSING" not in result.stdout
    assert "ready to deploy" in result.stdout


def test_a_region_never_bootstrapped_is_named_with_the_command_that_fixes_it(
    account: dict[str, str],
) -> None:
    unbootstrap(account)
    set_logging_role(account)

    result = preflight(account)

    assert result.returncode == 1
    assert f"MISSING bootstrap: {account['AWS_REGION']} is not bootstrapped" in result.stdout
    assert f"npx aws-cdk@2 bootstrap aws://123456789012/{account['AWS_REGION']}" in result.stdout


def test_a_missing_logging_role_names_the_context_key_that_creates_it(
    account: dict[str, str],
) -> None:
    bootstrap(account)
    clear_logging_role(account)

    result = preflight(account)

    assert result.returncode == 1
    assert "MISSING API Gateway logging role" in result.stdout
    assert "-c apigateway_cloudwatch_role=true" in result.stdout


def test_a_missing_logging_role_is_fine_when_the_deploy_creates_it(
    account: dict[str, str],
) -> None:
    bootstrap(account)
    clear_logging_role(account)

    result = preflight(account, "apigateway_cloudwatch_role=true")

    assert result.returncode == 0, result.stdout
    assert "this deploy creates it" in result.stdout


def test_no_credentials_is_named_and_nothing_else_is_guessed(account: dict[str, str]) -> None:
    env = {k: v for k, v in account.items() if not k.startswith("AWS_ACCESS_KEY_ID")}
    env.pop("AWS_SECRET_ACCESS_KEY")

    result = preflight(env)

    assert result.returncode == 1
    assert "MISSING credentials: no working AWS credentials" in result.stdout
    assert "aws sso login" in result.stdout
    assert "not checked without credentials" in result.stdout


def test_no_region_is_named(account: dict[str, str]) -> None:
    env = {k: v for k, v in account.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}

    result = preflight(env)

    assert result.returncode == 1
    assert "MISSING credentials: no region" in result.stdout


def test_bundling_needs_cpython_312_or_docker() -> None:
    neither = check_bundling(lambda: None, lambda: False)
    docker = check_bundling(lambda: None, lambda: True)
    python = check_bundling(lambda: "/usr/bin/python3.12", lambda: False)

    assert not neither.ok
    assert "pyenv install 3.12" in neither.fix
    assert docker.ok
    assert "Docker will build" in docker.found
    assert python.ok
    assert "/usr/bin/python3.12" in python.found
