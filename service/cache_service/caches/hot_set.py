"""The hot set: which payloads are read most, shared in Redis, for ``cache-service warm --hot``.

Recording is a dict update per read; counts reach Redis in batches (``flush``), one script
call per flush. Old counts decay by generations of ``generation_s``: each generation is one
sorted set, and the reader weighs the previous one by the share of the current one still to
come (a sliding window). Every bound is explicit: distinct ids pending a flush, members per
generation in Redis and in the process, and keys (two generations, each a sorted set and an
epoch, all in one hash slot so a cluster can run the scripts).

A FLUSHALL, a failover or an eviction loses the counts with the data. Each generation's set
has an epoch (a random token, written when the set is created); a process remembers the
epoch its own counts went into, and when the epoch it finds is not its own it writes its
whole count for the generation instead of the new reads. So every live process puts back
what it counted within one flush. If every process died too, the hot set starts empty.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis, RedisCluster

from ..breaker import CircuitOpen
from ..redis_connection import RedisConnection

log = logging.getLogger(__name__)

#: Counts decay over two of these: a read weighs fully for one generation, then fades out.
GENERATION_S = 3600
#: Keys outlive the window they serve by this much, so a late reader still finds them.
_EXPIRY_MARGIN_S = 600

# The counts travel as one JSON object ({id: count}) that the script decodes: as 20,000
# arguments, redis-py's packing of a 10,000-id flush took 100-250 ms of the event loop's time
# (cProfile), time every request on the process waited for.

# Adds this flush's reads to the current generation if the process's counts are still there
# (the set exists and carries the epoch the process wrote into); trims it to its size.
# Returns {current epoch is ours, previous epoch is ours or we have nothing there}.
# KEYS: counts, epoch, previous epoch. ARGV: our epoch, our previous epoch ('' when we have
# no counts there), expire-at, size, the reads.
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
local here = redis.call('GET', KEYS[2]) == ARGV[1]
local before = ARGV[2] == '' or redis.call('GET', KEYS[3]) == ARGV[2]
if here and ARGV[5] ~= '{}' then
  for id, n in pairs(cjson.decode(ARGV[5])) do redis.call('ZINCRBY', KEYS[1], n, id) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[4]) - 1)
  redis.call('EXPIREAT', KEYS[1], ARGV[3])
end
return {here and 1 or 0, before and 1 or 0}
"""

