"""The multi-node test server: discovery from one seed, partition routing,
replica retries and node stop / restart (fake only: needs node control)."""

from __future__ import annotations


import aerospike
import pytest
from aerospike import exception as ex

from aerodf.protocol.digest import compute_digest, partition_id
from helpers import wait_until

pytestmark = pytest.mark.fake_only
N_NODES = 3


def _master(key, live=(0, 1, 2)):
    return live[partition_id(compute_digest(key[1], key[2])) % len(live)]


@pytest.fixture
def cclient(aerospike_cluster):
    aerospike_cluster.clear_faults()
    c = aerospike.client({"hosts": aerospike_cluster.hosts[:1], "policies": {"total_timeout": 3000}}).connect()
    yield c
    c.close()
    aerospike_cluster.clear_faults()


def test_discovers_all_nodes_from_one_seed(cclient):
    assert wait_until(lambda: len(cclient.get_nodes()) == N_NODES)


def test_single_record_routed_to_master(cclient, aerospike_cluster):
    assert wait_until(lambda: len(cclient.get_nodes()) == N_NODES)
    keys = [("test", "route", i) for i in range(60)]
    for k in keys:
        cclient.put(k, {"v": k[2]})
    mine = [k for k in keys if _master(k) == 1]
    aerospike_cluster.reset_stats()
    for k in mine:
        assert cclient.get(k)[2] == {"v": k[2]}
    st = aerospike_cluster.stats()
    assert st["node1_requests"] == len(mine)
    assert st["node0_requests"] == 0 and st["node2_requests"] == 0


def test_scan_spreads_over_nodes(cclient, aerospike_cluster):
    assert wait_until(lambda: len(cclient.get_nodes()) == N_NODES)
    for i in range(90):
        cclient.put(("test", "spread", i), {"v": i})
    aerospike_cluster.reset_stats()
    recs = cclient.query("test", "spread").results()
    assert sorted(r[2]["v"] for r in recs) == list(range(90))
    st = aerospike_cluster.stats()
    assert all(st[f"node{i}_requests"] >= 1 for i in range(N_NODES))


def test_replica_sequence_retry_answered_by_replica(cclient, aerospike_cluster):
    assert wait_until(lambda: len(cclient.get_nodes()) == N_NODES)
    key = next(("test", "rep", i) for i in range(100) if _master(("test", "rep", i)) == 0)
    cclient.put(key, {"v": 1})
    aerospike_cluster.reset_stats()
    aerospike_cluster.add_fault("delay", command="read", node=0, ms=1500, count=1)
    policy = {"socket_timeout": 200, "total_timeout": 3000, "max_retries": 2,
              "replica": aerospike.POLICY_REPLICA_SEQUENCE}
    assert cclient.get(key, policy=policy)[2] == {"v": 1}
    st = aerospike_cluster.stats()
    assert st["node1_requests"] == 1  # the replica of a node-0 partition is node 1


def test_node_stop_and_restart(cclient, aerospike_cluster):
    assert wait_until(lambda: len(cclient.get_nodes()) == N_NODES)
    keys = [("test", "stop", i) for i in range(50)]
    for k in keys:
        cclient.put(k, {"v": k[2]})
    aerospike_cluster.stop_node(2)
    try:
        assert wait_until(lambda: len(cclient.get_nodes()) == N_NODES - 1, 10)
        res = cclient.batch_read(keys)
        assert [r.record[2]["v"] for r in res.batch_records] == list(range(50))
    finally:
        aerospike_cluster.start_node(2)
    assert wait_until(lambda: len(cclient.get_nodes()) == N_NODES, 10)
    assert cclient.get(keys[0])[2] == {"v": 0}


def test_aerospike_py_routes_in_cluster(aerospike_cluster):
    aerospike_py = pytest.importorskip("aerospike_py")
    c = aerospike_py.client({"hosts": aerospike_cluster.hosts[:1]}).connect()
    try:
        for i in range(30):
            c.put(("test", "pyroute", i), {"v": i})
        res = c.batch_read([("test", "pyroute", i) for i in range(30)], ["v"]).to_list()
        assert [r["v"] for r in res] == list(range(30))
        assert len(c.get_node_names()) == N_NODES
    finally:
        c.close()


def test_stopped_node_refuses_connections(aerospike_cluster):
    import socket

    aerospike_cluster.stop_node(1)
    try:
        host, port = aerospike_cluster.hosts[1]
        with pytest.raises(OSError):
            socket.create_connection((host, port), timeout=1).close()
    finally:
        aerospike_cluster.start_node(1)


def test_all_nodes_down_is_an_error(aerospike_cluster, cclient):
    key = ("test", "down", 1)
    cclient.put(key, {"v": 1})
    for i in range(N_NODES):
        aerospike_cluster.stop_node(i)
    try:
        with pytest.raises(ex.AerospikeError):
            cclient.get(key, policy={"total_timeout": 500})
    finally:
        for i in range(N_NODES):
            aerospike_cluster.start_node(i)
