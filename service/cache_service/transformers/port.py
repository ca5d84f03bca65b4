"""The transformer port: the slow, paid transformation the cache exists to avoid repeating.

Adapters: ``simulated`` (the default) and ``http`` (imported only when configured)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Transformer(Protocol):
    """Turns strings into their results, one call per batch. ``identity`` goes into every id."""

    @property
    def identity(self) -> str: ...

    async def transform(self, values: Sequence[str]) -> list[str]:
        """The results of ``values``, same length and order; one paid call."""
        ...

    async def aclose(self) -> None: ...
