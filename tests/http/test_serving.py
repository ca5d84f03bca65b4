"""The connection cap fits the process's open-file limit: raised when it can be, else lowered."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

PROBE = (
    "import resource; from cache_service.http.server import connections_within_file_limit as fit; "
    "cap = fit(1024); print(cap, resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
)


def run_with_file_limit(soft: int, hard: int) -> tuple[int, int, str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    cap, raised = done.stdout.split()
    return int(cap), int(raised), done.stderr


def test_the_soft_limit_is_raised_to_fit_the_cap_when_the_hard_limit_allows() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1024 + 256:
        pytest.skip(f"the hard open-file limit {hard} is below 1280")
    cap, soft, _ = run_with_file_limit(1024, 4096 if hard == resource.RLIM_INFINITY else hard)
    assert (cap, soft) == (1024, 1024 + 256)


def test_the_cap_is_lowered_with_a_warning_when_the_hard_limit_is_too_low() -> None:
    cap, soft, stderr = run_with_file_limit(300, 600)
    assert (cap, soft) == (600 - 256, 600)
    assert "CACHE_MAX_CONNECTIONS=1024 does not fit the open-file limit 600" in stderr
    assert "capping at 344" in stderr
