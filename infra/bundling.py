"""CDK bundling of the Lambda assets on this machine, so synth needs no Docker.

``infra.assets`` builds the folders; Docker bundling on the Lambda build image, which has
Python 3.12, remains the fallback when this machine lacks uv or a CPython 3.12.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.assets import (
    PACKAGE,
    PYTHON_VERSION,
    BundlingFailed,
    botocore_subset_command,
    build_function,
    build_layer,
    target_python,
)

DOCKER_PLATFORMS = {"arm64": "linux/arm64", "x86_64": "linux/amd64"}


@jsii.implements(ILocalBundling)
class LocalLayer:
    """Builds the layer here; False (after saying why) means CDK should use Docker."""

    def __init__(self, requirements: Path, architecture: str) -> None:
        self.requirements = requirements
        self.architecture = architecture

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        return _attempt(
            lambda python: build_layer(
                self.requirements, Path(output_dir), self.architecture, python
            )
        )


@jsii.implements(ILocalBundling)
class LocalFunction:
    """Copies and compiles the function's package here; False means CDK should use Docker."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        return _attempt(lambda python: build_function(self.source, Path(output_dir), python))


def _attempt(build: Callable[[str], None]) -> bool:
    python = target_python()
    if python is None:
        print(
            f"local bundling: no CPython {PYTHON_VERSION} here for the bytecode; "
            "falling back to Docker",
            file=sys.stderr,
        )
        return False
    try:
        build(python)
    except BundlingFailed as exc:
        print(f"local bundling: {exc}; falling back to Docker", file=sys.stderr)
        return False
    return True


def _in_container(*steps: str) -> list[str]:
    return ["bash", "-c", " && ".join(steps)]


_DOCKER_COMPILE = "python -m compileall -q --invalidation-mode unchecked-hash"


def layer_bundling(requirements: Path, architecture: str) -> BundlingOptions:
    """Local first; the Lambda Python build image (pip and Python 3.12 natively) if that fails."""
    image: DockerImage = lambda_.Runtime.PYTHON_3_12.bundling_image
    return BundlingOptions(
        image=image,
        command=_in_container(
            "pip install --require-hashes --only-binary=:all: --no-compile --quiet "
            "--requirement /asset-input/requirements.txt --target /asset-output/python",
            " ".join(botocore_subset_command("python", "/asset-input", "/asset-output/python")),
            f"{_DOCKER_COMPILE} /asset-output/python",
        ),
        platform=DOCKER_PLATFORMS[architecture],
        local=LocalLayer(requirements, architecture),
    )


def function_bundling(source: Path, architecture: str) -> BundlingOptions:
    """The function's package with its bytecode; the same steps in the build image as fallback."""
    image: DockerImage = lambda_.Runtime.PYTHON_3_12.bundling_image
    return BundlingOptions(
        image=image,
        command=_in_container(
            f"cp -r /asset-input/{PACKAGE} /asset-output/",
            f"{_DOCKER_COMPILE} /asset-output",
        ),
        platform=DOCKER_PLATFORMS[architecture],
        local=LocalFunction(source),
    )
