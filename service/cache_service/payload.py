"""The domain: canonical ids and the interleaved output."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

# Bump a scheme tag only when the encoding itself changes: it changes every id.
_PAYLOAD_SCHEME = "cache-service/payload/v1"
_STRING_SCHEME = "cache-service/string/v1"
SEPARATOR = ", "


# A JSON array of JSON strings is unambiguous: quotes and escapes delimit every element, so
# ["a","b"] and ["a,b"] differ. ensure_ascii keeps the bytes independent of the platform and
# lets lone surrogates through without an encoding error. One encoder for the process:
# json.dumps with options builds a new one on every call.
_canonical = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _digest(parts: list[object]) -> str:
    return hashlib.sha256(_canonical(parts).encode("ascii")).hexdigest()


def payload_id(transformer_id: str, list_1: Sequence[str], list_2: Sequence[str]) -> str:
    """The id of a payload: SHA-256 of the transformer identity and both lists, in order."""
    return _digest([_PAYLOAD_SCHEME, transformer_id, list(list_1), list(list_2)])


def string_key(transformer_id: str, value: str) -> str:
    """The id of one string's transformation, shared by every payload that contains it."""
    return _digest([_STRING_SCHEME, transformer_id, value])


def interleave(list_1: Sequence[str], list_2: Sequence[str]) -> list[str]:
    """list_1[0], list_2[0], list_1[1], list_2[1], ...; the lists have equal length."""
    if len(list_1) != len(list_2):
        raise ValueError("lists must have equal length")
    return [item for pair in zip(list_1, list_2, strict=True) for item in pair]


def render(list_1: Sequence[str], list_2: Sequence[str]) -> str:
    """The output string from already transformed lists."""
    return SEPARATOR.join(interleave(list_1, list_2))


def utf8_size(value: str) -> int:
    """Bytes of ``value`` in UTF-8: what the output bounds count (no copy for ASCII)."""
    # isascii() reads a flag CPython keeps, so the common case costs nothing.
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
