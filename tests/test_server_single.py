"""Conformance: single-record commands through the official client.

Written from Aerospike's documented behaviour; runs against a real server with
AERODF_TEST_HOSTS.
"""

from __future__ import annotations

import time

import aerospike
import pytest
from aerospike import exception as ex
from aerospike_helpers.operations import list_operations as lops
from aerospike_helpers.operations import map_operations as mops
from aerospike_helpers.operations import operations as ops

NEVER = 4294967295  # how the client shows a never-expiring TTL


def test_put_get_all_types(client, ns, set_name):
    key = (ns, set_name, "k1")
    bins = {"i": -7, "f": 2.5, "s": "héllo", "b": b"\x00\xff", "t": True,
            "l": [1, "x", 2.5, [2], {"n": None}], "m": {"a": 1, "b": [1, 2]}}
    client.put(key, bins)
    _, meta, got = client.get(key)
    assert got == bins
    assert meta["gen"] == 1


def test_select_named_bins_and_missing_bin(client, ns, set_name):
    key = (ns, set_name, 1)
    client.put(key, {"a": 1, "b": 2, "c": 3})
    _, _, got = client.select(key, ["a", "c", "nope"])
    assert got == {"a": 1, "c": 3}


def test_get_missing_raises_not_found(client, ns, set_name):
    with pytest.raises(ex.RecordNotFound) as e:
        client.get((ns, set_name, "missing"))
    assert e.value.code == 2


def test_exists(client, ns, set_name):
    key = (ns, set_name, 2)
    _, meta = client.exists(key)
    assert meta is None
    client.put(key, {"a": 1})
    _, meta = client.exists(key)
    assert meta["gen"] == 1


def test_generation_increments_and_remove(client, ns, set_name):
    key = (ns, set_name, 3)
    for _ in range(3):
        client.put(key, {"a": 1})
    assert client.get(key)[1]["gen"] == 3
    client.remove(key)
    with pytest.raises(ex.RecordNotFound):
        client.get(key)
    with pytest.raises(ex.RecordNotFound):
        client.remove(key)


def test_put_merges_and_null_deletes_bin(client, ns, set_name):
    key = (ns, set_name, 4)
    client.put(key, {"a": 1, "b": 2})
    client.put(key, {"b": None, "c": 3})
    assert client.get(key)[2] == {"a": 1, "c": 3}


def test_ttl_specials(client, ns, set_name):
    key = (ns, set_name, 5)
    client.put(key, {"a": 1}, policy={"ttl": 100})
    ttl = client.get(key)[1]["ttl"]
    assert 95 <= ttl <= 100
    client.put(key, {"a": 2}, policy={"ttl": aerospike.TTL_DONT_UPDATE})
    assert 95 <= client.get(key)[1]["ttl"] <= 100
    client.put(key, {"a": 3}, policy={"ttl": aerospike.TTL_NEVER_EXPIRE})
    assert client.get(key)[1]["ttl"] == NEVER


def test_touch_updates_ttl_and_generation(client, ns, set_name):
    key = (ns, set_name, 6)
    client.put(key, {"a": 1})
    client.touch(key, 50)
    _, meta, bins = client.get(key)
    assert meta["gen"] == 2 and 45 <= meta["ttl"] <= 50 and bins == {"a": 1}
    with pytest.raises(ex.RecordNotFound):
        client.touch((ns, set_name, "nope"), 10)


def test_expiry(client, ns, set_name):
    key = (ns, set_name, 7)
    client.put(key, {"a": 1}, policy={"ttl": 1})
    time.sleep(2.2)
    with pytest.raises(ex.RecordNotFound):
        client.get(key)


def test_exists_actions(client, ns, set_name):
    key = (ns, set_name, 8)
    create = {"exists": aerospike.POLICY_EXISTS_CREATE}
    update = {"exists": aerospike.POLICY_EXISTS_UPDATE}
    replace = {"exists": aerospike.POLICY_EXISTS_REPLACE}
    create_or_replace = {"exists": aerospike.POLICY_EXISTS_CREATE_OR_REPLACE}
    with pytest.raises(ex.RecordNotFound):
        client.put(key, {"a": 1}, policy=update)
    with pytest.raises(ex.RecordNotFound):
        client.put(key, {"a": 1}, policy=replace)
    client.put(key, {"a": 1, "b": 1}, policy=create)
    with pytest.raises(ex.RecordExistsError) as e:
        client.put(key, {"a": 2}, policy=create)
    assert e.value.code == 5
    client.put(key, {"a": 2}, policy=update)
    assert client.get(key)[2] == {"a": 2, "b": 1}
    client.put(key, {"c": 3}, policy=replace)
    assert client.get(key)[2] == {"c": 3}
    client.put(key, {"d": 4}, policy=create_or_replace)
    assert client.get(key)[2] == {"d": 4}


def test_generation_check(client, ns, set_name):
    key = (ns, set_name, 9)
    client.put(key, {"a": 1})
    client.put(key, {"a": 2}, meta={"gen": 1}, policy={"gen": aerospike.POLICY_GEN_EQ})
    with pytest.raises(ex.RecordGenerationError) as e:
        client.put(key, {"a": 3}, meta={"gen": 1}, policy={"gen": aerospike.POLICY_GEN_EQ})
    assert e.value.code == 3
    with pytest.raises(ex.RecordGenerationError):
        client.put(key, {"a": 3}, meta={"gen": 2}, policy={"gen": aerospike.POLICY_GEN_GT})
    client.put(key, {"a": 3}, meta={"gen": 5}, policy={"gen": aerospike.POLICY_GEN_GT})
    assert client.get(key)[2] == {"a": 3}


