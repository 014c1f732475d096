"""The README's main job, ``python -m aerodf demo``, on a small scale."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from aerodf import demo


def test_demo_loads_reads_and_reports_every_path(aerospike_server, set_name):
    out = io.StringIO()
    timings = demo.run(aerospike_server.hosts, "test", set_name, 3000, 1, out=out)
    assert set(timings) == {"client batch_read (no frame)", "aerodf.read_batch -> pandas",
                            "aerodf.read_batch -> polars", "aerodf wire transport -> polars"}
    assert all(t > 0 for t in timings.values())
    text = out.getvalue()
    assert "loaded in" in text and "array[f32, 16]" in text and "rec/s" in text


@pytest.mark.fake_only
@pytest.mark.timeout(240)
def test_demo_command_starts_its_own_server():
    proc = subprocess.run([sys.executable, "-m", "aerodf", "demo", "--records", "2000", "--repeat", "1"],
                          capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "started aerodf's test server" in proc.stdout and "aerodf wire transport -> polars" in proc.stdout
