"""read_query / iter_batches / scan: correctness, pushdown, streaming, errors."""

from __future__ import annotations


import aerospike
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aerodf
from helpers import unique_set

SCHEMA = aerodf.Schema({"i": "int64", "f": "float64", "s": "string", "b": "bool", "l": "list<int64>"})
POLARS_SCHEMA = {"key": pl.Int64, "i": pl.Int64, "f": pl.Float64, "s": pl.String, "b": pl.Boolean,
                 "l": pl.List(pl.Int64)}


@pytest.fixture(scope="module")
def qclient(aerospike_server, transport):
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        yield c


def _frame(n: int, seed: int = 0) -> pl.DataFrame:
    import random

    rng = random.Random(seed)
    rows = []
    for k in range(n):
        rows.append({
            "key": k,
            "i": None if rng.random() < 0.15 else rng.randint(-50, 50),
            "f": None if rng.random() < 0.15 else round(rng.uniform(-10, 10), 2),
            "s": None if rng.random() < 0.15 else rng.choice(["apple", "banana", "cherry", "a.b", "date", ""]),
            "b": None if rng.random() < 0.15 else rng.random() < 0.5,
            "l": None if rng.random() < 0.15 else [rng.randint(0, 5) for _ in range(rng.randint(0, 4))],
        })
    return pl.DataFrame(rows, schema=POLARS_SCHEMA)


@pytest.fixture(scope="module")
def people(qclient):
    df = _frame(400, seed=1)
    report = aerodf.write_frame(df, "test", "q_people", client=qclient)
    assert report.written == len(df) - len(report.failed)
    present = df.filter(~pl.all_horizontal(pl.col(c).is_null() for c in ["i", "f", "s", "b", "l"]))
    return "q_people", present


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("key")


def test_read_query_whole_set(qclient, people):
    set_name, expected = people
    got = aerodf.read_query("test", set_name, SCHEMA, client=qclient, output="polars", with_key=True)
    assert _sorted(got).equals(_sorted(expected.select(got.columns)))


@pytest.mark.parametrize("pred", [
    pl.col("i") > 10,
    (pl.col("i") > 0) & (pl.col("s") == "apple"),
    (pl.col("i") < -40) | pl.col("b"),
    ~(pl.col("f") >= 0),
    pl.col("s").is_in(["banana", "date"]),
    pl.col("i").is_between(-5, 5),
    pl.col("s").is_null(),
    pl.col("s").str.starts_with("a."),
    pl.col("s").str.ends_with("rry"),
    pl.col("s").str.contains(".", literal=True),
    pl.col("l").list.len() >= 3,
    (pl.col("i") * 2 + 1) > 20,
    pl.col("s").str.to_uppercase() == "APPLE",  # not pushable: client-side only
    # a null in is_in's values keeps the null rows only with nulls_equal=True
    pl.col("i").is_in([3, -7, None], nulls_equal=True),
    pl.col("s").is_in([None], nulls_equal=True),
    pl.col("i").is_in([3, -7, None]),
])
def test_where_matches_polars(qclient, people, pred):
    set_name, expected = people
    got = aerodf.read_query("test", set_name, SCHEMA, where=pred, client=qclient, output="polars", with_key=True)
    assert _sorted(got).equals(_sorted(expected.filter(pred).select(got.columns)))


def test_is_in_with_nulls_equal_keeps_the_missing_bins(qclient, people):
    """is_in([.., None], nulls_equal=True) keeps the rows whose bin is missing: pushed as
    plain equality the server would drop them, and no client-side re-check brings them back."""
    set_name, expected = people
    pred = pl.col("i").is_in([3, None], nulls_equal=True)
    want = _sorted(expected.filter(pred))
    assert want["i"].null_count() > 0
    got = aerodf.read_query("test", set_name, SCHEMA, where=pred, client=qclient, output="polars", with_key=True)
    assert _sorted(got).equals(want.select(got.columns))
    lazy = aerodf.scan("test", set_name, SCHEMA, client=qclient, with_key=True).filter(pred).collect()
    assert _sorted(lazy).equals(want.select(lazy.columns))


