"""A scan that fails on one node names exactly what it did not deliver.

Three test-server nodes; partition ``p`` is mastered by node ``p % 3``. One
node answers every query with PARTITION_UNAVAILABLE (11) and no retry is
allowed, so the scan must fail, and its error must name every partition whose
records were not all delivered (never fewer), while the rows delivered before
the error together with the named partitions cover the whole set. Before, the
official transport named the partitions it had *finished* (it read the
partition tracker's retry flag as "done").
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

import aerodf
from aerodf.protocol.digest import compute_digest, partition_id

N = 600


@pytest.fixture(scope="module")
def spread(aerospike_cluster):
    keys = list(range(N))
    with aerodf.connect(aerospike_cluster.hosts[:1]) as c:
        aerodf.write_frame(pl.DataFrame({"key": keys, "v": keys}), "test", "sf_spread", client=c, send_key=True)
    return {k: partition_id(compute_digest("sf_spread", k)) for k in keys}


@pytest.mark.fake_only
@pytest.mark.parametrize("transport", ["official", "aerospike-py", "wire"])
def test_a_failing_node_is_named_by_its_partitions(aerospike_cluster, spread, transport):
    if transport not in aerodf.transport.available() + ["wire"]:
        pytest.skip(f"{transport} not installed")
    aerospike_cluster.clear_faults()
    aerospike_cluster.add_fault("error", command="query", code=11, node=1)
    try:
        with aerodf.connect(aerospike_cluster.hosts, transport=transport) as c:
            delivered: list[pa.RecordBatch] = []
            with pytest.raises(aerodf.AerospikeServerError) as e:
                for b in aerodf.iter_batches("test", "sf_spread", {"v": "int64"}, client=c, with_key=True,
                                             max_retries=0, max_in_flight=2, batch_size=50):
                    delivered.append(b)
    finally:
        aerospike_cluster.clear_faults()
    # the server's code is kept (the official client may report a range it aborted as 9)
    assert e.value.code in (11, 9), f"the server's result code is kept: {e.value!r}"
    named = set(e.value.partitions)
    failed = {p for p in range(4096) if p % 3 == 1}
    assert failed <= named, f"{len(failed - named)} failed partitions not named"
    got = [k for b in delivered for k in b.column("key").to_pylist()]
    assert len(got) == len(set(got)), "a record was delivered twice"
    missing = {k for k in spread if k not in set(got)}
    assert {spread[k] for k in missing} <= named, "records lost from partitions the error does not name"
    # the healthy nodes' partitions are not named wholesale: the official client aborts the
    # healthy nodes' streams when one fails (a small set is one range, aerodf.query._pieces),
    # and only what they had not finished is named
    healthy = 4096 - len(failed)
    assert len(named - failed) < healthy, f"{len(named - failed)} of {healthy} healthy partitions named"


@pytest.mark.fake_only
@pytest.mark.parametrize("transport", ["official", "wire"])
def test_ctrl_c_stops_a_waiting_scan_promptly_and_the_client_stays_usable(aerospike_server, transport):
    import os
    import signal
    import threading
    import time

    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        aerodf.write_frame(pl.DataFrame({"key": list(range(50)), "v": list(range(50))}), "test", "sf_ctrl_c",
                           client=c)
        aerospike_server.clear_faults()
        aerospike_server.add_fault("delay", command="query", ms=3000)
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        start = time.monotonic()
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                aerodf.read_query("test", "sf_ctrl_c", {"v": "int64"}, client=c, total_timeout=20_000,
                                  socket_timeout=20_000)
            took = time.monotonic() - start
        finally:
            timer.cancel()
            aerospike_server.clear_faults()
            aerospike_server.wait_idle()  # the delayed request is served before the next test
        assert took < 1.5, f"Ctrl-C took {took:.1f} s to stop the scan"
        got = aerodf.read_query("test", "sf_ctrl_c", {"v": "int64"}, client=c, output="polars")
        assert sorted(got["v"].to_list()) == list(range(50))


@pytest.mark.fake_only
@pytest.mark.parametrize("transport", ["official", "wire"])
@pytest.mark.parametrize("how", ["read_query", "scan"])
def test_total_timeout_bounds_the_whole_scan(aerospike_server, transport, how):
    """Every range answers 1.5 s late (a small set is one range, each pass one request
    per node): a total_timeout of 500 ms ends the call near 0.5 s, naming what was not read."""
    import time

    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        aerodf.write_frame(pl.DataFrame({"key": list(range(200)), "v": list(range(200))}), "test", "sf_budget",
                           client=c)
        aerospike_server.clear_faults()
        aerospike_server.add_fault("delay", command="query", ms=1500)
        start = time.monotonic()
        try:
            with pytest.raises(aerodf.AerospikeServerError) as e:
                if how == "read_query":
                    aerodf.read_query("test", "sf_budget", {"v": "int64"}, client=c, total_timeout=500,
                                      max_in_flight=4)
                else:
                    aerodf.scan("test", "sf_budget", {"v": "int64"}, client=c, total_timeout=500,
                                max_in_flight=4).collect()
            took = time.monotonic() - start
        finally:
            aerospike_server.clear_faults()
            aerospike_server.wait_idle()
    assert took < 1.0, f"a 500 ms budget took {took:.2f} s"
    assert e.value.partitions, "the error names the partitions not read"
    with pytest.raises(aerodf.ConfigError):
        aerodf.scan("test", "sf_budget", {"v": "int64"}, hosts=aerospike_server.hosts, total_timout=5)


@pytest.mark.fake_only
@pytest.mark.parametrize("transport", ["official", "wire"])
def test_a_failing_node_is_named_by_its_keys_across_every_chunk(aerospike_cluster, spread, transport):
    """read_batch over several chunks with node 1 failing: the error names exactly the keys
    node 1 masters, in every chunk, not only the first failing one."""
    aerospike_cluster.clear_faults()
    aerospike_cluster.add_fault("error", command="batch", code=11, node=1)
    try:
        with aerodf.connect(aerospike_cluster.hosts, transport=transport) as c:
            with pytest.raises(aerodf.AerospikeServerError) as e:
                aerodf.read_batch(list(spread), {"v": "int64"}, namespace="test", set="sf_spread", client=c,
                                  chunk_size=100, replica="master", max_retries=0)
    finally:
        aerospike_cluster.clear_faults()
    on_node1 = sorted(k for k, p in spread.items() if p % 3 == 1)
    assert sorted(e.value.keys) == on_node1
    assert f"{len(on_node1)} of {N} keys not read" in str(e.value)
