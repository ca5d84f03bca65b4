"""The Lambda assets carry bytecode that CPython 3.12 uses as shipped, without its sources' help."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.assets import (
    BOTOCORE_SERVICES,
    PLATFORMS,
    PYTHON_VERSION,
    build_function,
    layer_install_command,
    target_python,
)
from infra.bundling import function_bundling, layer_bundling
from infra.local.environment import Python312Missing, build_assets

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_EPOCH = 315532800  # 1980-01-01, the timestamp CDK's asset zips give every file


@pytest.fixture(scope="module")
def python312() -> str:
    python = target_python()
    if python is None:
        pytest.skip(f"no CPython {PYTHON_VERSION} here: the bytecode cannot be built")
    return python


@pytest.fixture(scope="module")
def task(python312: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("task")
    build_function(ROOT / "service", folder, python312)
    return folder


def _without_bytecode(folder: Path) -> list[Path]:
    """The sources under ``folder`` that have no CPython 3.12 bytecode beside them."""
    return [
        source
        for source in folder.rglob("*.py")
        if not (source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc").exists()
    ]


def _header(pyc: Path) -> tuple[bytes, int]:
    data = pyc.read_bytes()
    return data[:4], int.from_bytes(data[4:8], "little")


def test_every_module_of_the_function_has_bytecode_for_python_3_12(task: Path) -> None:
    assert len(list(task.rglob("*.py"))) > 10
    assert _without_bytecode(task) == []


def _magic(python: str) -> bytes:
    """The bytecode magic number of ``python``."""
    return subprocess.run(
        [python, "-c", "import importlib.util as u, sys; sys.stdout.buffer.write(u.MAGIC_NUMBER)"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def test_the_bytecode_is_unchecked_hash_based(python312: str, task: Path) -> None:
    magic = _magic(python312)
    headers = {_header(pyc) for pyc in task.rglob("*.pyc")}
    # PEP 552 flags: bit 0 = hash-based, bit 1 = check the source. 0b01: never checked.
    assert headers == {(magic, 0b01)}


def test_the_layer_bytecode_is_unchecked_hash_based_too(
    python312: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The layer the stack ships, as the Lambda harness builds it (cached per lock export).
    layer = build_assets(tmp_path_factory.mktemp("layer-task")).layer
    assert len(list((layer / "python").rglob("*.py"))) > 500
    assert _without_bytecode(layer / "python") == []
    magic = _magic(python312)
    assert {_header(pyc) for pyc in (layer / "python").rglob("*.pyc")} == {(magic, 0b01)}


def test_python_3_12_runs_the_bytecode_without_reading_the_sources(
    python312: str, task: Path
) -> None:
    # As on Lambda: 1980 timestamps and no bytecode writing. A source that would fail if it
    # were read proves the shipped bytecode is what runs.
    (task / "cache_service" / "payload.py").write_text("raise SystemExit('source was read')\n")
    for path in task.rglob("*"):
        os.utime(path, (LAMBDA_EPOCH, LAMBDA_EPOCH))
    run = subprocess.run(
        [python312, "-s", "-c", "import cache_service.payload"],
        cwd=task,
        env={"PYTHONPATH": str(task), "PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr


def test_no_stale_bytecode_from_the_working_tree_is_shipped(task: Path) -> None:
    assert [pyc for pyc in task.rglob("*.pyc") if ".cpython-312" not in pyc.name] == []


@pytest.mark.parametrize("architecture", ["arm64", "x86_64"])
def test_the_layer_installs_hashed_wheels_for_the_function_platform(architecture: str) -> None:
    command = layer_install_command("requirements.txt", "out", architecture)
    assert command[command.index("--python-platform") + 1] == PLATFORMS[architecture]
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--only-binary") + 1] == ":all:"
    assert "--require-hashes" in command


@pytest.mark.parametrize(
    ("architecture", "platform"), [("arm64", "linux/arm64"), ("x86_64", "linux/amd64")]
)
def test_the_docker_fallback_builds_for_the_function_architecture(
    architecture: str, platform: str
) -> None:
    # Without CPython 3.12 here, CDK bundles in the Lambda build image: of the function's
    # architecture, whatever this machine's is.
    requirements = ROOT / "infra" / "layer" / "requirements.txt"
    assert layer_bundling(requirements, architecture).platform == platform
    assert function_bundling(ROOT / "service", architecture).platform == platform


# Run by CPython 3.12 on the built assets: DynamoDB clients from the layer's slice of
# botocore's data and from botocore's own data, in every partition, FIPS and dual-stack too.
_SAME_CLIENTS = """
import json, sys
import botocore.session
from botocore.config import Config
from cache_service.stores.dynamodb.store import botocore_subset

subset = botocore_subset()
assert subset is not None and subset.parent.name == "python", subset
def client(region, sliced, **config):
    session = botocore.session.get_session()
    if sliced:
        from botocore.loaders import Loader
        loader = Loader(extra_search_paths=[str(subset)], include_default_search_paths=False)
        session.register_component("data_loader", loader)
    return session.create_client(
        "dynamodb", region_name=region, config=Config(**config),
        aws_access_key_id="k", aws_secret_access_key="s",
    )
seen = []
for region in ("us-east-1", "eu-west-1", "ca-central-1", "cn-north-1", "us-gov-west-1"):
    for config in ({}, {"use_fips_endpoint": True}, {"use_dualstack_endpoint": True}):
        pair = [client(region, sliced, **config) for sliced in (False, True)]
        facts = [
            (c.meta.endpoint_url, c.meta.region_name, c.meta.config.signature_version,
             sorted(c.meta.service_model.operation_names), c.can_paginate("scan"),
             sorted(c.waiter_names))
            for c in pair
        ]
        assert facts[0] == facts[1], (region, config, facts)
        seen.append(facts[1][0])
print(json.dumps(seen))
"""


def test_the_layer_slice_of_botocore_makes_the_same_dynamodb_client(tmp_path: Path) -> None:
    try:
        assets = build_assets(tmp_path / "task")
    except Python312Missing as exc:
        pytest.skip(str(exc))
    search_path = os.pathsep.join(map(str, (assets.task, assets.layer / "python")))
    run = subprocess.run(
        [assets.python, "-s", "-c", _SAME_CLIENTS],
        env={"PYTHONPATH": search_path, "PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    endpoints = json.loads(run.stdout)
    assert "https://dynamodb.cn-north-1.amazonaws.com.cn" in endpoints
    assert "https://dynamodb-fips.us-gov-west-1.amazonaws.com" in endpoints


def test_every_build_of_the_layer_slices_botocore_for_the_services_the_function_calls() -> None:
    # The stack's local bundling, its Docker fallback, `sam build` and the Docker image.
    assert BOTOCORE_SERVICES == ("dynamodb",)  # DynamoDbStore is the one AWS client
    requirements = ROOT / "infra" / "layer" / "requirements.txt"
    docker = " ".join(layer_bundling(requirements, "arm64").command or [])
    assert "/asset-input/botocore_subset.py /asset-output/python dynamodb" in docker
    makefile = (ROOT / "infra" / "layer" / "Makefile").read_text()
    assert 'botocore_subset.py "$(ARTIFACTS_DIR)/python" dynamodb' in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'botocore_subset.py "${LAMBDA_TASK_ROOT}" dynamodb' in dockerfile
