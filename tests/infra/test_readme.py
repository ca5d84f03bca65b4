"""The README's deployment section stays true to the stack's context keys and defaults."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from infra.config import ServiceConfig

README = Path(__file__).parents[2] / "README.md"


def context_rows() -> dict[str, str]:
    """``key -> default`` from the context table of the "Deploy to AWS" section."""
    text = README.read_text()
    section = text[text.index("## Deploy to AWS") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \|", section, re.MULTILINE)
    return {key: default.strip() for key, default in rows}


def test_every_context_key_has_a_row_and_no_row_is_stale() -> None:
    assert set(context_rows()) == {field.name for field in fields(ServiceConfig)}


def test_the_documented_defaults_are_the_real_ones() -> None:
    for field in fields(ServiceConfig):
        default = getattr(ServiceConfig, field.name)
        documented = context_rows()[field.name]
        if default is None:
            assert documented == "unset", field.name
        else:
            shown = (
                str(default).lower()
                if isinstance(default, bool)
                else f"{default:g}"
                if isinstance(default, float)
                else str(default)
            )
            assert documented == f"`{shown}`", field.name
