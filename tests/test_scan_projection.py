"""Scans that name bins keep the records holding none of them.

A real Aerospike server leaves out of a scan or query that names bins every
record holding none of those bins (it sends no empty record), while a batch
read of the same key answers the record with no bins. aerodf reads such
records as rows of nulls on every path, as ``read_batch`` does: the test
server behaves like the real one here, so these tests fail on either when a
path loses them.
"""

from __future__ import annotations

import aerospike
import polars as pl
import pytest
from aerospike_helpers import expressions as exp

import aerodf

SCHEMA = aerodf.Schema({"a": "int64", "b": "int64", "c": "string"})
SEND_KEY = {"key": aerospike.POLICY_KEY_SEND}


@pytest.fixture(autouse=True, params=["two passes", "whole records"])
def passes(request, monkeypatch):
    """Each test both ways: a set above ``WHOLE_RECORDS_BYTES`` takes the second,
    metadata-only pass; a smaller one is read whole (every bin) in one pass."""
    import aerodf.query as Q

    if request.param == "two passes":
        monkeypatch.setattr(Q, "WHOLE_RECORDS_BYTES", -1)
    return request.param


@pytest.fixture(scope="module")
def pclient(aerospike_server, transport):
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        yield c


@pytest.fixture
def shapes(client, set_name):
    """Keys 0..29: a in every third record, b in every second, c only in key 7."""
    rows = {}
    for k in range(30):
        bins = {}
        if k % 3 == 0:
            bins["a"] = k
        if k % 2 == 0:
            bins["b"] = -k
        if k == 7:
            bins["c"] = "seven"
        if not bins:
            bins["other"] = k  # a record holding none of the schema's bins
        client.put(("test", set_name, k), bins, policy=SEND_KEY)
        rows[k] = bins
    return set_name, rows


def _expected(rows: dict, cols: list[str], keep=lambda b: True) -> pl.DataFrame:
    data = [{"key": k, **{c: b.get(c) for c in cols}} for k, b in rows.items() if keep(b)]
    types = {"key": pl.Int64, "a": pl.Int64, "b": pl.Int64, "c": pl.String}
    return pl.DataFrame(data, schema={n: types[n] for n in ["key", *cols]}).sort("key")


def test_the_server_leaves_out_records_without_the_named_bins(client, shapes):
    """What every transport has to make up for (true of a real server and of the test server)."""
    set_name, rows = shapes
    q = client.query("test", set_name)
    q.select("c")
    got = [r[0][2] for r in q.results()]
    assert got == [7]
    # a batch read of the same keys answers every record
    answered = client.batch_read([("test", set_name, k) for k in rows], ["c"]).batch_records
    assert all(br.record is not None for br in answered)


@pytest.mark.parametrize("cols", [["a"], ["c"], ["a", "c"], ["a", "b", "c"]])
def test_read_query_with_a_column_subset_keeps_every_record(pclient, shapes, cols):
    set_name, rows = shapes
    got = aerodf.read_query("test", set_name, SCHEMA, columns=cols, client=pclient, output="polars",
                            with_key=True).sort("key")
    assert got.equals(_expected(rows, cols))


def test_iter_batches_and_meta_keep_every_record(pclient, shapes):
    set_name, rows = shapes
    batches = list(aerodf.iter_batches("test", set_name, SCHEMA, columns=["c"], client=pclient, with_key=True,
                                       with_meta=True, batch_size=4))
    got = pl.from_arrow(pa_concat(batches)).sort("key")
    assert got["key"].to_list() == sorted(rows)
    assert got["generation"].to_list() == [1] * len(rows)
    assert got["ttl"].null_count() == 0


def pa_concat(batches):
    import pyarrow as pa

    return pa.Table.from_batches(batches)


@pytest.mark.parametrize("pred,keep", [
    (pl.col("c").is_null(), lambda b: "c" not in b),
    (pl.col("a").is_null() | (pl.col("b") < -20), lambda b: "a" not in b or b.get("b", 0) < -20),
    (~(pl.col("a") > 10), lambda b: "a" in b and not b["a"] > 10),
    (pl.col("a") >= 6, lambda b: b.get("a", -1) >= 6),
])
def test_lazy_scan_filters_keep_records_without_the_selected_bins(pclient, shapes, pred, keep):
    set_name, rows = shapes
    lf = aerodf.scan("test", set_name, SCHEMA, client=pclient, with_key=True)
    got = lf.filter(pred).select(["key", "c"]).collect().sort("key")
    assert got.equals(_expected(rows, ["c"], keep))
    got = lf.filter(pred).select(["key", "c"]).head(100).collect().sort("key")
    assert got.equals(_expected(rows, ["c"], keep))


def test_head_counts_records_without_the_selected_bins(pclient, shapes):
    set_name, rows = shapes
    got = aerodf.read_query("test", set_name, SCHEMA, columns=["c"], client=pclient, output="polars",
                            with_key=True, max_records=len(rows))
    assert got.height == len(rows)
    got = aerodf.read_query("test", set_name, SCHEMA, columns=["c"], client=pclient, output="polars",
                            max_records=5)
    assert got.height == 5


def test_a_native_filter_keeps_records_without_the_selected_bins(pclient, shapes):
    set_name, rows = shapes
    native = exp.GE(exp.KeyInt(), 10)  # stored keys: a metadata filter the server runs itself
    got = aerodf.read_query("test", set_name, SCHEMA, columns=["c"], where=native, client=pclient,
                            output="polars", with_key=True).sort("key")
    expected = _expected({k: b for k, b in rows.items() if k >= 10}, ["c"])
    assert got.equals(expected)
    compiled = native.compile()  # a compiled filter cannot be extended: every bin is read instead
    got = aerodf.read_query("test", set_name, SCHEMA, columns=["c"], where=compiled, client=pclient,
                            output="polars", with_key=True).sort("key")
    assert got.equals(expected)


def test_a_filter_that_implies_a_selected_bin_needs_no_second_pass():
    from aerodf.expr import _implies_a_bin

    a = ("gt", ("bin", "int", "a"), ("lit", 1))
    b_null = ("eq", ("bin_type", "b"), ("lit", 0))
    guarded = ("cond", ("eq", ("bin_type", "a"), ("lit", 1)), a, ("lit", False))
    bins = frozenset({"a", "c"})
    assert _implies_a_bin(a, bins)
    assert _implies_a_bin(("and", b_null, a), bins)
    assert not _implies_a_bin(b_null, bins)
    assert not _implies_a_bin(("or", a, b_null), bins)
    assert not _implies_a_bin(guarded, bins)
    assert not _implies_a_bin(("not", a), bins)
    assert not _implies_a_bin(a, frozenset({"c"}))
    assert not _implies_a_bin(None, bins)


def test_explain_says_when_a_second_pass_reads_records_without_the_bins(pclient, shapes):
    set_name, _ = shapes
    lf = aerodf.scan("test", set_name, SCHEMA, client=pclient)
    assert "second, metadata-only pass" in aerodf.explain(lf.select("c"))
    assert "second, metadata-only pass" in aerodf.explain(lf.filter(pl.col("c").is_null()).select("a"))
    assert "second, metadata-only pass" not in aerodf.explain(lf.filter(pl.col("a") > 3).select("c"))
