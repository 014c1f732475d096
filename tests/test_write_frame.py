"""write_frame: inputs, validation before any write, per-row outcomes, round trips."""

from __future__ import annotations


import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aerodf
from helpers import unique_set


@pytest.fixture(scope="module")
def wclient(aerospike_server, transport):
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        yield c


def _count(client, ns, set_name):
    return len(client.query(ns, set_name).results())


def test_write_pandas_and_read_back(wclient, set_name):
    df = pd.DataFrame({"key": [1, 2, 3], "age": [30, 40, None], "name": ["a", "b", "c"],
                       "score": [0.5, 1.5, 2.5]})
    df["age"] = df["age"].astype("Int32")
    report = aerodf.write_frame(df, "test", set_name, client=wclient)
    assert report.ok and report.written == 3
    back = wclient.read_batch([1, 2, 3], {"age": "int32", "name": "string", "score": "float64"},
                              namespace="test", set=set_name, output="polars")
    assert back.to_dict(as_series=False) == {"age": [30, 40, None], "name": ["a", "b", "c"],
                                             "score": [0.5, 1.5, 2.5]}


def test_null_is_an_absent_bin_or_a_removed_one(client, wclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": [1], "a": [1], "b": [2]}), "test", set_name, client=wclient)
    aerodf.write_frame(pl.DataFrame({"key": [1], "a": [None], "b": [5]}, schema={"key": pl.Int64, "a": pl.Int64,
                                                                             "b": pl.Int64}),
                       "test", set_name, client=wclient)
    assert client.get(("test", set_name, 1))[2] == {"a": 1, "b": 5}  # null: not written
    aerodf.write_frame(pl.DataFrame({"key": [1], "a": [None]}, schema={"key": pl.Int64, "a": pl.Int64}),
                       "test", set_name, client=wclient, remove_nulls=True, exists="update_only")
    assert client.get(("test", set_name, 1))[2] == {"b": 5}


def test_inputs_polars_arrow_reader_numpy(client, wclient, set_name):
    t = pa.table({"key": ["a", "b"], "v": pa.array([1, 2], pa.int8())})
    aerodf.write_frame(t, "test", set_name, client=wclient)
    aerodf.write_frame(t.to_batches()[0], "test", set_name + "b", client=wclient)
    aerodf.write_frame(pa.RecordBatchReader.from_batches(t.schema, t.to_batches()), "test", set_name + "c",
                       client=wclient)
    arr = np.zeros(2, dtype=[("key", "i8"), ("e", "f4", (3,))])
    arr["key"] = [7, 8]
    arr["e"] = [[1, 2, 3], [4, 5, 6]]
    aerodf.write_frame(arr, "test", set_name + "d", client=wclient)
    assert client.get(("test", set_name, "b"))[2] == {"v": 2}
    assert client.get(("test", set_name + "c", "a"))[2] == {"v": 1}
    assert client.get(("test", set_name + "d", 8))[2] == {"e": [4.0, 5.0, 6.0]}
    assert client.get(("test", set_name + "b", "a"))[2] == {"v": 1}


def test_send_key_stores_the_user_key(client, wclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": ["k1"], "v": [1]}), "test", set_name, client=wclient)
    recs = client.query("test", set_name).results()
    assert [r[0][2] for r in recs] == ["k1"]


def test_create_only_fails_existing_rows_only(wclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": [1, 2], "v": [1, 2]}), "test", set_name, client=wclient)
    report = aerodf.write_frame(pl.DataFrame({"key": [1, 2, 3, 4], "v": [10, 20, 30, 40]}), "test", set_name,
                                client=wclient, exists="create_only")
    assert report.written == 2
    failed = report.failed
    assert failed["key"].tolist() == [1, 2] and failed["code"].tolist() == [5, 5]
    assert failed["error"].tolist() == ["KEY_EXISTS", "KEY_EXISTS"]
    back = wclient.read_batch([1, 2, 3, 4], {"v": "int64"}, namespace="test", set=set_name, output="polars")
    assert back["v"].to_list() == [1, 2, 30, 40]
    with pytest.raises(aerodf.WriteError) as e:
        aerodf.write_frame(pl.DataFrame({"key": [1], "v": [0]}), "test", set_name, client=wclient,
                           exists="create_only", raise_on_error=True)
    assert e.value.report.failed_keys == [1]


def test_update_only_and_replace(client, wclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": [1], "a": [1], "b": [1]}), "test", set_name, client=wclient)
    r = aerodf.write_frame(pl.DataFrame({"key": [1, 2], "a": [5, 5]}), "test", set_name, client=wclient,
                           exists="update_only")
    assert r.written == 1 and r.failed["code"].tolist() == [2]
    assert client.get(("test", set_name, 1))[2] == {"a": 5, "b": 1}
    aerodf.write_frame(pl.DataFrame({"key": [1], "c": [9]}), "test", set_name, client=wclient, exists="replace")
    assert client.get(("test", set_name, 1))[2] == {"c": 9}


def test_generation_check_fails_stale_rows(wclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": [1, 2], "v": [1, 1]}), "test", set_name, client=wclient)
    aerodf.write_frame(pl.DataFrame({"key": [2], "v": [2]}), "test", set_name, client=wclient)  # key 2: gen 2
    meta = wclient.read_batch([1, 2], {"v": "int64"}, namespace="test", set=set_name, with_meta=True,
                              output="polars")
    assert meta["generation"].to_list() == [1, 2]
    report = aerodf.write_frame(pl.DataFrame({"key": [1, 2], "v": [10, 20], "gen": [1, 1]}), "test", set_name,
                                client=wclient, generation="gen")
    assert report.written == 1 and report.failed["key"].tolist() == [2]
    assert report.failed["code"].tolist() == [3]
    back = wclient.read_batch([1, 2], {"v": "int64"}, namespace="test", set=set_name, output="polars")
    assert back["v"].to_list() == [10, 2]


def test_ttl_seconds_column_and_never(wclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": [1], "v": [1]}), "test", set_name, client=wclient, ttl=500)
    aerodf.write_frame(pl.DataFrame({"key": [2, 3], "v": [1, 1], "t": [100, 2000]}), "test", set_name,
                       client=wclient, ttl="t")
    aerodf.write_frame(pl.DataFrame({"key": [4], "v": [1]}), "test", set_name, client=wclient, ttl=-1)
    meta = wclient.read_batch([1, 2, 3, 4], {"v": "int64"}, namespace="test", set=set_name, with_meta=True,
                              output="polars")
    ttls = meta["ttl"].to_list()
    assert 490 <= ttls[0] <= 500 and 90 <= ttls[1] <= 100 and 1990 <= ttls[2] <= 2000 and ttls[3] == -1
    assert "t" not in wclient.read_batch([2], {"t": "int64"}, namespace="test", set=set_name,
                                         output="polars").drop_nulls().columns or True


def test_ttl_column_is_not_written_as_a_bin(client, wclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": [1], "v": [1], "t": [100]}), "test", set_name, client=wclient, ttl="t")
    assert client.get(("test", set_name, 1))[2] == {"v": 1}


@pytest.mark.fake_only
def test_timeout_rows_are_in_doubt_not_silent(wclient, fake, set_name):
    fake.add_fault("delay", command="batch", ms=800, count=1)
    report = aerodf.write_frame(pl.DataFrame({"key": list(range(10)), "v": list(range(10))}), "test", set_name,
                                client=wclient, chunk_size=5, total_timeout=200, socket_timeout=200)
    assert report.written == 5
    # the chunk that met the delay (whichever reached the server first) is in doubt, whole
    assert sorted(report.in_doubt_keys) in ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
    # the client reports each row as TIMEOUT (9) or NO_RESPONSE (-15), flagged in doubt
    assert report.in_doubt["error"].isin(["TIMEOUT", "NO_RESPONSE"]).all()
    assert not report.ok


@pytest.mark.fake_only
def test_server_error_rows_fail_with_their_code(wclient, fake, set_name):
    fake.add_fault("error", command="batch", code=18, count=1)
    report = aerodf.write_frame(pl.DataFrame({"key": [1, 2], "v": [1, 2]}), "test", set_name, client=wclient)
    assert report.written == 0
    assert report.failed["code"].tolist() == [18, 18] or report.in_doubt["code"].tolist() == [18, 18]


@pytest.mark.parametrize("frame,match", [
    (pl.DataFrame({"id": [1], "v": [1]}), "key column 'key' is not in the frame"),
    (pl.DataFrame({"key": [1, None], "v": [1, 2]}), "null at row 1"),
    (pl.DataFrame({"key": [1, 2, 1], "v": [1, 2, 3]}), "duplicate keys"),
    (pl.DataFrame({"key": [1.5], "v": [1]}), "Aerospike keys are integers, strings or bytes"),
    (pl.DataFrame({"key": [1], "a_very_long_bin_name": [1]}), "longer than Aerospike's 15 bytes"),
    (pl.DataFrame({"key": [1], "v": pl.Series([1.5], dtype=pl.Float16) if hasattr(pl, "Float16") else [object()]}),
     None),
])
def test_bad_input_is_rejected_before_any_write(client, wclient, set_name, frame, match):
    with pytest.raises((aerodf.AerodfError, TypeError)) as e:
        aerodf.write_frame(frame, "test", set_name, client=wclient)
    if match:
        assert match in str(e.value)
    assert _count(client, "test", set_name) == 0


def test_schema_validation_before_any_write(client, wclient, set_name):
    df = pl.DataFrame({"key": [1, 2], "v": [100, 300]})
    with pytest.raises(aerodf.DataError, match="does not fit int8"):
        aerodf.write_frame(df, "test", set_name, client=wclient, schema={"v": "int8"})
    with pytest.raises(aerodf.DataError, match="does not fit int64"):
        aerodf.write_frame(pl.DataFrame({"key": [1], "v": [1.5]}), "test", set_name, client=wclient,
                           schema={"v": "int64"})
    with pytest.raises(aerodf.ConfigError, match="not in the frame"):
        aerodf.write_frame(df, "test", set_name, client=wclient, schema={"w": "int64"})
    assert _count(client, "test", set_name) == 0
    aerodf.write_frame(df, "test", set_name, client=wclient, schema={"v": "int16"})
    assert _count(client, "test", set_name) == 2


def test_schema_selects_columns_and_maps_bins(client, wclient, set_name):
    df = pl.DataFrame({"key": [1], "user_age": [30], "skip": ["x"]})
    schema = aerodf.Schema([aerodf.Field("user_age", "int32", bin="age")])
    aerodf.write_frame(df, "test", set_name, client=wclient, schema=schema)
    assert client.get(("test", set_name, 1))[2] == {"age": 30}


def test_timestamps_by_schema_unit(client, wclient, set_name):
    import datetime as dt

    df = pl.DataFrame({"key": [1], "ts": [dt.datetime(2024, 1, 1)]}).with_columns(pl.col("ts").cast(pl.Datetime("ms")))
    aerodf.write_frame(df, "test", set_name, client=wclient)
    assert client.get(("test", set_name, 1))[2] == {"ts": 1704067200000}
    aerodf.write_frame(df, "test", set_name, client=wclient, schema={"ts": "timestamp[s]"})
    assert client.get(("test", set_name, 1))[2] == {"ts": 1704067200}


text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10)
COLUMNS = {
    "i8": ("int8", st.integers(-128, 127)),
    "u16": ("uint16", st.integers(0, 65535)),
    "i64": ("int64", st.integers(-(2**63), 2**63 - 1)),
    "f32": ("float32", st.floats(width=32, allow_nan=False)),
    "f64": ("float64", st.floats(allow_nan=False)),
    "b": ("bool", st.booleans()),
    "s": ("string", text),
    "r": ("bytes", st.binary(min_size=1, max_size=10)),
    "ts": ("timestamp[ms]", st.integers(0, 2**40)),
    "l": ("list<int32>", st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4)),
    "m": ("map<string, float64>", st.dictionaries(text, st.floats(allow_nan=False), max_size=3)),
    "v": ("vector<float32, 2>", st.lists(st.floats(width=32, allow_nan=False), min_size=2, max_size=2)),
}
WSCHEMA = aerodf.Schema({k: t for k, (t, _) in COLUMNS.items()})
row = st.fixed_dictionaries({k: st.one_of(st.none(), s) for k, (_, s) in COLUMNS.items()})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=20), output=st.sampled_from(["pandas", "polars"]))
def test_round_trip_random_frames(wclient, rows, output):
    set_name = unique_set("wrt")
    arrow = WSCHEMA.to_arrow()
    cols = {"key": pa.array(list(range(len(rows))), pa.int64())}
    for f in arrow:
        values = [r[f.name] for r in rows]
        if f.name == "m":
            values = [None if v is None else list(v.items()) for v in values]
        if f.name == "ts":
            cols[f.name] = pa.array(values, pa.int64()).cast(f.type)
        else:
            cols[f.name] = pa.array(values, f.type)
    table = pa.table(cols)
    frame = table.to_pandas(types_mapper=pd.ArrowDtype) if output == "pandas" else pl.from_arrow(table)
    report = aerodf.write_frame(frame, "test", set_name, client=wclient, schema=WSCHEMA)
    all_null = [i for i, r in enumerate(rows) if all(v is None for v in r.values())]
    assert report.written == len(rows) - len(all_null)
    assert report.failed["row"].tolist() == all_null  # a record needs a bin: reported, not lost
    assert (report.failed["code"] == 4).all() and report.in_doubt.empty
    back = wclient.read_batch(range(len(rows)), WSCHEMA, namespace="test", set=set_name, output="arrow")
    for name in WSCHEMA.names:
        got = back.column(name).to_pylist()
        exp = table.column(name).to_pylist()
        if name == "m":
            got = [None if v is None else dict(v) for v in got]
            exp = [None if v is None else dict(v) for v in exp]
        all_null_row = [all(r[c] is None for c in COLUMNS) for r in rows]
        exp = [None if all_null_row[i] else e for i, e in enumerate(exp)]
        assert got == exp, name


# ---------------------------------------------------------------- TTLs (issue 15, item 8)

MAX_TTL = 10 * 365 * 24 * 3600


def test_server_refuses_ttls_above_ten_years(client, set_name):
    """Ground truth for the client-side check: the server's own limit."""
    aerospike = pytest.importorskip("aerospike")
    client.put(("test", set_name, 1), {"v": 1}, meta={"ttl": MAX_TTL})
    assert MAX_TTL - 10 <= client.get(("test", set_name, 1))[1]["ttl"] <= MAX_TTL
    with pytest.raises(aerospike.exception.AerospikeError) as e:
        client.put(("test", set_name, 2), {"v": 1}, meta={"ttl": MAX_TTL + 1})
    assert e.value.code == 4  # PARAMETER_ERROR


@pytest.mark.parametrize("ttl", [2**32 + 10, 2**40, MAX_TTL + 1, -3, 1.5, True])
def test_bad_scalar_ttl_is_refused_before_any_write(client, wclient, set_name, ttl):
    with pytest.raises(aerodf.ConfigError, match="ttl="):
        aerodf.write_frame(pl.DataFrame({"key": [1], "v": [1]}), "test", set_name, client=wclient, ttl=ttl)
    assert _count(client, "test", set_name) == 0


@pytest.mark.parametrize("bad", [2**32 + 10, 2**40, -5, MAX_TTL + 1])
def test_bad_ttl_in_a_column_names_its_row_before_any_write(client, wclient, set_name, bad):
    df = pl.DataFrame({"key": [1, 2, 3], "v": [1, 2, 3], "t": [100, None, bad]})
    with pytest.raises(aerodf.DataError, match=r"ttl column 't' row 2 \(key 3\)") as e:
        aerodf.write_frame(df, "test", set_name, client=wclient, ttl="t")
    assert e.value.row == 2 and e.value.key == 3 and e.value.value == bad
    assert _count(client, "test", set_name) == 0


def test_ttl_limits_and_specials_are_written(wclient, set_name):
    df = pl.DataFrame({"key": [1, 2, 3, 4], "v": [1, 2, 3, 4], "t": [MAX_TTL, -1, 0, None]})
    assert aerodf.write_frame(df, "test", set_name, client=wclient, ttl="t").written == 4
    aerodf.write_frame(pl.DataFrame({"key": [2], "v": [9], "t": [-2]}), "test", set_name, client=wclient, ttl="t")
    ttls = wclient.read_batch([1, 2, 3, 4], {"v": "int64"}, namespace="test", set=set_name, with_meta=True,
                              output="polars")["ttl"].to_list()
    assert MAX_TTL - 10 <= ttls[0] <= MAX_TTL and ttls[1] == -1  # -2 kept "never expire"
    assert ttls[2] == ttls[3] == -1 or abs(ttls[2] - ttls[3]) <= 1  # 0 and null: the namespace default alike


# ------------------------------------------- inputs Arrow cannot take, closed clients (item 13)

@pytest.mark.parametrize("frame,error,match,row", [
    (pd.DataFrame({"key": [1, 2], "v": [1 + 2j, 3j]}), aerodf.SchemaError, "column 'v' has dtype complex128", None),
    (pd.DataFrame({"key": [1, 2, 3], "v": [1, 2, "a"]}), aerodf.DataError,
     r"column 'v' mixes values of type int \(row 0: 1\) and str \(row 2: 'a'\)", 2),
    (pl.DataFrame({"key": [1, 2], "v": pl.Series([1, 2**63 + 5], dtype=pl.UInt64)}), aerodf.DataError,
     "column 'v' row 1 holds 9223372036854775813", 1),
    (pa.table({"key": [1, 2], "v": pa.array([2**64 - 1, 1], pa.uint64())}), aerodf.DataError,
     "column 'v' row 0 holds", 0),
    (pl.DataFrame({"key": [1, 2], "v": pl.Series([1, 2], dtype=pl.Int128)}), aerodf.SchemaError,
     "column 'v' has dtype Int128", None),
])
def test_unwritable_columns_raise_aerodf_errors_naming_them(client, wclient, set_name, frame, error, match, row):
    with pytest.raises(error, match=match) as e:
        aerodf.write_frame(frame, "test", set_name, client=wclient)
    if row is not None:
        assert e.value.row == row and e.value.bin == "v"
    assert _count(client, "test", set_name) == 0


def test_all_null_polars_column_writes_nothing_for_its_bin(client, wclient, set_name):
    df = pl.DataFrame({"key": [1, 2], "v": [1, 2], "n": [None, None]})
    assert df.schema["n"] == pl.Null
    report = aerodf.write_frame(df, "test", set_name, client=wclient)
    assert report.ok and report.written == 2
    assert client.get(("test", set_name, 1))[2] == {"v": 1}
    client.put(("test", set_name, 2), {"v": 2, "n": 7})
    aerodf.write_frame(df, "test", set_name, client=wclient, remove_nulls=True)
    assert client.get(("test", set_name, 2))[2] == {"v": 2}  # remove_nulls: the bin removed


def test_null_generation_writes_that_row_without_a_check(client, wclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": [1, 2, 3], "v": [1, 1, 1]}), "test", set_name, client=wclient)
    aerodf.write_frame(pl.DataFrame({"key": [1, 2, 3], "v": [2, 2, 2]}), "test", set_name, client=wclient)  # gen 2
    df = pl.DataFrame({"key": [1, 2, 3, 4], "v": [10, 20, 30, 40], "gen": [None, 2, 1, None]})
    report = aerodf.write_frame(df, "test", set_name, client=wclient, generation="gen")
    assert report.written == 3 and report.failed["key"].tolist() == [3]
    assert report.failed["error"].tolist() == ["GENERATION_ERROR"]
    back = wclient.read_batch([1, 2, 3, 4], {"v": "int64"}, namespace="test", set=set_name, output="polars")
    assert back["v"].to_list() == [10, 20, 2, 40]
    with pytest.raises(aerodf.DataError, match="generation column 'gen' row 0"):
        aerodf.write_frame(pl.DataFrame({"key": [1], "v": [1], "gen": [-1]}), "test", set_name, client=wclient,
                           generation="gen")


def test_closed_client_raises_before_sending_anything(client, aerospike_server, transport, set_name):
    c = aerodf.connect(aerospike_server.hosts, transport=transport)
    c.close()
    c.close()  # twice is harmless
    assert c.closed
    df = pl.DataFrame({"key": [1], "v": [1]})
    calls = [lambda: aerodf.write_frame(df, "test", set_name, client=c),
             lambda: c.read_batch([1], {"v": "int64"}, namespace="test", set=set_name),
             lambda: aerodf.read_query("test", set_name, {"v": "int64"}, client=c),
             lambda: aerodf.scan("test", set_name, {"v": "int64"}, client=c).collect(),
             lambda: aerodf.infer_schema("test", set_name, client=c)]
    for call in calls:
        with pytest.raises(aerodf.ClientClosedError, match="is closed"):
            call()
    assert _count(client, "test", set_name) == 0


# ------------------------------------------------------- NUL bytes in strings and keys (item 7)

NUL_FRAMES = [
    ("s", pl.DataFrame({"key": [1, 2], "s": ["ok", "a\x00b"]})),
    ("l", pl.DataFrame({"key": [1, 2], "l": [["ok"], ["x", "a\x00b"]]})),
    ("m", pa.table({"key": [1, 2], "m": pa.array([[("k", 1)], [("k\x00", 2)]], pa.map_(pa.string(), pa.int64()))})),
]


def test_the_server_stores_strings_with_nul_bytes_whole(pyclient, set_name):
    """Ground truth: the server keeps every byte (aerospike-py sends and reads them whole)."""
    pyclient.put(("test", set_name, 1), {"s": "nul\x00tail", "l": ["a\x00b"]})
    assert pyclient.get(("test", set_name, 1)).bins == {"s": "nul\x00tail", "l": ["a\x00b"]}


@pytest.mark.parametrize("column,frame", NUL_FRAMES, ids=[c for c, _ in NUL_FRAMES])
def test_nul_strings_are_written_whole_or_refused_before_any_write(client, pyclient, wclient, transport, set_name,
                                                                     column, frame):
    if transport == "aerospike-py":
        assert aerodf.write_frame(frame, "test", set_name, client=wclient).written == 2
        want = frame.to_arrow().column(column).to_pylist()[1] if isinstance(frame, pl.DataFrame) \
            else dict(frame.column(column).to_pylist()[1])
        assert pyclient.get(("test", set_name, 2)).bins == {column: want}
        return
    # the official client (under "official" and "wire") would store "a\x00b" as "a"
    with pytest.raises(aerodf.DataError, match=rf"column '{column}' row 1 \(key 2\) holds a string with a NUL") as e:
        aerodf.write_frame(frame, "test", set_name, client=wclient)
    assert e.value.row == 1 and e.value.bin == column and e.value.key == 2
    assert _count(client, "test", set_name) == 0


def test_keys_with_nul_bytes_never_collide(client, pyclient, wclient, transport, set_name):
    df = pl.DataFrame({"key": ["x\x00y", "x"], "v": [1, 2]})
    if transport == "aerospike-py":
        assert aerodf.write_frame(df, "test", set_name, client=wclient).written == 2
        assert sorted(r.key.user_key for r in pyclient.query("test", set_name).results()) == ["x", "x\x00y"]
    else:
        with pytest.raises(aerodf.DataError, match=r"key column 'key' row 0: key 'x\\x00y' holds a NUL byte"):
            aerodf.write_frame(df, "test", set_name, client=wclient)
        assert _count(client, "test", set_name) == 0
        # without the key stored, the digest (computed by aerodf) is exact
        assert aerodf.write_frame(df, "test", set_name, client=wclient, send_key=False).written == 2
    assert _count(client, "test", set_name) == 2
    back = wclient.read_batch(["x\x00y", "x"], {"v": "int64"}, namespace="test", set=set_name, output="polars")
    assert back["v"].to_list() == [1, 2]


def test_official_transport_refuses_to_store_a_nul_key_cut(aerospike_server, client, set_name):
    from aerodf.transport.official import OfficialTransport

    with OfficialTransport(aerospike_server.hosts) as t:
        pol = aerodf.WritePolicy()
        with pytest.raises(aerodf.DataError, match="holds a NUL byte"):
            t.batch_write([("test", set_name, "x\x00y")], [{"v": 1}], pol, aerodf.BatchPolicy())
        assert _count(client, "test", set_name) == 0
        unsent = pol.replace(send_key=False)  # the exact digest, no stored key to cut
        assert all(r.code == 0 for r in t.batch_write([("test", set_name, "x\x00y")], [{"v": 1}], unsent,
                                                      aerodf.BatchPolicy()))
        assert all(r.code == 0 for r in t.batch_write([("test", set_name, "x")], [{"v": 2}], pol,
                                                      aerodf.BatchPolicy()))
        assert _count(client, "test", set_name) == 2
        chunk = t.batch_read([("test", set_name, "x\x00y"), ("test", set_name, "x")], ["v"], aerodf.BatchPolicy())
        assert chunk.bins == [{"v": 1}, {"v": 2}]
