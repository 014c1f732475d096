"""Conformance: type rules of increment / append / prepend, deletes and empty reads.

As a real Aerospike 8.1 answers (server particle.c, read.c, write.c); runs
against one with AERODF_TEST_HOSTS.
"""

from __future__ import annotations

import pytest
from aerospike import exception as ex
from aerospike_helpers.operations import operations as ops


@pytest.fixture
def key(client, ns, set_name):
    k = (ns, set_name, 1)
    client.put(k, {"i": 1, "f": 1.5, "s": "ab", "b": b"\x01", "l": [1]})
    return k


def _code(fn, *args) -> int:
    with pytest.raises(ex.AerospikeError) as e:
        fn(*args)
    return e.value.code


@pytest.mark.parametrize("op, want", [
    (ops.increment("n", 5), 5),
    (ops.increment("n", 2.5), 2.5),
    (ops.append("n", "x"), "x"),
    (ops.prepend("n", "y"), "y"),
])
def test_modify_of_a_missing_bin_writes_the_value(client, key, op, want):
    client.operate(key, [op])
    assert client.get(key)[2]["n"] == want


def test_increment_and_concat_of_matching_types(client, key):
    client.operate(key, [ops.increment("i", 2), ops.increment("f", 1.0), ops.append("s", "c"),
                         ops.prepend("s", "z"), ops.append("b", b"\x02")])
    bins = client.get(key)[2]
    assert (bins["i"], bins["f"], bins["s"], bins["b"]) == (3, 2.5, "zabc", b"\x01\x02")


@pytest.mark.parametrize("op", [
    ops.increment("i", 1.5),     # float into an integer bin
    ops.increment("f", 1),       # integer into a float bin
    ops.increment("s", 1),
    ops.increment("l", 1),
    ops.append("i", "x"),
    ops.prepend("f", "x"),
    ops.append("s", b"\x00"),    # blob onto a string
    ops.append("l", "x"),
])
def test_type_clash_is_bin_incompatible_type(client, key, op):
    assert _code(client.operate, key, [op]) == 12
    assert client.get(key)[2]["i"] == 1  # nothing written


def test_operate_delete_of_a_missing_record_is_not_found(client, ns, set_name):
    assert _code(client.operate, (ns, set_name, "nope"), [ops.delete()]) == 2


def test_operate_delete_of_a_record(client, key):
    client.operate(key, [ops.delete()])
    assert _code(client.get, key) == 2


def test_select_of_no_bins_is_parameter_error(client, key):
    assert _code(client.select, key, []) == 4
