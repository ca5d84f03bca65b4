"""uv.lock is the one lock: every install comes from its exports, and the tests run its versions."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "uv.lock"
PYPROJECT = ROOT / "pyproject.toml"
EXPORTS = [
    ROOT / "requirements" / "run.txt",
    ROOT / "requirements" / "dev.txt",
    ROOT / "requirements" / "lambda-runtime.txt",
    ROOT / "infra" / "layer" / "requirements.txt",
]
UV = [sys.executable, "-m", "uv"]


def locked() -> set[tuple[str, str]]:
    """(name, version) of every package in the lock (a name may have one per Python range)."""
    packages = tomllib.loads(LOCK.read_text())["package"]
    return {(canonicalize_name(p["name"]), p["version"]) for p in packages if "version" in p}


def pins(export: Path, *, here_only: bool = False) -> dict[str, str]:
    """name -> version of an export's requirements; ``here_only``: those for this interpreter."""
    found: dict[str, str] = {}
    for line in export.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)(?: ; ([^\\]+))?", line)
        if match is None:
            continue
        name, version, marker = match.groups()
        if here_only and marker is not None and not Marker(marker.strip()).evaluate():
            continue
        found.setdefault(canonicalize_name(name), version)
    return found


def _without_header(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_the_lock_satisfies_pyproject() -> None:
    # Fails when pyproject.toml changed without `make lock`; needs no network.
    result = subprocess.run(
        [*UV, "lock", "--check", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("export", EXPORTS, ids=lambda path: path.name)
def test_each_export_is_what_the_lock_gives_today(export: Path) -> None:
    # The export's header names the command that wrote it (`make lock`); run it again.
    header = export.read_text().splitlines()[1].removeprefix("#").strip()
    arguments = shlex.split(header)
    output = arguments.index("-o")
    del arguments[output : output + 2]
    assert arguments[:2] == ["uv", "export"]
    assert "--frozen" in arguments
    again = subprocess.run(
        [*UV, *arguments[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert _without_header(again.stdout) == _without_header(export.read_text())


@pytest.mark.parametrize("export", EXPORTS, ids=lambda path: path.name)
def test_every_pin_is_hashed(export: Path) -> None:
    lines = export.read_text().splitlines()
    requirements = [i for i, line in enumerate(lines) if line and line[0].isalnum()]
    assert requirements
    assert [i for i in requirements if "==" not in lines[i]] == []
    assert [i for i in requirements if not lines[i + 1].strip().startswith("--hash=sha256:")] == []


def test_the_tests_run_the_locked_versions() -> None:
    installed = {
        str(canonicalize_name(dist.metadata["Name"])): dist.version
        for dist in metadata.distributions()
    }
    wanted = pins(EXPORTS[1], here_only=True)
    assert {name: installed.get(name) for name in wanted} == wanted


@pytest.mark.parametrize("export", EXPORTS, ids=lambda path: path.name)
def test_every_pin_is_a_locked_version(export: Path) -> None:
    assert set(pins(export).items()) <= locked()


def test_the_layer_has_every_runtime_dependency_but_the_server_and_the_cli() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    names = {canonicalize_name(re.split(r"[\[<>=~ ]", d)[0]) for d in project["dependencies"]}
    layer = set(pins(ROOT / "infra" / "layer" / "requirements.txt"))
    assert names - {"uvicorn", "rich"} <= layer
    assert {"uvicorn", "rich"} & layer == set()


def test_sniffio_is_installed_wherever_httpx_is() -> None:
    # httpcore tries `import sniffio` per request; a failed import costs a sys.path search.
    for export in (EXPORTS[0], EXPORTS[1], EXPORTS[3]):
        assert "sniffio" in pins(export), export.name
