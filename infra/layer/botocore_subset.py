"""Write the slice of botocore's data that the function's clients load, beside botocore.

Run on the installed layer: ``python botocore_subset.py <layer>/python dynamodb``. It writes
``<layer>/python/botocore-subset/``: the named services' latest models (without their
documentation examples), botocore's shared files, and ``endpoints.json`` cut to those services.
The DynamoDB store points its client's loader there when the folder exists, so a cold start's
first request neither lists the ~450 service folders of botocore's data (every model lookup
does) nor parses the whole 1.2 MB endpoints file: 81 -> 32 ms of CPU for the client (PROFILE.md).

Derived from the very botocore installed beside it, so it can never disagree with its version.
Standard library only: the CDK's Docker fallback and ``sam build`` run it with their Python.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

#: The folder's name beside ``botocore/``; a hyphen, so it can never be imported as a package.
FOLDER = "botocore-subset"
_ENDPOINTS = "endpoints.json"
_DOCUMENTATION_ONLY = ("examples-1.json",)


def write_subset(site: Path, services: list[str]) -> Path:
    """The subset for ``services`` from ``site/botocore/data`` into ``site/FOLDER``."""
    data = site / "botocore" / "data"
    out = site / FOLDER
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for shared in data.iterdir():
        if shared.is_file() and shared.name != _ENDPOINTS:
            shutil.copy2(shared, out / shared.name)
    endpoints = json.loads((data / _ENDPOINTS).read_text())
    for partition in endpoints["partitions"]:
        known = partition["services"]
        partition["services"] = {name: known[name] for name in services if name in known}
    (out / _ENDPOINTS).write_text(json.dumps(endpoints, separators=(",", ":")))
    for service in services:
        # API versions are dates: the latest sorts last, and is the one botocore picks.
        latest = sorted(p for p in (data / service).iterdir() if p.is_dir())[-1]
        target = out / service / latest.name
        target.mkdir(parents=True)
        for model in latest.iterdir():
            if model.name not in _DOCUMENTATION_ONLY:
                shutil.copy2(model, target / model.name)
    return out


if __name__ == "__main__":
    write_subset(Path(sys.argv[1]), sys.argv[2:])
