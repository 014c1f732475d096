"""Faults on a real multi-node cluster: scans, batch reads and writes with a node stalled.

Runs only when a real cluster on this machine is named::

    AERODF_REAL_CLUSTER=127.0.0.1:3200,127.0.0.1:3210,127.0.0.1:3220 \\
    AERODF_REAL_CLUSTER_PIDS=pid1,pid2,pid3 python -m pytest tests/test_real_cluster.py

Each test stops one node's process (SIGSTOP) shortly after the work starts and
resumes it (SIGCONT) a few seconds later, then waits for the cluster to settle
(all nodes back, no migrations left). Every call must end exact, or raise an
error that names exactly what it did not read: the rows delivered plus the
named partitions (or keys) cover the whole set, with no record twice. Writes
must be honest: every row reported written exists afterwards, every row
reported failed does not.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import polars as pl
import pyarrow as pa
import pytest

import aerodf
from aerodf.protocol.digest import compute_digest, partition_id
from aerodf.testing.lifecycle import hosts_from_env

HOSTS = hosts_from_env(os.environ.get("AERODF_REAL_CLUSTER")) if os.environ.get("AERODF_REAL_CLUSTER") else None
PIDS = [int(p) for p in os.environ.get("AERODF_REAL_CLUSTER_PIDS", "").split(",") if p.strip()]
N = int(os.environ.get("AERODF_REAL_CLUSTER_RECORDS", "60000"))
SET = "rc_faults"

pytestmark = [
    pytest.mark.real_cluster,
    pytest.mark.skipif(HOSTS is None or len(PIDS) < 2,
                       reason="set AERODF_REAL_CLUSTER and AERODF_REAL_CLUSTER_PIDS to run against a real cluster"),
]


def _settled(client, timeout: float = 60.0) -> None:
    """Wait until every node is in the cluster again and no partition is migrating."""
    import aerospike

    end = time.monotonic() + timeout
    raw = aerospike.client({"hosts": HOSTS}).connect()
    try:
        while time.monotonic() < end:
            try:
                stats = raw.info_all("statistics")
                ns = raw.info_all("namespace/test")
            except Exception:
                time.sleep(0.5)
                continue
            sizes = {v[1].split("cluster_size=")[1].split(";")[0] for v in stats.values() if v and v[1]}
            left = sum(int(v[1].split("migrate_partitions_remaining=")[1].split(";")[0])
                       for v in ns.values() if v and v[1] and "migrate_partitions_remaining=" in v[1])
            if sizes == {str(len(PIDS))} and left == 0 and len(stats) == len(PIDS):
                return
            time.sleep(0.5)
        raise AssertionError("the cluster did not settle")
    finally:
        raw.close()


def _stall(pid: int, after: float, seconds: float) -> threading.Thread:
    def run():
        time.sleep(after)
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.fixture(scope="module")
def loaded():
    with aerodf.connect(HOSTS) as c:
        _settled(c)
        df = pl.DataFrame({"key": list(range(N)), "a": list(range(N)), "b": [float(i) for i in range(N)],
                           "s": [f"s{i}" for i in range(N)]})
        report = aerodf.write_frame(df, "test", SET, client=c, send_key=True)
        assert report.written == N
    return {k: partition_id(compute_digest(SET, k)) for k in range(N)}


@pytest.fixture(params=["official", "aerospike-py", "wire"])
def rclient(request):
    with aerodf.connect(HOSTS, transport=request.param) as c:
        yield c
        _settled(c)


SCHEMA = {"a": "int64", "b": "float64", "s": "string"}


def _scan_is_exact_or_named(client, loaded: dict, fault: threading.Thread | threading.Timer) -> None:
    """Scan the set while ``fault`` runs: every record once, or an error naming the
    partitions of every record not delivered."""
    delivered: list[pa.RecordBatch] = []
    error = None
    try:
        for b in aerodf.iter_batches("test", SET, SCHEMA, client=client, with_key=True, batch_size=5000):
            delivered.append(b)
    except aerodf.AerospikeServerError as exc:
        error = exc
    fault.join()
    keys = [k for b in delivered for k in b.column("key").to_pylist()]
    assert len(keys) == len(set(keys)), "a record was delivered twice"
    missing = set(loaded) - set(keys)
    if error is None:
        assert not missing, f"{len(missing)} records lost silently"
    else:
        assert error.partitions, error
        assert {loaded[k] for k in missing} <= set(error.partitions), \
            f"{len(missing)} records missing from partitions the error does not name: {error}"


def test_scan_with_a_stalled_node_is_exact_or_names_what_it_missed(rclient, loaded):
    _scan_is_exact_or_named(rclient, loaded, _stall(PIDS[1], 0.3, 4.0))


def test_read_batch_with_a_stalled_node_is_exact_or_names_the_keys(rclient, loaded):
    t = _stall(PIDS[1], 0.2, 3.0)
    keys = list(loaded)
    try:
        df = aerodf.read_batch(keys, SCHEMA, namespace="test", set=SET, client=rclient, output="polars",
                               with_key=True)
    except aerodf.AerospikeServerError as exc:
        t.join()
        assert exc.keys, exc
        # what was named is exactly re-readable: reading it now (the node is back) completes the set
        _settled(rclient)
        again = aerodf.read_batch(exc.keys, SCHEMA, namespace="test", set=SET, client=rclient, output="polars")
        assert again["a"].to_list() == list(exc.keys)
        return
    t.join()
    assert df["a"].to_list() == keys


def test_write_frame_with_a_stalled_node_is_honest(rclient, loaded):
    set_name = f"rc_writes_{rclient.transport_name}"
    n = 20_000
    df = pl.DataFrame({"key": list(range(n)), "v": list(range(n))})
    t = _stall(PIDS[1], 0.2, 3.0)
    report = aerodf.write_frame(df, "test", set_name, client=rclient)
    t.join()
    _settled(rclient)
    failed = set(report.failed["key"].to_list()) if len(report.failed) else set()
    doubt = set(report.in_doubt["key"].to_list()) if len(report.in_doubt) else set()
    assert report.written + len(failed) + len(doubt) == n
    got = aerodf.read_batch(list(range(n)), {"v": "int64"}, namespace="test", set=set_name, client=rclient,
                            output="polars", with_key=True, on_missing="null")
    present = set(got.filter(pl.col("v").is_not_null())["key"].to_list())
    written = set(range(n)) - failed - doubt
    assert written <= present, f"{len(written - present)} rows reported written are missing"
    assert not (failed & present), f"{len(failed & present)} rows reported failed exist"


def _restart(pid: int, cmdline: list[str], cwd: str) -> int:
    """Start a killed node again with the command line it ran with; its new pid."""
    import subprocess

    proc = subprocess.Popen(cmdline, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    PIDS[PIDS.index(pid)] = proc.pid
    return proc.pid


def test_scan_and_read_with_a_killed_node_are_exact_or_named(loaded):
    """SIGKILL a node half a second into a scan, then a batch read; start it again (same
    command line) and wait for migrations. Runs last: the node's pid changes."""
    victim = PIDS[2]
    cmdline = open(f"/proc/{victim}/cmdline", "rb").read().split(b"\0")[:-1]
    cwd = os.readlink(f"/proc/{victim}/cwd")
    for transport in ("official", "aerospike-py", "wire"):
        with aerodf.connect(HOSTS, transport=transport) as c:
            _settled(c)
            victim = PIDS[2]
            killer = threading.Timer(0.5, os.kill, (victim, signal.SIGKILL))
            killer.start()
            _scan_is_exact_or_named(c, loaded, killer)
            # with the node gone (replication factor 2), every key is still readable
            try:
                df = aerodf.read_batch(list(loaded), SCHEMA, namespace="test", set=SET, client=c, output="polars")
                assert df["a"].to_list() == list(loaded)
            except aerodf.AerospikeServerError as exc:
                assert exc.keys, exc
            _restart(victim, [a.decode() for a in cmdline], cwd)
            time.sleep(2)
            _settled(c, timeout=120)
