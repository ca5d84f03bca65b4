"""The HTTP transformer reads no more than outputs within the bounds can take (a real server)."""

from __future__ import annotations

import pytest

from cache_service.errors import TransformerError, TransformerOutputTooLarge, TransformerTimeout
from cache_service.transformers.http import HttpTransformer
from tests.support.transformer_server import TransformerServer

MiB = 1024 * 1024
PER_STRING = 1000


def client(url: str, *, batched: bool = False, timeout_s: float = 5.0) -> HttpTransformer:
    return HttpTransformer(
        url,
        timeout_s=timeout_s,
        retries=2,
        max_output_bytes_per_string=PER_STRING,
        max_output_bytes_per_call=10 * PER_STRING,
        batched=batched,
        backoff_s=0.001,
    )


@pytest.mark.parametrize("batched", [False, True], ids=["one string", "a batch of three"])
async def test_a_huge_answer_is_refused_and_not_read_to_its_end(
    transformer_server: TransformerServer, batched: bool
) -> None:
    transformer_server.mode = "huge"
    transformer_server.huge_bytes = 256 * MiB
    transformer = client(transformer_server.url, batched=batched)
    values = ["a", "b", "c"] if batched else ["a"]
    try:
        with pytest.raises(TransformerOutputTooLarge, match="answered more than"):
            await transformer.transform(values)
    finally:
        await transformer.aclose()
    print(f"\nthe server produced {transformer_server.streamed_bytes / MiB:.1f} MiB")
    # What the server could push into socket buffers before the connection closed, not the
    # 256 MiB (per string) it had to send.
    assert transformer_server.streamed_bytes < 64 * MiB
    assert transformer_server.requests == 1  # Too large is an answer, not retried.


async def test_outputs_at_the_bound_pass_even_when_every_byte_is_escaped(
    transformer_server: TransformerServer,
) -> None:
    # Control characters travel as \u0001: six bytes of JSON for each byte of output.
    values = ["\x01" * PER_STRING, "b" * PER_STRING, "\x02" * PER_STRING]
    transformer = client(transformer_server.url, batched=True)
    try:
        assert await transformer.transform(values) == [v.upper() for v in values]
    finally:
        await transformer.aclose()


async def test_a_compressed_answer_is_refused_because_identity_was_asked_for(
    transformer_server: TransformerServer,
) -> None:
    transformer_server.mode = "gzip"
    transformer = client(transformer_server.url)
    try:
        with pytest.raises(TransformerError, match="Content-Encoding 'gzip'"):
            await transformer.transform(["abc"])
    finally:
        await transformer.aclose()


async def test_an_answer_trickling_in_is_cut_off_at_the_timeout(
    transformer_server: TransformerServer,
) -> None:
    transformer_server.mode = "trickle"
    transformer = client(transformer_server.url, timeout_s=0.5)
    try:
        with pytest.raises(TransformerTimeout, match=r"did not answer within 0\.5s"):
            await transformer.transform(["abc"])
    finally:
        await transformer.aclose()
