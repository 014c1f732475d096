"""Policies reach the wire, the limiter bounds the cluster, faults are survived or named.

Fake-only tests inject faults with aerodf's test server; the rest also run
against a real cluster.
"""

from __future__ import annotations

import threading
import time

import polars as pl
import pytest

import aerodf
from aerodf.protocol.digest import compute_digest, partition_id

N = 60


@pytest.fixture(scope="module")
def loaded(aerospike_server):
    with aerodf.connect(aerospike_server.hosts) as c:
        aerodf.write_frame(pl.DataFrame({"key": list(range(N)), "v": list(range(N))}), "test", "rel", client=c)
    return "rel"


# ----------------------------------------------------------------------------- policies on the wire


def test_policy_fields_reach_the_client_library():
    from aerodf.transport import official

    bp = official.batch_policy(aerodf.BatchPolicy(connect_timeout=700, socket_timeout=150, total_timeout=900,
                                                  max_retries=3, sleep_between_retries=20, timeout_delay=3000,
                                                  replica="master", compress=True, concurrent=True))
    assert bp == {**bp, "connect_timeout": 700, "socket_timeout": 150, "total_timeout": 900, "max_retries": 3,
                  "sleep_between_retries": 20, "timeout_delay": 3000, "replica": 0, "compress": True,
                  "concurrent": True}
    import aerospike

    wp = official.write_policy(aerodf.WritePolicy(send_key=False, exists="create_only", generation_check="eq",
                                                  durable_delete=True))
    assert wp["key"] == aerospike.POLICY_KEY_DIGEST and wp["exists"] == aerospike.POLICY_EXISTS_CREATE
    assert wp["gen"] == aerospike.POLICY_GEN_EQ and wp["durable_delete"] is True


@pytest.mark.fake_only
def test_socket_and_total_timeout_reach_the_wire(fake, loaded):
    with aerodf.connect(fake.hosts) as c:
        fake.add_fault("delay", command="batch", ms=600)
        t0 = time.perf_counter()
        with pytest.raises(aerodf.TimeoutError) as e:
            c.read_batch(range(5), {"v": "int64"}, namespace="test", set=loaded,
                         socket_timeout=100, total_timeout=250, max_retries=5)
        elapsed = time.perf_counter() - t0
        assert 0.2 < elapsed < 0.55  # total_timeout bounds the call, retries included
        assert e.value.keys == [0, 1, 2, 3, 4]  # the error names what was not read


@pytest.mark.fake_only
def test_max_retries_and_sleep_between_retries(fake, loaded):
    with aerodf.connect(fake.hosts) as c:
        fake.add_fault("drop", command="batch", count=1)
        with pytest.raises(aerodf.ClusterConnectionError):
            c.read_batch(range(3), {"v": "int64"}, namespace="test", set=loaded, max_retries=0)
        fake.add_fault("drop", command="batch", count=1)
        df = c.read_batch(range(3), {"v": "int64"}, namespace="test", set=loaded, output="polars", max_retries=1)
        assert df["v"].to_list() == [0, 1, 2]

        def timed(sleep_ms: int) -> float:
            fake.add_fault("delay", command="batch", ms=400, count=2)  # two attempts time out
            t0 = time.perf_counter()
            out = c.read_batch(range(3), {"v": "int64"}, namespace="test", set=loaded, output="polars",
                               max_retries=2, socket_timeout=100, total_timeout=5000,
                               sleep_between_retries=sleep_ms)
            assert out["v"].to_list() == [0, 1, 2]
            return time.perf_counter() - t0

        # The field reaches the client: the sleep shows up. (Measured: the C client sleeps once
        # for two retries after socket timeouts, not before every retry.)
        assert timed(150) - timed(0) >= 0.12


@pytest.mark.fake_only
def test_compress_reaches_the_wire(fake, loaded):
    with aerodf.connect(fake.hosts) as c:
        fake.reset_stats()
        df = c.read_batch(range(N), {"v": "int64"}, namespace="test", set=loaded, output="polars", compress=True)
        assert df["v"].to_list() == list(range(N))
        assert fake.stats()["compressed_requests"] >= 1
        fake.reset_stats()
        c.read_batch(range(N), {"v": "int64"}, namespace="test", set=loaded)
        assert fake.stats()["compressed_requests"] == 0


