"""Ordered lists, key-ordered maps and map entry order (issue 15, items 9 and 12).

Aerospike's recommended layouts (an ordered list, a key-ordered map) are
written here with the official client's own operations, on the test server
and on a real server alike, then read through every transport; every
transport must return the same frame. Map entries come back in key order on
every transport, whatever order they were stored in.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aerodf

aerospike = pytest.importorskip("aerospike")
from aerospike_helpers.operations import list_operations as lo  # noqa: E402
from aerospike_helpers.operations import map_operations as mo  # noqa: E402

SCHEMA = {"ol": "list<int64>", "om": "map<string, int64>", "um": "map<string, int64>",
          "nested": "list<map<int64, string>>", "kv": "map<int64, list<int64>>"}


def _write(client, key) -> None:
    client.operate(key, [
        lo.list_set_order("ol", aerospike.LIST_ORDERED),
        lo.list_append_items("ol", [30, 10, 20]),
        lo.list_append("ol", 15),
        mo.map_set_policy("om", {"map_order": aerospike.MAP_KEY_ORDERED}),
        mo.map_put_items("om", {"b": 2, "c": 3}),
        mo.map_put("om", "a", 1),
        mo.map_put("kv", 5, [1], {"map_order": aerospike.MAP_KEY_VALUE_ORDERED}),
        mo.map_put("kv", 1, [2, 3]),
    ])
    client.put(key, {"um": {"z": 26, "a": 1, "m": 13}, "nested": [{3: "c", 1: "a"}, {}]})


EXPECTED = {"ol": [10, 15, 20, 30], "om": [("a", 1), ("b", 2), ("c", 3)], "um": [("a", 1), ("m", 13), ("z", 26)],
            "nested": [[(1, "a"), (3, "c")], []], "kv": [(1, [2, 3]), (5, [1])]}


def test_ordered_containers_read_on_every_transport(client, aerospike_server, set_name, transport):
    key = ("test", set_name, "o1")
    _write(client, key)
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        batch = aerodf.read_batch([key], SCHEMA, client=c, output="arrow")
        scan = aerodf.read_query("test", set_name, SCHEMA, client=c, output="arrow")
    assert batch.to_pylist() == [EXPECTED]
    assert scan.to_pylist() == [EXPECTED]


def test_ordered_list_stays_sorted_and_refuses_index_writes(client, set_name):
    key = ("test", set_name, "o2")
    client.operate(key, [lo.list_append("l", 5, {"list_order": aerospike.LIST_ORDERED}),
                         lo.list_append_items("l", [9, 1])])
    assert client.get(key)[2]["l"] == [1, 5, 9]
    with pytest.raises(aerospike.exception.OpNotApplicable):
        client.operate(key, [lo.list_insert("l", 0, 100)])
    with pytest.raises(aerospike.exception.OpNotApplicable):
        client.operate(key, [lo.list_set("l", 0, 100)])
    client.operate(key, [lo.list_increment("l", 0, 100)])  # 1 -> 101, re-sorted
    assert client.get(key)[2]["l"] == [5, 9, 101]
    client.operate(key, [lo.list_remove_by_index("l", 0, aerospike.LIST_RETURN_NONE), lo.list_append("l", 0)])
    assert client.get(key)[2]["l"] == [0, 9, 101]


def test_key_ordered_map_from_the_official_client_reads_everywhere(client, aerospike_server, set_name, transport):
    # a KeyOrderedDict value is written as a key-ordered map; read back it is a dict subclass
    key = ("test", set_name, "o3")
    client.put(key, {"m": aerospike.KeyOrderedDict({"q": 1, "b": 2}), "l": [aerospike.KeyOrderedDict({"y": 0})]})
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        t = aerodf.read_batch([key], {"m": "map<string, int64>", "l": "list<map<string, int64>>"}, client=c,
                              output="arrow")
    assert t.to_pylist() == [{"m": [("b", 2), ("q", 1)], "l": [[("y", 0)]]}]


def test_map_entry_order_is_the_same_on_every_transport(client, aerospike_server, set_name, pyclient):
    # written by aerospike-py (hash order) and by the official client (its own order)
    keys = [("test", set_name, i) for i in range(20)]
    for i, k in enumerate(keys):
        m = {f"k{(i * 7 + j) % 23}": j for j in range(i % 6 + 1)}
        (pyclient if i % 2 else client).put(k, {"m": m, "n": {j * 31 % 17: f"v{j}" for j in range(i % 4)}})
    schema = {"m": "map<string, int64>", "n": "map<int64, string>"}
    frames = {}
    for name in ("official", "aerospike-py", "wire"):
        with aerodf.connect(aerospike_server.hosts, transport=name) as c:
            frames[name] = aerodf.read_batch(keys, schema, client=c, output="arrow")
    assert frames["official"].equals(frames["wire"])
    assert frames["official"].equals(frames["aerospike-py"])
    for row in frames["wire"].to_pylist():
        for col in ("m", "n"):
            ks = [k for k, _ in row[col]]
            assert ks == sorted(ks)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.dictionaries(st.integers(-50, 50), st.integers(-2**63, 2**63 - 1), max_size=6)),
                max_size=12), st.integers(0, 4))
def test_sort_map_entries_property(maps, cut):
    from aerodf.arrow import sort_map_entries

    t = pa.map_(pa.int64(), pa.int64())
    arr = pa.array([None if m is None else list(m.items()) for m in maps], type=t).slice(min(cut, len(maps)))
    out = sort_map_entries(arr)
    want = [None if m is None else sorted(m.items()) for m in maps[min(cut, len(maps)):]]
    assert out.to_pylist() == want
    nested = pa.array([None if m is None else [list(m.items())] for m in maps], type=pa.list_(t))
    assert sort_map_entries(nested).to_pylist() == [None if m is None else [sorted(m.items())] for m in maps]


def test_ordered_containers_keep_the_type_rules(client, aerospike_server, set_name, transport):
    # nothing silent: a wrong element in an ordered list / key-ordered map raises naming key and bin,
    # or nulls the container with on_type_error="null"; a missing bin is a null
    good, bad, none = ("test", set_name, "g"), ("test", set_name, "b"), ("test", set_name, "n")
    client.operate(good, [lo.list_append_items("ol", [3, 1], {"list_order": aerospike.LIST_ORDERED}),
                          mo.map_put("om", "k", 2**40, {"map_order": aerospike.MAP_KEY_ORDERED})])
    client.operate(bad, [lo.list_append_items("ol", [2, "x"], {"list_order": aerospike.LIST_ORDERED}),
                         mo.map_put("om", "k", 2**40, {"map_order": aerospike.MAP_KEY_ORDERED})])
    client.put(none, {"other": 1})
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        with pytest.raises(aerodf.BinTypeError) as e:
            aerodf.read_batch([good, bad], {"ol": "list<int64>"}, client=c, output="arrow")
        assert (e.value.key, e.value.bin) == ("b", "ol")
        with pytest.raises(aerodf.IntegerOverflowError) as e:
            aerodf.read_batch([good], {"om": "map<string, int32>"}, client=c, output="arrow")
        assert (e.value.key, e.value.bin) == ("g", "om")
        t = aerodf.read_batch([good, bad, none], {"ol": "list<int64>", "om": "map<string, int32>"}, client=c,
                              output="arrow", on_type_error="null")
    assert t.column("ol").to_pylist() == [[1, 3], None, None]
    assert t.column("om").to_pylist() == [None, None, None]
