"""The claim port: the durable store decides who does a unit of work, and keeps its result.

A record per unit of work (a string's transformation, a payload's output) is either
*claimed* by a random token until an expiry, or *completed* with its value. Claiming and
completing are conditional writes on that one record, so the store that holds the truth also
holds the right to make it: no second system can disagree with it.

A call that fails or is cut off may still have taken effect (an answer lost on the way back);
every call is safe to repeat with the same token, and the stores say so in their own words:
a re-claim of one's own claim is ``claimed``, a repeated completion is ``created`` again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What one claim call found for each key it was asked about."""

    completed: dict[str, str]
    claimed: frozenset[str]
    held: frozenset[str]


@dataclass(frozen=True, slots=True)
class Completion:
    """The value stored for each key after a completion, which keys this token's write stored,
    and on which keys this token's claim had lapsed: another token held or completed them, so
    the work may have been done twice."""

    stored: dict[str, str]
    created: frozenset[str]
    lapsed: frozenset[str] = frozenset()


class Claims(Protocol):
    """Conditional writes on claim records; every call is bounded in time by its adapter."""

    async def claim(self, keys: Sequence[str], token: str, ttl_s: float) -> ClaimResult:
        """Claim every key that has no value and no live claim of another token; report the
        others (``completed`` with their value, ``held`` by another token).

        A key already claimed by ``token`` itself is ``claimed`` again, its expiry pushed out:
        one rule for a repeated call. An expired claim is taken over: a crashed holder blocks
        its work for ``ttl_s`` at most. A call cut off by its caller takes no effect after it
        (the adapter undoes a claim that lands late).
        """
        ...

    async def renew(self, keys: Sequence[str], token: str, ttl_s: float) -> frozenset[str]:
        """Push the expiry of ``token``'s claims on ``keys`` out to ``ttl_s`` from now; the
        keys ``token`` no longer holds (taken over, or completed by another) are returned."""
        ...

    async def complete(
        self, items: Mapping[str, str], token: str, *, flush: bool = True
    ) -> Completion:
        """Store each value unless the key already has one; the first value stored wins.

        ``flush=False`` lets a store that flushes to disk per commit skip it: for values no id
        points at yet (a payload's strings), which the payload's own flushed commit carries.

        Not conditional on still holding the claim: a holder whose claim lapsed under a slow
        transformer still has a paid-for result, and any completed value is as good as another.
        Such keys are reported in ``lapsed``.
        """
        ...

    async def release(self, keys: Sequence[str], token: str) -> None:
        """Drop ``token``'s claims on ``keys`` (never someone else's), so waiters take over."""
        ...
