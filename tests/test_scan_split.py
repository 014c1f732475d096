"""A scan is cut into partition ranges by the set's size, not into a fixed count.

Each range is one request per node and the server's own setup for it, so a
small set read as 16 ranges paid for 16 (issue 17). The size comes from the
nodes' ``objects`` counts; these tests run on the test server and, with
AERODF_TEST_HOSTS, on a real cluster, on every transport.
"""

from __future__ import annotations

from collections import Counter

import aerospike
import pandas as pd
import polars as pl
import pytest

import aerodf
import aerodf.query as Q
from aerodf.transport.base import estimate_records, estimate_set

SCHEMA = aerodf.Schema({"i": "int64"})
N = 600


@pytest.fixture
def filled(aerospike_server, ns, set_name):
    frame = pd.DataFrame({"key": range(N), "i": range(N)})
    aerodf.write_frame(frame, ns, set_name, hosts=aerospike_server.hosts)
    return ns, set_name


def _spy(monkeypatch) -> Counter:
    seen: Counter = Counter()
    real = Q.split

    def spy(partitions, pieces, **kw):
        out = real(partitions, pieces, **kw)
        seen["ranges"] += len(out)
        return out

    monkeypatch.setattr(Q, "split", spy)
    return seen


def test_the_cluster_reports_the_set_size(aerospike_server, transport, filled):
    ns, name = filled
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        assert c.transport.info_all(f"namespace/{ns}")  # every node answers
        assert estimate_records(c.transport, ns, name) == N
        assert estimate_records(c.transport, ns, name + "_none") == 0
        assert estimate_records(c.transport, ns, None) >= N  # the namespace holds the set
        assert estimate_records(c.transport, "no_such_namespace", name) is None


def test_a_small_set_is_one_range(aerospike_server, transport, filled, monkeypatch):
    ns, name = filled
    seen = _spy(monkeypatch)
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        got = aerodf.read_query(ns, name, SCHEMA, client=c, output="polars", max_in_flight=4)
    assert sorted(got["i"].to_list()) == list(range(N))
    assert seen["ranges"] == 1


def test_a_large_set_is_cut_by_its_size(aerospike_server, transport, filled, monkeypatch):
    ns, name = filled
    seen = _spy(monkeypatch)
    monkeypatch.setattr(Q, "RECORDS_PER_RANGE", 100)  # as if the set were 2 500 x larger
    monkeypatch.setattr(Q, "RECORDS_PER_RANGE_GENERAL", 100)
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        got = aerodf.read_query(ns, name, SCHEMA, client=c, output="polars", max_in_flight=4)
        assert sorted(got["i"].to_list()) == list(range(N))
        assert seen["ranges"] == 6  # 600 records / 100, under the cap of 4 x 4
        seen.clear()
        half = aerodf.read_query(ns, name, SCHEMA, client=c, output="polars", max_in_flight=1,
                                 partitions=range(0, 2048))
        assert seen["ranges"] == 3  # half the partitions: about 300 records
        assert 0 < half.height < N
        seen.clear()
        aerodf.read_query(ns, name, SCHEMA, client=c, output="polars", max_in_flight=1)
        assert seen["ranges"] == 4  # capped at 4 x max_in_flight


def test_records_decoded_one_by_one_take_fewer_ranges(aerospike_server, filled, monkeypatch):
    ns, name = filled
    seen = _spy(monkeypatch)
    monkeypatch.setattr(Q, "RECORDS_PER_RANGE", 100)
    monkeypatch.setattr(Q, "RECORDS_PER_RANGE_GENERAL", 300)
    for transport, want in (("wire", 6), ("official", 2)):
        seen.clear()
        with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
            got = aerodf.read_query(ns, name, SCHEMA, client=c, output="polars")
        assert got.height == N and seen["ranges"] == want, transport


def test_an_unknown_size_keeps_the_old_cut(aerospike_server, filled, monkeypatch):
    ns, name = filled
    seen = _spy(monkeypatch)
    monkeypatch.setattr(Q, "estimate_set", lambda *a: None)
    got = aerodf.read_query(ns, name, SCHEMA, hosts=aerospike_server.hosts, output="polars", max_in_flight=3)
    assert got.height == N and seen["ranges"] == 3


@pytest.mark.parametrize("whole", [True, False])
def test_a_small_set_is_read_whole_in_one_pass(aerospike_server, transport, client, ns, set_name, monkeypatch,
                                               whole):
    # keys 0..39: even keys hold "i" (and "other"), odd keys only "other", a bin the schema lacks
    for k in range(40):
        client.put((ns, set_name, k), {"i": k, "other": "x" * 50} if k % 2 == 0 else {"other": k},
                   policy={"key": aerospike.POLICY_KEY_SEND})
    if not whole:
        monkeypatch.setattr(Q, "WHOLE_RECORDS_BYTES", -1)
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        calls: Counter = Counter()
        for name in ("query_range", "scan_range"):
            real = getattr(c.transport, name, None)
            if real is not None:
                monkeypatch.setattr(c.transport, name,
                                    lambda *a, _r=real, _n=name, **kw: (calls.update([_n]), _r(*a, **kw))[1])
        got = aerodf.read_query(ns, set_name, SCHEMA, client=c, output="polars", with_key=True).sort("key")
        size = estimate_set(c.transport, ns, set_name)
    assert size.records == 40 and 0 < size.bytes < 16 << 20
    assert got["key"].to_list() == list(range(40))  # the records without "i" are rows too
    assert got["i"].to_list() == [k if k % 2 == 0 else None for k in range(40)]
    assert got.columns == ["key", "i"]
    assert sum(calls.values()) == (1 if whole else 2)  # one pass, or the second, metadata-only one


@pytest.mark.parametrize("small", [True, False])
def test_one_small_range_on_the_wire_runs_in_the_callers_thread(aerospike_server, filled, monkeypatch, small):
    """A thread pool and a queue hand-off cost more than a small range (issue 17): on the
    wire transport one range of a small set is read by the thread that iterates, and a
    larger one still by the scan's threads."""
    import threading

    ns, name = filled
    if not small:
        monkeypatch.setattr(Q, "WHOLE_RECORDS_BYTES", -1)
    threads: set[str] = set()
    with aerodf.connect(aerospike_server.hosts, transport="wire") as c:
        real = c.transport.scan_range
        monkeypatch.setattr(c.transport, "scan_range",
                            lambda *a, **kw: (threads.add(threading.current_thread().name), real(*a, **kw))[1])
        got = aerodf.read_query(ns, name, SCHEMA, client=c, output="polars", where=pl.col("i") >= 0)
    assert sorted(got["i"].to_list()) == list(range(N))
    if small:
        assert threads == {threading.current_thread().name}
    else:
        assert threads and threading.current_thread().name not in threads
