"""What a run sends, in which order: every payload once, then the repeats, made as they are used.

The first round runs alone so that first (miss) calls are measured without the repeats' load.
Iterations are generated, never listed, so a 30-minute run holds no more than a short one.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .payloads import Payload, payload_key, with_suffix


@dataclass(frozen=True, slots=True)
class Iteration:
    """One POST (and GET) of one payload."""

    number: int
    payload: int  # Its position in the input.
    key: str | None  # Its canonical text when it is sent again; None when sent once (--unique).
    request: bytes  # The POST as it goes on the wire.


class Plan:
    """The iterations of a run: ``repeat`` rounds, or rounds without end for a timed run."""

    def __init__(
        self,
        payloads: list[Payload],
        encode_post: Callable[[bytes], bytes],
        *,
        repeat: int | None,
        unique: bool = False,
        fresh: bool = False,
    ) -> None:
        # One token per run: --unique and --fresh payloads miss again on the next run.
        self.token = secrets.token_hex(4)
        self._encode_post = encode_post
        self._repeat = repeat
        self._unique = unique
        self._payloads = payloads
        if fresh:
            payloads = [with_suffix(p, f" #{self.token}", flag="--fresh") for p in payloads]
        elif unique:
            for payload in payloads:  # Checked before the run, not at its first repeat.
                with_suffix(payload, "", flag="--unique")
        self._prepared = [(payload_key(p), encode_post(_encode(p))) for p in payloads]

    def first_round(self) -> Iterator[Iteration]:
        """Every payload once."""
        return self._rounds(0, 1)

    def later_rounds(self) -> Iterator[Iteration]:
        """The repeats, round after round, until ``repeat`` rounds in all or without end."""
        return self._rounds(1, self._repeat)

    def _rounds(self, first: int, end: int | None) -> Iterator[Iteration]:
        rounds = itertools.count(first) if end is None else range(first, end)
        count = len(self._prepared)
        for round_ in rounds:
            for index, (key, request) in enumerate(self._prepared):
                number = round_ * count + index
                if self._unique:
                    varied = with_suffix(
                        self._payloads[index], f" #{self.token}-{round_}", flag="--unique"
                    )
                    yield Iteration(number, index, None, self._encode_post(_encode(varied)))
                else:
                    yield Iteration(number, index, key, request)


def _encode(payload: Payload) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
