"""INSTRUCTIONS.md's code map stays true to the package: what it names exists, and every
module of the package is named in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "service" / "cache_service"


def _code_map() -> str:
    text = (ROOT / "INSTRUCTIONS.md").read_text()
    start = text.index("## Code map")
    return text[start : text.index("\n## ", start + 1)]


def _named_paths() -> list[tuple[str, Path | None]]:
    """Each backticked path in the map, with the folder of its table row (None outside one)."""
    named: list[tuple[str, Path | None]] = []
    for line in _code_map().splitlines():
        folder: Path | None = None
        if line.startswith("| `") and (row := re.match(r"\| `([\w/]+/)` \|", line)):
            folder = PACKAGE / row.group(1)
        named += [(token, folder) for token in re.findall(r"`([\w/.]+(?:\.py|/))`", line)]
    return named


def test_every_path_the_map_names_exists() -> None:
    def exists(token: str, folder: Path | None) -> bool:
        # A row's files may sit in its folder's subfolders (``dynamodb/`` under ``stores/``).
        within = [folder, *(p for p in folder.rglob("*") if p.is_dir())] if folder else []
        return any((base / token).exists() for base in (PACKAGE, ROOT, ROOT / "tests", *within))

    missing = [token for token, folder in _named_paths() if not exists(token, folder)]
    assert _named_paths(), "the code map names no path"
    assert missing == []


def test_every_module_of_the_package_is_on_the_map() -> None:
    names = {Path(token).name for token, _ in _named_paths()}
    modules = [
        path.relative_to(PACKAGE)
        for path in PACKAGE.rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"}
    ]
    assert modules
    assert [module for module in modules if module.name not in names] == []
