"""Building the dependency layer with pip on this machine, so synth needs no Docker.

pip downloads wheels for the function's platform (``--platform manylinux2014_<arch>
--only-binary=:all:``), which works from any OS. Docker bundling on the Lambda build image
remains the fallback when pip cannot run here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PYTHON_VERSION = "3.12"
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


def pip_command(requirements: Path | str, target: str, architecture: str) -> list[str]:
    """The pip invocation that installs ``requirements`` for Lambda into ``target``."""
    return [
        "pip",
        "install",
        "--requirement",
        str(requirements),
        "--target",
        target,
        "--platform",
        PLATFORMS[architecture],
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        "--quiet",
    ]


@jsii.implements(ILocalBundling)
class LocalPip:
    """Installs the layer's requirements with this interpreter's pip; False means use Docker."""

    def __init__(self, requirements: Path, architecture: str) -> None:
        self.requirements = requirements
        self.architecture = architecture

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        target = str(Path(output_dir) / "python")  # layers put packages under python/
        command = [sys.executable, "-m", *pip_command(self.requirements, target, self.architecture)]
        try:
            # Fixed arguments: this interpreter, our requirements file, CDK's output directory.
            subprocess.run(command, check=True, timeout=600)  # noqa: S603
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"local bundling failed ({exc}); falling back to Docker", file=sys.stderr)
            return False
        return True


def layer_bundling(requirements: Path, architecture: str) -> BundlingOptions:
    """Local pip first; the Lambda Python build image (same command) if that fails.

    The container runs on the host's own platform: pip's ``--platform`` already picks the
    function's wheels, and pinning an arm64 container on an x86_64 host (or the reverse) would
    need CPU emulation just to run pip.
    """
    image: DockerImage = lambda_.Runtime.PYTHON_3_12.bundling_image
    in_container = pip_command(
        "/asset-input/requirements.txt", "/asset-output/python", architecture
    )
    return BundlingOptions(
        image=image,
        command=["bash", "-c", " ".join(in_container)],
        local=LocalPip(requirements, architecture),
    )
