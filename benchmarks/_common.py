"""Shared benchmark helpers: a cluster to measure against, timing, reporting."""

from __future__ import annotations

import contextlib
import gc
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterator

RESULTS = Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def cluster(hosts: str | None) -> Iterator[Any]:
    """A :class:`aerodf.testing.ServerHandle`: the test server in its own process, or ``hosts``."""
    from aerodf.testing import ServerHandle, TestServer, hosts_from_env

    if hosts:
        yield ServerHandle(hosts_from_env(hosts))
        return
    with TestServer() as srv:
        yield srv


def measure(fn: Callable[[], Any], server=None) -> tuple[float, float | None]:
    """Wall seconds of one call, and the server's own serving seconds (test server only)."""
    gc.collect()
    if server is not None and server.is_fake:
        server.reset_stats()
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    served = server.stats()["serve_seconds"] if server is not None and server.is_fake else None
    return wall, served


def interleaved(cases: dict[str, Callable[[], Any]], repeat: int, server=None) -> dict[str, dict[str, Any]]:
    """Run every case ``repeat`` times, interleaved (so drift hits all alike); medians and spread."""
    walls: dict[str, list[float]] = {k: [] for k in cases}
    served: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            w, s = measure(fn, server)
            walls[name].append(w)
            if s is not None:
                served[name].append(s)
    out = {}
    for name in cases:
        w = walls[name]
        out[name] = {
            "median_s": statistics.median(w), "min_s": min(w), "max_s": max(w), "runs": w,
            "server_median_s": statistics.median(served[name]) if served[name] else None,
        }
    return out


def machine() -> dict[str, Any]:
    import os

    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "system": platform.system(), "processor": platform.processor() or None}


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def rss_kb() -> int:
    """This process's resident set size in KiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
