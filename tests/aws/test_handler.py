"""The Lambda handler serves the HTTP contract for every event source, behind a stage."""

from __future__ import annotations

import json

from tests.aws.conftest import Invoker
from tests.aws.events import prefix_for

DOCUMENT = {"list_1": ["alpha", "beta"], "list_2": ["gamma", "delta"]}
OUTPUT = "ALPHA, GAMMA, BETA, DELTA"
MISSING = "0" * 64


def test_post_creates_and_answers_201_with_the_output(invoke: Invoker) -> None:
    reply = invoke.post(DOCUMENT)
    assert reply.status == 201
    assert reply.json()["output"] == OUTPUT


def test_post_location_includes_the_stage_prefix(invoke: Invoker) -> None:
    reply = invoke.post(DOCUMENT)
    assert reply.headers["location"] == f"{prefix_for(invoke.kind)}/payload/{reply.json()['id']}"


def test_second_post_of_the_same_payload_is_a_200_hit(invoke: Invoker) -> None:
    invoke.post(DOCUMENT)
    reply = invoke.post(DOCUMENT)
    assert (reply.status, reply.headers["x-cache"]) == (200, "HIT")


def test_get_returns_the_stored_output_with_etag_and_immutable_caching(invoke: Invoker) -> None:
    id_ = invoke.post(DOCUMENT).json()["id"]
    reply = invoke("GET", f"/payload/{id_}")
    assert reply.status == 200
    assert reply.json() == {"id": id_, "output": OUTPUT}
    assert reply.headers["etag"] == f'"{id_}"'
    assert "immutable" in reply.headers["cache-control"]


def test_get_with_matching_if_none_match_is_304_without_body(invoke: Invoker) -> None:
    id_ = invoke.post(DOCUMENT).json()["id"]
    reply = invoke("GET", f"/payload/{id_}", headers={"If-None-Match": f'"{id_}"'})
    assert reply.status == 304
    assert reply.raw["body"] == ""


def test_get_of_an_unknown_id_is_a_json_404(invoke: Invoker) -> None:
    reply = invoke("GET", f"/payload/{MISSING}")
    assert reply.status == 404
    assert "detail" in reply.json()


def test_get_of_a_malformed_id_is_a_json_422(invoke: Invoker) -> None:
    reply = invoke("GET", "/payload/not-an-id")
    assert reply.status == 422
    assert reply.json()["detail"][0]["loc"] == ["path", "id"]


def test_post_breaking_a_rule_is_a_json_422(invoke: Invoker) -> None:
    reply = invoke.post({"list_1": ["a"], "list_2": ["b", "c"]})
    assert reply.status == 422
    assert "detail" in reply.json()


def test_post_larger_than_the_body_limit_is_a_json_413(invoke: Invoker) -> None:
    reply = invoke.post({"list_1": ["x" * 5000], "list_2": ["y"]})
    assert reply.status == 413
    assert "CACHE_MAX_BODY_BYTES" in reply.json()["detail"]


def test_post_without_json_content_type_is_a_json_415(invoke: Invoker) -> None:
    reply = invoke("POST", "/payload", headers={"Content-Type": "text/plain"}, body=b"hello")
    assert reply.status == 415
    assert "detail" in reply.json()


def test_base64_encoded_request_bodies_are_decoded(invoke: Invoker) -> None:
    reply = invoke(
        "POST",
        "/payload",
        headers={"Content-Type": "application/json"},
        body=json.dumps(DOCUMENT).encode(),
        binary=True,
    )
    assert reply.json()["output"] == OUTPUT


def test_responses_are_never_compressed_or_base64_encoded(invoke: Invoker) -> None:
    reply = invoke.post(DOCUMENT)
    assert "content-encoding" not in reply.headers
    assert reply.raw["isBase64Encoded"] is False
    with_gzip = invoke("GET", "/health", headers={"Accept-Encoding": "gzip"})
    assert with_gzip.json() == {"status": "ok"}


def test_health_answers_ok(invoke: Invoker) -> None:
    assert invoke("GET", "/health").json() == {"status": "ok"}


def test_unknown_route_is_a_json_404(invoke: Invoker) -> None:
    reply = invoke("GET", "/nowhere")
    assert reply.status == 404
    assert "detail" in reply.json()


def test_docs_load_the_openapi_document_through_the_stage_prefix(invoke: Invoker) -> None:
    page = invoke("GET", "/docs")
    assert page.status == 200
    assert f"'{prefix_for(invoke.kind)}/openapi.json'" in page.text


def test_openapi_document_is_served_and_names_the_stage_as_server(invoke: Invoker) -> None:
    reply = invoke("GET", "/openapi.json")
    assert reply.status == 200
    servers = [server["url"] for server in reply.json().get("servers", [])]
    assert servers == ([prefix_for(invoke.kind)] if prefix_for(invoke.kind) else [])


def test_body_arrives_decoded_for_metrics_text(invoke: Invoker) -> None:
    reply = invoke("GET", "/metrics")
    assert reply.status == 200
    assert "cache_" in reply.text


def test_invalid_utf8_in_a_base64_body_is_a_client_error(invoke: Invoker) -> None:
    # Invalid UTF-8 in a JSON body is the client's error (422), not a Lambda error.
    event_body = b'{"list_1": ["\xff"], "list_2": ["a"]}'
    reply = invoke(
        "POST",
        "/payload",
        headers={"Content-Type": "application/json"},
        body=event_body,
        binary=True,
    )
    assert reply.status in (400, 422)
    assert "detail" in reply.json()


def test_a_404_tells_every_header_honouring_cache_not_to_store_it(invoke: Invoker) -> None:
    reply = invoke("GET", f"/payload/{MISSING}")
    assert reply.headers["cache-control"] == "no-store"


def test_an_id_handed_out_by_post_is_never_404_afterwards(invoke: Invoker) -> None:
    ids = [invoke.post({"list_1": [f"s{i}"], "list_2": ["t"]}).json()["id"] for i in range(20)]
    assert {invoke("GET", f"/payload/{id_}").status for id_ in ids} == {200}


def test_successful_answers_keep_their_own_cache_control(invoke: Invoker) -> None:
    id_ = invoke.post(DOCUMENT).json()["id"]
    assert invoke("GET", f"/payload/{id_}").headers["cache-control"].startswith("public")
