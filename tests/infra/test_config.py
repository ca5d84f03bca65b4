"""Context becomes a typed config; bad values stop synth with the key's name."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from aws_cdk import App

from infra.bundling import layer_bundling, pip_command
from infra.config import ConfigError, ServiceConfig

ROOT = Path(__file__).resolve().parents[2]


def _config(**context: object) -> ServiceConfig:
    return ServiceConfig.from_context(App(context=context).node)


def test_no_context_gives_the_defaults() -> None:
    assert _config() == ServiceConfig()


def test_string_context_values_are_coerced_to_the_field_types() -> None:
    config = _config(
        memory_mb="2048", retain_data="false", claim_wait_s="5", reserved_concurrency="3"
    )
    assert (config.memory_mb, config.retain_data, config.claim_wait_s) == (2048, False, 5.0)
    assert config.reserved_concurrency == 3


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("engine", "memcached"),
        ("architecture", "ppc64"),
        ("cache_ttl_s", "61"),
        ("cache_ttl_s", "-1"),
        ("alarm_email", "nobody"),
        ("alarm_p99_latency_ms", "0"),
        ("timeout_s", "60"),
        ("claim_wait_s", "40"),
        ("claim_ttl_s", "30"),
        ("cache_cluster_size", "2"),
        ("memory_mb", "many"),
        ("log_retention_days", "10"),
        ("nat_gateways", "3"),
    ],
)
def test_out_of_range_context_names_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        _config(**{key: value})


def test_layer_is_built_from_wheels_for_the_function_platform() -> None:
    command = pip_command("requirements.txt", "out", "arm64")
    assert command[command.index("--platform") + 1] == "manylinux2014_aarch64"
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in command


def test_x86_64_layer_uses_x86_64_wheels() -> None:
    command = pip_command("requirements.txt", "out", "x86_64")
    assert command[command.index("--platform") + 1] == "manylinux2014_x86_64"


def test_docker_fallback_runs_on_the_host_platform_and_fetches_the_function_wheels() -> None:
    # Pinning the container to the function's CPU would need emulation on any other host;
    # pip's --platform is what makes the wheels the function's.
    options = layer_bundling(Path("requirements.txt"), "x86_64")
    assert options.platform is None
    assert options.command is not None
    assert "--platform manylinux2014_x86_64" in options.command[-1]


def _layer_pins() -> dict[str, str]:
    lines = (ROOT / "infra" / "layer" / "requirements.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {name.lower(): version for name, version in pins}


def test_layer_pins_are_the_versions_the_tests_run_against() -> None:
    for name, version in _layer_pins().items():
        assert metadata.version(name) == version, name


def test_layer_has_every_runtime_dependency_but_the_server_and_the_cli() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[<>=~ ]", spec)[0].lower() for spec in project["dependencies"]}
    assert names - {"uvicorn", "rich"} <= set(_layer_pins())


def test_an_external_transformer_without_a_nat_gateway_stops_synth() -> None:
    with pytest.raises(ConfigError, match="nat_gateways"):
        _config(transformer_url="https://transformer.example.com/t")
