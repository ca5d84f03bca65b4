"""POST /payload: the output, the id and the cache headers."""

from __future__ import annotations

import json

from cache_service.payload import payload_id
from tests.http.conftest import Api


async def test_the_brief_example_gives_the_documented_output(api: Api, word: str) -> None:
    body = {
        "list_1": ["first string", "second string", word],
        "list_2": ["other string", "another string", word],
    }
    response = await api.client.post("/payload", json=body)
    assert response.status_code == 201
    assert response.json()["output"] == (
        f"FIRST STRING, OTHER STRING, SECOND STRING, ANOTHER STRING, {word.upper()}, {word.upper()}"
    )


async def test_a_new_payload_is_created_and_reported_as_a_miss(api: Api, word: str) -> None:
    response = await api.client.post("/payload", json={"list_1": [word], "list_2": ["b"]})
    id_ = response.json()["id"]
    assert response.status_code == 201
    assert response.headers["x-cache"] == "MISS"
    assert response.headers["location"] == f"/payload/{id_}"


async def test_the_id_is_the_documented_sha256(api: Api, word: str) -> None:
    response = await api.client.post("/payload", json={"list_1": [word], "list_2": ["b"]})
    assert response.json()["id"] == payload_id("upper-case@1", [word], ["b"])


async def test_a_repeated_payload_answers_200_hit_with_the_same_body(api: Api, word: str) -> None:
    body = {"list_1": [word, "x"], "list_2": ["y", "z"]}
    first = await api.client.post("/payload", json=body)
    again = await api.client.post("/payload", json=body)
    assert again.status_code == 200
    assert again.headers["x-cache"] == "HIT"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]


async def test_key_order_and_whitespace_do_not_change_the_id(api: Api, word: str) -> None:
    compact = json.dumps({"list_1": [word], "list_2": ["b"]}, separators=(",", ":"))
    spaced = f'{{ "list_2" : [ "b" ] ,\n  "list_1" : [ "{word}" ] }}'
    headers = {"content-type": "application/json"}
    first = await api.client.post("/payload", content=compact, headers=headers)
    second = await api.client.post("/payload", content=spaced, headers=headers)
    assert first.json()["id"] == second.json()["id"]


async def test_swapping_the_lists_gives_another_payload(api: Api, word: str) -> None:
    one = await api.client.post("/payload", json={"list_1": [word], "list_2": ["b"]})
    other = await api.client.post("/payload", json={"list_1": ["b"], "list_2": [word]})
    assert one.json()["id"] != other.json()["id"]
    assert other.json()["output"] == f"B, {word.upper()}"


async def test_strings_are_transformed_once_however_often_they_repeat(api: Api, word: str) -> None:
    before = await api.transformed_strings()
    await api.client.post(
        "/payload", json={"list_1": [word, word, word], "list_2": [word, f"{word}-2", word]}
    )
    assert await api.transformed_strings() - before == 2


async def test_a_string_seen_in_an_earlier_payload_is_not_transformed_again(
    api: Api, word: str
) -> None:
    await api.client.post("/payload", json={"list_1": [word], "list_2": [f"{word}-b"]})
    before = await api.transformed_strings()
    response = await api.client.post("/payload", json={"list_1": [f"{word}-b"], "list_2": [word]})
    assert response.status_code == 201
    assert await api.transformed_strings() == before


async def test_unicode_is_transformed_and_returned_intact(api: Api, word: str) -> None:
    response = await api.client.post(
        "/payload", json={"list_1": [f"straße {word}"], "list_2": ["été ☃"]}
    )
    assert response.json()["output"] == f"STRASSE {word.upper()}, ÉTÉ ☃"
