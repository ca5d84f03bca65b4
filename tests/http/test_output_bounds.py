"""Bounds on what the transformer returns: past them, 502 and nothing of it stored."""

from __future__ import annotations

from pathlib import Path

from cache_service.payload import payload_id
from cache_service.transformers.simulated import SIMULATED_IDENTITY
from tests.http.conftest import open_api


def _id(list_1: list[str], list_2: list[str]) -> str:
    return payload_id(SIMULATED_IDENTITY, list_1, list_2)


async def test_a_string_whose_output_passes_its_bound_gives_502_and_nothing_of_the_call_is_stored(
    tmp_path: Path,
) -> None:
    # One batch of both strings: the long one fails the whole call, the short one included.
    env = {"CACHE_MAX_OUTPUT_BYTES_PER_STRING": "5", "CACHE_TRANSFORMER_BATCH_SIZE": "10"}
    async with open_api("in-process", env, tmp_path) as api:
        refused = await api.client.post("/payload", json={"list_1": ["abcdef"], "list_2": ["ab"]})
        stored = await api.client.get(f"/payload/{_id(['abcdef'], ['ab'])}")
        before = await api.transformed_strings()
        later = await api.client.post("/payload", json={"list_1": ["ab"], "list_2": ["cd"]})
        after = await api.transformed_strings()
    assert refused.status_code == 502
    # The client gets the stable 502 and a request id; the bound's name goes to the log.
    assert "request_id" in refused.json()
    assert stored.status_code == 404
    assert later.status_code == 201
    assert later.json()["output"] == "AB, CD"
    assert after - before == 2  # "ab" was not kept from the refused call: made again.


async def test_an_output_of_exactly_the_payload_bound_is_stored(tmp_path: Path) -> None:
    # "ABCD, EFGH" is ten bytes.
    env = {"CACHE_MAX_OUTPUT_BYTES_PER_PAYLOAD": "10"}
    async with open_api("in-process", env, tmp_path) as api:
        response = await api.client.post("/payload", json={"list_1": ["abcd"], "list_2": ["efgh"]})
    assert response.status_code == 201
    assert response.json()["output"] == "ABCD, EFGH"


async def test_a_payload_whose_output_passes_its_bound_gives_502_and_is_not_stored(
    tmp_path: Path,
) -> None:
    # "ABCD, EFGHI" is eleven bytes.
    env = {"CACHE_MAX_OUTPUT_BYTES_PER_PAYLOAD": "10"}
    async with open_api("in-process", env, tmp_path) as api:
        refused = await api.client.post("/payload", json={"list_1": ["abcd"], "list_2": ["efghi"]})
        stored = await api.client.get(f"/payload/{_id(['abcd'], ['efghi'])}")
    assert refused.status_code == 502
    assert "request_id" in refused.json()
    assert stored.status_code == 404


async def test_repeats_count_towards_the_payload_bound(tmp_path: Path) -> None:
    env = {"CACHE_MAX_OUTPUT_BYTES_PER_PAYLOAD": "40"}
    async with open_api("in-process", env, tmp_path) as api:
        small = await api.client.post("/payload", json={"list_1": ["abcd"], "list_2": ["efgh"]})
        # Eight copies of two stored strings: 8 * 4 + 7 * 2 = 46 bytes, nothing new to make.
        many = {"list_1": ["abcd"] * 4, "list_2": ["efgh"] * 4}
        before = await api.transformed_strings()
        refused = await api.client.post("/payload", json=many)
        after = await api.transformed_strings()
    assert small.status_code == 201
    assert refused.status_code == 502
    assert after == before  # Refused from the stored strings alone: no transformer call.
