"""GET /payload/{id}: the stored result, conditional requests, unknown and malformed ids."""

from __future__ import annotations

from tests.http.conftest import Api


async def created(api: Api, word: str) -> dict[str, str]:
    response = await api.client.post("/payload", json={"list_1": [word], "list_2": ["b"]})
    assert response.status_code == 201
    body: dict[str, str] = response.json()
    return body


async def test_returns_what_the_post_returned(api: Api, word: str) -> None:
    posted = await created(api, word)
    response = await api.client.get(f"/payload/{posted['id']}")
    assert response.status_code == 200
    assert response.json() == posted


async def test_is_marked_immutable_with_the_id_as_etag(api: Api, word: str) -> None:
    posted = await created(api, word)
    response = await api.client.get(f"/payload/{posted['id']}")
    assert response.headers["etag"] == f'"{posted["id"]}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_a_matching_if_none_match_answers_304_without_a_body(api: Api, word: str) -> None:
    posted = await created(api, word)
    response = await api.client.get(
        f"/payload/{posted['id']}", headers={"if-none-match": f'W/"x", "{posted["id"]}"'}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == f'"{posted["id"]}"'


async def test_a_different_if_none_match_answers_200(api: Api, word: str) -> None:
    posted = await created(api, word)
    response = await api.client.get(f"/payload/{posted['id']}", headers={"if-none-match": '"x"'})
    assert response.status_code == 200


async def test_an_unknown_id_is_404_with_a_detail(api: Api) -> None:
    response = await api.client.get(f"/payload/{'0' * 64}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"no payload with id {'0' * 64}"}


async def test_an_unknown_id_is_not_answered_304(api: Api) -> None:
    response = await api.client.get(f"/payload/{'0' * 64}", headers={"if-none-match": "*"})
    assert response.status_code == 404


async def test_a_malformed_id_is_422_naming_the_rule(api: Api) -> None:
    for bad in ["abc", "A" * 64, "g" * 64, "0" * 65]:
        response = await api.client.get(f"/payload/{bad}")
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == ["path", "id"]
        assert "pattern" in response.json()["detail"][0]["msg"]


async def test_a_malformed_id_touches_no_storage(api: Api) -> None:
    def lookups(metrics: str) -> list[str]:
        return [line for line in metrics.splitlines() if line.startswith("cache_tier_lookups")]

    before = lookups((await api.client.get("/metrics")).text)
    assert (await api.client.get("/payload/not-an-id")).status_code == 422
    assert lookups((await api.client.get("/metrics")).text) == before
