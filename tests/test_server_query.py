"""Conformance: partition scans and queries, secondary indexes, truncate."""

from __future__ import annotations

import time

import aerospike
import pytest
from aerospike import predicates as p
from aerospike_helpers import expressions as exp
from helpers import wait_until

N = 300


@pytest.fixture
def loaded(client, ns, set_name):
    for i in range(N):
        client.put((ns, set_name, i), {"i": i, "s": f"name{i % 10}", "g": i % 3, "tags": [i % 5, 100]},
                   policy={"key": aerospike.POLICY_KEY_SEND})
    return set_name


def _keys(records):
    return sorted(r[0][2] for r in records)


def test_scan_whole_set(client, ns, loaded):
    recs = client.query(ns, loaded).results()
    assert _keys(recs) == list(range(N))
    assert all(r[2]["i"] == r[0][2] for r in recs)


def test_scan_named_bins_and_no_bins(client, ns, loaded):
    q = client.query(ns, loaded)
    q.select("s")
    recs = q.results()
    assert len(recs) == N and all(set(r[2]) == {"s"} for r in recs)


def test_scan_only_returns_its_set(client, ns, loaded, set_name):
    client.put((ns, set_name + "_other", 1), {"i": 1})
    assert len(client.query(ns, loaded).results()) == N


def test_partition_filter_covers_exactly_once(client, ns, loaded):
    seen = []
    for begin in range(0, 4096, 1024):
        q = client.query(ns, loaded)
        seen += q.results(policy={"partition_filter": {"begin": begin, "count": 1024}})
    assert _keys(seen) == list(range(N))


def test_max_records_and_pagination_resume(client, ns, loaded):
    q = client.query(ns, loaded)
    q.max_records = 40
    q.paginate()
    pages = []
    while True:
        page = q.results()
        if not page:
            break
        assert len(page) <= 40
        pages.append(page)
        if q.is_done():
            break
    allrecs = [r for page in pages for r in page]
    assert _keys(allrecs) == list(range(N))  # resume points never skip or repeat


def test_filter_expression_in_query(client, ns, loaded):
    policy = {"expressions": exp.And(exp.GE(exp.IntBin("i"), 100), exp.Eq(exp.IntBin("g"), 0)).compile()}
    recs = client.query(ns, loaded).results(policy)
    assert _keys(recs) == [i for i in range(100, N) if i % 3 == 0]


def test_sindex_integer_range_and_string_equality(client, ns, loaded):
    iname, sname = f"{loaded}_i", f"{loaded}_s"
    client.index_integer_create(ns, loaded, "i", iname)
    client.index_string_create(ns, loaded, "s", sname)
    try:
        q = client.query(ns, loaded)
        q.where(p.between("i", 10, 19))
        assert _keys(q.results()) == list(range(10, 20))
        q = client.query(ns, loaded)
        q.where(p.equals("s", "name7"))
        assert _keys(q.results()) == list(range(7, N, 10))
        # index filter plus expression: both apply
        q = client.query(ns, loaded)
        q.where(p.between("i", 0, 99))
        recs = q.results({"expressions": exp.Eq(exp.IntBin("g"), 1).compile()})
        assert _keys(recs) == [i for i in range(100) if i % 3 == 1]
    finally:
        client.index_remove(ns, iname)
        client.index_remove(ns, sname)


def test_sindex_list_index(client, ns, loaded):
    name = f"{loaded}_tags"
    client.index_list_create(ns, loaded, "tags", aerospike.INDEX_NUMERIC, name)
    try:
        q = client.query(ns, loaded)
        q.where(p.contains("tags", aerospike.INDEX_TYPE_LIST, 3))
        assert _keys(q.results()) == list(range(3, N, 5))
    finally:
        client.index_remove(ns, name)


def test_query_on_missing_index_fails(client, ns, loaded):
    q = client.query(ns, loaded)
    q.where(p.equals("g", 1))
    with pytest.raises(aerospike.exception.AerospikeError) as e:
        q.results()
    assert e.value.code == 201


def test_duplicate_index_create_fails(client, ns, loaded):
    name = f"{loaded}_dup"
    client.index_integer_create(ns, loaded, "i", name)
    try:
        with pytest.raises(aerospike.exception.AerospikeError):
            client.index_integer_create(ns, loaded, "g", name)
    finally:
        client.index_remove(ns, name)


def test_truncate_set(client, ns, loaded, set_name):
    other = set_name + "_keep"
    client.put((ns, other, 1), {"a": 1})
    time.sleep(0.01)  # the truncate time is in milliseconds: records of its very millisecond stay
    client.truncate(ns, loaded, 0)
    # a real server truncates asynchronously: the records go soon after the answer
    assert wait_until(lambda: client.query(ns, loaded).results() == [], 10)
    assert len(client.query(ns, other).results()) == 1


def test_aerospike_py_query(pyclient, ns, loaded):
    recs = pyclient.query(ns, loaded).results()
    assert sorted(r.bins["i"] for r in recs) == list(range(N))


@pytest.mark.fake_only
def test_set_scan_examines_only_that_set(client, fake, set_name):
    for i in range(50):
        client.put(("test", set_name + "_big", i), {"i": i})
    for i in range(5):
        client.put(("test", set_name, i), {"i": i})
    client.remove(("test", set_name, 4))
    fake.reset_stats()
    recs = client.query("test", set_name).results()
    assert sorted(r[2]["i"] for r in recs) == [0, 1, 2, 3]
    assert fake.stats()["records_examined"] == 4  # not the 50 records of the other set
