"""Conformance: list operations and CDT return types through the official client.

Values and result codes as a real Aerospike 8.1 server answers them (run on one
with AERODF_TEST_HOSTS), including negative indexes and out-of-range cases.
"""

from __future__ import annotations

import aerospike
import pytest
from aerospike import exception as ex
from aerospike_helpers.operations import list_operations as lops
from aerospike_helpers.operations import map_operations as mops

L = [5, 1, 4, 1, 3]


@pytest.fixture
def key(client, ns, set_name):
    k = (ns, set_name, "l")
    client.put(k, {"l": L, "m": {"a": 3, "b": 1, "c": 2}, "s": "x"})
    return k


def _op(client, key, *ops):
    _, _, bins = client.operate(key, list(ops))
    return bins


def _stored(client, key, bin_name="l"):
    return client.get(key)[2].get(bin_name)


def _code(client, key, *ops) -> int:
    with pytest.raises(ex.AerospikeError) as e:
        client.operate(key, list(ops))
    return e.value.code


def test_insert_and_insert_items(client, key):
    assert _op(client, key, lops.list_insert("l", 1, 9)) == {"l": 6}
    assert _stored(client, key) == [5, 9, 1, 4, 1, 3]
    assert _op(client, key, lops.list_insert("l", -1, 8)) == {"l": 7}
    assert _stored(client, key) == [5, 9, 1, 4, 1, 8, 3]
    assert _op(client, key, lops.list_insert_items("l", 0, ["a", "b"])) == {"l": 9}
    assert _stored(client, key)[:3] == ["a", "b", 5]


def test_insert_beyond_the_end_pads_with_nil(client, key):
    assert _op(client, key, lops.list_insert("l", 7, "z")) == {"l": 8}
    assert _stored(client, key) == L + [None, None, "z"]


def test_insert_before_the_start_is_op_not_applicable(client, key):
    assert _code(client, key, lops.list_insert("l", -6, 0)) == 26
    assert _stored(client, key) == L


def test_insert_creates_the_bin(client, key):
    assert _op(client, key, lops.list_insert("new", 0, 1)) == {"new": 1}
    assert _stored(client, key, "new") == [1]


def test_pop_and_pop_range(client, key):
    assert _op(client, key, lops.list_pop("l", -1)) == {"l": 3}
    assert _stored(client, key) == [5, 1, 4, 1]
    assert _op(client, key, lops.list_pop_range("l", 1, 2)) == {"l": [1, 4]}
    assert _stored(client, key) == [5, 1]
    assert _code(client, key, lops.list_pop("l", 2)) == 26


def test_remove_and_remove_range(client, key):
    assert _op(client, key, lops.list_remove("l", 0)) == {"l": 1}
    assert _stored(client, key) == [1, 4, 1, 3]
    assert _op(client, key, lops.list_remove_range("l", -2, 5)) == {"l": 2}
    assert _stored(client, key) == [1, 4]
    assert _op(client, key, lops.list_remove_range("l", 5, 1)) == {"l": 0}
    assert _code(client, key, lops.list_remove("l", -3)) == 26


def test_set(client, key):
    _op(client, key, lops.list_set("l", -1, "last"))
    assert _stored(client, key) == [5, 1, 4, 1, "last"]
    _op(client, key, lops.list_set("l", 6, "far"))
    assert _stored(client, key) == [5, 1, 4, 1, "last", None, "far"]
    assert _code(client, key, lops.list_set("l", -8, 0)) == 26


def test_trim(client, key):
    assert _op(client, key, lops.list_trim("l", 1, 3)) == {"l": 2}
    assert _stored(client, key) == [1, 4, 1]


def test_increment(client, key):
    assert _op(client, key, lops.list_increment("l", 1, 5)) == {"l": 6}
    assert _op(client, key, lops.list_increment("l", -1, 2)) == {"l": 5}
    assert _stored(client, key) == [5, 6, 4, 1, 5]
    assert _op(client, key, lops.list_increment("l", 6, 3)) == {"l": 3}
    assert _stored(client, key) == [5, 6, 4, 1, 5, None, 3]
    assert _code(client, key, lops.list_increment("l", 5, 1)) == 4  # nil element


def test_get_and_get_range(client, key):
    assert _op(client, key, lops.list_get("l", -2)) == {"l": 1}
    assert _op(client, key, lops.list_get_range("l", 1, 3)) == {"l": [1, 4, 1]}
    assert _op(client, key, lops.list_get_range("l", -2, 10)) == {"l": [1, 3]}
    assert _op(client, key, lops.list_get_range("l", 9, 2)) == {"l": []}
    assert _code(client, key, lops.list_get("l", 5)) == 26


def test_clear(client, key):
    assert _op(client, key, lops.list_clear("l")) == {}  # clear answers no result bin
    assert _stored(client, key) == []
    assert _op(client, key, lops.list_clear("none")) == {}
    assert "none" not in client.get(key)[2]  # clearing a missing bin creates nothing


