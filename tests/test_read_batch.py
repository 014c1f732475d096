"""read_batch against the server: types, outputs, order, missing records, errors, chunking."""

from __future__ import annotations

import random
import threading

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import aerodf

SCHEMA = aerodf.Schema({
    "i8": "int8", "i32": "int32", "i64": "int64", "u16": "uint16", "f32": "float32", "f64": "float64",
    "b": "bool", "s": "string", "raw": "bytes", "ts": "timestamp[ms]", "tags": "list<string>",
    "nums": "list<int32>", "attrs": "map<string, float64>", "emb": "vector<float32, 4>",
})


def _record(i: int) -> dict:
    rec = {"i8": i % 100 - 50, "i32": i * 1000, "i64": i * 10**12, "u16": i, "f32": i / 4, "f64": i / 3,
           "b": i % 2 == 0, "s": f"name-{i}", "raw": bytes([i % 256, 1]), "ts": 1_700_000_000_000 + i,
           "tags": [f"t{i % 3}"] * (i % 3), "nums": list(range(i % 4)), "attrs": {"a": i / 2},
           "emb": [float(i), 0.5, -1.0, 2.0]}
    if i % 7 == 3:  # some records lack some bins
        for name in ("i32", "s", "tags", "emb", "attrs"):
            del rec[name]
    return rec


@pytest.fixture(scope="module")
def dataset(client):
    set_name = "rb_types"
    n = 60
    for i in range(n):
        if i % 10 == 9:
            continue  # missing records
        client.put(("test", set_name, i), _record(i))
    return set_name, n


@pytest.fixture(scope="module")
def aclient(aerospike_server, transport):
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        yield c


def _expected(i: int, name: str):
    if i % 10 == 9:
        return None
    return _record(i).get(name)


