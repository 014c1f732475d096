"""The README's main job, ``python -m aerodf demo``, on a small scale."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from aerodf import demo


def _count(client, set_name):
    return len(client.query("test", set_name).results())


def test_demo_loads_reads_and_reports_every_path(aerospike_server, client, set_name):
    out = io.StringIO()
    timings = demo.run(aerospike_server.hosts, "test", set_name, 3000, 1, out=out)
    assert set(timings) == {"client batch_read (no frame)", "aerodf.read_batch -> pandas",
                            "aerodf.read_batch -> polars", "aerodf wire transport -> polars"}
    assert all(t > 0 for t in timings.values())
    text = out.getvalue()
    assert "loaded in" in text and "array[f32, 16]" in text and "rec/s" in text
    # it leaves nothing behind in the user's cluster by default
    assert "removed 3,000 demo records" in text
    assert _count(client, set_name) == 0


def test_demo_keeps_its_records_only_when_asked(aerospike_server, client, set_name):
    client.put(("test", set_name, 10_000), {"mine": 1})  # not a demo key: never touched
    out = io.StringIO()
    demo.run(aerospike_server.hosts, "test", set_name, 500, 1, out=out, keep=True)
    assert "kept the 500 demo records" in out.getvalue()
    assert _count(client, set_name) == 501
    assert demo.main(["--hosts", aerospike_server.seed, "--set", set_name, "--records", "500", "--repeat", "1"]) == 0
    assert [r[2] for r in client.query("test", set_name).results()] == [{"mine": 1}]


@pytest.mark.fake_only
@pytest.mark.timeout(240)
def test_demo_command_starts_its_own_server():
    proc = subprocess.run([sys.executable, "-m", "aerodf", "demo", "--records", "2000", "--repeat", "1"],
                          capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "started aerodf's test server" in proc.stdout and "aerodf wire transport -> polars" in proc.stdout
