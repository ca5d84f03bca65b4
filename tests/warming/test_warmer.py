"""The warm worker, in process, over SQLite and a counting HTTP transformer.

The transformer server counts every string it is sent and every call, so exactly-once and
batching are checked by counting, never by timing.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cache_service.app import Components, build_components
from cache_service.http.contract import PayloadLimits
from cache_service.settings import Settings
from cache_service.warming.lines import Judged, Line, LineJudge
from cache_service.warming.warmer import Outcome, Status, Totals, build_warmer
from tests.support.transformer_server import TransformerServer

BATCH = 10


def pool_payloads(count: int, pool: int, width: int = 4) -> list[dict[str, list[str]]]:
    """``count`` payloads of ``width`` + ``width`` strings that share strings of a ``pool``."""
    words = [f"word {i}" for i in range(pool)]
    return [
        {
            "list_1": [words[(i * 7 + j) % pool] for j in range(width)],
            "list_2": [words[(i * 13 + j + 3) % pool] for j in range(width)],
        }
        for i in range(count)
    ]


def distinct(bodies: list[dict[str, list[str]]]) -> set[str]:
    return {s for body in bodies for s in body["list_1"] + body["list_2"]}


def settings_for(tmp_path: Path, transformer: TransformerServer, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "store": "sqlite",
        "sqlite_path": tmp_path / "cache.db",
        "transformer_url": transformer.url,
        "transformer_batch_size": BATCH,
        "transformer_concurrency": 4,
        "max_items": 50,
        **extra,
    }
    return Settings(**values)


class Run:
    """One warm run's outcomes and totals."""

    def __init__(self, outcomes: list[Outcome], totals: Totals) -> None:
        self.outcomes = outcomes
        self.totals = totals

    def by_line(self) -> dict[int, Outcome]:
        return {outcome.line: outcome for outcome in self.outcomes}

    def statuses(self) -> list[Status]:
        return [outcome.status for outcome in sorted(self.outcomes, key=lambda o: o.line)]


async def warm(
    settings: Settings,
    lines: list[str],
    *,
    window: int = 1000,
    chunk: int = 7,
    deadline_in_s: float | None = None,
) -> tuple[Run, Components]:
    """Warm ``lines`` in chunks of ``chunk``; the components stay open for the test to read."""
    components = build_components(settings)
    judge = LineJudge(
        PayloadLimits(settings.max_items, settings.max_string_length),
        max_bytes=settings.max_body_bytes,
    )

    def numbered() -> Iterator[Line]:
        for number, text in enumerate(lines, start=1):
            yield Line(number, text.encode())

    async def chunks() -> AsyncIterator[list[Judged]]:
        judged = [judge.judge(line) for line in numbered()]
        for start in range(0, len(judged), chunk):
            yield judged[start : start + chunk]

    outcomes: list[Outcome] = []
    loop = asyncio.get_running_loop()
    deadline = None if deadline_in_s is None else loop.time() + deadline_in_s
    warmer = build_warmer(components, window=window)
    totals = await warmer.run(chunks(), outcomes.append, deadline=deadline)
    return Run(outcomes, totals), components


async def warm_and_close(settings: Settings, lines: list[str], **options: Any) -> Run:
    run, components = await warm(settings, lines, **options)
    await components.aclose()
    return run


def as_lines(bodies: list[dict[str, list[str]]]) -> list[str]:
    return [json.dumps(body) for body in bodies]


