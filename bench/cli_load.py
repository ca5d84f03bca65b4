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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.load import wrk
from bench.run import BRIEF, LOAD_CPU, RESULTS, SERVER_CPU, server, service

BEGIN, END = "<!-- cli-load: begin -->", "<!-- cli-load: end -->"


@dataclass(frozen=True)
class Measured:
    """One tool's run: throughput, latency and the client CPU it spent per request."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    failures: int


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_per_request(run: Callable[[], tuple[float, float, float, int, int]]) -> Measured:
    """``run`` returns (req/s, p50, p99, failures, requests); CPU is its children's."""
    before = _children_cpu()
    rps, p50, p99, failures, requests = run()
    cpu = _children_cpu() - before
    return Measured(rps, p50, p99, cpu * 1000 / max(1, requests), failures)


def hey(url: str, body_file: Path, connections: int, seconds: int) -> Measured:
    def run() -> tuple[float, float, float, int, int]:
        command = ["hey", "-z", f"{seconds}s", "-c", str(connections), "-m", "POST"]
        command += ["-T", "application/json", "-D", str(body_file), url]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rps = float(_find(r"Requests/sec:\s+([\d.]+)", out))
        p50 = float(_find(r"50% in ([\d.]+) secs", out)) * 1000
        p99 = float(_find(r"99% in ([\d.]+) secs", out)) * 1000
        statuses = {int(s): int(n) for s, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
        errors = (
            sum(
                int(n)
                for n in re.findall(
                    r"^\s+\[(\d+)\]\s+\S", out.split("Error distribution:")[-1], re.M
                )
            )
            if "Error distribution:" in out
            else 0
        )
        answered = sum(statuses.values())
        failures = answered - statuses.get(200, 0) - statuses.get(201, 0) + errors
        return rps, p50, p99, failures, answered + errors

    return _cpu_per_request(run)


def wrk_post(url: str, body: str, connections: int, seconds: int) -> Measured:
    def run() -> tuple[float, float, float, int, int]:
        result = wrk(url, connections=connections, seconds=seconds, body=body)
        failures = result.non_2xx + result.errors
        return (
            result.requests_per_s,
            result.p50_ms,
            result.p99_ms,
            failures,
            round(result.requests_per_s * seconds),
        )

    return _cpu_per_request(run)


def cache_cli(base: str, body: str, connections: int, seconds: int) -> Measured:
    """POST only (hey's workload), every answer still checked.

    Its CPU is the run's less that of ``cache-cli --version`` run just before: the interpreter's
    start-up and imports are a constant, not a cost per request.
    """
    start_up = _children_cpu()
    subprocess.run(
        [sys.executable, "-m", "cache_cli", "--version"], capture_output=True, check=True
    )
    start_up = _children_cpu() - start_up

    def run() -> tuple[float, float, float, int, int]:
        command = [sys.executable, "-m", "cache_cli", "-h", base, "-j", body, "--no-get"]
        command += ["-c", str(connections), "-z", f"{seconds}s", "--format", "json"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        summary = json.loads(done.stdout)
        latency = summary["endpoints"]["POST /payload"]["latency_ms"]
        failures = summary["failures"] + summary["inconsistency_count"]
        return (
            summary["requests_per_s"],
            latency["p50"],
            latency["p99"],
            failures,
            summary["requests"],
        )

    measured = _cpu_per_request(run)
    requests = max(1.0, measured.requests_per_s * seconds)
    cpu_ms = measured.cpu_ms_per_request - start_up * 1000 / requests
    return Measured(
        measured.requests_per_s, measured.p50_ms, measured.p99_ms, cpu_ms, measured.failures
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
        outcome["requests_per_s"],
        outcome["p50_ms"],
        outcome["p99_ms"],
        outcome["cpu_s"] * 1000 / max(1, outcome["requests"]),
        int(outcome["failures"]),
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
        with server(*service({"CACHE_STORE": "memory"}, workdir)) as base:
            url = f"{base}/payload"
            httpx.post(url, json=BRIEF, timeout=30).raise_for_status()  # Every POST after: HIT.
            # Every tool is a child of this process: pinned here, they all run on LOAD_CPU.
            os.sched_setaffinity(0, {int(LOAD_CPU)})
            for number in range(1, rounds + 1):
                print(f"round {number}/{rounds}", flush=True)
                runs: dict[str, Measured | None] = {
                    "hey": hey(url, body_file, connections, seconds),
                    "wrk": wrk_post(url, body, connections, seconds),
                    "cache-cli": cache_cli(base, body, connections, seconds),
                    "httpx (tuned)": alternative("httpx", url, body, connections, seconds),
                    "aiohttp": alternative("aiohttp", url, body, connections, seconds),
                }
                for name, measured in runs.items():
                    if measured is not None:
                        tools.setdefault(name, []).append(measured)
                        print(f"  {name}: {measured}", flush=True)
    rows = [
        "| tool | req/s | p50 ms | p99 ms | client CPU ms/request | failed answers |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, runs_ in tools.items():
        rows.append(
            f"| {name} | {_spread([m.requests_per_s for m in runs_], ',.0f')} "
            f"| {_spread([m.p50_ms for m in runs_], '.1f')} "
            f"| {_spread([m.p99_ms for m in runs_], '.1f')} "
            f"| {_spread([m.cpu_ms_per_request for m in runs_], '.3f')} "
            f"| {sum(m.failures for m in runs_)} |"
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
    parser.add_argument("--rounds", type=int, default=3, help="every tool once per round")
    parser.add_argument("--seconds", type=int, default=8, help="each tool's run")
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
        f"{SERVER_CPU}, every tool to CPU {LOAD_CPU}; other work shared the machine. "
        "cache-cli runs with `--no-get` (hey's workload) and checks every answer; its CPU "
        "excludes its interpreter's start-up (a `--version` run's CPU, measured in the same "
        "round); the alternatives count the CPU of their requests only. httpx and aiohttp "
        "are the clients it was chosen against, "
        "doing the same checks (bench/cli_clients.py).\n\n"
        f"{table}\n\nSame-round ratios:\n\n" + "\n".join(ratios) + f"\n{END}\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