# Adds a process's whole count for a generation to whatever epoch is there (making one when
# none is) and returns that epoch: the process's counts are in it from now on.
# KEYS: counts, epoch. ARGV: a new epoch, expire-at, size, the counts.
_SEED = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
redis.call('EXPIREAT', KEYS[2], ARGV[2])
for id, n in pairs(cjson.decode(ARGV[4])) do redis.call('ZINCRBY', KEYS[1], n, id) end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return epoch
"""


class HotSet:
    """``ReadRecorder`` that counts in the process and flushes to Redis; reads the top ids.

    ``size`` bounds the members of a generation (in Redis, and this process's own count,
    trimmed back to ``size`` once it passes twice that); ``max_pending`` bounds the distinct
    ids waiting for a flush: past it a new id is dropped and counted, and the flush comes
    early. ``clock`` is wall time (generations are the same in every process).
    """

    def __init__(
        self,
        connection: RedisConnection,
        *,
        prefix: str,
        size: int,
        flush_s: float,
        max_pending: int | None = None,
        generation_s: int = GENERATION_S,
        clock: Callable[[], float] = time.time,
        on_flush: Callable[[bool, int], None] = lambda ok, dropped: None,
    ) -> None:
        self._connection = connection
        # One hash tag for every key, the prefix inside it: two services on one cluster keep
        # apart, and one script may touch all of a generation's keys.
        self._tag = f"{{{prefix}hot}}"
        self._size = size
        self._flush_s = flush_s
        self._max_pending = size if max_pending is None else max_pending
        self._generation_s = generation_s
        self._clock = clock
        self._on_flush = on_flush
        self._pending: dict[str, int] = {}
        self._dropped = 0
        self._full = asyncio.Event()
        # This process's own counts and the epoch they went into, by generation (two at most).
        self._counts: dict[int, dict[str, int]] = {}
        self._epochs: dict[int, str] = {}
        self._flushed_at = clock()
        self._flushing = asyncio.Lock()
        self._failing = False

    def record(self, id_: str) -> None:
        """Count one read of ``id_``: the hit path's whole cost."""
        pending = self._pending
        try:
            pending[id_] += 1
        except KeyError:
            if len(pending) < self._max_pending:
                pending[id_] = 1
            else:
                self._dropped += 1
                self._full.set()

    def due(self) -> bool:
        """Whether a flush is due: ``flush_s`` since the last one, or reads were dropped."""
        return self._dropped > 0 or self._clock() - self._flushed_at >= self._flush_s

    async def run(self) -> None:
        """Flush every ``flush_s`` (at once when reads are being dropped) until cancelled."""
        while True:
            try:
                async with asyncio.timeout(self._flush_s):
                    await self._full.wait()
            except TimeoutError:
                pass
            self._full.clear()
            # Shielded: cancelling the loop at shutdown must not lose a flush under way (its
            # reads are out of ``pending`` by then); ``aclose`` waits for it, then sends the rest.
            await asyncio.shield(self.flush())

    async def flush(self) -> bool:
        """Send the reads counted since the last flush; False when Redis failed.

        A failed flush keeps its reads for the next one (within ``max_pending``), logs once
        per outage, and never raises.
        """
        async with self._flushing:
            now = self._clock()
            self._flushed_at = now
            generation = int(now // self._generation_s)
            reads, self._pending = self._pending, {}
            dropped, self._dropped = self._dropped, 0
            for old in [g for g in self._counts if g < generation - 1]:
                del self._counts[old]
                self._epochs.pop(old, None)
            counts = self._counts.setdefault(generation, {})
            _merge(counts, reads)
            sent = False  # Whether the reads are in Redis: then a failure keeps nothing.
            try:
                here, before = await self._add(generation, reads)
                sent = here
                if not before:
                    self._epochs[generation - 1] = await self._seed(generation - 1)
                if not here and counts:
                    self._epochs[generation] = await self._seed(generation)
                    sent = True
            except Exception as exc:
                if not sent:  # Taken back, for the next flush to send.
                    _unmerge(counts, reads)
                    self._keep(reads)
                self._failed(exc)
                self._on_flush(False, dropped)
                return False
            if len(counts) > 2 * self._size:
                self._counts[generation] = _top(counts, self._size)
            if self._failing:
                self._failing = False
                log.warning("hot set: flushing to Redis again")
            self._on_flush(True, dropped)
            return True

    async def top(self, n: int) -> list[tuple[str, float]]:
        """The ``n`` most-read ids and their weights, the previous generation fading out."""
        now = self._clock()
        generation = int(now // self._generation_s)
        # The previous generation counts for the part of the window it still covers.
        weight = 1 - (now - generation * self._generation_s) / self._generation_s
        here, before = self._key(generation), self._key(generation - 1)

        async def read(client: Redis | RedisCluster) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            pipe.zrevrange(here, 0, -1, withscores=True)
            pipe.zrevrange(before, 0, -1, withscores=True)
            return await pipe.execute()

        current, previous = await self._connection.call(read)
        scores: dict[str, float] = {}
        for member, score in previous:
            scores[_text(member)] = weight * score
        for member, score in current:
            id_ = _text(member)
            scores[id_] = scores.get(id_, 0.0) + score
        return heapq.nsmallest(n, scores.items(), key=lambda item: (-item[1], item[0]))

    async def aclose(self) -> None:
        """Send what is left (on shutdown). The connection is the Redis tier's to close."""
        if self._pending or self._dropped:
            await self.flush()

    async def _add(self, generation: int, reads: Mapping[str, int]) -> tuple[bool, bool]:
        """Add ``reads`` where our counts still are. Whether our counts are in the current
        generation's set (the reads were added) and in the previous one's."""
        earlier = self._counts.get(generation - 1)
        if not self._counts[generation] and not earlier:
            return True, True
        expire_at = (generation + 2) * self._generation_s + _EXPIRY_MARGIN_S
        # Counts of ours whose epoch we never learnt must be written: '-' matches none.
        ours_before = self._epochs.get(generation - 1, "-") if earlier else ""
        keys = [self._key(generation), self._epoch_key(generation), self._epoch_key(generation - 1)]
        args: list[str | int] = [self._epochs.get(generation, ""), ours_before, expire_at]
        args += [self._size, _json(reads)]
        here, before = await self._connection.call(lambda c: c.eval(_ADD, 3, *keys, *args))
        return bool(here), bool(before)

    async def _seed(self, generation: int) -> str:
        """Write our whole count for ``generation``; the epoch it is now in."""
        keys = [self._key(generation), self._epoch_key(generation)]
        expire_at = (generation + 2) * self._generation_s + _EXPIRY_MARGIN_S
        counts = self._counts[generation]
        args: list[str | int] = [secrets.token_hex(8), expire_at, self._size, _json(counts)]
        epoch = await self._connection.call(lambda c: c.eval(_SEED, 2, *keys, *args))
        return _text(epoch)

    def _keep(self, reads: Mapping[str, int]) -> None:
        """Put reads back for the next flush, within ``max_pending`` (the rest are dropped)."""
        pending = self._pending
        for id_, n in reads.items():
            if id_ in pending or len(pending) < self._max_pending:
                pending[id_] = pending.get(id_, 0) + n
            else:
                self._dropped += n

    def _failed(self, exc: Exception) -> None:
        if self._failing:
            return
        self._failing = True
        if isinstance(exc, CircuitOpen):
            return  # The breaker logged the failure that opened it.
        log.warning(
            "hot set: flush to Redis failed (%r); read counts are kept (up to %d ids) and sent "
            "again every %gs",
            exc,
            self._max_pending,
            self._flush_s,
        )

    def _key(self, generation: int) -> str:
        return f"{self._tag}:{generation}"

    def _epoch_key(self, generation: int) -> str:
        return f"{self._tag}:{generation}:epoch"


def _merge(counts: dict[str, int], reads: Mapping[str, int]) -> None:
    for id_, n in reads.items():
        counts[id_] = counts.get(id_, 0) + n


def _unmerge(counts: dict[str, int], reads: Mapping[str, int]) -> None:
    for id_, n in reads.items():
        left = counts.get(id_, 0) - n
        if left > 0:
            counts[id_] = left
        else:
            counts.pop(id_, None)


def _top(counts: Mapping[str, int], n: int) -> dict[str, int]:
    return dict(heapq.nlargest(n, counts.items(), key=lambda item: item[1]))


def _json(counts: Mapping[str, int]) -> str:
    return json.dumps(counts, separators=(",", ":"))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