@pytest.mark.parametrize("pred,exact", [
    (pl.col("i") > 10, True),
    ((pl.col("i") > 0) & (pl.col("s") == "apple"), True),
    (pl.col("s").is_null() | pl.col("i").is_not_null(), True),
    (pl.col("f") < 0, True),
    (pl.col("i").is_in([1, None], nulls_equal=True), True),
    (~(pl.col("f") >= 0), False),  # NOT keeps a missing bin the server's guard made false
    (~pl.col("b"), False),
    ((pl.col("i") * 2) > 20, False),  # arithmetic can overflow
    (pl.col("l").list.len() >= 3, False),
    (pl.col("s").str.to_uppercase() == "APPLE", False),  # not pushed at all
    ((pl.col("i") > 0) & (pl.col("s").str.to_uppercase() == "APPLE"), False),  # a part kept client-side
])
def test_plan_says_when_the_servers_filter_is_exact(pred, exact):
    """Only an exact plan lets the scan skip the client-side re-check (with
    on_type_error='raise'); describe() says which it is."""
    from aerodf.expr import plan
    from aerodf.polars_expr import from_polars

    p = plan(from_polars(pred), SCHEMA)
    assert p.exact is exact
    assert ("nothing is re-checked" in p.describe()) is exact


EDGE_SCHEMA = aerodf.Schema({"i": "int64", "f": "float64", "s": "string"})


@pytest.mark.parametrize("pred", [
    pl.col("f") > 0, pl.col("f") < 0, pl.col("f") >= 1.0, pl.col("f") != 2.0, pl.col("f").is_between(-1, 1),
    pl.col("i") > -1, pl.col("i") == 2**63 - 1, pl.col("i") <= -(2**63),
    pl.col("s") > "a", pl.col("s").is_null() | (pl.col("f") < 0),
])
def test_an_exact_filter_keeps_nan_inf_nul_extremes_and_missing_bins_as_polars_does(qclient, aerospike_server,
                                                                                     transport, pred):
    """Where the server's filter is exact nothing is re-checked on the client, so the
    server alone must keep what polars keeps: NaN (polars orders it above every number),
    inf, int64's bounds, a string holding a NUL byte, and rows whose bin is missing.
    (The official client reads a stored NUL string cut, as the README says, so its
    transports get NUL-free strings here.)"""
    from aerodf.expr import plan
    from aerodf.polars_expr import from_polars

    assert plan(from_polars(pred), EDGE_SCHEMA).exact
    set_name = unique_set("qedge")
    df = pl.DataFrame({
        "key": list(range(8)),
        "i": [0, 2**63 - 1, -(2**63), None, 5, -3, 1, None],
        "f": [float("nan"), float("inf"), float("-inf"), 0.5, None, -0.0, 2.0, -1.5],
        "s": ["a\0b" if transport == "wire" else "a b", "a", None, "b", "a\0" if transport == "wire" else "a ", "",
              "ab", None],
    }, schema={"key": pl.Int64, "i": pl.Int64, "f": pl.Float64, "s": pl.String})
    # a string holding a NUL is written as given only by aerospike-py (the other clients cut it)
    with aerodf.connect(aerospike_server.hosts, transport="aerospike-py") as writer:
        aerodf.write_frame(df, "test", set_name, client=writer)
    want = _sorted(df.filter(pred))
    got = aerodf.read_query("test", set_name, EDGE_SCHEMA, where=pred, client=qclient, output="polars",
                            with_key=True)
    assert _sorted(got).equals(want.select(got.columns), null_equal=True)
    lazy = aerodf.scan("test", set_name, EDGE_SCHEMA, client=qclient, with_key=True).filter(pred).collect()
    assert _sorted(lazy).equals(want.select(lazy.columns), null_equal=True)


@pytest.mark.parametrize("where", [pl.col("s") == "a\0b", pl.col("s").is_in(["a\0b", "zz"]),
                                   pl.col("s").is_between(pl.lit("a\0"), pl.lit("a\0c"))])
