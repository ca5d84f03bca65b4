"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.transformer_server import TransformerServer


@pytest.fixture
def transformer_server() -> Iterator[TransformerServer]:
    """A fresh counting HTTP transformer for one test."""
    with TransformerServer(delay_s=0.02) as server:
        yield server
