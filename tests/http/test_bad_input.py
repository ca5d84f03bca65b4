"""Every invalid request gets a 4xx with a JSON ``detail`` naming what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.http.conftest import Api, open_api

JSON = {"content-type": "application/json"}


async def post_raw(api: Api, content: bytes | str, headers: dict[str, str] | None = None) -> Any:
    return await api.client.post("/payload", content=content, headers=headers or JSON)


def error_at(response: Any, loc: list[object]) -> str:
    """The message of the error at ``loc``; fails when there is none."""
    assert response.status_code == 422, response.text
    for error in response.json()["detail"]:
        if error["loc"] == loc:
            return str(error["msg"])
    raise AssertionError(f"no error at {loc}: {response.json()}")


@pytest.mark.parametrize(
    ("body", "loc", "rule"),
    [
        ({"list_1": ["a"]}, ["body", "list_2"], "Field required"),
        ({"list_2": ["a"]}, ["body", "list_1"], "Field required"),
        ({"list_1": ["a"], "list_2": ["b"], "extra": 1}, ["body", "extra"], "Extra inputs"),
        ({"list_1": [], "list_2": []}, ["body", "list_1"], "at least 1 item"),
        ({"list_1": ["a"], "list_2": [1]}, ["body", "list_2", 0], "valid string"),
        ({"list_1": ["a"], "list_2": [None]}, ["body", "list_2", 0], "valid string"),
        ({"list_1": "a", "list_2": ["b"]}, ["body", "list_1"], "valid list"),
        ({"list_1": [["a"]], "list_2": ["b"]}, ["body", "list_1", 0], "valid string"),
    ],
)
async def test_a_malformed_payload_names_the_field_and_rule(
    api: Api, body: dict[str, Any], loc: list[object], rule: str
) -> None:
    response = await api.client.post("/payload", json=body)
    assert rule in error_at(response, loc)


async def test_lists_of_different_length_are_refused(api: Api) -> None:
    response = await api.client.post("/payload", json={"list_1": ["a", "b"], "list_2": ["c"]})
    assert "same length (got 2 and 1)" in error_at(response, ["body"])


async def test_more_items_than_the_limit_are_refused(api: Api) -> None:
    items = [str(i) for i in range(51)]
    response = await api.client.post("/payload", json={"list_1": items, "list_2": items})
    assert "at most 50 items (CACHE_MAX_ITEMS), got 51" in error_at(response, ["body", "list_1"])


async def test_a_string_longer_than_the_limit_is_refused(api: Api) -> None:
    response = await api.client.post("/payload", json={"list_1": ["a"], "list_2": ["x" * 201]})
    message = error_at(response, ["body", "list_2", 0])
    assert "at most 200 characters (CACHE_MAX_STRING_LENGTH), got 201" in message


async def test_a_lone_surrogate_is_refused(api: Api) -> None:
    response = await post_raw(api, '{"list_1": ["\\ud800"], "list_2": ["b"]}')
    assert "lone surrogate" in error_at(response, ["body", "list_1"])


async def test_invalid_json_is_refused_with_the_parsers_reason(api: Api) -> None:
    response = await post_raw(api, '{"list_1": ["a"], ')
    assert response.status_code == 422
    assert "JSON decode error" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("body", ["[]", "null", '"text"', "42"])
async def test_json_that_is_not_an_object_is_refused(api: Api, body: str) -> None:
    response = await post_raw(api, body)
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_a_body_that_is_not_utf8_is_refused(api: Api) -> None:
    response = await post_raw(api, b'{"list_1": ["\xff\xfe"], "list_2": ["b"]}')
    assert "not valid UTF-8 at byte 13" in error_at(response, ["body"])


async def test_a_duplicate_key_is_refused_rather_than_resolved_silently(api: Api) -> None:
    response = await post_raw(api, '{"list_1": ["a"], "list_1": ["b"], "list_2": ["c"]}')
    assert "duplicate key 'list_1'" in error_at(response, ["body"])


async def test_deeply_nested_json_is_refused(api: Api) -> None:
    response = await post_raw(api, '{"list_1": ' + "[" * 5000 + "]" * 5000 + "}")
    assert "nested too deeply" in error_at(response, ["body"])


async def test_an_integer_too_long_to_convert_is_refused(api: Api) -> None:
    response = await post_raw(api, '{"list_1": [' + "9" * 5000 + '], "list_2": ["b"]}')
    assert "4300 digits" in error_at(response, ["body"])


async def test_nan_is_refused_as_not_json(api: Api) -> None:
    response = await post_raw(api, '{"list_1": [NaN], "list_2": ["b"]}')
    assert "NaN is not JSON" in error_at(response, ["body"])


async def test_a_body_over_the_limit_is_413_before_it_is_parsed(api: Api) -> None:
    response = await post_raw(api, b"{" + b" " * 20_000 + b"}")
    assert response.status_code == 413
    assert "exceeds the limit of 16384 bytes" in response.json()["detail"]


async def test_a_streamed_body_without_length_over_the_limit_is_413(tmp_path: Path) -> None:
    async def chunks() -> Any:
        for _ in range(40):
            yield b" " * 1024

    async with open_api("in-process", {}, tmp_path) as api:
        response = await api.client.post("/payload", content=chunks(), headers=JSON)
    assert response.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_a_body_that_is_not_json_is_415(api: Api, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await api.client.post("/payload", content=b"list_1=a", headers=headers)
    assert response.status_code == 415
    assert "must be application/json" in response.json()["detail"]


async def test_json_with_a_charset_is_accepted(api: Api, word: str) -> None:
    response = await post_raw(
        api,
        f'{{"list_1": ["{word}"], "list_2": ["b"]}}',
        {"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


async def test_a_refused_payload_stores_nothing(api: Api, word: str) -> None:
    before = await api.transformed_strings()
    await api.client.post("/payload", json={"list_1": [word, "b"], "list_2": ["c"]})
    assert await api.transformed_strings() == before


async def test_an_unknown_route_is_404_json(api: Api) -> None:
    response = await api.client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_a_wrong_method_is_405_json(api: Api, method: str) -> None:
    response = await api.client.request(method, "/payload")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
