"""The id scheme and the output format."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cache_service.payload import interleave, payload_id, render, string_key, utf8_size

IDENTITY = "upper-case@1"
lists = st.lists(st.text(max_size=8), min_size=1, max_size=4)


def test_output_interleaves_the_lists_as_in_the_brief() -> None:
    out = render(["FIRST STRING", "SECOND STRING"], ["OTHER STRING", "ANOTHER STRING"])
    assert out == "FIRST STRING, OTHER STRING, SECOND STRING, ANOTHER STRING"


def test_interleave_refuses_lists_of_different_length() -> None:
    with pytest.raises(ValueError, match="equal length"):
        interleave(["a"], ["b", "c"])


def test_id_is_64_lowercase_hex_characters() -> None:
    id_ = payload_id(IDENTITY, ["a"], ["b"])
    assert len(id_) == 64
    assert set(id_) <= set("0123456789abcdef")


def test_id_of_the_brief_example_never_changes() -> None:
    # A golden value: if this changes, every stored id in every deployment is orphaned.
    assert (
        payload_id(IDENTITY, ["first string", "second string"], ["other string", "another string"])
        == "814dbebef0358645bfdc66e93eb0c088d8a4f5bfb351acb54946fa213b9056be"
    )


def test_id_is_the_same_in_another_interpreter_with_another_hash_seed() -> None:
    code = (
        "from cache_service.payload import payload_id;"
        "print(payload_id('upper-case@1', ['x', 'é'], ['y', '\\u2603']))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == payload_id(IDENTITY, ["x", "é"], ["y", "\u2603"])


def test_commas_inside_strings_do_not_collide_with_separate_items() -> None:
    assert payload_id(IDENTITY, ["a", "b"], ["c", "d"]) != payload_id(IDENTITY, ["a,b"], ["c,d"])


def test_swapping_the_lists_gives_another_id() -> None:
    assert payload_id(IDENTITY, ["a"], ["b"]) != payload_id(IDENTITY, ["b"], ["a"])


def test_another_transformer_identity_gives_another_id() -> None:
    assert payload_id("upper-case@1", ["a"], ["b"]) != payload_id("upper-case@2", ["a"], ["b"])


def test_payload_ids_and_string_keys_live_in_separate_namespaces() -> None:
    assert string_key(IDENTITY, "a") != payload_id(IDENTITY, ["a"], [])


@given(lists, lists, lists, lists)
def test_different_payloads_never_share_an_id(
    a1: list[str], a2: list[str], b1: list[str], b2: list[str]
) -> None:
    if (a1, a2) != (b1, b2):
        assert payload_id(IDENTITY, a1, a2) != payload_id(IDENTITY, b1, b2)


@given(lists, lists)
def test_the_same_payload_always_gets_the_same_id(l1: list[str], l2: list[str]) -> None:
    assert payload_id(IDENTITY, l1, l2) == payload_id(IDENTITY, list(l1), list(l2))


@given(st.text(), st.text())
def test_different_strings_never_share_a_string_key(a: str, b: str) -> None:
    if a != b:
        assert string_key(IDENTITY, a) != string_key(IDENTITY, b)


@given(st.text())
def test_utf8_size_is_the_length_of_the_utf8_encoding(value: str) -> None:
    assert utf8_size(value) == len(value.encode("utf-8", "surrogatepass"))
