"""Conformance: batch-index reads and batch writes / operates / removes."""

from __future__ import annotations

import aerospike
import numpy as np
import pytest
from aerospike_helpers.batch import records as br
from aerospike_helpers.operations import operations as ops


@pytest.fixture
def loaded(client, ns, set_name):
    for i in range(0, 20, 2):  # even keys exist, odd keys do not
        client.put((ns, set_name, i), {"i": i, "s": f"v{i}", "f": i / 2})
    return [(ns, set_name, i) for i in range(20)]


def test_batch_read_all_bins_mixed_found_missing(client, loaded):
    res = client.batch_read(loaded)
    assert res.result == 0
    assert len(res.batch_records) == 20
    for i, r in enumerate(res.batch_records):
        if i % 2 == 0:
            assert r.result == 0
            assert r.record[2] == {"i": i, "s": f"v{i}", "f": i / 2}
            assert r.record[1]["gen"] == 1
        else:
            assert r.result == 2
            assert r.record is None


def test_batch_read_named_bins(client, loaded):
    res = client.batch_read(loaded, ["s", "nope"])
    got = [r.record[2] if r.result == 0 else None for r in res.batch_records]
    assert got == [{"s": f"v{i}"} if i % 2 == 0 else None for i in range(20)]


def test_batch_read_exists_only(client, loaded):
    res = client.batch_read(loaded, [])
    for i, r in enumerate(res.batch_records):
        assert r.result == (0 if i % 2 == 0 else 2)
        if i % 2 == 0:
            # metadata only: (key, meta) with no bins
            assert len(r.record) == 2 or not r.record[2]
            assert r.record[1]["gen"] == 1


def test_batch_read_with_filter_expression(client, loaded):
    from aerospike_helpers import expressions as exp

    res = client.batch_read(loaded, policy={"expressions": exp.GE(exp.IntBin("i"), 10).compile()})
    codes = [r.result for r in res.batch_records]
    assert codes == [(0 if i >= 10 else 27) if i % 2 == 0 else 2 for i in range(20)]


def test_batch_read_large(client, ns, set_name):
    n = 3000
    for i in range(n):
        client.put((ns, set_name, i), {"v": i})
    keys = [(ns, set_name, i) for i in range(n + 10)]
    res = client.batch_read(keys, ["v"])
    got = [r.record[2]["v"] if r.result == 0 else None for r in res.batch_records]
    assert got == list(range(n)) + [None] * 10


def test_batch_write_operate_remove_per_record_codes(client, ns, set_name):
    client.put((ns, set_name, "exists"), {"a": 1})
    create_only = {"exists": aerospike.POLICY_EXISTS_CREATE}
    recs = br.BatchRecords([
        br.Write((ns, set_name, "new"), [ops.write("a", 1)], policy=create_only),
        br.Write((ns, set_name, "exists"), [ops.write("a", 2)], policy=create_only),
        br.Write((ns, set_name, "exists"), [ops.increment("a", 10), ops.read("a")]),
        br.Remove((ns, set_name, "missing")),
        br.Read((ns, set_name, "new"), [ops.read("a")]),
    ])
    client.batch_write(recs)
    codes = [r.result for r in recs.batch_records]
    assert codes == [0, 5, 0, 2, 0]
    assert recs.batch_records[2].record[2] == {"a": 11}
    client.batch_remove([(ns, set_name, "new")])
    with pytest.raises(aerospike.exception.RecordNotFound):
        client.get((ns, set_name, "new"))


def test_batch_operate(client, ns, set_name):
    keys = [(ns, set_name, i) for i in range(5)]
    for k in keys[:3]:
        client.put(k, {"n": 1})
    res = client.batch_operate(keys, [ops.increment("n", 2), ops.read("n")])
    assert [r.result for r in res.batch_records] == [0, 0, 0, 0, 0]
    assert [r.record[2]["n"] for r in res.batch_records] == [3, 3, 3, 2, 2]


def test_aerospike_py_batch_read_and_numpy(pyclient, ns, set_name):
    for i in range(0, 10, 2):
        pyclient.put((ns, set_name, i), {"a": i, "f": i * 0.5})
    keys = [(ns, set_name, i) for i in range(10)]
    res = pyclient.batch_read(keys, ["a", "f"])
    assert res.to_list() == [{"a": i, "f": i * 0.5} if i % 2 == 0 else None for i in range(10)]
    arr = pyclient.batch_read(keys, ["a", "f"]).to_numpy(np.dtype([("a", "i8"), ("f", "f8")]))
    data = arr.batch_records
    assert list(data["a"][::2]) == [0, 2, 4, 6, 8]
