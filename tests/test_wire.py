"""The wire transport: routing, the policy model on aerodf's own connections,
partition-map refresh, the decoder's irregular paths and the digest fallback.

Read/query/write suites already run over ``wire`` (conftest's ``transport``);
the differential property test against the official path is in
the differential tests in tests/test_decoding.py.
"""

from __future__ import annotations

import time

import aerospike
import numpy as np
import polars as pl
import pytest

import aerodf
from helpers import wait_until
from aerodf.protocol import digest as dg
from aerodf.wire import batch as wb

NUM = {"v": "int64", "w": "float64"}


@pytest.fixture(scope="module")
def cluster_data(aerospike_cluster):
    frame = pl.DataFrame({"key": list(range(300)), "v": list(range(300)), "w": [i / 4 for i in range(300)]})
    with aerodf.connect(aerospike_cluster.hosts) as c:
        aerodf.write_frame(frame, "test", "wire3", client=c)
    return "wire3"


def test_routes_by_partition_over_all_nodes_from_one_seed(aerospike_cluster, cluster_data):
    with aerodf.connect(aerospike_cluster.hosts[:1], transport="wire") as c:
        assert len(c.transport.cluster.map.nodes) == 3
        aerospike_cluster.reset_stats()
        df = c.read_batch(range(300), NUM, namespace="test", set=cluster_data, output="polars", chunk_size=300)
        assert df["v"].to_list() == list(range(300))
        st = aerospike_cluster.stats()
        # one request per node for the one chunk: every key went to the node owning its partition
        assert [st[f"node{i}_requests"] for i in range(3)] == [1, 1, 1]
        assert c.read_paths["wire"] == 300


def test_stalled_node_retries_on_the_replica(aerospike_cluster, cluster_data):
    with aerodf.connect(aerospike_cluster.hosts, transport="wire") as c:
        aerospike_cluster.add_fault("delay", command="batch", node=0, ms=1500, count=1)
        df = c.read_batch(range(300), NUM, namespace="test", set=cluster_data, output="polars", chunk_size=300,
                          socket_timeout=200, total_timeout=3000, max_retries=2)
        assert df["v"].to_list() == list(range(300))
        aerospike_cluster.clear_faults()
        aerospike_cluster.add_fault("delay", command="batch", node=0, ms=1500)  # every attempt
        with pytest.raises(aerodf.TimeoutError) as e:
            c.read_batch(range(300), NUM, namespace="test", set=cluster_data, chunk_size=300, replica="master",
                         socket_timeout=200, total_timeout=600, max_retries=1)
        # the error names exactly the keys whose master is the stalled node 0
        nodes = c.transport.cluster.map.nodes
        stalled = next(i for i, n in enumerate(nodes) if (n.host, n.port) == tuple(aerospike_cluster.hosts[0]))
        owners = c.transport.cluster.owners("test")[0]
        pids = [dg.partition_id(bytes(d)) for d in wb.digests([("test", cluster_data, k) for k in range(300)])]
        on_node0 = [k for k in range(300) if owners[pids[k]] == stalled]
        assert sorted(e.value.keys) == on_node0 and 0 < len(on_node0) < 300
        aerospike_cluster.clear_faults()
        time.sleep(1.6)  # let the stalled answers drain


def test_partition_map_follows_nodes_leaving_and_joining(aerospike_cluster, cluster_data):
    with aerodf.connect(aerospike_cluster.hosts, transport="wire", config={"tend_interval": 100}) as c:
        cl = c.transport.cluster
        assert len(cl.map.nodes) == 3
        aerospike_cluster.stop_node(2)
        try:
            assert wait_until(lambda: len(cl.map.nodes) == 2)
            assert (cl.owners("test")[0] >= 0).all()  # every partition has a master again
            df = c.read_batch(range(300), NUM, namespace="test", set=cluster_data, output="polars")
            assert df["v"].to_list() == list(range(300))
        finally:
            aerospike_cluster.start_node(2)
        assert wait_until(lambda: len(cl.map.nodes) == 3)
        df = c.read_batch(range(300), NUM, namespace="test", set=cluster_data, output="polars")
        assert df["w"].to_list() == [i / 4 for i in range(300)]


