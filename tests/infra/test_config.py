"""Context becomes a typed config; bad values stop synth with the key's name."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.config import ConfigError, ServiceConfig


def _config(**context: object) -> ServiceConfig:
    return ServiceConfig.from_context(App(context=context).node)


def test_no_context_gives_the_defaults() -> None:
    assert _config() == ServiceConfig()


def test_string_context_values_are_coerced_to_the_field_types() -> None:
    config = _config(
        memory_mb="2048", retain_data="false", claim_wait_s="15", reserved_concurrency="3"
    )
    assert (config.memory_mb, config.retain_data, config.claim_wait_s) == (2048, False, 15.0)
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
        ("warm_timeout_s", "901"),
        ("warm_max_concurrency", "1"),
        ("warm_schedule", "every 15 minutes"),
        ("warm_schedule", "rate(1 minutes)"),
        ("warm_schedule", "rate(0 minutes)"),
        ("warm_hot", "0"),
        ("warm_hot", "-5"),
        ("warm_hot", "many"),
        ("provisioned_concurrency", "many"),
    ],
)
def test_out_of_range_context_names_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        _config(**{key: value})


def test_the_warm_schedule_takes_eventbridge_rates_and_crons() -> None:
    for expression in ("rate(1 hour)", "rate(15 minutes)", "cron(0 3 * * ? *)"):
        assert _config(warm_schedule=expression).warm_schedule == expression


def test_a_claim_that_outlives_the_wait_stops_synth() -> None:
    # A waiter behind a holder cut off by the timeout could never take the work over.
    with pytest.raises(ConfigError, match=r"claim_ttl_s.*below claim_wait_s"):
        _config(claim_ttl_s="20", claim_wait_s="20")


def test_an_external_transformer_without_a_nat_gateway_stops_synth() -> None:
    with pytest.raises(ConfigError, match="nat_gateways"):
        _config(transformer_url="https://transformer.example.com/t")


def test_snapstart_is_on_by_default_and_provisioned_concurrency_unset() -> None:
    assert (ServiceConfig().snapstart, ServiceConfig().provisioned_concurrency) == (True, None)


def test_snapstart_and_provisioned_concurrency_together_stop_synth() -> None:
    with pytest.raises(ConfigError, match="provisioned_concurrency") as raised:
        _config(provisioned_concurrency="2")
    assert "snapstart" in str(raised.value)
    config = _config(snapstart="false", provisioned_concurrency="2")
    assert (config.snapstart, config.provisioned_concurrency) == (False, 2)
    with pytest.raises(ConfigError, match="provisioned_concurrency"):
        _config(snapstart="false", provisioned_concurrency="0")
