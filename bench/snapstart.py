"""What a SnapStart restore costs the first invocation, against warm invocations, same run.

SnapStart cannot run here, so its semantics are reproduced as in ``tests/aws/test_snapstart.py``:
this process runs the handler's init (``prepare``, the work Lambda snapshots) and
``before_snapshot``, then forks one child at a time, each standing for one restored
environment. A child times ``after_restore`` plus its first invocation, then ``--warm``
invocations of the same request, and reports on a pipe. The goal (issue 20): the first
invocation after a restore within 1.2 x a warm one.

What it leaves out: Firecracker's own restore (loading the snapshot's memory, which Lambda
bills as restore duration) and the page faults of touching restored memory the first time;
a fork's copy-on-write faults are the nearest thing here. To tell them from the code's own
first-time work, each run also forks children that copy every private page before the clock
starts (``--pretouch``), and each child also times warm invocations after the same sweep of its
memory (the caches as a frozen environment's next invocation finds them, roughly).

    .venv/bin/python -m bench.snapstart [--children 15] [--warm 200] [--pretouch]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import sys
import time
from typing import Any

from cache_service.aws.handler import LambdaHandler
from cache_service.settings import Settings
from tests.aws.conftest import FakeContext as Context
from tests.aws.events import rest_event


def event(method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
    """A REST API proxy event on stage ``prod``."""
    headers = {"Content-Type": "application/json"} if body is not None else None
    return rest_event(method, path, headers=headers, body=body)


SETTINGS = {"store": "memory", "transformer_delay_ms": 0}
PAYLOAD = {"list_1": ["alpha", "beta"], "list_2": ["gamma", "delta"]}


def faults() -> int:
    """Minor page faults so far: after a fork, each first write to a page copies it."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def touch_private_pages() -> int:
    """Write each page of every private writable mapping once (a byte onto itself, in C): a
    fork's copy-on-write copies, all taken now. The pages touched."""
    page = os.sysconf("SC_PAGE_SIZE")
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    touched = 0
    for fields in regions:
        name = fields[5] if len(fields) > 5 else ""
        kernel = name in ("[vvar]", "[vdso]", "[vsyscall]")
        if not (fields[1].startswith("rw") and fields[1].endswith("p")) or kernel:
            continue
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        for address in range(start, end, page):
            ctypes.memmove(address, address, 1)
            touched += 1
    return touched


def restored_child(
    handler: LambdaHandler, hit: dict[str, Any], warm: int, *, pretouch: bool = False
) -> dict[str, Any]:
    """One restored environment: the hook and the first invocation, then warm ones (in µs),
    then warm ones each after a sweep of the process's memory."""
    context = Context()
    if pretouch:
        touch_private_pages()
    faulted = faults()
    start = time.perf_counter()
    handler.after_restore()
    restored = time.perf_counter()
    hook_faults = faults() - faulted
    status = handler(hit, context)["statusCode"]
    first = time.perf_counter()
    first_faults = faults() - faulted - hook_faults
    times = []
    faulted = faults()
    for _ in range(warm):
        began = time.perf_counter()
        handler(hit, context)
        times.append(time.perf_counter() - began)
    warm_faults = (faults() - faulted) / warm
    swept = []
    for _ in range(10):
        touch_private_pages()
        began = time.perf_counter()
        handler(hit, context)
        swept.append(time.perf_counter() - began)
    return {
        "status": status,
        "swept_us": statistics.median(swept) * 1e6,
        "hook_us": (restored - start) * 1e6,
        "first_us": (first - restored) * 1e6,
        "warm_us": statistics.median(times) * 1e6,
        "hook_faults": hook_faults,
        "first_faults": first_faults,
        "warm_faults": warm_faults,
    }


def fork(
    handler: LambdaHandler, hit: dict[str, Any], warm: int, *, pretouch: bool
) -> dict[str, Any]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        # The handler's JSON logs and EMF lines: out of the report, as Lambda ships them.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        report = restored_child(handler, hit, warm, pretouch=pretouch)
        with os.fdopen(write, "w") as out:
            json.dump(report, out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        text = answer.read()
    os.waitpid(pid, 0)
    return dict(json.loads(text))


def spread(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"median {statistics.median(values):8.1f}  (min {low:.1f}, max {high:.1f})"


def measure(
    children: int, warm: int, *, hit_before_snapshot: bool = False, pretouch: bool = False
) -> dict[str, Any]:
    """Init once, then ``children`` restored environments; their reports and the init time."""
    handler = LambdaHandler(lambda: Settings.model_validate(SETTINGS))
    began = time.perf_counter()
    saved = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        handler.prepare()
        created = handler(event("POST", "/payload", json.dumps(PAYLOAD).encode()), Context())
        if hit_before_snapshot:
            identifier = json.loads(created["body"])["id"]
            for _ in range(3):
                handler(event("GET", f"/payload/{identifier}"), Context())
        handler.before_snapshot()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
    init_ms = (time.perf_counter() - began) * 1000
    location = json.loads(created["body"])["id"]
    hit = event("GET", f"/payload/{location}")
    reports = [fork(handler, hit, warm, pretouch=pretouch) for _ in range(children)]
    assert all(r["status"] == 200 for r in reports), reports
    handler.close()
    ratios = [(r["hook_us"] + r["first_us"]) / r["warm_us"] for r in reports]
    swept = [(r["hook_us"] + r["first_us"]) / r["swept_us"] for r in reports]
    return {"init_ms": init_ms, "reports": reports, "ratios": ratios, "swept_ratios": swept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=15, help="restored environments")
    parser.add_argument("--warm", type=int, default=200, help="warm invocations per child")
    parser.add_argument(
        "--hit-before-snapshot",
        action="store_true",
        help="also serve the hit before the snapshot (init cannot on AWS: it needs the store)",
    )
    parser.add_argument(
        "--pretouch", action="store_true", help="take the fork's page copies before the clock"
    )
    args = parser.parse_args()
    measured = measure(
        args.children,
        args.warm,
        hit_before_snapshot=args.hit_before_snapshot,
        pretouch=args.pretouch,
    )
    reports, ratios = measured["reports"], measured["ratios"]
    print(f"SnapStart, reproduced by fork: {args.children} restored environments, memory store,")
    print(f"Powertools on; a GET hit; {args.warm} warm invocations each. Init (prepare + one")
    print(
        f"POST + before_snapshot): {measured['init_ms']:.0f} ms, paid once per published version."
    )
    print(f"  after_restore hook      µs  {spread([r['hook_us'] for r in reports])}")
    print(f"  first invocation        µs  {spread([r['first_us'] for r in reports])}")
    print(f"  warm invocation (median) µs {spread([r['warm_us'] for r in reports])}")
    print(f"  warm after a memory sweep µs {spread([r['swept_us'] for r in reports])}")
    print(f"  (hook + first) / warm       {spread(ratios)}   goal <= 1.2")
    print(f"  (hook + first) / swept warm {spread(measured['swept_ratios'])}")
    print(f"  page faults: hook {spread([float(r['hook_faults']) for r in reports])}")
    print(f"               first {spread([float(r['first_faults']) for r in reports])}")
    print(f"               warm {spread([float(r['warm_faults']) for r in reports])}")
    if args.hit_before_snapshot:
        print("  (the hit was served 3 times before the snapshot)")
    if args.pretouch:
        print("  (every private page copied before the clock started)")


if __name__ == "__main__":
    main()