def test_what_the_wire_does_not_cover_runs_through_the_official_client(aerospike_server, set_name):
    from aerospike_helpers import expressions as exp

    aerodf.write_frame(pl.DataFrame({"key": [1, 2], "v": [1, 2], "s": ["a", "b"]}), "test", set_name,
                       client=aerodf.connect(aerospike_server.hosts))
    with aerodf.connect(aerospike_server.hosts, transport="wire") as c:
        assert c.transport_name == "wire"
        df = c.read_batch([1, 2], {"v": "int64", "s": "string"}, namespace="test", set=set_name, output="polars")
        assert df.to_dicts() == [{"v": 1, "s": "a"}, {"v": 2, "s": "b"}]
        assert c.read_paths == {"wire": 2}
        df = c.read_batch([1, 2], {"v": "int64"}, namespace="test", set=set_name, output="polars",
                          filter=exp.Eq(exp.IntBin("v"), 2).compile())
        assert df["v"].to_list() == [None, 2]
        assert c.read_paths == {"wire": 2, "general": 2}


def test_digests_match_the_server_with_and_without_hashlib(monkeypatch):
    keys = [("test", "s", 1), ("test", "s", -5), ("test", "", 2**62), ("test", "s", "ab"), ("test", "s", b"\x00")]
    want = [dg.compute_digest(k[1], k[2]) for k in keys]
    assert [bytes(r) for r in wb.digests(keys)] == want
    monkeypatch.setattr(wb, "prefixed_hasher", lambda prefix: None)  # no RIPEMD-160 in hashlib
    monkeypatch.setattr(wb, "ripemd160", dg._pure_ripemd160)
    assert [bytes(r) for r in wb.digests(keys)] == want


def test_request_rows_are_repeat_rows_after_the_first():
    dig = wb.digests([("test", "s", k) for k in range(3)])
    msg = wb.request("test", "s", aerodf.Schema(NUM).bins, np.arange(3), dig, aerodf.BatchPolicy(), 100)
    body = msg[8 + 22 + 5:]
    (n,) = wb._U32.unpack_from(body, 0)
    assert n == 3 and body[4] == 0x0D  # batch flag, allow inline, respond all keys
    tail = body[-2 * 25:]
    assert tail[24] == 1 and tail[49] == 1  # REPEAT
    assert tail[4:24] == dig[1].tobytes() and wb._U32.unpack_from(tail, 25)[0] == 2


# ----------------------------------------------------------------------------- scans


def test_scan_on_the_wire_equals_the_official_scan(aerospike_cluster, cluster_data):
    kw = dict(client=None, output="polars", with_key=True, with_meta=True)
    with aerodf.connect(aerospike_cluster.hosts, transport="official") as off, \
            aerodf.connect(aerospike_cluster.hosts[:1], transport="wire") as wire:
        want = aerodf.read_query("test", cluster_data, NUM, **{**kw, "client": off}).sort("key")
        got = aerodf.read_query("test", cluster_data, NUM, **{**kw, "client": wire}).sort("key")
        assert got.equals(want) and got.height == 300
        assert wire.read_paths["wire_scan"] == 1
        batches = list(aerodf.iter_batches("test", cluster_data, NUM, client=wire, batch_size=64))
        assert sum(b.num_rows for b in batches) == 300
        assert max(b.num_rows for b in batches) < 300  # streamed, not one table
        # a pushed filter is sent on the wire; a record cap is the official client's job
        got = aerodf.read_query("test", cluster_data, NUM, where=pl.col("v") > 250, client=wire, output="polars")
        assert sorted(got["v"].to_list()) == list(range(251, 300))
        assert wire.read_paths["wire_scan"] == 3
        got = aerodf.read_query("test", cluster_data, NUM, max_records=5, client=wire, output="polars")
        assert got.height == 5 and wire.read_paths["general_scan"] == 1


def test_scan_retries_a_failed_node_on_its_replica(aerospike_cluster, cluster_data):
    with aerodf.connect(aerospike_cluster.hosts, transport="wire") as c:
        aerospike_cluster.add_fault("drop", command="query", node=1, count=1)
        got = aerodf.read_query("test", cluster_data, NUM, client=c, output="polars")
        assert sorted(got["v"].to_list()) == list(range(300))
        aerospike_cluster.clear_faults()
        aerospike_cluster.add_fault("error", command="query", node=0, code=11)  # always unavailable
        got = aerodf.read_query("test", cluster_data, NUM, client=c, output="polars")  # sequence: replica
        assert sorted(got["v"].to_list()) == list(range(300))
        with pytest.raises(aerodf.AerospikeServerError) as e:
            aerodf.read_query("test", cluster_data, NUM, client=c, replica="master", max_retries=1)
        aerospike_cluster.clear_faults()
        nodes = c.transport.cluster.map.nodes
        node0 = next(i for i, n in enumerate(nodes) if (n.host, n.port) == tuple(aerospike_cluster.hosts[0]))
        masters = c.transport.cluster.owners("test")[0]
        on_node0 = {p for p in range(4096) if masters[p] == node0}
        # the first partition range to fail raises, naming its partitions that node 0 holds
        assert e.value.partitions and set(e.value.partitions) <= on_node0
        assert "partitions not read" in str(e.value)


