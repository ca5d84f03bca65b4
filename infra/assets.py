"""The Lambda assets' folders, built here: the layer from the lock, bytecode for Python 3.12.

The layer is installed from the lock's export (``infra/layer/requirements.txt``, hashed) with
uv, which picks wheels *and* evaluates environment markers for the function's platform and
Python, from any OS. Both assets then get bytecode from CPython 3.12 itself, with unchecked
hashes: ``/opt`` and ``/var/task`` are read-only, so without it every cold start compiles every
module again, and CDK zips assets with 1980 timestamps, which would make ordinary
(timestamp-checked) ``.pyc`` files stale. No CDK here: the local Lambda harness in
``tests/support`` builds the same folders with these functions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PYTHON_VERSION = "3.12"
# The python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34).
PLATFORMS = {"arm64": "aarch64-manylinux_2_34", "x86_64": "x86_64-manylinux_2_34"}
#: The function's package, inside the ``service/`` asset folder.
PACKAGE = "cache_service"
#: The layer asset's own folder (its requirements, and the script that slices botocore).
LAYER_SOURCE = Path(__file__).resolve().parent / "layer"
#: The AWS services the function calls: the only botocore data its clients need.
BOTOCORE_SERVICES = ("dynamodb",)


def compile_command(python: str, directory: str) -> list[str]:
    """Bytecode that Python trusts without looking at the source's timestamp or hash."""
    invalidation = ["--invalidation-mode", "unchecked-hash"]
    return [python, "-m", "compileall", "-q", "-j", "0", *invalidation, directory]


def layer_install_command(requirements: Path | str, target: str, architecture: str) -> list[str]:
    """The uv command that installs the layer's hashed requirements for Lambda into ``target``."""
    return [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "install",
        "--requirement",
        str(requirements),
        "--target",
        target,
        "--python-platform",
        PLATFORMS[architecture],
        "--python-version",
        PYTHON_VERSION,
        "--only-binary",
        ":all:",
        "--require-hashes",
        "--no-compile",
        "--quiet",
    ]


def target_python() -> str | None:
    """A CPython 3.12 that runs here (bytecode is specific to a Python version), or None.

    ``python3.12`` on PATH first; a pyenv shim there may still refuse to run when another
    version is selected, so every candidate is asked for its version.
    """
    candidates = [shutil.which(f"python{PYTHON_VERSION}")]
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        try:
            root = subprocess.run(  # noqa: S603 (pyenv's own path, fixed arguments)
                [pyenv, "root"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            root = ""
        if root:
            found = Path(root).glob(f"versions/{PYTHON_VERSION}*/bin/python{PYTHON_VERSION}")
            candidates += [str(path) for path in sorted(found, reverse=True)]
    for candidate in candidates:
        if candidate is not None and _is_target(candidate):
            return candidate
    return None


def _is_target(python: str) -> bool:
    check = "import sys; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run(  # noqa: S603 (an interpreter found above, fixed arguments)
            [python, "-c", check], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.stdout.strip() == PYTHON_VERSION


class BundlingFailed(Exception):
    """Local bundling could not produce the asset; CDK then tries Docker."""


def build_layer(requirements: Path, output_dir: Path, architecture: str, python: str) -> None:
    """The layer's contents in ``output_dir/python``, compiled for ``python``, with the slice
    of botocore's data the function's clients load (``infra/layer/botocore_subset.py``)."""
    target = output_dir / "python"  # layers put packages under python/
    _run(layer_install_command(requirements, str(target), architecture), "installing the layer")
    if (target / "botocore").is_dir():  # not in the runtime client's folder, built here too
        _run(botocore_subset_command(python, LAYER_SOURCE, str(target)), "slicing botocore")
    _run(compile_command(python, str(target)), "compiling the layer")


def botocore_subset_command(python: str, layer_source: Path | str, target: str) -> list[str]:
    """The command that writes the slice of botocore's data beside the installed botocore."""
    script = str(Path(layer_source) / "botocore_subset.py")
    return [python, script, target, *BOTOCORE_SERVICES]


def build_function(source: Path, output_dir: Path, python: str) -> None:
    """The function's package in ``output_dir``, without stale bytecode, compiled for ``python``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(source / PACKAGE, output_dir / PACKAGE, ignore=ignore, dirs_exist_ok=True)
    _run(compile_command(python, str(output_dir)), "compiling the function")


def _run(command: list[str], what: str) -> None:
    try:
        # Fixed arguments: an interpreter found here, our files, CDK's output directory.
        subprocess.run(command, check=True, timeout=900)  # noqa: S603
    except (OSError, subprocess.SubprocessError) as exc:
        raise BundlingFailed(f"{what} failed: {exc}") from exc
