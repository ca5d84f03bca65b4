"""How a value sits in DynamoDB items: inline when small, compressed and split when not.

An item is at most 400 KB, and an output may be larger (a 1 MiB body gives about 1 MiB of
output), so a large value is zlib-compressed and split over part items named by the digest of
the compressed bytes; the head item, completed last, is what makes the value exist.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .table import PARTITION_KEY

# The largest value kept inline; item attributes and names must fit beside it in 400 KB.
INLINE_BYTES = 300_000
PART_BYTES = 300_000
VALUE, PARTS, DIGEST = "value", "parts", "digest"


def encode(value: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The head's value attributes, and the part items to write before the head."""
    encoded = value.encode()
    if len(encoded) <= INLINE_BYTES:
        return {VALUE: {"S": value}}, []
    packed = zlib.compress(encoded)
    digest = hashlib.sha256(packed).hexdigest()
    chunks = [packed[i : i + PART_BYTES] for i in range(0, len(packed), PART_BYTES)]
    parts = [
        {PARTITION_KEY: {"S": part_key(digest, index)}, "chunk": {"B": chunk}}
        for index, chunk in enumerate(chunks)
    ]
    return {PARTS: {"N": str(len(chunks))}, DIGEST: {"S": digest}}, parts


def is_completed(item: Mapping[str, Any]) -> bool:
    """Whether an item holds a value (inline or split), as opposed to a claim."""
    return VALUE in item or PARTS in item


def decode(
    items: Sequence[Mapping[str, Any]],
    read_parts: Callable[[list[str]], dict[str, bytes]],
) -> tuple[dict[str, str], dict[str, str]]:
    """The values of completed head items by key, and the keys whose parts are missing or
    damaged, with why; ``read_parts`` fetches part chunks by name."""
    damaged: dict[str, str] = {}
    found: dict[str, str] = {}
    split: dict[str, tuple[str, int]] = {}
    for item in items:
        key = item[PARTITION_KEY]["S"]
        if VALUE in item:
            found[key] = item[VALUE]["S"]
        elif PARTS in item:
            split[key] = (item[DIGEST]["S"], int(item[PARTS]["N"]))
    if split:
        parts = read_parts([part_key(d, i) for d, n in split.values() for i in range(n)])
        for key, (digest, count) in split.items():
            try:
                packed = b"".join(parts[part_key(digest, i)] for i in range(count))
                if hashlib.sha256(packed).hexdigest() != digest:
                    damaged[key] = "its parts do not match their digest"
                    continue
                found[key] = zlib.decompress(packed).decode()
            except KeyError as exc:
                damaged[key] = f"part {exc.args[0]} is missing"
            except (zlib.error, UnicodeDecodeError) as exc:
                damaged[key] = f"its parts do not decode: {exc!r}"
    return found, damaged


def part_key(digest: str, index: int) -> str:
    return f"part#{digest}#{index}"