def test_remove_on_missing_bin_is_a_no_op(client, key):
    assert _op(client, key, lops.list_pop("none", 0)) == {}
    assert _op(client, key, lops.list_get_by_index("none", 0, aerospike.LIST_RETURN_VALUE)) == {}
    assert _op(client, key, lops.list_size("none")) == {}
    assert "none" not in client.get(key)[2]


def test_remove_by_index_and_index_range(client, key):
    assert _op(client, key, lops.list_remove_by_index("l", 1, aerospike.LIST_RETURN_VALUE)) == {"l": 1}
    assert _stored(client, key) == [5, 4, 1, 3]
    assert _op(client, key, lops.list_remove_by_index_range("l", -3, aerospike.LIST_RETURN_INDEX, 2)) \
        == {"l": [1, 2]}
    assert _stored(client, key) == [5, 3]
    assert _op(client, key, lops.list_remove_by_index_range("l", 0, aerospike.LIST_RETURN_VALUE, 1,
                                                            inverted=True)) == {"l": [3]}
    assert _stored(client, key) == [5]


@pytest.mark.parametrize("rt, want", [
    (aerospike.LIST_RETURN_VALUE, 4),
    (aerospike.LIST_RETURN_INDEX, 2),
    (aerospike.LIST_RETURN_REVERSE_INDEX, 2),
    (aerospike.LIST_RETURN_RANK, 3),
    (aerospike.LIST_RETURN_REVERSE_RANK, 1),
    (aerospike.LIST_RETURN_COUNT, 1),
    (aerospike.LIST_RETURN_NONE, None),
])
def test_get_by_index_return_types(client, key, rt, want):
    # RETURN_NONE sends no result bin at all
    assert _op(client, key, lops.list_get_by_index("l", 2, rt)) == ({} if want is None else {"l": want})


@pytest.mark.parametrize("rt, want", [
    (aerospike.LIST_RETURN_VALUE, [1, 4, 1]),
    (aerospike.LIST_RETURN_INDEX, [1, 2, 3]),
    (aerospike.LIST_RETURN_REVERSE_INDEX, [1, 2, 3]),  # an index range: ascending
    (aerospike.LIST_RETURN_RANK, [0, 3, 0]),
    (aerospike.LIST_RETURN_COUNT, 3),
])
def test_get_by_index_range_return_types(client, key, rt, want):
    assert _op(client, key, lops.list_get_by_index_range("l", 1, rt, 3)) == {"l": want}


def test_get_by_rank_and_value(client, key):
    assert _op(client, key, lops.list_get_by_rank("l", 0, aerospike.LIST_RETURN_VALUE)) == {"l": 1}
    assert _op(client, key, lops.list_get_by_rank("l", -1, aerospike.LIST_RETURN_INDEX)) == {"l": 0}
    # a rank range comes back in the order of the server's heap selection: descending when
    # the range lies nearer the lowest rank, ascending when nearer the highest
    assert _op(client, key, lops.list_get_by_rank_range("l", 1, aerospike.LIST_RETURN_VALUE, 3)) \
        == {"l": [4, 3, 1]}
    assert _op(client, key, lops.list_get_by_rank_range("l", 2, aerospike.LIST_RETURN_VALUE, 2)) \
        == {"l": [3, 4]}
    assert _op(client, key, lops.list_get_by_rank_range("l", 1, aerospike.LIST_RETURN_INDEX, 3)) \
        == {"l": [2, 3, 4]}
    assert _op(client, key, lops.list_get_by_value("l", 1, aerospike.LIST_RETURN_REVERSE_INDEX)) \
        == {"l": [3, 1]}
    assert _op(client, key, lops.list_get_by_value("l", 1, aerospike.LIST_RETURN_INDEX)) == {"l": [1, 3]}
    assert _op(client, key, lops.list_get_by_value("l", 7, aerospike.LIST_RETURN_COUNT)) == {"l": 0}
    assert _op(client, key, lops.list_get_by_value_list("l", [4, 3], aerospike.LIST_RETURN_VALUE)) \
        == {"l": [4, 3]}
    assert _op(client, key, lops.list_get_by_value_range("l", aerospike.LIST_RETURN_VALUE, 2, 5)) \
        == {"l": [4, 3]}
    assert _code(client, key, lops.list_get_by_rank("l", 5, aerospike.LIST_RETURN_VALUE)) == 26


def test_remove_by_value(client, key):
    assert _op(client, key, lops.list_remove_by_value("l", 1, aerospike.LIST_RETURN_COUNT)) == {"l": 2}
    assert _stored(client, key) == [5, 4, 3]


def test_mixed_types_rank_order(client, ns, set_name):
    k = (ns, set_name, "mixed")
    client.put(k, {"l": [2.5, "s", 7, None, True, [1], b"b"]})
    ranked = _op(client, k, lops.list_get_by_rank_range("l", 0, aerospike.LIST_RETURN_VALUE, 10))
    # nil < bool < integer < string < list < bytes < float, here highest first (heap order)
    assert ranked == {"l": [2.5, b"b", [1], "s", 7, True, None]}