def test_a_string_literal_holding_a_nul_is_decided_client_side(qclient, aerospike_server, transport, where):
    """The official client sends a filter's string up to its first NUL, so "a\0b" pushed
    would match a stored "a": such a literal is never pushed, and the rows are polars'."""
    from aerodf.expr import plan
    from aerodf.polars_expr import from_polars

    assert plan(from_polars(where), EDGE_SCHEMA, indexes={"s": "string"}).server is None
    set_name = unique_set("qnul")
    df = pl.DataFrame({"key": [0, 1, 2], "s": ["a", "a\0b" if transport == "wire" else "b", "a\0"]})
    if transport != "wire":
        df = df.filter(pl.col("key") != 2)
    with aerodf.connect(aerospike_server.hosts, transport="aerospike-py") as writer:
        aerodf.write_frame(df, "test", set_name, client=writer)
    got = aerodf.read_query("test", set_name, aerodf.Schema({"s": "string"}), where=where, client=qclient,
                            output="polars", with_key=True)
    assert _sorted(got).equals(_sorted(df.filter(where)))


@pytest.mark.parametrize("pred,could", [
    (pl.col("i") == 3, True),
    (pl.col("i").is_between(1, 4), True),
    ((pl.col("f") < 1) & (pl.col("s") == "x"), True),
    (pl.col("i") > 3, False),  # no index filter has this shape: the index list is not asked for
    (pl.col("f") == 1.0, False),
    ((pl.col("i") == 3) | (pl.col("s") == "x"), False),
    (None, False),
])
def test_secondary_indexes_are_looked_up_only_when_a_conjunct_could_use_one(pred, could):
    from aerodf.expr import could_use_index
    from aerodf.polars_expr import from_polars

    assert could_use_index(None if pred is None else from_polars(pred), SCHEMA) is could


@pytest.mark.fake_only
def test_pushed_filter_means_fewer_records_on_the_wire(qclient, people, aerospike_server):
    set_name, expected = people
    aerospike_server.reset_stats()
    got = aerodf.read_query("test", set_name, SCHEMA, where=pl.col("i") > 40, client=qclient, output="polars")
    st_ = aerospike_server.stats()
    assert got.height == expected.filter(pl.col("i") > 40).height
    assert st_["records_sent"] == got.height < len(expected)


def test_columns_and_projection(qclient, people):
    set_name, expected = people
    got = aerodf.read_query("test", set_name, SCHEMA, columns=["s"], where=pl.col("i") > 0, client=qclient,
                            output="polars")
    assert got.columns == ["s"]
    assert sorted(got["s"].to_list(), key=str) == sorted(expected.filter(pl.col("i") > 0)["s"].to_list(), key=str)


def test_iter_batches_streams_bounded_batches(qclient, people):
    set_name, expected = people
    batches = list(aerodf.iter_batches("test", set_name, SCHEMA, client=qclient, batch_size=32))
    assert all(isinstance(b, pa.RecordBatch) and 0 < b.num_rows <= 32 for b in batches)
    assert sum(b.num_rows for b in batches) == len(expected)


def test_max_records_stops_early(qclient, people):
    set_name, _ = people
    got = aerodf.read_query("test", set_name, SCHEMA, client=qclient, max_records=25, output="polars")
    assert got.height == 25
    got = aerodf.read_query("test", set_name, SCHEMA, client=qclient, max_records=7, where=pl.col("b"),
                            output="polars")
    assert got.height == 7 and got["b"].all()


def test_partitions_subset(qclient, people):
    set_name, expected = people
    halves = [aerodf.read_query("test", set_name, SCHEMA, client=qclient, partitions=r, output="polars",
                                with_key=True) for r in (range(2048), range(2048, 4096))]
    assert halves[0].height > 0 and halves[1].height > 0
    both = pl.concat(halves)
    assert _sorted(both).equals(_sorted(expected.select(both.columns)))
    with pytest.raises(aerodf.ConfigError):
        aerodf.read_query("test", set_name, SCHEMA, client=qclient, partitions=range(4000, 5000))