def test_a_node_missing_one_refresh_keeps_its_partitions(aerospike_cluster, cluster_data):
    from aerodf.wire.cluster import MISSES

    with aerodf.connect(aerospike_cluster.hosts, transport="wire", config={"tend_interval": 3_600_000}) as c:
        cl = c.transport.cluster
        aerospike_cluster.stop_node(2)
        try:
            for _ in range(MISSES - 1):  # a busy node that misses a deadline is not dropped at once
                cl.refresh()
                assert len(cl.map.nodes) == 3
            cl.refresh()
            assert len(cl.map.nodes) == 2 and (cl.owners("test")[0] >= 0).all()
        finally:
            aerospike_cluster.start_node(2)
        cl.refresh()
        assert len(cl.map.nodes) == 3


def test_scan_sends_ints_too_wide_for_their_field_to_the_general_builders(aerospike_server, set_name):
    frame = pl.DataFrame({"key": list(range(50)), "v": [300 if k == 7 else k for k in range(50)],
                          "w": [k / 2 for k in range(50)]})
    with aerodf.connect(aerospike_server.hosts, transport="wire") as wire, \
            aerodf.connect(aerospike_server.hosts) as off:
        aerodf.write_frame(frame, "test", set_name, client=off)
        schema = {"v": "int8", "w": "float64"}
        with pytest.raises(aerodf.IntegerOverflowError) as e:
            aerodf.read_query("test", set_name, schema, client=wire)
        assert e.value.key == 7 and e.value.value == 300
        kw = dict(output="polars", with_key=True, on_type_error="null")
        got = aerodf.read_query("test", set_name, schema, client=wire, **kw).sort("key")
        assert got.equals(aerodf.read_query("test", set_name, schema, client=off, **kw).sort("key"))
        assert got.filter(pl.col("key") == 7)["v"].to_list() == [None]
        assert wire.read_paths["wire_scan"] == 2


@pytest.mark.fake_only
def test_compressed_reads_and_scans_stay_on_the_wire(aerospike_server, client, set_name):
    for k in range(120):
        client.put(("test", set_name, k), {"s": "x" * 200 + str(k), "v": k}, policy={"key": aerospike.POLICY_KEY_SEND})
    schema = {"s": "string", "v": "int64"}
    with aerodf.connect(aerospike_server.hosts, transport="wire") as w, \
            aerodf.connect(aerospike_server.hosts, transport="official") as o:
        aerospike_server.reset_stats()
        got = w.read_batch(range(121), schema, namespace="test", set=set_name, output="arrow", compress=True)
        assert aerospike_server.stats()["compressed_requests"] >= 1
        assert got.equals(o.read_batch(range(121), schema, namespace="test", set=set_name, output="arrow"))
        scan = aerodf.read_query("test", set_name, schema, client=w, output="polars",
                                 policy=aerodf.QueryPolicy(compress=True))
        assert sorted(scan["v"].to_list()) == list(range(120))
        assert aerospike_server.stats()["compressed_requests"] >= 2
        assert w.read_paths == {"wire": 121, "wire_scan": 1}


@pytest.mark.fake_only
@pytest.mark.parametrize("delay", [0, 3000])
def test_timeout_delay_drains_the_late_answer_and_keeps_the_connection(aerospike_server, client, set_name, delay):
    for k in range(20):
        client.put(("test", set_name, k), {"v": k})
    with aerodf.connect(aerospike_server.hosts, transport="wire") as c:
        node = c.transport.cluster.map.nodes[0]
        aerospike_server.add_fault("delay", command="batch", ms=500, count=1)
        try:
            with pytest.raises(aerodf.TimeoutError):
                c.read_batch(range(20), {"v": "int64"}, namespace="test", set=set_name, socket_timeout=100,
                             total_timeout=1000, max_retries=0, timeout_delay=delay)
        finally:
            aerospike_server.clear_faults()
        if delay:
            assert wait_until(lambda: node.drained == 1)  # the answer arrived within the delay: read and dropped
            assert len(node._idle) >= 1  # ... and the connection went back to the pool
        else:
            time.sleep(0.6)
            assert node.drained == 0
        df = c.read_batch(range(20), {"v": "int64"}, namespace="test", set=set_name, output="polars")
        assert df["v"].to_list() == list(range(20))  # a drained connection carries no stale bytes
