"""One synth per session (CDK synth takes seconds), shared by every infra test."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii prints a banner per process on Node 20; it is noise here, not a finding.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk.assertions import Template

from infra.app import STACK_NAME, build_app

ROOT = Path(__file__).resolve().parents[2]
#: The feature flags `cdk deploy` runs with, so the tests see the template it deploys.
CDK_JSON_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
#: Tests never bundle: no Docker, no pip download; the asset is the source folder.
NO_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}


@dataclass
class Synth:
    """A synthesized app: the template as JSON and for assertions, and nag's report."""

    template: Template
    json: dict[str, Any]
    path: Path
    report: dict[str, Any]

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource
            for name, resource in self.json["Resources"].items()
            if resource["Type"] == type_
        }

    def one(self, type_: str) -> dict[str, Any]:
        (resource,) = self.resources(type_).values()
        return resource["Properties"]  # type: ignore[no-any-return]

    def service_function(self) -> dict[str, Any]:
        """The service's function (the others: the warm worker, CDK's deploy-time lookup)."""
        return self.function_with("cache_service.aws.handler.handler")

    def warm_function(self) -> dict[str, Any]:
        """The warm worker's function."""
        return self.function_with("cache_service.aws.warm_worker.handler")

    def function_with(self, handler: str) -> dict[str, Any]:
        (function,) = [
            f["Properties"]
            for f in self.resources("AWS::Lambda::Function").values()
            if f["Properties"].get("Handler") == handler
        ]
        return function  # type: ignore[no-any-return]


def synth(outdir: Path, context: dict[str, Any] | None = None) -> Synth:
    app, _ = build_app({**CDK_JSON_CONTEXT, **NO_BUNDLING, **(context or {})}, outdir=str(outdir))
    assembly = app.synth()
    stack = assembly.get_stack_by_name(STACK_NAME)
    template = dict(stack.template)
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return Synth(Template.from_json(template), template, Path(stack.template_full_path), report)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with no context at all: what a first ``cdk deploy`` creates."""
    return synth(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with every switch flipped away from its default."""
    return synth(
        tmp_path_factory.mktemp("cdk.out.variant"),
        {
            "architecture": "x86_64",
            "engine": "redis",
            "retain_data": "false",
            "reserved_concurrency": "7",
            "throttle_rate": "11",
            "throttle_burst": "13",
            "cache_ttl_s": "0",
            "log_retention_days": "7",
            "apigateway_cloudwatch_role": "true",
            "xray_endpoint": "false",
            "alarm_email": "ops@example.com",
            "alarm_p99_latency_ms": "2500",
            "warm_timeout_s": "120",
            "warm_max_concurrency": "5",
            "warm_schedule": "rate(15 minutes)",
            "warm_hot": "250",
            "api_keys": "true",
            "api_key_rate": "7",
            "api_key_burst": "9",
            "api_key_quota_per_day": "5000",
            "snapstart": "false",
            "provisioned_concurrency": "2",
            "cache_max_data_gb": "20",
        },
    )


@pytest.fixture(scope="session")
def without_snapstart(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack with SnapStart off and nothing provisioned: no version, no alias."""
    return synth(tmp_path_factory.mktemp("cdk.out.no-snapstart"), {"snapstart": "false"})


@pytest.fixture(scope="session")
def with_transformer(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack for an HTTP transformer outside AWS (it needs a way out of the VPC), and a
    stage cache TTL other than the default."""
    return synth(
        tmp_path_factory.mktemp("cdk.out.transformer"),
        {
            "nat_gateways": "1",
            "transformer_url": "http://transformer.example.com:8080/t",
            "cache_ttl_s": "30",
        },
    )
