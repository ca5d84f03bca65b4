"""template-local.yaml (SAM) and the Dockerfile run the same function as the CDK stack."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode_str

from infra.config import ServiceConfig
from tests.infra.conftest import Synth

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / "template-local.yaml"
DOCKERFILE = ROOT / "Dockerfile"


def _sam() -> dict[str, Any]:
    template, errors = decode_str(SAM.read_text())
    assert not errors
    assert template is not None
    return dict(template)


def _sam_function() -> dict[str, Any]:
    return _sam()["Resources"]["Service"]["Properties"]  # type: ignore[no-any-return]


def _cdk_function(stack: Synth) -> dict[str, Any]:
    return stack.service_function()


def test_cfn_lint_finds_no_error_in_the_sam_template() -> None:
    matches = lint_file(SAM, ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")] == []


def test_sam_function_has_the_handler_and_runtime_of_the_stack(stack: Synth) -> None:
    sam, cdk = _sam_function(), _cdk_function(stack)
    assert (sam["Handler"], sam["Runtime"]) == (cdk["Handler"], cdk["Runtime"])


def test_sam_layer_is_built_from_the_stack_layer_requirements() -> None:
    layer = _sam()["Resources"]["Dependencies"]
    assert layer["Properties"]["ContentUri"] == "infra/layer/"
    assert (ROOT / "infra" / "layer" / "requirements.txt").is_file()


def test_sam_builds_the_layer_from_the_lock_with_unchecked_bytecode() -> None:
    layer = _sam()["Resources"]["Dependencies"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    recipe = (ROOT / "infra" / "layer" / "Makefile").read_text()
    assert "build-Dependencies:" in recipe
    assert "--require-hashes" in recipe
    assert "--invalidation-mode unchecked-hash" in recipe


def _layer_install(*assignments: str) -> subprocess.CompletedProcess[str]:
    """The commands `make build-Dependencies` would run, as make expands them (a dry run)."""
    target = ["-C", str(ROOT / "infra" / "layer"), "build-Dependencies"]
    return subprocess.run(
        ["make", "-n", *target, "ARTIFACTS_DIR=/out", "PYTHON=python3.12", *assignments],
        capture_output=True,
        text=True,
        timeout=60,
        env={name: value for name, value in os.environ.items() if name != "LAYER_ARCH"},
    )


@pytest.mark.parametrize(
    ("assignments", "machine"),
    [((), "aarch64"), (("LAYER_ARCH=arm64",), "aarch64"), (("LAYER_ARCH=x86_64",), "x86_64")],
    ids=["unset", "arm64", "x86_64"],
)
def test_sam_installs_the_layer_for_the_function_architecture_not_the_machine_s(
    assignments: tuple[str, ...], machine: str
) -> None:
    # Unset, it is the template's default architecture.
    assert _sam()["Parameters"]["Architecture"]["Default"] == "arm64"
    recipe = _layer_install(*assignments)
    assert recipe.returncode == 0, recipe.stderr
    platforms = re.findall(r"--platform (\S+)", recipe.stdout)
    assert platforms == [f"manylinux_{glibc}_{machine}" for glibc in ("2_34", "2_28", "2_17")]
    assert "--python-version 3.12" in recipe.stdout


def test_sam_refuses_a_layer_architecture_it_does_not_know() -> None:
    recipe = _layer_install("LAYER_ARCH=amd64")
    assert recipe.returncode != 0
    assert "LAYER_ARCH must be arm64 or x86_64" in recipe.stderr


def test_the_docker_image_bounds_claims_inside_an_invocation_as_the_stack_does() -> None:
    settings = dict(re.findall(r"(CACHE_CLAIM_\w+)=(\S+)", DOCKERFILE.read_text()))
    stack = ServiceConfig()
    assert float(settings["CACHE_CLAIM_TTL_S"]) == stack.claim_ttl_s
    assert float(settings["CACHE_CLAIM_WAIT_S"]) == stack.claim_wait_s


def test_the_dockerfile_installs_the_lock_and_ships_unchecked_bytecode() -> None:
    text = DOCKERFILE.read_text()
    assert "--require-hashes" in text
    assert "--invalidation-mode unchecked-hash" in text


def test_sam_declares_every_variable_the_stack_sets(stack: Synth) -> None:
    # `sam local` overrides only variables the template declares.
    declared = set(_sam_function()["Environment"]["Variables"])
    assert set(_cdk_function(stack)["Environment"]["Variables"]) <= declared


def test_sam_points_dynamodb_and_redis_at_parameters() -> None:
    variables = _sam_function()["Environment"]["Variables"]
    assert variables["AWS_ENDPOINT_URL_DYNAMODB"] == {"Ref": "DynamoDbEndpoint"}
    assert variables["CACHE_REDIS_URL"] == {"Ref": "RedisUrl"}


def test_sam_routes_are_the_stack_routes(stack: Synth) -> None:
    sam_routes = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in _sam_function()["Events"].values()
    }
    assert sam_routes == {
        ("POST", "/payload"),
        ("GET", "/payload/{id}"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
    }
    assert len(stack.resources("AWS::ApiGateway::Method")) == len(sam_routes)


def test_dockerfile_builds_on_the_lambda_python_3_12_image_with_the_handler() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert "FROM public.ecr.aws/lambda/python:3.12" in lines
    assert 'CMD ["cache_service.aws.handler.handler"]' in lines
    assert any("infra/layer/requirements.txt" in line for line in lines if line.startswith("COPY"))
