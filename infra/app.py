"""``cdk synth`` / ``cdk deploy`` entry point (cdk.json runs ``python -m infra.app``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import ServiceConfig
from infra.stack import CacheServiceStack

STACK_NAME = "CacheService"


def build_app(
    context: Mapping[str, Any] | None = None, outdir: str | None = None
) -> tuple[App, CacheServiceStack]:
    """The app with its one stack, checked by the cdk-nag AwsSolutions pack at synth."""
    app = App(context=dict(context or {}), outdir=outdir)
    config = ServiceConfig.from_context(app.node)
    stack = CacheServiceStack(
        app,
        STACK_NAME,
        config=config,
        env=Environment(account=None, region=None),
        description="cache-service: API Gateway + Lambda + ElastiCache Serverless + DynamoDB",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


if __name__ == "__main__":
    build_app()[0].synth()