def test_native_expression_is_accepted(qclient, people):
    from aerospike_helpers import expressions as exp

    set_name, expected = people
    got = aerodf.read_query("test", set_name, SCHEMA, client=qclient, where=exp.GT(exp.IntBin("i"), 45),
                            output="polars")
    assert sorted(got["i"].to_list()) == sorted(expected.filter(pl.col("i") > 45)["i"].to_list())


def test_secondary_index_is_used(client, qclient, people):
    set_name, expected = people
    name = "q_people_i"
    client.index_integer_create("test", set_name, "i", name)
    try:
        plans: list = []
        before = dict(qclient.read_paths)
        from aerodf.query import stream_batches

        got = list(stream_batches("test", set_name, SCHEMA, client=qclient,
                                  where=pl.col("i").is_between(10, 20) & (pl.col("f") > 0), on_plan=plans.append))
        table = pa.Table.from_batches(got) if got else None
        assert plans[0].index == ("range", "i", 10, 20)
        exp_rows = expected.filter(pl.col("i").is_between(10, 20) & (pl.col("f") > 0)).height
        assert (table.num_rows if table is not None else 0) == exp_rows
        if qclient.transport_name == "wire":  # the index query itself ran on the wire
            assert qclient.read_paths["wire_scan"] > before.get("wire_scan", 0)
            assert qclient.read_paths["general_scan"] == before.get("general_scan", 0)
    finally:
        client.index_remove("test", name)


def test_scan_lazyframe_filter_select_head(qclient, people):
    set_name, expected = people
    lf = aerodf.scan("test", set_name, SCHEMA, client=qclient, with_key=True)
    assert lf.collect_schema() == pl.Schema({"key": pl.Int64, **{k: v for k, v in POLARS_SCHEMA.items() if k != "key"}})
    got = lf.filter((pl.col("i") > 0) & pl.col("s").str.starts_with("b")).select("key", "s").collect()
    exp = expected.filter((pl.col("i") > 0) & pl.col("s").str.starts_with("b")).select("key", "s")
    assert _sorted(got).equals(_sorted(exp))
    assert lf.head(9).collect().height == 9
    assert lf.select("i").head(3).collect().columns == ["i"]
    # head first, then filter: at most the first 50 raw rows survive the filter
    assert lf.head(50).filter(pl.col("b")).collect().height <= 50


def test_explain_shows_what_is_pushed(qclient, people):
    set_name, _ = people
    lf = aerodf.scan("test", set_name, SCHEMA, client=qclient)
    text = aerodf.explain(lf.filter((pl.col("i") > 3) & (pl.col("s").str.to_uppercase() == "X")).select("f"))
    assert "pushed to the server: (i > 3)" in text
    assert "client-side only:" in text and "to_uppercase" in text.split("client-side only:")[1] or "<" in text
    assert "bins requested: ['i', 'f', 's']" in text


@pytest.mark.fake_only
def test_partition_error_names_partitions(qclient, fake, people):
    set_name, _ = people
    fake.add_fault("error", command="query", code=11)
    with pytest.raises(aerodf.AerospikeServerError) as e:
        aerodf.read_query("test", set_name, SCHEMA, client=qclient, max_retries=0, partitions=range(64),
                          max_in_flight=1)
    assert e.value.partitions and set(e.value.partitions) <= set(range(64))
    assert "partitions not read" in str(e.value)


def test_scan_spreads_over_nodes(aerospike_cluster):
    with aerodf.connect(aerospike_cluster.hosts[:1]) as c:
        aerodf.write_frame(pl.DataFrame({"key": list(range(200)), "v": list(range(200))}), "test", "q_spread",
                           client=c)
        aerospike_cluster.reset_stats()
        got = aerodf.read_query("test", "q_spread", {"v": "int64"}, client=c, output="polars")
        assert sorted(got["v"].to_list()) == list(range(200))
        stats = aerospike_cluster.stats()
        assert all(stats[f"node{i}_requests"] > 0 for i in range(3))