@pytest.mark.parametrize("output", ["pandas", "polars", "arrow"])
def test_every_type_with_nulls(aclient, dataset, output):
    set_name, n = dataset
    got = aclient.read_batch(range(n), SCHEMA, namespace="test", set=set_name, output=output, chunk_size=16)
    table = got if output == "arrow" else (pa.Table.from_pandas(got) if output == "pandas" else got.to_arrow())
    assert table.num_rows == n
    for name in SCHEMA.names:
        col = table.column(name).to_pylist()
        for i in range(n):
            exp = _expected(i, name)
            val = col[i]
            if name == "ts" and val is not None:
                val = int(pd.Timestamp(val).value // 10**6)
            if name == "attrs" and val is not None:
                val = dict(val) if isinstance(val, list) else val
                val = {k: v for k, v in (val.items() if isinstance(val, dict) else val)}
            if name == "raw" and val is not None:
                val = bytes(val)
            assert val == exp, (name, i, val, exp)


def test_arrow_types_follow_schema(aclient, dataset):
    set_name, n = dataset
    t = aclient.read_batch(range(n), SCHEMA, namespace="test", set=set_name, output="arrow")
    assert t.schema == SCHEMA.to_arrow()


def test_polars_types_and_string_view_zero_copy(aclient, dataset):
    set_name, n = dataset
    df = aclient.read_batch(range(n), SCHEMA, namespace="test", set=set_name, output="polars")
    assert df.schema["i8"] == pl.Int8 and df.schema["emb"] == pl.Array(pl.Float32, 4)
    assert df.schema["s"] == pl.String and df.schema["u16"] == pl.UInt16


def test_pandas_pyarrow_backend_is_zero_copy(aclient, dataset):
    set_name, n = dataset
    table = aclient.read_batch(range(n), SCHEMA, namespace="test", set=set_name, output="arrow", chunk_size=n)
    df = table.to_pandas(types_mapper=pd.ArrowDtype)
    arrow_buf = table.column("f64").chunk(0).buffers()[1].address
    pandas_buf = df["f64"].array._pa_array.chunk(0).buffers()[1].address
    assert arrow_buf == pandas_buf


def test_pandas_numpy_nullable_backend(aclient, dataset):
    set_name, n = dataset
    df = aclient.read_batch(range(n), {"i32": "int32", "b": "bool"}, namespace="test", set=set_name,
                            dtype_backend="numpy_nullable")
    assert str(df["i32"].dtype) == "Int32" and str(df["b"].dtype) == "boolean"
    assert df["i32"].isna().sum() == sum(1 for i in range(n) if _expected(i, "i32") is None)


def test_numpy_output_masked_where_null(aclient, dataset):
    set_name, n = dataset
    arr = aclient.read_batch(range(n), {"i64": "int64", "emb": "vector<float32, 4>"}, namespace="test",
                             set=set_name, output="numpy")
    assert arr.dtype.names == ("i64", "emb")
    assert arr.dtype["emb"].shape == (4,)
    assert isinstance(arr, np.ma.MaskedArray)
    assert arr["i64"][9] is np.ma.masked
    assert arr["i64"][10] == 10 * 10**12
    assert arr["emb"][10].mask.all()  # row 10 lacks the bin (10 % 7 == 3)
    assert list(arr["emb"][11]) == [11.0, 0.5, -1.0, 2.0]


def test_numpy_output_plain_without_nulls(aclient, dataset):
    set_name, _ = dataset
    keys = [i for i in range(40) if i % 10 != 9]
    arr = aclient.read_batch(keys, {"i64": "int64", "f64": "float64"}, namespace="test", set=set_name,
                             output="numpy")
    assert type(arr) is np.ndarray
    assert list(arr["i64"]) == [i * 10**12 for i in keys]


def test_key_order_is_request_order(aclient, dataset):
    set_name, n = dataset
    keys = list(range(n))
    random.Random(7).shuffle(keys)
    df = aclient.read_batch(keys, {"i64": "int64"}, namespace="test", set=set_name, with_key=True,
                            chunk_size=7, output="polars")
    assert df["key"].to_list() == keys
    assert df["i64"].to_list() == [None if k % 10 == 9 else k * 10**12 for k in keys]


def test_full_tuple_keys_and_string_keys(client, aclient, set_name):
    for k in ["a", "b", "c"]:
        client.put(("test", set_name, k), {"v": ord(k)})
    df = aclient.read_batch([("test", set_name, "c"), ("test", set_name, "a")], {"v": "int64"},
                            with_key="id", output="polars")
    assert df.to_dict(as_series=False) == {"id": ["c", "a"], "v": [99, 97]}


def test_bytes_keys_follow_the_official_clients_rule(client, aclient, set_name):
    """``bytes`` is a string key (what the official client makes of it), ``bytearray`` a blob key."""
    client.put(("test", set_name, b"k"), {"v": 1})
    client.put(("test", set_name, bytearray(b"k")), {"v": 2})
    client.put(("test", set_name, b"\xfe\x01"), {"v": 3})
    assert client.get(("test", set_name, "k"))[2] == {"v": 1}  # the official client: b"k" is "k"
    df = aclient.read_batch([b"k", bytearray(b"k"), "k", b"\xfe\x01", bytearray(b"\xfe\x01")], {"v": "int64"},
                            namespace="test", set=set_name, output="polars")
    assert df["v"].to_list() == [1, 2, 1, 3, None]
    df = aclient.read_batch([bytearray(b"k"), b"k"], {"v": "int64"}, namespace="test", set=set_name,
                            output="polars", with_key=True)
    assert df.to_dict(as_series=False) == {"key": [b"k", b"k"], "v": [2, 1]}


def test_bytes_keys_written_by_write_frame_are_found_by_the_official_client(client, aclient, set_name):
    t = pa.table({"key": [b"a", b"\xfe"], "v": [1, 2]})
    assert aerodf.write_frame(t, "test", set_name, client=aclient).written == 2
    assert client.get(("test", set_name, b"a"))[2] == {"v": 1}
    assert client.get(("test", set_name, b"\xfe"))[2] == {"v": 2}
    assert aerodf.write_frame(t, "test", set_name + "b", client=aclient, blob_keys=True).written == 2
    assert client.get(("test", set_name + "b", bytearray(b"\xfe")))[2] == {"v": 2}
    df = aclient.read_batch([bytearray(b"a"), b"a"], {"v": "int64"}, namespace="test", set=set_name + "b",
                            output="polars")
    assert df["v"].to_list() == [1, None]
    with pytest.raises(aerodf.ConfigError, match="blob_keys=True needs a bytes key column"):
        aerodf.write_frame(pa.table({"key": [1], "v": [1]}), "test", set_name, client=aclient, blob_keys=True)


def test_keys_with_nul_bytes_are_their_own_records(client, aclient, pyclient, set_name):
    """The official client cuts str keys at a NUL ("x\\0y" is record "x"); aerodf's digest is exact."""
    pyclient.put(("test", set_name, "x\x00y"), {"v": 1})  # aerospike-py hashes the whole key
    pyclient.put(("test", set_name, "x"), {"v": 2})
    df = aclient.read_batch(["x\x00y", "x", b"x\x00y"], {"v": "int64"}, namespace="test", set=set_name,
                            output="polars")
    assert df["v"].to_list() == [1, 2, 1]


def test_keys_from_numpy_pandas_polars_arrow(aclient, dataset):
    set_name, _ = dataset
    for keys in (np.arange(5), pd.Series(range(5)), pl.Series(range(5)), pa.array(range(5))):
        df = aclient.read_batch(keys, {"u16": "uint16"}, namespace="test", set=set_name, output="polars")
        assert df["u16"].to_list() == [0, 1, 2, 3, 4]


def test_on_missing_drop_and_raise(aclient, dataset):
    set_name, n = dataset
    df = aclient.read_batch(range(n), {"i64": "int64"}, namespace="test", set=set_name, on_missing="drop",
                            with_key=True, output="polars", with_meta=True)
    assert df["key"].to_list() == [i for i in range(n) if i % 10 != 9]
    assert df["generation"].null_count() == 0
    with pytest.raises(aerodf.RecordNotFoundError) as e:
        aclient.read_batch(range(n), {"i64": "int64"}, namespace="test", set=set_name, on_missing="raise",
                           chunk_size=8)
    assert e.value.keys == [i for i in range(n) if i % 10 == 9]
    assert "9" in str(e.value)


def test_meta_columns(client, aclient, set_name):
    client.put(("test", set_name, 1), {"v": 1}, policy={"ttl": 1000})
    client.put(("test", set_name, 1), {"v": 2}, policy={"ttl": 1000})
    df = aclient.read_batch([1, 2], {"v": "int64"}, namespace="test", set=set_name, with_meta=True,
                            output="polars")
    assert df["generation"].to_list() == [2, None]
    assert 990 <= df["ttl"][0] <= 1000 and df["ttl"][1] is None


def test_wrong_type_names_key_and_bin(client, aclient, set_name):
    client.put(("test", set_name, 1), {"v": 1})
    client.put(("test", set_name, 2), {"v": "two"})
    with pytest.raises(aerodf.BinTypeError) as e:
        aclient.read_batch([1, 2], {"v": "int64"}, namespace="test", set=set_name)
    assert e.value.key == 2 and e.value.bin == "v" and e.value.row == 1
    assert "'two'" in str(e.value) and "key 2" in str(e.value)
    df = aclient.read_batch([1, 2], {"v": "int64"}, namespace="test", set=set_name, on_type_error="null",
                            output="polars")
    assert df["v"].to_list() == [1, None]


def test_float_never_truncated_into_int(client, aclient, set_name):
    client.put(("test", set_name, 1), {"v": 1.5, "l": [1, 2.5]})
    with pytest.raises(aerodf.BinTypeError):
        aclient.read_batch([1], {"v": "int64"}, namespace="test", set=set_name)
    with pytest.raises(aerodf.BinTypeError):
        aclient.read_batch([1], {"l": "list<int64>"}, namespace="test", set=set_name)


def test_bool_is_not_an_int(client, aclient, set_name):
    client.put(("test", set_name, 1), {"v": True})
    with pytest.raises(aerodf.BinTypeError):
        aclient.read_batch([1], {"v": "int8"}, namespace="test", set=set_name)


@pytest.mark.parametrize("field,value", [("int8", 128), ("int8", -129), ("uint8", -1), ("int32", 2**31),
                                         ("uint32", 2**32), ("int16", 40000)])
def test_integer_overflow_is_an_error(client, aclient, set_name, field, value):
    client.put(("test", set_name, 1), {"v": 0})
    client.put(("test", set_name, 2), {"v": value})
    with pytest.raises(aerodf.IntegerOverflowError) as e:
        aclient.read_batch([1, 2], {"v": field}, namespace="test", set=set_name)
    assert e.value.key == 2 and e.value.value == value


def test_list_element_overflow(client, aclient, set_name):
    client.put(("test", set_name, 1), {"l": [1, 300]})
    with pytest.raises(aerodf.IntegerOverflowError):
        aclient.read_batch([1], {"l": "list<int8>"}, namespace="test", set=set_name)


def test_vector_length_mismatch(client, aclient, set_name):
    client.put(("test", set_name, 1), {"e": [1.0, 2.0, 3.0]})
    with pytest.raises(aerodf.BinTypeError) as e:
        aclient.read_batch([1], {"e": "vector<float32, 4>"}, namespace="test", set=set_name)
    assert "3 elements" in str(e.value)


def test_vector_from_blob(client, aclient, set_name):
    client.put(("test", set_name, 1), {"e": bytearray(np.array([1, 2, 3, 4], dtype="<f4").tobytes())})
    df = aclient.read_batch([1], {"e": "vector<float32, 4>"}, namespace="test", set=set_name, output="polars")
    assert df["e"].to_list() == [[1.0, 2.0, 3.0, 4.0]]


def test_vector_nil_element_is_null_beside_blobs(client, aclient, set_name):
    """A nil element of a list vector reads as a null element, whether or not another row
    of the column is a blob (the blob-and-list builder once wrote it as 0.0)."""
    client.put(("test", set_name, 1), {"e": bytearray(np.array([1, 2, 3], dtype="<f4").tobytes())})
    client.put(("test", set_name, 2), {"e": [4.0, None, 6.0]})
    df = aclient.read_batch([1, 2], {"e": "vector<float32, 3>"}, namespace="test", set=set_name, output="polars")
    assert df["e"].to_list() == [[1.0, 2.0, 3.0], [4.0, None, 6.0]]
    alone = aclient.read_batch([2], {"e": "vector<float32, 3>"}, namespace="test", set=set_name, output="polars")
    assert alone["e"].to_list() == [[4.0, None, 6.0]]


def test_non_nullable_missing_bin(client, aclient, set_name):
    client.put(("test", set_name, 1), {"a": 1})
    schema = aerodf.Schema([aerodf.Field("a", "int64"), aerodf.Field("b", "int64", nullable=False)])
    with pytest.raises(aerodf.MissingValueError) as e:
        aclient.read_batch([1], schema, namespace="test", set=set_name)
    assert e.value.bin == "b" and e.value.key == 1


def test_field_reads_another_bin(client, aclient, set_name):
    client.put(("test", set_name, 1), {"short": 5})
    schema = aerodf.Schema([aerodf.Field("a_much_longer_column_name", "int64", bin="short")])
    df = aclient.read_batch([1], schema, namespace="test", set=set_name, output="polars")
    assert df.columns == ["a_much_longer_column_name"] and df.item() == 5


@pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 21])
def test_chunking_edges(aclient, dataset, n):
    set_name, _ = dataset
    df = aclient.read_batch(range(n), {"u16": "uint16"}, namespace="test", set=set_name, chunk_size=10,
                            with_key=True, output="polars")
    assert df.height == n
    assert df["key"].to_list() == list(range(n))
    assert df["u16"].to_list() == [None if i % 10 == 9 else i for i in range(n)]
    assert df.schema["u16"] == pl.UInt16


