"""cache-cli against hey and wrk: the same server, the same POST hit, one tool after the other.

Run with ``make bench-cli`` (or ``.venv/bin/python -m bench.cli_load``). Needs ``hey`` and
``wrk``. The service runs with CACHE_STORE=memory pinned to CPU 0, every load tool pinned to
CPU 1; each round runs every tool once, and the ratios compare tools within a round, so a
neighbour's load on the machine moves both sides of a ratio. Replaces its own section of
``bench/RESULTS.md`` and leaves the rest of the file alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.load import wrk
from bench.run import BRIEF, LOAD_CPU, SERVER_CPU, service, write_section
from tests.support.processes import wait_for_http

BEGIN, END = "<!-- cli-load: begin -->", "<!-- cli-load: end -->"


@dataclass(frozen=True)
class Measured:
    """One tool's run: throughput, latency, its CPU per request; and the server meanwhile: the
    share of the run it sat idle (waiting for requests, not for a CPU), its CPU per request."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    failures: int
    duration_s: float
    server_idle: float = 0.0
    server_cpu_ms_per_request: float = 0.0


@contextmanager
def _service(workdir: Path) -> Iterator[tuple[str, int]]:
    """The service (CACHE_STORE=memory) pinned to SERVER_CPU: its URL and process id."""
    command, env, port = service({"CACHE_STORE": "memory"}, workdir)
    pin = ["taskset", "-c", SERVER_CPU] if shutil.which("taskset") else []
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")} | env
    process = subprocess.Popen([*pin, *command], env=environment, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process=process, timeout_s=60)
        yield url, process.pid  # taskset execs the server: the same process.
    finally:
        process.terminate()
        process.wait(timeout=15)


def _scheduled(pid: int) -> tuple[float, float]:
    """Seconds the server's event-loop thread has run, and waited for a CPU, so far."""
    ran, waited, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(ran) / 1e9, int(waited) / 1e9


def _with_server(pid: int, measure: Callable[[], Measured | None]) -> Measured | None:
    """``measure``, with what the server did meanwhile.

    Idle is the part of the tool's own run that the server neither ran nor waited for a CPU:
    it waited for requests. (A tool's start-up, when the server has nothing to do, falls
    outside the run.) A tool that keeps the server fed leaves it near 0, whatever the
    neighbours take of its core.
    """
    ran_before, waited_before = _scheduled(pid)
    measured = measure()
    ran_after, waited_after = _scheduled(pid)
    if measured is None:
        return None
    ran, waited = ran_after - ran_before, waited_after - waited_before
    requests = max(1.0, measured.requests_per_s * measured.duration_s)
    return replace(
        measured,
        server_idle=max(0.0, 1 - (ran + waited) / measured.duration_s),
        server_cpu_ms_per_request=ran * 1000 / requests,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def hey(url: str, body_file: Path, connections: int, seconds: int) -> Measured:
    command = ["hey", "-z", f"{seconds}s", "-c", str(connections), "-m", "POST"]
    command += ["-T", "application/json", "-D", str(body_file), url]
    before = _children_cpu()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = _children_cpu() - before
    statuses = {int(s): int(n) for s, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    errors = 0
    if "Error distribution:" in out:
        listed = out.split("Error distribution:")[-1]
        errors = sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]\s+\S", listed, re.MULTILINE))
    requests = sum(statuses.values()) + errors
    return Measured(
        requests_per_s=float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        p50_ms=float(_find(r"50% in ([\d.]+) secs", out)) * 1000,
        p99_ms=float(_find(r"99% in ([\d.]+) secs", out)) * 1000,
        cpu_ms_per_request=cpu * 1000 / max(1, requests),
        failures=requests - statuses.get(200, 0) - statuses.get(201, 0),
        duration_s=float(_find(r"Total:\s+([\d.]+) secs", out)),
    )


def wrk_post(url: str, body: str, connections: int, seconds: int) -> Measured:
    before = _children_cpu()
    result = wrk(url, connections=connections, seconds=seconds, body=body)
    cpu = _children_cpu() - before
    return Measured(
        requests_per_s=result.requests_per_s,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_ms_per_request=cpu * 1000 / max(1.0, result.requests_per_s * seconds),
        failures=result.non_2xx + result.errors,
        duration_s=seconds,
    )


def cache_cli(base: str, body: str, connections: int, seconds: int) -> Measured:
    """POST only (hey's workload), every answer still checked.

    Its CPU is the run's less that of ``cache-cli --version`` run just before: the interpreter's
    start-up and imports are a constant, not a cost per request.
    """
    before = _children_cpu()
    version = [sys.executable, "-m", "cache_cli", "--version"]
    subprocess.run(version, capture_output=True, check=True)
    start_up = _children_cpu() - before
    command = [sys.executable, "-m", "cache_cli", "-h", base, "-j", body, "--no-get"]
    command += ["-c", str(connections), "-z", f"{seconds}s", "--format", "json"]
    before = _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = _children_cpu() - before - start_up
    summary = json.loads(done.stdout)
    latency = summary["endpoints"]["POST /payload"]["latency_ms"]
    return Measured(
        requests_per_s=summary["requests_per_s"],
        p50_ms=latency["p50"],
        p99_ms=latency["p99"],
        cpu_ms_per_request=cpu * 1000 / max(1, summary["requests"]),
        failures=summary["failures"] + summary["inconsistency_count"],
        duration_s=summary["duration_s"],
    )


def alternative(name: str, url: str, body: str, connections: int, seconds: int) -> Measured | None:
    """A client cache-cli was chosen against (bench/cli_clients.py); None when not installed.

    Its CPU is measured inside it, around the requests only (creating 64 httpx clients alone
    costs seconds of CPU, which is set-up, not a cost per request).
    """
    command = [sys.executable, "-m", "bench.cli_clients", name, url]
    command += [str(connections), str(seconds), body]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    outcome = json.loads(done.stdout)
    if "unavailable" in outcome:
        return None
    return Measured(
        requests_per_s=outcome["requests_per_s"],
        p50_ms=outcome["p50_ms"],
        p99_ms=outcome["p99_ms"],
        cpu_ms_per_request=outcome["cpu_s"] * 1000 / max(1, outcome["requests"]),
        failures=int(outcome["failures"]),
        duration_s=outcome["requests"] / outcome["requests_per_s"],
    )


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"{pattern!r} not in the tool's output:\n{text}")
    return match.group(1)