# ----------------------------------------------------------------------------- property test

ints = st.integers(-20, 20)
leaf = st.one_of(
    st.builds(lambda op, v: getattr(pl.col("i"), op)(v), st.sampled_from(["__gt__", "__ge__", "__lt__", "__le__",
                                                                           "__eq__", "__ne__"]), ints),
    st.builds(lambda op, v: getattr(pl.col("f"), op)(v), st.sampled_from(["__gt__", "__lt__"]),
              st.floats(-10, 10, allow_nan=False)),
    st.builds(lambda v: pl.col("s") == v, st.sampled_from(["apple", "banana", "a.b", ""])),
    st.builds(lambda vs: pl.col("i").is_in(vs), st.lists(ints, min_size=1, max_size=4)),
    st.builds(lambda vs: pl.col("i").is_in(vs + [None], nulls_equal=True), st.lists(ints, max_size=3)),
    st.builds(lambda lo, d: pl.col("i").is_between(lo, lo + d), ints, st.integers(0, 10)),
    st.sampled_from([pl.col("s").is_null(), pl.col("i").is_not_null(), pl.col("b"), ~pl.col("b"),
                     pl.col("s").str.starts_with("a"), pl.col("s").str.ends_with("a"),
                     pl.col("s").str.contains(".", literal=True), pl.col("l").list.len() > 1,
                     pl.col("s").str.len_chars() > 4]),
)
predicates = st.recursive(leaf, lambda inner: st.one_of(
    st.builds(lambda a, b: a & b, inner, inner), st.builds(lambda a, b: a | b, inner, inner),
    st.builds(lambda a: ~a, inner)), max_leaves=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), pred=predicates, cols=st.sampled_from([["i"], ["s", "f"], ["key", "l", "b"]]))
def test_pushdown_equals_client_side_filter(qclient, aerospike_server, seed, pred, cols):
    set_name = unique_set("qprop")
    df = _frame(40, seed)
    report = aerodf.write_frame(df, "test", set_name, client=qclient)
    present = df.filter(~pl.all_horizontal(pl.col(c).is_null() for c in ["i", "f", "s", "b", "l"]))
    assert report.written == present.height
    expected = present.filter(pred).select(["key"] + [c for c in cols if c != "key"])

    lf = aerodf.scan("test", set_name, SCHEMA, client=qclient, with_key=True)
    got = lf.filter(pred).select(["key"] + [c for c in cols if c != "key"]).collect()
    assert _sorted(got).equals(_sorted(expected))
    # what crossed the wire is checked on read_query, which plans the predicate as written
    # (polars may simplify a lazy filter first: a | (a & b) reaches the scan as a)
    if aerospike_server.is_fake:
        aerospike_server.wait_idle()  # a request an earlier test left behind counts no records here
        aerospike_server.reset_stats()
    got2 = aerodf.read_query("test", set_name, SCHEMA, where=pred, client=qclient, output="polars", with_key=True)
    assert _sorted(got2.select(expected.columns)).equals(_sorted(expected))
    if aerospike_server.is_fake:
        sent = aerospike_server.stats()["records_sent"]
        from aerodf.expr import plan
        from aerodf.polars_expr import from_polars

        p = plan(from_polars(pred), SCHEMA)
        assert expected.height <= sent <= present.height
        if p.server is None:
            assert sent == present.height  # nothing pushed: everything crossed the wire


def test_scan_meta_columns_and_stored_keys(client, qclient, set_name):
    client.put(("test", set_name, 1), {"v": 1}, policy={"key": aerospike.POLICY_KEY_SEND, "ttl": 500})
    client.put(("test", set_name, 2), {"v": 2}, policy={"key": aerospike.POLICY_KEY_SEND, "ttl": -1})
    client.put(("test", set_name, 2), {"v": 3}, policy={"key": aerospike.POLICY_KEY_SEND, "ttl": -2})
    client.put(("test", set_name, 3), {"v": 4})  # no stored key
    got = aerodf.read_query("test", set_name, {"v": "int64"}, client=qclient, output="polars", with_key=True,
                            with_meta=True).sort("v")
    assert got.columns == ["key", "v", "generation", "ttl"]
    assert got["v"].to_list() == [1, 3, 4]
    assert got["key"].to_list() == [1, 2, None]  # record 3 was written without its key
    by_v = {r["v"]: r for r in got.to_dicts()}
    assert 490 <= by_v[1]["ttl"] <= 500 and by_v[1]["generation"] == 1
    assert by_v[3]["ttl"] == -1 and by_v[3]["generation"] == 2  # never expires, kept by "don't update"


