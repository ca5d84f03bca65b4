"""Reading payloads: one JSON object, or JSON Lines of many, from a flag, a file or stdin."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .errors import InputError

Payload = dict[str, Any]


def read_payloads(*, input_path: str | None, json_text: str | None) -> list[Payload]:
    """The payloads to send, in order; ``input_path`` ``-`` is stdin."""
    if json_text is not None:
        return parse_payloads(json_text, source="-j/--json")
    assert input_path is not None
    return parse_payloads(_read_text(input_path), source=_source_name(input_path))


def parse_payloads(text: str, *, source: str) -> list[Payload]:
    """One JSON object, else one object per non-blank line (JSON Lines)."""
    if not text.strip():
        raise InputError(f"{source}: no payload (empty input)")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as error:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise InputError(f"{source}: invalid JSON: {error}") from None
        return [_parse_line(line, source, number) for number, line in _numbered(text)]
    return [_require_object(whole, source)]


def with_suffix(payload: Payload, suffix: str, *, flag: str) -> Payload:
    """A copy whose first ``list_1`` string ends with ``suffix``: a payload the cache lacks."""
    strings = payload.get("list_1")
    if not isinstance(strings, list) or not strings or not isinstance(strings[0], str):
        raise InputError(f"{flag} needs payloads whose list_1 starts with a string")
    return {**payload, "list_1": [strings[0] + suffix, *strings[1:]]}


def payload_key(payload: Payload) -> str:
    """The same text for equal payloads, whatever their key order."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise InputError(f"cannot read {path}: {reason}") from None


def _source_name(path: str) -> str:
    return "stdin" if path == "-" else path


def _numbered(text: str) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _parse_line(line: str, source: str, number: int) -> Payload:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"{source}:{number}: invalid JSON: {error}") from None
    return _require_object(value, f"{source}:{number}")


def _require_object(value: object, source: str) -> Payload:
    if not isinstance(value, dict):
        raise InputError(f"{source}: a payload must be a JSON object, got {type(value).__name__}")
    return value
