"""``make deploy-check``: what a deploy needs that this machine or the account may lack.

A deploy that fails late costs minutes and leaves a half-created stack to roll back: bundling
without CPython 3.12 or Docker fails at synth (``spawnSync docker ENOENT``), a region never
bootstrapped fails before anything is created, and an account without API Gateway's logging
role fails minutes into the deploy. Each is checked here in seconds, and each missing one is
named with what to do about it.

``python -m infra.preflight [-c key=value ...]`` takes the context keys ``cdk deploy`` would
get (only ``apigateway_cloudwatch_role`` changes a verdict). Exit 0 when all is ready, 1 if not.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.assets import PYTHON_VERSION, target_python

#: CDK's default bootstrap qualifier; cdk.json may name another.
DEFAULT_QUALIFIER = "hnb659fds"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


@dataclass(frozen=True)
class Check:
    """One prerequisite: whether it holds, what was found, and what to do when it does not."""

    name: str
    ok: bool
    found: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok     " if self.ok else "MISSING"
        text = f"{mark} {self.name}: {self.found}"
        return text if self.ok else f"{text}\n        → {self.fix}"


def check_bundling(find_python: Callable[[], str | None], docker_runs: Callable[[], bool]) -> Check:
    """The Lambda assets are built with a CPython 3.12 here, or else in Docker."""
    python = find_python()
    if python is not None:
        return Check("bundling", True, f"CPython {PYTHON_VERSION} at {python}")
    if docker_runs():
        return Check("bundling", True, f"no CPython {PYTHON_VERSION}; Docker will build the assets")
    return Check(
        "bundling",
        False,
        f"neither CPython {PYTHON_VERSION} nor a running Docker engine",
        f"install CPython {PYTHON_VERSION} (e.g. `pyenv install {PYTHON_VERSION}`, or your "
        f"distribution's python{PYTHON_VERSION}), or start Docker",
    )


def docker_runs() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return (
            subprocess.run(  # noqa: S603 (docker's own path, fixed arguments)
                [docker, "info"], capture_output=True, timeout=20, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


def _client(session: Any, service: str) -> Any:
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
    return session.client(service, config=config)


def check_account(session: Any) -> tuple[Check, str | None, str | None]:
    """Credentials that work, and a region; with them, the account id and region."""
    from botocore.exceptions import BotoCoreError, ClientError

    region: str | None = session.region_name
    if region is None:
        return (
            Check(
                "credentials",
                False,
                "no region",
                "set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your AWS profile",
            ),
            None,
            None,
        )
    try:
        identity = _client(session, "sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        return (
            Check(
                "credentials",
                False,
                f"no working AWS credentials ({exc})",
                "run `aws configure` or `aws sso login`, or export AWS_PROFILE for the target "
                "account",
            ),
            None,
            region,
        )
    account = str(identity["Account"])
    return Check("credentials", True, f"{identity['Arn']} in {region}"), account, region


def check_bootstrap(session: Any, account: str, region: str, qualifier: str) -> Check:
    """``cdk bootstrap`` ran in this account and region (its SSM version parameter exists)."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = f"/cdk-bootstrap/{qualifier}/version"
    fix = f"npx aws-cdk@2 bootstrap aws://{account}/{region}"
    try:
        version = _client(session, "ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return Check("bootstrap", False, f"{region} is not bootstrapped ({name} absent)", fix)
        return Check("bootstrap", False, f"cannot read {name} ({exc})", fix)
    except BotoCoreError as exc:
        return Check("bootstrap", False, f"cannot read {name} ({exc})", fix)
    return Check("bootstrap", True, f"bootstrap stack version {version}")


def check_logging_role(session: Any, *, stack_creates_it: bool) -> Check:
    """API Gateway's account-wide CloudWatch role, which the stage's logging needs."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        role = _client(session, "apigateway").get_account().get("cloudwatchRoleArn")
    except (BotoCoreError, ClientError) as exc:
        return Check(
            "API Gateway logging role",
            False,
            f"cannot read the account's API Gateway settings ({exc})",
            "allow apigateway:GET on /account, or check the role by hand in the console",
        )
    if role:
        return Check("API Gateway logging role", True, role)
    if stack_creates_it:
        return Check(
            "API Gateway logging role",
            True,
            "not set; this deploy creates it (apigateway_cloudwatch_role=true)",
        )
    return Check(
        "API Gateway logging role",
        False,
        "not set in this account and region: the deploy would fail minutes in",
        "deploy once with `-c apigateway_cloudwatch_role=true` (the stack creates the role "
        "and keeps it), or set one in API Gateway's settings",
    )


def _context(pairs: Sequence[str]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if CDK_JSON.exists():
        context.update(json.loads(CDK_JSON.read_text()).get("context", {}))
    for pair in pairs:
        key, _, value = pair.partition("=")
        context[key] = value
    return context


def _true(value: object) -> bool:
    return value is True or str(value).strip().lower() in {"true", "1", "yes"}


def run(context_pairs: Sequence[str], session: Any) -> list[Check]:
    """Every check, in the order a deploy meets them."""
    context = _context(context_pairs)
    checks = [check_bundling(target_python, docker_runs)]
    account_check, account, region = check_account(session)
    checks.append(account_check)
    if account is not None and region is not None:
        qualifier = str(context.get("@aws-cdk/core:bootstrapQualifier", DEFAULT_QUALIFIER))
        checks.append(check_bootstrap(session, account, region, qualifier))
        creates = _true(context.get("apigateway_cloudwatch_role", False))
        checks.append(check_logging_role(session, stack_creates_it=creates))
    else:
        for name in ("bootstrap", "API Gateway logging role"):
            checks.append(Check(name, False, "not checked without credentials", "see above"))
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make deploy-check", description=__doc__.split("\n")[0])
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a context key as `cdk deploy` gets it",
    )
    args = parser.parse_args(argv)
    import boto3

    checks = run(args.context, boto3.session.Session())
    for check in checks:
        print(check.line())
    ready = all(check.ok for check in checks)
    print("ready to deploy" if ready else "not ready: fix what is MISSING above, then deploy")
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