def test_empty_result_has_the_requested_columns(qclient, set_name):
    got = aerodf.read_query("test", set_name + "_none", SCHEMA, columns=["s", "i"], client=qclient,
                            output="arrow", with_key="id", key_type="string", with_meta=True)
    assert got.num_rows == 0
    assert got.schema.names == ["id", "s", "i", "generation", "ttl"]
    assert got.schema.field("id").type == pa.string() and got.schema.field("i").type == pa.int64()


def test_progress_bars_count_rows(qclient, people, capsys):
    set_name, expected = people
    aerodf.read_query("test", set_name, SCHEMA, client=qclient, progress=True)
    err = capsys.readouterr().err
    assert "read_query" in err and f"{len(expected)}" in err
    aerodf.read_batch(range(10), {"i": "int64"}, namespace="test", set=set_name, client=qclient, progress=True)
    assert "read_batch" in capsys.readouterr().err


# ----------------------------------------------------------------------------- regex metacharacters

_META = "ab+()x{}|.*?[]^$\\ "


def _meta_frame(strings: list) -> pl.DataFrame:
    # every record holds "n", so no record is empty whatever the predicate reads
    return pl.DataFrame({"key": list(range(len(strings))), "n": list(range(len(strings))), "s": strings},
                        schema={"key": pl.Int64, "n": pl.Int64, "s": pl.String})


def _meta_check(qclient, df: pl.DataFrame, pred: pl.Expr) -> None:
    set_name = unique_set("qmeta")
    aerodf.write_frame(df, "test", set_name, client=qclient)
    schema = {"n": "int64", "s": "string"}
    want = df.filter(pred).sort("key")
    got = aerodf.read_query("test", set_name, schema, where=pred, client=qclient, output="polars",
                            with_key=True).sort("key")
    assert got.select(want.columns).equals(want), pred
    lazy = aerodf.scan("test", set_name, schema, client=qclient, with_key=True).filter(pred).collect().sort("key")
    assert lazy.select(want.columns).equals(want), pred


@pytest.mark.parametrize("needle", ["a+b", "x(y)", "(", ")", "{", "}", "a{1}", "[a]", "a|b", "\\", "^a", "b$", "?",
                                    "*", "."])
def test_literal_string_predicates_with_regex_metacharacters(qclient, needle):
    hay = ["a+b", "aab", "ab", "x(y)", "xy", "(", ")", "{", "}", "a{1}", "a", "[a]", "a|b", "b", "\\", "^a",
           "b$", "?", "*", ".", "z", "", None, "pre" + needle + "post", needle + "!", "!" + needle]
    df = _meta_frame(hay)
    for pred in (pl.col("s").str.contains(needle, literal=True), pl.col("s").str.starts_with(needle),
                 pl.col("s").str.ends_with(needle), ~pl.col("s").str.contains(needle, literal=True),
                 pl.col("s").str.starts_with(needle) | (pl.col("n") < 0)):
        _meta_check(qclient, df, pred)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(strings=st.lists(st.one_of(st.none(), st.text(_META, max_size=5)), min_size=1, max_size=25),
       needle=st.text(_META, max_size=3), kind=st.sampled_from(["contains", "starts_with", "ends_with"]),
       negate=st.booleans())
def test_string_match_pushdown_equals_polars(qclient, strings, needle, kind, negate):
    col = pl.col("s").str
    pred = col.contains(needle, literal=True) if kind == "contains" else getattr(col, kind)(needle)
    _meta_check(qclient, _meta_frame(strings), ~pred if negate else pred)