def test_empty_keys_give_typed_empty_frame(aclient):
    df = aclient.read_batch([], SCHEMA, namespace="test", set="nothing", output="pandas")
    assert list(df.columns) == SCHEMA.names and len(df) == 0


def test_bad_arguments(aclient):
    with pytest.raises(aerodf.ConfigError):
        aclient.read_batch([1], {"a": "int64"})  # no namespace
    with pytest.raises(aerodf.ConfigError):
        aclient.read_batch([1.5], {"a": "int64"}, namespace="test")
    with pytest.raises(aerodf.ConfigError):
        aclient.read_batch([1], {"a": "int64"}, namespace="test", output="excel")
    with pytest.raises(aerodf.ConfigError):
        aclient.read_batch([1], {"a": "int64"}, namespace="test", on_missing="skip")
    with pytest.raises(aerodf.ConfigError):
        aclient.read_batch([1], {"key": "int64"}, namespace="test", with_key=True)
    with pytest.raises(aerodf.ConfigError):
        aclient.read_batch([1], {"a": "int64"}, namespace="test", chunk_size=0)


def test_hosts_instead_of_client(aerospike_server, dataset):
    set_name, _ = dataset
    df = aerodf.read_batch([0, 1], {"u16": "uint16"}, namespace="test", set=set_name,
                           hosts=aerospike_server.hosts, output="polars", max_in_flight=2)
    assert df["u16"].to_list() == [0, 1]