def _spread(values: list[float], fmt: str) -> str:
    median = statistics.median(values)
    return f"{median:{fmt}} ({min(values):{fmt}} to {max(values):{fmt}})"


def compare(rounds: int, seconds: int, connections: int) -> tuple[str, list[str]]:
    """Markdown tables: each tool's median and range over ``rounds``, and same-round ratios."""
    body = json.dumps(BRIEF)
    tools: dict[str, list[Measured]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        body_file = workdir / "body.json"
        body_file.write_text(body)
        with _service(workdir) as (base, pid):
            url = f"{base}/payload"
            httpx.post(url, json=BRIEF, timeout=30).raise_for_status()  # Every POST after: HIT.
            # Every tool is a child of this process: pinned here, they all run on LOAD_CPU.
            os.sched_setaffinity(0, {int(LOAD_CPU)})
            order: list[tuple[str, Callable[[], Measured | None]]] = [
                ("hey", lambda: hey(url, body_file, connections, seconds)),
                ("cache-cli", lambda: cache_cli(base, body, connections, seconds)),
                ("wrk", lambda: wrk_post(url, body, connections, seconds)),
                ("httpx (tuned)", lambda: alternative("httpx", url, body, connections, seconds)),
                ("aiohttp", lambda: alternative("aiohttp", url, body, connections, seconds)),
            ]
            for name, _ in order:
                tools[name] = []
            for number in range(1, rounds + 1):
                print(f"round {number}/{rounds}", flush=True)
                # Forwards, then backwards: a drift in the machine's load favours no tool.
                for name, measure in order if number % 2 else order[::-1]:
                    measured = _with_server(pid, measure)
                    if measured is not None:
                        tools[name].append(measured)
                        print(f"  {name}: {measured}", flush=True)
    rows = [
        "| tool | req/s | p50 ms | p99 ms | client CPU ms/request | failed answers "
        "| server idle | server CPU ms/request |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, runs_ in tools.items():
        if not runs_:
            continue
        rows.append(
            f"| {name} | {_spread([m.requests_per_s for m in runs_], ',.0f')} "
            f"| {_spread([m.p50_ms for m in runs_], '.1f')} "
            f"| {_spread([m.p99_ms for m in runs_], '.1f')} "
            f"| {_spread([m.cpu_ms_per_request for m in runs_], '.3f')} "
            f"| {sum(m.failures for m in runs_)} "
            f"| {_spread([m.server_idle for m in runs_], '.2f')} "
            f"| {_spread([m.server_cpu_ms_per_request for m in runs_], '.3f')} |"
        )
    ratios = [
        "| cache-cli ÷ | req/s (target ≥ 0.8) | p50 (target ≤ 1.2) |",
        "| --- | --- | --- |",
    ]
    cli = tools["cache-cli"]
    for reference in ("hey", "wrk"):
        others = tools[reference]
        rps = [c.requests_per_s / o.requests_per_s for c, o in zip(cli, others, strict=True)]
        p50 = [c.p50_ms / o.p50_ms for c, o in zip(cli, others, strict=True)]
        ratios.append(f"| {reference} | {_spread(rps, '.2f')} | {_spread(p50, '.2f')} |")
    return "\n".join(rows), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6, help="every tool once per round")
    parser.add_argument("--seconds", type=int, default=5, help="each tool's run")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    for tool in ("hey", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: apt-get install {tool}")
    started = datetime.now(UTC)
    table, ratios = compare(args.rounds, args.seconds, args.connections)
    section = (
        f"{BEGIN}\n## cache-cli against hey and wrk\n\n"
        f"Run {started:%Y-%m-%d %H:%M} UTC with `make bench-cli`: the same POST hit, "
        f"{args.connections} connections, {args.seconds} s per tool, {args.rounds} rounds "
        "(median, range in brackets). The service (CACHE_STORE=memory) is pinned to CPU "
        f"{SERVER_CPU}, every tool to CPU {LOAD_CPU}; load average (1 min) at the end "
        f"{os.getloadavg()[0]:.1f}. "
        "cache-cli runs with `--no-get` (hey's workload) and checks every answer; its CPU "
        "excludes its interpreter's start-up (a `--version` run's CPU, measured in the same "
        "round); the alternatives count the CPU of their requests only. httpx and aiohttp "
        "are the clients it was chosen against, "
        "doing the same checks (bench/cli_clients.py). Server idle is the share of a tool's run "
        "in which the service neither ran nor waited for its CPU, so waited for requests: "
        "near 0, the tool kept it fed and the neighbours' share of CPU 0 set the pace.\n\n"
        f"{table}\n\nSame-round ratios:\n\n" + "\n".join(ratios) + f"\n{END}\n"
    )
    write_section(BEGIN, END, section)
    print(section)


if __name__ == "__main__":
    main()
