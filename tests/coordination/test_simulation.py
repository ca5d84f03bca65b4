"""The claims simulation (``simulation.py``) in the suite: seeds over every store, no violation.

``make simulate`` runs as many seeds as asked; here a sample that fits in well under a minute.
A failing seed prints its number: ``python -m tests.coordination.simulation --store S
--seed N --trace`` replays it call by call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cache_service.coordination.singleflight import SingleFlight
from tests.coordination import simulation


@pytest.fixture(autouse=True)
def _quiet_service_logs() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("cache_service", "asyncio")]
    levels = [logger.level for logger in loggers]
    simulation.quiet_logs()
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.parametrize(("store", "seeds"), [("memory", 1500), ("sqlite", 400), ("dynamodb", 25)])
def test_no_seed_breaks_an_invariant(store: str, seeds: int) -> None:
    violations, seen = simulation.run_seeds(store, range(seeds))
    print(f"{store}: {seeds} seeds; {dict(sorted(seen.items()))}")
    # The run exercised what it is meant to: faults met, answers of every kind.
    assert seen["answered ok"] > seeds
    assert seen["answered StoreUnavailable"] > 0
    assert seen["answered TransformerError"] > 0
    assert [str(v) for v in violations] == []


def test_the_checker_catches_flights_that_never_let_go_of_their_claims(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def keep(self: SingleFlight, keys: list[str], token: str) -> None:
        return None

    monkeypatch.setattr(SingleFlight, "_release", keep)
    violations, _ = simulation.run_seeds("memory", range(200))
    assert {v.invariant for v in violations} >= {"orphan"}


def test_a_seed_replays_exactly(tmp_path: Path) -> None:
    with simulation.backend_for("memory", tmp_path) as make_backend:
        first = simulation.run_seed(7, make_backend)
        again = simulation.run_seed(7, make_backend)
    assert first[1] == again[1]
    assert [str(v) for v in first[0]] == [str(v) for v in again[0]]
