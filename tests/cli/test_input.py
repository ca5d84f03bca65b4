"""Where payloads come from: -j, a file with one payload or JSON Lines, or stdin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cache_cli.errors import InputError
from cache_cli.payloads import parse_payloads
from tests.cli.conftest import fresh_payload, run_cli
from tests.support.processes import ServiceProcess


def test_an_input_file_with_one_payload_sends_it(
    cli: Any, service: ServiceProcess, tmp_path: Path
) -> None:
    file = tmp_path / "payload.json"
    file.write_text(json.dumps(fresh_payload(), indent=2))  # Pretty-printed is one payload.
    outcome = cli("-h", service.url, "-i", str(file), "--format", "json")
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["payloads"] == 1


def test_a_json_lines_file_sends_every_payload_each_repeat(
    cli: Any, service: ServiceProcess, tmp_path: Path
) -> None:
    file = tmp_path / "payloads.jsonl"
    file.write_text("\n".join(json.dumps(fresh_payload()) for _ in range(3)) + "\n\n")
    outcome = cli("-h", service.url, "-i", str(file), "-r", "2", "--format", "json")
    summary = json.loads(outcome.out)
    assert (summary["payloads"], summary["distinct_ids"]) == (3, 3)
    post = summary["endpoints"]["POST /payload"]
    assert (post["requests"], post["misses"]) == (6, 3)


def test_input_dash_reads_stdin(service: ServiceProcess) -> None:
    stdin = json.dumps(fresh_payload()) + "\n" + json.dumps(fresh_payload()) + "\n"
    outcome = run_cli("-h", service.url, "-i", "-", "--format", "json", stdin=stdin)
    assert outcome.code == 0, outcome.err
    assert json.loads(outcome.out)["distinct_ids"] == 2


def test_a_bad_json_line_is_named_by_its_number() -> None:
    with pytest.raises(InputError, match=r"payloads.jsonl:3: invalid JSON"):
        parse_payloads('{"a": 1}\n{"b": 2}\n{oops}\n', source="payloads.jsonl")


def test_a_payload_must_be_a_json_object() -> None:
    with pytest.raises(InputError, match="must be a JSON object, got list"):
        parse_payloads("[1, 2]", source="-j/--json")


def test_empty_input_is_an_input_error(cli: Any) -> None:
    outcome = cli("-j", "  ")
    assert outcome.code == 2
    assert "no payload" in outcome.err
