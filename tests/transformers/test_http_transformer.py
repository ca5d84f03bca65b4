"""The HTTP transformer against a real HTTP server: retries, timeouts, bad answers."""

from __future__ import annotations

import pytest

from cache_service.errors import TransformerError, TransformerTimeout
from cache_service.transformers.http import HttpTransformer
from cache_service.transformers.simulated import SimulatedTransformer
from tests.support.processes import free_port
from tests.support.transformer_server import TransformerServer


def client(
    url: str,
    *,
    timeout_s: float = 2.0,
    retries: int = 2,
    batched: bool = False,
    identity: str | None = None,
) -> HttpTransformer:
    return HttpTransformer(
        url,
        timeout_s=timeout_s,
        retries=retries,
        max_output_bytes_per_string=262_144,
        max_output_bytes_per_call=4_194_304,
        batched=batched,
        identity=identity,
        backoff_s=0.001,
    )


async def test_returns_the_services_output(transformer_server: TransformerServer) -> None:
    transformer = client(transformer_server.url)
    try:
        assert await transformer.transform(["abc"]) == ["ABC"]
    finally:
        await transformer.aclose()


async def test_retries_a_5xx_a_bounded_number_of_times(
    transformer_server: TransformerServer,
) -> None:
    transformer_server.mode = "fail"
    transformer = client(transformer_server.url, retries=2)
    try:
        with pytest.raises(TransformerError, match="answered 503 \\(after 3 attempts\\)"):
            await transformer.transform(["abc"])
    finally:
        await transformer.aclose()
    assert transformer_server.calls["abc"] == 3


async def test_a_timeout_is_reported_as_such_and_not_retried(
    transformer_server: TransformerServer,
) -> None:
    transformer_server.mode = "hang"
    transformer = client(transformer_server.url, timeout_s=0.2, retries=2)
    try:
        with pytest.raises(TransformerTimeout, match=r"did not answer within 0\.2s"):
            await transformer.transform(["abc"])
    finally:
        await transformer.aclose()
    assert transformer_server.calls["abc"] == 1


async def test_an_unreachable_service_is_a_transformer_error() -> None:
    transformer = client(f"http://127.0.0.1:{free_port()}/transform", retries=1)
    try:
        with pytest.raises(TransformerError, match="cannot reach transformer"):
            await transformer.transform(["abc"])
    finally:
        await transformer.aclose()


async def test_an_answer_without_output_is_a_transformer_error(
    transformer_server: TransformerServer,
) -> None:
    transformer_server.mode = "garbage"
    transformer = client(transformer_server.url)
    try:
        with pytest.raises(TransformerError, match="without a JSON 'output' field"):
            await transformer.transform(["abc"])
    finally:
        await transformer.aclose()


async def test_a_batch_is_one_call_answered_in_order(
    transformer_server: TransformerServer,
) -> None:
    transformer = client(transformer_server.url, batched=True)
    try:
        assert await transformer.transform(["b", "a", "c"]) == ["B", "A", "C"]
    finally:
        await transformer.aclose()
    assert transformer_server.requests == 1
    assert dict(transformer_server.calls) == {"a": 1, "b": 1, "c": 1}


async def test_a_batch_answer_of_the_wrong_length_is_a_transformer_error(
    transformer_server: TransformerServer,
) -> None:
    transformer_server.mode = "short"
    transformer = client(transformer_server.url, batched=True)
    try:
        with pytest.raises(TransformerError, match="answered 1 outputs for 2 inputs"):
            await transformer.transform(["a", "b"])
    finally:
        await transformer.aclose()


async def test_a_batch_answer_without_outputs_is_a_transformer_error(
    transformer_server: TransformerServer,
) -> None:
    transformer = client(transformer_server.url, batched=True)
    transformer_server.mode = "garbage"
    try:
        with pytest.raises(TransformerError, match="without a JSON 'outputs' field"):
            await transformer.transform(["a", "b"])
    finally:
        await transformer.aclose()


def test_the_identity_names_the_url_unless_set() -> None:
    assert client("http://t/x").identity == "http:http://t/x"
    assert client("http://t/x", identity="v2").identity == "v2"


async def test_the_simulated_transformer_upper_cases() -> None:
    assert await SimulatedTransformer(0).transform(["straße", "x"]) == ["STRASSE", "X"]