def test_send_key_stores_and_returns_user_key(client, ns, set_name):
    client.put((ns, set_name, "uk"), {"a": 1}, policy={"key": aerospike.POLICY_KEY_SEND})
    client.put((ns, set_name, "nouk"), {"a": 1})
    q = client.query(ns, set_name)
    keys = sorted((r[0][2] is not None, r[0][2]) for r in q.results())
    assert keys == [(False, None), (True, "uk")]


def test_operate_write_read_incr_append_prepend(client, ns, set_name):
    key = (ns, set_name, 10)
    client.put(key, {"n": 1, "s": "b", "f": 1.5})
    _, _, bins = client.operate(key, [
        ops.increment("n", 4), ops.append("s", "c"), ops.prepend("s", "a"),
        ops.increment("f", 1.0), ops.write("w", 9), ops.read("n"), ops.read("s"), ops.read("f"),
    ])
    assert bins == {"n": 5, "s": "abc", "f": 2.5}
    assert client.get(key)[2] == {"n": 5, "s": "abc", "f": 2.5, "w": 9}


def test_operate_touch_and_delete(client, ns, set_name):
    key = (ns, set_name, 11)
    client.put(key, {"n": 1})
    client.operate(key, [ops.touch(30)])
    assert client.get(key)[1]["gen"] == 2
    client.operate(key, [ops.delete()])
    with pytest.raises(ex.RecordNotFound):
        client.get(key)


def test_incr_on_string_is_bin_type_error(client, ns, set_name):
    key = (ns, set_name, 12)
    client.put(key, {"s": "x"})
    with pytest.raises(ex.BinIncompatibleType) as e:
        client.operate(key, [ops.increment("s", 1)])
    assert e.value.code == 12
    with pytest.raises(ex.BinIncompatibleType):
        client.operate(key, [ops.append("n_int", "x"), ops.increment("s", 1)])


def test_list_and_map_operations(client, ns, set_name):
    key = (ns, set_name, 13)
    client.put(key, {"l": [1, 2], "m": {"a": 1}})
    _, _, bins = client.operate(key, [lops.list_append("l", 3)])
    assert bins["l"] == 3
    _, _, bins = client.operate(key, [lops.list_size("l")])
    assert bins["l"] == 3
    _, _, bins = client.operate(key, [lops.list_get_by_index("l", 2, aerospike.LIST_RETURN_VALUE)])
    assert bins["l"] == 3
    client.operate(key, [mops.map_put("m", "b", 2)])
    _, _, bins = client.operate(key, [mops.map_size("m")])
    assert bins["m"] == 2
    _, _, bins = client.operate(key, [mops.map_get_by_key("m", "b", aerospike.MAP_RETURN_VALUE)])
    assert bins["m"] == 2
    assert client.get(key)[2] == {"l": [1, 2, 3], "m": {"a": 1, "b": 2}}


def test_filter_expression_filtered_out(client, ns, set_name):
    from aerospike_helpers import expressions as exp

    key = (ns, set_name, 14)
    client.put(key, {"a": 5})
    assert client.get(key, policy={"expressions": exp.GT(exp.IntBin("a"), 1).compile()})[2] == {"a": 5}
    with pytest.raises(ex.FilteredOut) as e:
        client.get(key, policy={"expressions": exp.GT(exp.IntBin("a"), 10).compile()})
    assert e.value.code == 27
    with pytest.raises(ex.FilteredOut):
        client.put(key, {"a": 6}, policy={"expressions": exp.GT(exp.IntBin("a"), 10).compile()})
    assert client.get(key)[2] == {"a": 5}


def test_record_too_big(client, ns, set_name):
    with pytest.raises(ex.RecordTooBig) as e:
        client.put((ns, set_name, 15), {"big": b"x" * (9 * 1024 * 1024)})
    assert e.value.code == 13


def test_int_key_str_key_bytes_key_are_distinct(client, ns, set_name):
    client.put((ns, set_name, 1), {"k": "int"})
    client.put((ns, set_name, "1"), {"k": "str"})
    client.put((ns, set_name, bytearray(b"1")), {"k": "bytes"})
    assert client.get((ns, set_name, 1))[2]["k"] == "int"
    assert client.get((ns, set_name, "1"))[2]["k"] == "str"
    assert client.get((ns, set_name, bytearray(b"1")))[2]["k"] == "bytes"


def test_unknown_namespace(client, set_name):
    with pytest.raises(ex.AerospikeError) as e:
        client.put(("no_such_ns", set_name, 1), {"a": 1})
    assert e.value.code in (20, 4)  # namespace not found (client may reject earlier)


def test_aerospike_py_single_record(pyclient, ns, set_name):
    key = (ns, set_name, "py")
    pyclient.put(key, {"a": 1, "s": "x", "l": [1, 2]})
    rec = pyclient.get(key)
    assert rec.bins == {"a": 1, "s": "x", "l": [1, 2]}
    assert rec.meta.gen == 1
    assert pyclient.exists(key).meta.gen == 1
    pyclient.remove(key)
    import aerospike_py

    with pytest.raises(aerospike_py.AerospikeError):
        pyclient.get(key)
