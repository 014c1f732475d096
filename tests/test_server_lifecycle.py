"""Starting the test server: CLI, handle, env parsing, namespace truncate."""

from __future__ import annotations

import json
import subprocess
import sys

import aerospike
import pytest

from aerodf.testing import TestServer, hosts_from_env
from aerodf.testing.lifecycle import info_request


def test_cli_port_zero_prints_where_it_listens():
    proc = subprocess.Popen([sys.executable, "-m", "aerodf.testing.server", "--port", "0", "--nodes", "2"],
                            stdout=subprocess.PIPE, text=True)
    try:
        desc = json.loads(proc.stdout.readline())
        assert len(desc["hosts"]) == 2 and all(p > 0 for _, p in desc["hosts"])
        host, port = desc["hosts"][1]
        reply = info_request(host, port, "node", "build", "namespaces")
        assert reply["node"].startswith("BB9") and reply["build"] == "8.1.0.0" and reply["namespaces"] == "test"
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0  # a clean shutdown on SIGTERM


def test_handle_starts_stops_and_serves_extra_namespaces():
    with TestServer(namespaces=("test", "bar")) as srv:
        c = aerospike.client({"hosts": srv.hosts}).connect()
        c.put(("bar", "s", 1), {"a": 1})
        assert c.get(("bar", "s", 1))[2] == {"a": 1}
        c.close()
        proc = srv.process
    assert proc.poll() is not None


def test_hosts_from_env():
    assert hosts_from_env("127.0.0.1:3000") == [("127.0.0.1", 3000)]
    assert hosts_from_env("a:1, b:2") == [("a", 1), ("b", 2)]
    assert hosts_from_env("") is None


@pytest.mark.fake_only
def test_truncate_namespace_and_default_ttl():
    with TestServer(namespaces=("test", "other"), default_ttl=100) as srv:
        c = aerospike.client({"hosts": srv.hosts}).connect()
        c.put(("other", "a", 1), {"v": 1})
        c.put(("other", "b", 2), {"v": 2})
        c.put(("test", "a", 1), {"v": 1})
        assert 95 <= c.get(("test", "a", 1))[1]["ttl"] <= 100  # namespace default TTL applies
        c.truncate("other", None, 0)
        assert c.query("other", "a").results() == [] and c.query("other", "b").results() == []
        assert c.get(("test", "a", 1))[2] == {"v": 1}
        c.close()


def test_fixture_yields_hosts(aerospike_server):
    host, port = aerospike_server.hosts[0]
    assert info_request(host, port, "node")["node"]


@pytest.mark.fake_only
def test_stored_records_are_kept_out_of_gc_scans():
    import time

    with TestServer() as srv:
        c = aerospike.client({"hosts": srv.hosts}).connect()
        for i in range(500):
            c.put(("test", "gc", i), {"v": i, "s": "x" * 10})
        time.sleep(1.3)  # the server freezes its heap every second
        assert srv.stats()["gc_frozen_objects"] > 500 * 3
        c.close()
