"""The benchmark harness works end to end (--quick checks the harness, not the speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.fake_only
@pytest.mark.timeout(300)
def test_quick_run_writes_json_markdown_and_chart(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads((tmp_path / "latest.json").read_text())
    assert payload["quick"] is True
    rb = payload["read_batch"]["mixed/2000"]
    assert set(rb) >= {"bare client.batch_read", "aerodf.read_batch -> pandas", "aerodf.read_batch -> polars"}
    assert all(r["median_s"] > 0 and r["server_s"] is not None for r in rb.values())
    assert {"aerodf.read_query(where=age > 80)", "aerodf.read_query -> pandas"} <= set(payload["scan"])
    assert "aerodf.write_frame (polars)" in payload["write"]
    assert "aerodf aerospike-py general -> polars" in payload["read_batch"]["numeric/2000"]
    assert {"aerodf wire -> pandas", "aerodf wire -> polars"} <= set(rb)
    assert "3 bins: aerodf wire -> polars" in payload["read_batch"]["numeric/2000"]
    assert "aerodf wire read_query(where=age > 80)" in payload["scan"]
    lat = payload["serving"]["latency"]
    assert {r["concurrency"] for r in lat.values()} == {1, 4}
    assert all(r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"] for r in lat.values())
    assert any(k.startswith("aerodf.aio aerospike-py") for k in lat)
    gil = payload["serving"]["gil"]
    assert all(r["slowdown"] > 0 and r["fetch_requests_per_s"] > 0 for r in gil.values())
    md = (tmp_path / "latest.md").read_text()
    assert "### read_batch, 2,000 keys, mixed schema" in md and "p99 ms" in md and "GIL share" in md
    png = (tmp_path / "latest.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_server_cpu_reads_a_process_cpu_time_from_proc():
    import os
    import time

    sys.path.insert(0, str(ROOT))
    from benchmarks.run import server_cpu

    assert server_cpu(None) is None
    before = server_cpu(os.getpid())
    t = time.process_time()
    while time.process_time() - t < 0.2:
        pass
    assert server_cpu(os.getpid()) - before >= 0.1
