"""Filter expressions on the wire: the bytes equal the official client's, and
filtered scans stay on the wire with the official path's answer."""

from __future__ import annotations

import aerospike
import polars as pl
import pytest

import aerodf
from aerodf.transport.official_exp import lower
from aerodf.wire.expr import encode, index_range

NODES = {
    "int_eq": ("eq", ("bin", "int", "a"), ("lit", 5)),
    "negative_and_wide_ints": ("and", ("gt", ("bin", "int", "a"), ("lit", -300)),
                               ("lt", ("bin", "int", "a"), ("lit", 2**40)), ("ne", ("bin", "int", "a"), ("lit", -3))),
    "float": ("ge", ("bin", "float", "f"), ("lit", 2.5)),
    "string_value": ("eq", ("bin", "str", "s"), ("lit", "héllo" * 10)),
    "blob": ("eq", ("bin", "blob", "bl"), ("lit", b"\x01\x02")),
    "bool": ("eq", ("bin", "bool", "b"), ("lit", True)),
    "regex": ("regex", "^hel+o", 2, ("bin", "str", "s")),
    "list_size": ("eq", ("list_size", ("bin", "list", "l")), ("lit", 3)),
    "map_size": ("eq", ("map_size", ("bin", "map", "m")), ("lit", 2)),
    "guarded_cond": ("cond", ("eq", ("bin_type", "a"), ("lit", 1)), ("gt", ("bin", "float", "f"), ("lit", 2.5)),
                     ("lit", False)),
    "not_or_arith": ("not", ("or", ("eq", ("bin", "bool", "b"), ("lit", False)),
                             ("lt", ("add", ("bin", "int", "a"), ("lit", 1)), ("mul", ("bin", "int", "a"), ("lit", 2))),
                             ("gt", ("div", ("bin", "float", "f"), ("lit", 2.0)), ("sub", ("bin", "float", "f"),
                                                                                       ("lit", 1.0))))),
}


@pytest.mark.fake_only
@pytest.mark.parametrize("name", sorted(NODES))
def test_filter_bytes_equal_the_official_clients(aerospike_server, client, set_name, name):
    node = NODES[name]
    client.put(("test", set_name, 1), {"a": 5})
    try:
        client.get(("test", set_name, 1), policy={"expressions": lower(node).compile()})
    except aerospike.exception.AerospikeError:
        pass  # filtered out: the bytes were sent all the same
    assert aerospike_server.last_filter() == encode(node)


def test_filtered_scan_stays_on_the_wire(aerospike_server, client, set_name):
    for k in range(60):
        client.put(("test", set_name, k), {"age": k, "name": f"n{k}", "tags": list(range(k % 4))},
                   policy={"key": aerospike.POLICY_KEY_SEND})
    schema = {"age": "int64", "name": "string", "tags": "list<int64>"}
    where = (pl.col("age") > 40) & pl.col("name").str.starts_with("n5")
    with aerodf.connect(aerospike_server.hosts, transport="wire") as w, \
            aerodf.connect(aerospike_server.hosts, transport="official") as o:
        got = aerodf.read_query("test", set_name, schema, where=where, client=w, output="polars", with_key=True)
        want = aerodf.read_query("test", set_name, schema, where=where, client=o, output="polars", with_key=True)
        assert got.sort("key").equals(want.sort("key"))
        assert sorted(got["age"].to_list()) == list(range(50, 60))
        assert w.read_paths == {"wire_scan": 1}


@pytest.mark.fake_only
def test_the_filter_runs_on_the_server(aerospike_server, client, set_name):
    for k in range(40):
        client.put(("test", set_name, k), {"age": k})
    with aerodf.connect(aerospike_server.hosts, transport="wire") as w:
        aerospike_server.reset_stats()
        df = aerodf.read_query("test", set_name, {"age": "int64"}, where=pl.col("age") >= 30, client=w,
                               output="polars")
        assert sorted(df["age"].to_list()) == list(range(30, 40))
        assert aerospike_server.stats()["records_sent"] == 10  # only the matches crossed the wire
        assert w.read_paths == {"wire_scan": 1}


def test_index_range_bytes_equal_the_captured_official_ones():
    # shared/PROTOCOL.md: predicates.between("age", 21, 23) and predicates.equals("name", "n1")
    assert index_range(("range", "age", 21, 23)).hex() == \
        "0103616765010000000800000000000000150000000800000000000000" + "17"
    assert index_range(("eq", "name", "n1")).hex() == "01046e616d6503000000026e3100000002" + "6e31"


@pytest.mark.parametrize("pattern", ["(", "a{", "[z-a]"])
def test_a_scan_the_server_refuses_raises_promptly(aerospike_server, client, set_name, pattern):
    # a real server refuses a scan whose filter it cannot build with one reply that has no
    # LAST flag; the wire reader must take it as the answer, not wait out every retry
    import threading
    import time

    import pyarrow as pa

    for k in range(5):
        client.put(("test", set_name, k), {"s": f"v{k}"})
    schema = aerodf.Schema({"s": "string"})
    with aerodf.connect(aerospike_server.hosts, transport="wire") as w:
        t0 = time.monotonic()
        with pytest.raises(aerodf.AerospikeServerError) as err:
            w.transport.scan_range("test", set_name, w.transport.wire_plan(schema),
                                   w.query_policy.replace(socket_timeout=3000, max_retries=1),
                                   begin=0, count=4096, out_schema=pa.schema(schema.to_arrow(strings="string")),
                                   key_name=None, with_meta=False,
                                   server_filter=("regex", pattern, 1, ("bin", "str", "s")),
                                   on_type_error="raise", strings="string", batch_size=1000,
                                   row_counter=lambda n: 0, emit=lambda b: True, stop=threading.Event())
        assert err.value.code == 4
        assert time.monotonic() - t0 < 2.5  # well inside one socket timeout
