"""``cache-cli --api-key`` against a service that requires one (the same header API Gateway's
usage plans read)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import run_cli
from tests.support.processes import ServiceProcess

KEY = "cli-key-0123456789abcdef"
PAYLOAD = json.dumps({"list_1": ["cli"], "list_2": ["key"]})


def test_the_key_is_sent_and_a_missing_one_is_a_failed_run(tmp_path: Path) -> None:
    env = {"CACHE_STORE": "memory", "CACHE_TRANSFORMER_DELAY_MS": "0", "CACHE_API_KEYS": KEY}
    with ServiceProcess(env=env, workdir=tmp_path) as service:
        with_key = run_cli("-h", service.url, "-j", PAYLOAD, "-r", "2", "--api-key", KEY)
        without = run_cli("-h", service.url, "-j", PAYLOAD, "-r", "1")
        from_env = run_cli(
            "-h", service.url, "-j", PAYLOAD, "-r", "1", env={"CACHE_CLI_API_KEY": KEY}
        )

    assert with_key.code == 0, with_key.err
    assert from_env.code == 0, from_env.err
    assert without.code == 1
    assert "401" in without.out + without.err
    assert KEY not in with_key.out + with_key.err