# ----------------------------------------------------------------------------- NaN and wide literals

_NAN_PREDICATES = [
    pl.col("f") > 1, pl.col("f") >= 0, ~(pl.col("f") < 0), pl.col("f") < 0, pl.col("f") <= 1.5,
    pl.col("f") == 1.5, pl.col("f") != 1.5, pl.col("f").is_between(-1, 2), ~pl.col("f").is_between(-1, 2),
    (pl.col("f") > 1) | (pl.col("i") < 0), pl.col("f") > float("inf"), pl.col("f") < float("nan"),
    pl.col("f").is_in([1.5, float("nan")]), (pl.col("f") * pl.col("f")) > 2,
    pl.col("i") < 2**64 - 1, pl.col("i") > -(2**63) - 5, pl.col("i") == 2**70, pl.col("i") != 2**70,
    ~(pl.col("i") >= 2**64), pl.col("i") < 2**63,
]


@pytest.fixture(scope="module")
def nan_set(qclient):
    floats = [float("nan"), 1.5, -2.0, float("inf"), float("-inf"), -0.0, 0.0, 3.25, None, float("nan")]
    ints = [1, -5, 2**63 - 1, -(2**63), 0, None, 7, -1, 3, 2]
    df = pl.DataFrame({"key": list(range(len(floats))), "f": floats, "i": ints},
                      schema={"key": pl.Int64, "f": pl.Float64, "i": pl.Int64})
    set_name = unique_set("qnan")
    aerodf.write_frame(df, "test", set_name, client=qclient)
    return set_name, df


@pytest.mark.parametrize("pred", _NAN_PREDICATES, ids=[str(p) for p in _NAN_PREDICATES])
def test_pushdown_keeps_polars_semantics_for_nan_and_wide_integers(qclient, nan_set, pred):
    set_name, df = nan_set
    schema = {"f": "float64", "i": "int64"}
    expected = df.filter(pred).sort("key")
    got = aerodf.read_query("test", set_name, schema, where=pred, client=qclient, output="polars",
                            with_key=True).sort("key")
    assert got.select(expected.columns).equals(expected)
    lazy = aerodf.scan("test", set_name, schema, client=qclient, with_key=True).filter(pred).collect().sort("key")
    assert lazy.select(expected.columns).equals(expected)


@pytest.mark.parametrize("where", ["a > 1", True, 3])
def test_a_where_that_is_no_expression_is_a_config_error(qclient, where):
    with pytest.raises(aerodf.ConfigError, match="polars expression"):
        aerodf.read_query("test", "q_people", SCHEMA, where=where, client=qclient)


def test_an_empty_schema_and_a_bare_port_are_config_errors(qclient):
    with pytest.raises(aerodf.ConfigError, match="no fields"):
        aerodf.read_query("test", "q_people", {}, client=qclient)
    with pytest.raises(aerodf.ConfigError, match="no fields"):
        aerodf.read_batch([1], {}, namespace="test", set="q_people", client=qclient)
    with pytest.raises(aerodf.ConfigError, match="host:port"):
        aerodf.connect(3000)
    with aerodf.connect(("127.0.0.1", qclient.hosts[0][1])) as one:  # one (host, port) pair is fine
        assert one.hosts == [("127.0.0.1", qclient.hosts[0][1])]


def test_a_predicate_on_a_column_the_schema_lacks_fails_before_reading(aerospike_server, set_name):
    # issue 16: the predicate is bound to the schema first (it failed after the scan, with polars' raw error)
    with pytest.raises(aerodf.ConfigError, match=r"\['nope'\]"):
        aerodf.read_query("test", set_name, {"a": "int64"}, where=pl.col("nope") > 1, hosts=aerospike_server.hosts)
    with pytest.raises(aerodf.ConfigError, match="nope"):
        next(aerodf.iter_batches("test", set_name, {"a": "int64"}, where=(pl.col("a") > 1) | pl.col("nope").is_null(),
                                 hosts=aerospike_server.hosts))