def test_list_op_on_a_string_bin_is_incompatible(client, key):
    assert _code(client, key, lops.list_pop("s", 0)) == 12
    assert _code(client, key, lops.list_get_range("s", 0, 1)) == 12


@pytest.mark.parametrize("rt, want", [
    (aerospike.MAP_RETURN_VALUE, 1),
    (aerospike.MAP_RETURN_COUNT, 1),
    (aerospike.MAP_RETURN_KEY, "b"),
    (aerospike.MAP_RETURN_INDEX, 1),
    (aerospike.MAP_RETURN_RANK, 0),
    (aerospike.MAP_RETURN_EXISTS, True),
])
def test_map_get_by_key_return_types(client, key, rt, want):
    assert _op(client, key, mops.map_get_by_key("m", "b", rt)) == {"m": want}


# ------------------------------------------------------------------ inside filter expressions

from aerospike_helpers import expressions as exp  # noqa: E402


def _matching(client, ns, set_name, expr) -> list[int]:
    q = client.query(ns, set_name)
    return sorted(r[2]["i"] for r in q.results({"expressions": expr.compile()}))


@pytest.fixture
def rows(client, ns, set_name):
    data = {0: [3, 1, 2], 1: [9, 9, 4], 2: [1], 3: []}
    for i, lst in data.items():
        client.put((ns, set_name, i), {"i": i, "l": lst, "m": {f"k{j}": v for j, v in enumerate(lst)}})
    return data


def test_list_get_by_rank_in_a_filter(client, ns, set_name, rows):
    smallest = exp.ListGetByRank(None, aerospike.LIST_RETURN_VALUE, exp.ResultType.INTEGER, 0, exp.ListBin("l"))
    assert _matching(client, ns, set_name, exp.Eq(smallest, 1)) == [0, 2]
    largest = exp.ListGetByRank(None, aerospike.LIST_RETURN_VALUE, exp.ResultType.INTEGER, -1, exp.ListBin("l"))
    assert _matching(client, ns, set_name, exp.GT(largest, 3)) == [1]


def test_list_get_all_by_value_in_a_filter(client, ns, set_name, rows):
    count = exp.ListGetByValue(None, aerospike.LIST_RETURN_COUNT, 9, exp.ListBin("l"))
    assert _matching(client, ns, set_name, exp.Eq(count, 2)) == [1]
    assert _matching(client, ns, set_name, exp.Eq(count, 0)) == [0, 2, 3]


def test_map_get_by_rank_and_value_in_a_filter(client, ns, set_name, rows):
    top = exp.MapGetByRank(None, aerospike.MAP_RETURN_VALUE, exp.ResultType.INTEGER, -1, exp.MapBin("m"))
    assert _matching(client, ns, set_name, exp.Eq(top, 3)) == [0]
    keys = exp.MapGetByValue(None, aerospike.MAP_RETURN_COUNT, 1, exp.MapBin("m"))
    assert _matching(client, ns, set_name, exp.Eq(keys, 1)) == [0, 2]


def test_list_get_by_index_count_in_a_filter(client, ns, set_name, rows):
    n = exp.ListGetByIndexRangeToEnd(None, aerospike.LIST_RETURN_COUNT, 1, exp.ListBin("l"))
    assert _matching(client, ns, set_name, exp.GE(n, 2)) == [0, 1]


def test_map_selection_by_index_rank_value_and_relative(client, key):
    # m = {"a": 3, "b": 1, "c": 2}: index follows key order, rank value order
    assert _op(client, key, mops.map_get_by_index("m", 0, aerospike.MAP_RETURN_KEY)) == {"m": "a"}
    assert _op(client, key, mops.map_get_by_rank("m", 0, aerospike.MAP_RETURN_KEY)) == {"m": "b"}
    assert _op(client, key, mops.map_get_by_rank_range("m", 1, 2, aerospike.MAP_RETURN_VALUE)) == {"m": [2, 3]}
    assert _op(client, key, mops.map_get_by_value("m", 2, aerospike.MAP_RETURN_KEY)) == {"m": ["c"]}
    assert _op(client, key, mops.map_get_by_key_list("m", ["a", "c"], aerospike.MAP_RETURN_VALUE)) \
        == {"m": [3, 2]}
    assert _op(client, key, mops.map_get_by_key_index_range_relative("m", "b", 1, aerospike.MAP_RETURN_KEY, 1)) \
        == {"m": ["c"]}
    assert _op(client, key, mops.map_get_by_value_rank_range_relative("m", 2, -1, aerospike.MAP_RETURN_VALUE)) \
        == {"m": [1, 2, 3]}


def test_map_remove_by_key_and_rank(client, key):
    assert _op(client, key, mops.map_remove_by_key("m", "a", aerospike.MAP_RETURN_VALUE)) == {"m": 3}
    assert _op(client, key, mops.map_remove_by_rank("m", 0, aerospike.MAP_RETURN_KEY)) == {"m": "b"}
    assert _stored(client, key, "m") == {"c": 2}
