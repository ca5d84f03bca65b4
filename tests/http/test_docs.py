"""The README stays true to the code: every setting is documented, nothing stale is."""

from __future__ import annotations

import re
from pathlib import Path

from cache_service.settings import Settings, env_name

README = Path(__file__).parents[2] / "README.md"


def documented_variables() -> set[str]:
    rows = re.findall(r"^\| `(CACHE_[A-Z0-9_]+)` \|", README.read_text(), re.MULTILINE)
    return {row for row in rows if not row.startswith("CACHE_CLI_")}  # the CLI's own table


def test_every_setting_has_a_row_in_the_readme_configuration_table() -> None:
    expected = {env_name(field) for field in Settings.model_fields}
    assert expected - documented_variables() == set()


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    expected = {env_name(field) for field in Settings.model_fields}
    assert documented_variables() - expected == set()
