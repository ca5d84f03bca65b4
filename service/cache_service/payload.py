"""The domain: canonical ids and the interleaved output."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from .errors import TransformerOutputTooLarge

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


class OutputSize:
    """The UTF-8 size of one payload's output, counted as its strings arrive.

    Counting before rendering means a payload that would be too large is refused without
    building it, and without paying for the calls that remain once the bound is passed.
    """

    def __init__(self, bound: int, counts: Mapping[str, int]) -> None:
        self._bound = bound
        self._counts = counts
        self._counted: set[str] = set()
        self._bytes = len(SEPARATOR) * (sum(counts.values()) - 1)

    def add(self, results: Mapping[str, str]) -> None:
        """Count the outputs not counted yet, each as often as the output repeats it."""
        for value, output in results.items():
            if value not in self._counted:
                self._counted.add(value)
                self._bytes += utf8_size(output) * self._counts[value]

    def check(self) -> None:
        """Raise once the output counted so far is over the bound."""
        if self._bytes > self._bound:
            raise output_too_large(self._bound)


def output_too_large(bound: int) -> TransformerOutputTooLarge:
    """The failure of a payload whose output would pass ``bound`` bytes (a 502 on the API)."""
    return TransformerOutputTooLarge(
        f"the payload's output would be more than CACHE_MAX_OUTPUT_BYTES_PER_PAYLOAD "
        f"({bound}) bytes"
    )