def test_filter_policy_field_filters_and_counts_as_missing(aerospike_server, loaded):
    from aerospike_helpers import expressions as exp

    with aerodf.connect(aerospike_server.hosts) as c:
        flt = exp.GE(exp.IntBin("v"), 5).compile()
        df = c.read_batch(range(8), {"v": "int64"}, namespace="test", set=loaded, output="polars", filter=flt,
                          on_missing="drop", with_key=True)
        assert df["key"].to_list() == [5, 6, 7]


def test_client_defaults_apply_and_are_never_mutated(aerospike_server, loaded):
    default = aerodf.BatchPolicy(total_timeout=4321)
    with aerodf.connect(aerospike_server.hosts, batch_policy=default) as c:
        results = {}

        def call(i):
            df = c.read_batch([i], {"v": "int64"}, namespace="test", set=loaded, output="polars",
                              total_timeout=1000 + i)
            results[i] = df["v"].to_list()

        threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == {i: [i] for i in range(20)}
        assert c.batch_policy is default and c.batch_policy.total_timeout == 4321


# ----------------------------------------------------------------------------- the limiter


@pytest.mark.fake_only
def test_200_callers_never_exceed_max_in_flight_at_the_server(fake, loaded):
    fake.add_fault("delay", command="batch", ms=20)
    fake.reset_stats()
    with aerodf.connect(fake.hosts, max_in_flight=16, workers=48) as c:
        errors, done = [], []

        def caller(i):
            try:
                df = c.read_batch([i % N, (i + 1) % N], {"v": "int64"}, namespace="test", set=loaded,
                                  output="polars", total_timeout=10_000)
                done.append(df["v"].to_list() == [i % N, (i + 1) % N])
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert not errors and len(done) == 200 and all(done)
        st = fake.stats()
        assert st["peak_in_flight"] <= 16
        m = c.metrics()
        assert m.peak == 16 and m.in_flight == 0 and m.waiting == 0 and m.total_waits > 0


@pytest.mark.fake_only
def test_tiny_queue_timeout_gives_backpressure_not_hangs(fake, loaded):
    fake.add_fault("delay", command="batch", ms=300)
    with aerodf.connect(fake.hosts, max_in_flight=2, queue_timeout=0.05, workers=8) as c:
        outcomes = []

        def caller(i):
            try:
                # two keys: the C client turns a one-key batch into a plain get
                c.read_batch([i, i + 1], {"v": "int64"}, namespace="test", set=loaded, total_timeout=5000)
                outcomes.append("ok")
            except aerodf.BackpressureError:
                outcomes.append("backpressure")

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(20)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
        assert time.perf_counter() - t0 < 5
        assert outcomes.count("ok") >= 2 and outcomes.count("backpressure") >= 1
        assert len(outcomes) == 20
        assert c.metrics().total_rejections == outcomes.count("backpressure")


# ----------------------------------------------------------------------------- faults in a cluster


def _master(key, n=3):
    return partition_id(compute_digest("relc", key)) % n


@pytest.fixture
def cluster_data(aerospike_cluster):
    aerospike_cluster.clear_faults()
    with aerodf.connect(aerospike_cluster.hosts[:1]) as c:
        aerodf.write_frame(pl.DataFrame({"key": list(range(300)), "v": list(range(300))}), "test", "relc", client=c)
    yield aerospike_cluster
    aerospike_cluster.clear_faults()


def test_stalled_node_read_retries_on_replica(cluster_data):
    srv = cluster_data
    keys = [k for k in range(300) if _master(k) == 0][:40]
    with aerodf.connect(srv.hosts[:1]) as c:
        srv.add_fault("stall", command="batch", node=0, ms=3000)
        srv.reset_stats()
        df = c.read_batch(keys, {"v": "int64"}, namespace="test", set="relc", output="polars",
                          socket_timeout=200, total_timeout=3000, max_retries=2, replica="sequence")
        assert df["v"].to_list() == keys
        assert srv.stats()["node1_requests"] >= 1  # the replica of node 0's partitions answered