def test_concurrent_calls_share_the_limiter(aerospike_server, dataset):
    set_name, n = dataset
    with aerodf.connect(aerospike_server.hosts, max_in_flight=2, workers=4) as c:
        if aerospike_server.is_fake:
            aerospike_server.reset_stats()
        results, errors = [], []

        def worker():
            try:
                df = c.read_batch(range(n), {"u16": "uint16"}, namespace="test", set=set_name, chunk_size=5,
                                  output="polars")
                results.append(df["u16"].to_list())
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(results) == 6 and all(r == results[0] for r in results)
        stats = c.metrics()
        assert stats.peak <= 2 and stats.in_flight == 0 and stats.total_waits > 0
        if aerospike_server.is_fake:
            assert aerospike_server.stats()["peak_in_flight"] <= 2


def test_policy_override_reaches_the_client(aclient, fake, dataset):
    set_name, _ = dataset
    fake.add_fault("delay", command="batch", ms=800, count=1)
    with pytest.raises(aerodf.TimeoutError):
        aclient.read_batch([0, 1], {"u16": "uint16"}, namespace="test", set=set_name,
                           total_timeout=200, socket_timeout=200, max_retries=0)
    assert aclient.batch_policy.total_timeout == 1000  # the client's default is untouched


def test_fixed_width_columns_are_one_allocation_with_aligned_chunks(aclient, dataset):
    set_name, n = dataset
    t = aclient.read_batch(range(n), SCHEMA, namespace="test", set=set_name, output="arrow", chunk_size=16)
    t.validate(full=True)
    layouts = {name: [len(c) for c in t.column(name).chunks] for name in t.column_names}
    assert all(v == [16, 16, 16, 12] for v in layouts.values()), layouts
    col = t.column("f64")
    addrs = [c.buffers()[1].address for c in col.chunks]
    assert addrs == [addrs[0] + 16 * 8 * i for i in range(4)]  # views into one buffer
    emb = t.column("emb")
    child_addrs = [c.values.buffers()[1].address for c in emb.chunks]
    assert child_addrs == [child_addrs[0] + 16 * 4 * 4 * i for i in range(4)]


