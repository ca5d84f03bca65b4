"""The durable-store port: the source of truth, and the claims on the work not done yet.

Every read is batched because one payload needs many per-string lookups: a remote store must
answer them in one round trip, not one per string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..coordination.claims import Claims


class DurableStore(Claims, Protocol):
    """The source of truth: completed values, and the claims on the ones being made."""

    name: str

    async def get_many(self, keys: Sequence[str], *, consistent: bool = False) -> dict[str, str]:
        """The completed values among ``keys``; ``consistent`` asks for read-after-write."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot be reached now."""
        ...

    async def aclose(self) -> None: ...