@pytest.mark.parametrize("transport", ["official", "wire"])
def test_a_relative_socket_timeout_survives_a_stalled_node(cluster_data, transport):
    """socket_timeout=None (a third of the total): a node that stops answering costs one
    socket timeout and the retry on the replica reads the keys of every node. With the
    defaults (the socket timeout clipped to the 1 s total) the same read fails, naming
    exactly the stalled node's keys."""
    srv = cluster_data
    keys = list(range(300))
    with aerodf.connect(srv.hosts[:1], transport=transport) as c:
        srv.add_fault("stall", command="batch", node=0, ms=3000)
        try:
            df = c.read_batch(keys, {"v": "int64"}, namespace="test", set="relc", output="polars",
                              socket_timeout=None)
            assert df["v"].to_list() == keys
            with pytest.raises(aerodf.TimeoutError) as e:
                c.read_batch(keys, {"v": "int64"}, namespace="test", set="relc")
            assert sorted(e.value.keys) == [k for k in keys if _master(k) == 0]
        finally:
            srv.clear_faults()


def test_stalled_node_with_master_only_fails_naming_keys(cluster_data):
    srv = cluster_data
    keys = [k for k in range(300) if _master(k) == 0][:10]
    with aerodf.connect(srv.hosts[:1]) as c:
        srv.add_fault("stall", command="batch", node=0, ms=3000)
        with pytest.raises(aerodf.TimeoutError) as e:
            c.read_batch(keys, {"v": "int64"}, namespace="test", set="relc", socket_timeout=150,
                         total_timeout=600, max_retries=2, replica="master")
        assert e.value.keys == keys


def test_dropped_connection_mid_batch_is_retried_for_reads(cluster_data):
    srv = cluster_data
    with aerodf.connect(srv.hosts[:1]) as c:
        srv.add_fault("drop", command="batch", count=2)
        df = c.read_batch(range(300), {"v": "int64"}, namespace="test", set="relc", output="polars",
                          chunk_size=50, max_retries=2, with_key=True)
        assert df["key"].to_list() == list(range(300)) and df["v"].to_list() == list(range(300))


def test_dropped_connection_in_writes_is_reported_not_lost(cluster_data):
    srv = cluster_data
    with aerodf.connect(srv.hosts[:1]) as c:
        srv.add_fault("drop", command="batch", count=1)
        frame = pl.DataFrame({"key": list(range(1000, 1200)), "v": list(range(200))})
        report = aerodf.write_frame(frame, "test", "relc", client=c, chunk_size=50)
        accounted = report.written + len(report.failed) + len(report.in_doubt)
        assert accounted == 200 and not report.ok
        assert len(report.in_doubt) + len(report.failed) >= 1


def test_node_restart_during_a_long_scan(cluster_data):
    srv = cluster_data
    with aerodf.connect(srv.hosts[:1]) as c:
        got = []
        stopped = False
        try:
            for batch in aerodf.iter_batches("test", "relc", {"v": "int64"}, client=c, batch_size=10,
                                             max_in_flight=2):
                got.extend(batch.column("v").to_pylist())
                if not stopped:
                    srv.stop_node(2)
                    stopped = True
                    time.sleep(0.3)
                    srv.start_node(2)
        except aerodf.AerospikeServerError as exc:
            assert exc.partitions, "a failed scan must name the partitions it did not read"
            return
        finally:
            if not srv.nodes()[2]["up"]:
                srv.start_node(2)
        assert sorted(set(got)) == list(range(300))  # completed from the resume points


@pytest.mark.fake_only
@pytest.mark.parametrize("code,cls", [(18, aerodf.OverloadError), (14, aerodf.OverloadError),
                                      (9, aerodf.TimeoutError), (13, aerodf.RecordTooBigError),
                                      (12, aerodf.IncompatibleBinError), (3, aerodf.GenerationError)])
def test_server_codes_become_typed_errors(fake, loaded, code, cls):
    with aerodf.connect(fake.hosts) as c:
        fake.add_fault("error", command="batch", code=code, count=1)
        with pytest.raises(cls) as e:
            c.read_batch(range(3), {"v": "int64"}, namespace="test", set=loaded, max_retries=0)
        assert e.value.code == code and e.value.keys == [0, 1, 2]
