"""The folders a Lambda execution environment sees, built by the CDK stack's own bundling code.

``task`` is ``/var/task`` (the function asset), ``layer`` is ``/opt`` (the layer asset, its
packages under ``python/``), ``runtime`` holds the runtime interface client, as ``/var/runtime``
does. The layer and the runtime are built once per lock export and kept under ``build/lambda``;
the task is rebuilt by every caller in a folder of its own, since it is the code being worked on.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from infra.assets import build_function, build_layer, target_python

ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = ROOT / "infra" / "layer" / "requirements.txt"
#: Part of the layer's build: a change to it is a new layer, like a change of requirements.
LAYER_SUBSET = ROOT / "infra" / "layer" / "botocore_subset.py"
RUNTIME_REQUIREMENTS = ROOT / "requirements" / "lambda-runtime.txt"
SOURCE = ROOT / "service"
BUILD = ROOT / "build" / "lambda"


class Python312Missing(Exception):
    """No CPython 3.12 here: the Lambda runtime cannot be reproduced on this machine."""


@dataclass(frozen=True)
class LambdaAssets:
    """The three folders of an execution environment, and the interpreter that runs them."""

    python: str
    task: Path
    layer: Path
    runtime: Path


def host_architecture() -> str:
    """This machine's architecture in Lambda's words (the wheels must run here)."""
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def build_assets(task: Path, build: Path = BUILD) -> LambdaAssets:
    """The layer and runtime (cached in ``build`` by their requirements' hash); a fresh task."""
    python = target_python()
    if python is None:
        raise Python312Missing(
            "no CPython 3.12 found (python3.12 on PATH or under `pyenv root`): "
            "install it to run the Lambda runtime locally"
        )
    architecture = host_architecture()
    layer = _cached(build, "layer", [LAYER_REQUIREMENTS, LAYER_SUBSET], architecture, python)
    runtime = _cached(build, "runtime", [RUNTIME_REQUIREMENTS], architecture, python)
    shutil.rmtree(task, ignore_errors=True)
    build_function(SOURCE, task, python)
    return LambdaAssets(python=python, task=task, layer=layer, runtime=runtime / "python")


def _cached(build: Path, name: str, inputs: list[Path], architecture: str, python: str) -> Path:
    """``inputs[0]`` is the requirements file; all of them key the cached folder."""
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in inputs)).hexdigest()[:16]
    folder = build / f"{name}-{architecture}-{digest}"
    if not folder.exists():
        # Built aside and renamed, so a half-built folder is never taken for a cached one.
        scratch = build / f".{folder.name}.{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        build_layer(inputs[0], scratch, architecture, python)
        try:
            scratch.rename(folder)
        except OSError:  # another process finished first
            shutil.rmtree(scratch, ignore_errors=True)
    return folder
