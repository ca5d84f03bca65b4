"""The cache-tier port: what the read path needs from a tier that may forget.

Every operation is batched because one payload needs many per-string lookups: a remote tier
must answer them in one round trip, not one per string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class CacheTier(Protocol):
    """A tier that may forget: losing an entry costs time, never correctness."""

    name: str

    async def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The entries present among ``keys``; absent keys are simply missing."""
        ...

    async def set_many(self, items: Mapping[str, str]) -> None:
        """Remember ``items``; values for a key never change, so last write wins is fine."""
        ...

    async def ping(self) -> None:
        """Raise if the tier cannot be reached now."""
        ...

    async def aclose(self) -> None: ...