async def test_each_distinct_string_is_transformed_once_in_full_batches(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    bodies = pool_payloads(60, pool=95)
    strings = distinct(bodies)

    run = await warm_and_close(settings_for(tmp_path, transformer_server), as_lines(bodies))

    assert dict(transformer_server.calls) == dict.fromkeys(strings, 1)
    assert transformer_server.requests == math.ceil(len(strings) / BATCH)
    assert run.totals.strings_transformed == len(strings)
    assert run.totals.transformer_requests == transformer_server.requests


async def test_every_line_is_created_under_the_id_and_output_the_api_gives(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    bodies = pool_payloads(20, pool=30)
    run, components = await warm(settings_for(tmp_path, transformer_server), as_lines(bodies))
    try:
        assert run.statuses() == [Status.CREATED] * len(bodies)
        for number, body in enumerate(bodies, start=1):
            outcome = run.by_line()[number]
            assert outcome.id == components.service.id_for(body["list_1"], body["list_2"])
            result = await components.service.fetch(outcome.id)
            assert result is not None
            pairs = zip(body["list_1"], body["list_2"], strict=True)
            assert result.output == ", ".join(s.upper() for pair in pairs for s in pair)
    finally:
        await components.aclose()


async def test_a_rerun_finds_everything_present_and_calls_nothing(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    settings = settings_for(tmp_path, transformer_server)
    lines = as_lines(pool_payloads(30, pool=40))
    await warm_and_close(settings, lines)
    transformer_server.reset()

    rerun = await warm_and_close(settings, lines)

    assert rerun.statuses() == [Status.PRESENT] * len(lines)
    assert transformer_server.requests == 0


async def test_payloads_whose_strings_are_stored_are_created_without_a_call(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    settings = settings_for(tmp_path, transformer_server)
    await warm_and_close(settings, [json.dumps({"list_1": ["a", "b"], "list_2": ["c", "d"]})])
    transformer_server.reset()

    run = await warm_and_close(settings, [json.dumps({"list_1": ["d", "c"], "list_2": ["b", "a"]})])

    assert run.statuses() == [Status.CREATED]
    assert transformer_server.requests == 0


async def test_a_window_smaller_than_the_file_still_warms_every_line_once(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    bodies = pool_payloads(40, pool=70)

    run = await warm_and_close(
        settings_for(tmp_path, transformer_server), as_lines(bodies), window=3, chunk=2
    )

    assert run.statuses() == [Status.CREATED] * len(bodies)
    assert dict(transformer_server.calls) == dict.fromkeys(distinct(bodies), 1)


async def test_invalid_lines_get_the_apis_reason_and_the_others_are_stored(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    lines = [
        json.dumps({"list_1": ["a"], "list_2": ["b"]}),
        "not json",
        json.dumps({"list_1": ["a", "b"], "list_2": ["c"]}),
        json.dumps({"list_1": ["x"] * 51, "list_2": ["y"] * 51}),
        json.dumps({"list_1": ["c"], "list_2": ["d"]}),
    ]

    run = await warm_and_close(settings_for(tmp_path, transformer_server), lines)

    by_line = run.by_line()
    assert [by_line[n].status for n in (1, 5)] == [Status.CREATED, Status.CREATED]
    assert by_line[2].status is Status.INVALID
    errors = {n: str(by_line[n].error) for n in (2, 3, 4)}
    assert "JSON decode error" in errors[2]
    assert "same length (got 2 and 1)" in errors[3]
    assert "list_2: must have at most 50 items" in errors[4]
    assert (run.totals.invalid, run.totals.created, run.totals.ok) == (3, 2, False)


async def test_a_repeated_line_is_one_piece_of_work_and_reported_present(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    line = json.dumps({"list_1": ["same"], "list_2": ["twice"]})

    run = await warm_and_close(settings_for(tmp_path, transformer_server), [line, line])

    assert run.statuses() == [Status.CREATED, Status.PRESENT]
    assert run.by_line()[1].id == run.by_line()[2].id
    assert dict(transformer_server.calls) == {"same": 1, "twice": 1}


async def test_a_failing_transformer_fails_its_lines_and_a_rerun_resumes(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    settings = settings_for(tmp_path, transformer_server, transformer_retries=0)
    lines = as_lines(pool_payloads(12, pool=20))
    transformer_server.mode = "fail"

    failed = await warm_and_close(settings, lines)

    assert set(failed.statuses()) == {Status.FAILED}
    assert all(o.error and "transformer" in o.error for o in failed.outcomes)
    transformer_server.mode = "ok"
    resumed = await warm_and_close(settings, lines)
    assert resumed.statuses() == [Status.CREATED] * len(lines)


async def test_work_cut_off_by_the_deadline_fails_and_holds_no_claim_past_it(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    settings = settings_for(tmp_path, transformer_server, transformer_retries=0)
    lines = as_lines(pool_payloads(3, pool=8))
    transformer_server.mode = "hang"

    cut = await warm_and_close(settings, lines, deadline_in_s=0.5)

    assert set(cut.statuses()) == {Status.FAILED}
    assert all("out of time" in str(o.error) for o in cut.outcomes)
    # Claims held past the deadline would make this run wait for them and fail.
    transformer_server.mode = "ok"
    settings = settings_for(tmp_path, transformer_server, claim_wait_s=2, claim_ttl_s=1.5)
    resumed = await warm_and_close(settings, lines)
    assert resumed.statuses() == [Status.CREATED] * len(lines)


async def test_a_payload_over_the_output_bound_fails_and_the_others_are_stored(
    tmp_path: Path, transformer_server: TransformerServer
) -> None:
    settings = settings_for(tmp_path, transformer_server, max_output_bytes_per_payload=40)
    lines = [
        json.dumps({"list_1": ["a" * 30], "list_2": ["b" * 30]}),
        json.dumps({"list_1": ["small"], "list_2": ["one"]}),
    ]

    run = await warm_and_close(settings, lines)

    by_line = run.by_line()
    assert by_line[1].status is Status.FAILED
    assert "CACHE_MAX_OUTPUT_BYTES_PER_PAYLOAD (40)" in str(by_line[1].error)
    assert by_line[2].status is Status.CREATED


@pytest.mark.parametrize("window", [1, 5, 1000])
async def test_every_line_gets_exactly_one_outcome(
    tmp_path: Path, transformer_server: TransformerServer, window: int
) -> None:
    bodies = pool_payloads(25, pool=30)
    lines = [*as_lines(bodies), "{}", *as_lines(bodies[:5])]

    run = await warm_and_close(settings_for(tmp_path, transformer_server), lines, window=window)

    assert sorted(o.line for o in run.outcomes) == list(range(1, len(lines) + 1))
    assert run.totals.lines == len(lines)