def test_list_type_error_blames_the_right_row(client, aclient, set_name):
    # True == 1 in Python: the row holding 1 must not be blamed for the row holding True
    client.put(("test", set_name, 1), {"l": [1, 2]})
    client.put(("test", set_name, 2), {"l": [True]})
    with pytest.raises(aerodf.BinTypeError) as e:
        aclient.read_batch([1, 2], {"l": "list<int64>"}, namespace="test", set=set_name)
    assert e.value.key == 2 and e.value.row == 1
    df = aclient.read_batch([1, 2], {"l": "list<int64>"}, namespace="test", set=set_name, on_type_error="null",
                            output="polars")
    assert df["l"].to_list() == [[1, 2], None]


def test_pandas_backends_keep_integers_exact_and_nan_apart_from_null(client, aerospike_server, set_name, transport):
    # issue 15 item 11: the numpy backend turned an int64 column with nulls into float64
    # (2**63 - 1 -> 9.223372036854776e18); numpy_nullable turned a stored NaN into <NA>
    client.put(("test", set_name, 0), {"i": 2**63 - 1, "f": float("nan")})
    client.put(("test", set_name, 1), {"f": 1.5})
    client.put(("test", set_name, 2), {"i": -(2**63)})
    schema = {"i": "int64", "f": "float64"}
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        npy = aerodf.read_batch([0, 1, 2], schema, namespace="test", set=set_name, client=c, dtype_backend="numpy")
        nul = aerodf.read_batch([0, 1, 2], schema, namespace="test", set=set_name, client=c,
                                dtype_backend="numpy_nullable")
        scanned = aerodf.read_query("test", set_name, schema, client=c, dtype_backend="numpy_nullable")
    assert npy["i"].dtype == object and npy["i"].tolist() == [2**63 - 1, None, -(2**63)]
    assert np.isnan(npy["f"][0]) and np.isnan(npy["f"][2])  # the numpy backend has only NaN for null
    assert str(nul["i"].dtype) == "Int64" and nul["i"].isna().tolist() == [False, True, False]
    assert nul["i"][0] == 2**63 - 1
    assert str(nul["f"].dtype) == "Float64"
    assert nul["f"].isna().tolist() == [False, False, True]  # the stored NaN is a value, the absent bin is <NA>
    assert np.isnan(nul["f"].array._data[0]) and nul["f"][1] == 1.5
    assert sorted(scanned["f"].isna().tolist()) == [False, False, True]
