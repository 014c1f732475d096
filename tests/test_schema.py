"""Schema IR: spellings, compilers, reverse mappings, errors."""

from __future__ import annotations

import dataclasses
from typing import Optional, TypedDict

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import aerodf
from aerodf.schema import Bool, Bytes, Float, Int, List, Map, String, Timestamp, Vector, parse_type


@pytest.mark.parametrize("spec,expected", [
    ("int8", Int(8)), ("uint64", Int(64, False)), ("float32", Float(32)), ("double", Float(64)),
    ("bool", Bool()), ("string", String()), ("bytes", Bytes()), ("timestamp[us]", Timestamp("us")),
    ("timestamp[ms, UTC]", Timestamp("ms", "UTC")), ("list<int16>", List(Int(16))),
    ("map<string, list<float32>>", Map(String(), List(Float(32)))), ("vector<float32, 128>", Vector(Float(32), 128)),
    ("float32[8]", Vector(Float(32), 8)), (int, Int(64)), (str, String()),
])
def test_parse_type(spec, expected):
    assert parse_type(spec) == expected


@pytest.mark.parametrize("bad", ["int7", "list<>", "map<list<int8>, int8>", "vector<string, 3>", "vector<int8, 0>",
                                 "timestamp[h]", 3.5, "float16"])
def test_parse_type_errors(bad):
    with pytest.raises(aerodf.SchemaError):
        parse_type(bad)


FULL = aerodf.Schema({"i": "int16", "u": "uint32", "f": "float32", "b": "bool", "s": "string", "r": "bytes",
                      "t": "timestamp[ns]", "l": "list<string>", "m": "map<int64, float64>",
                      "v": "vector<float32, 3>"})


def test_arrow_compiler():
    s = FULL.to_arrow()
    assert s.field("i").type == pa.int16() and s.field("u").type == pa.uint32()
    assert s.field("t").type == pa.timestamp("ns")
    assert s.field("m").type == pa.map_(pa.int64(), pa.float64())
    assert s.field("v").type == pa.list_(pa.float32(), 3)
    assert FULL.to_arrow(strings="string_view").field("s").type == pa.string_view()


def test_numpy_compiler():
    d = FULL.to_numpy()
    assert d["i"] == np.int16 and d["u"] == np.uint32 and d["b"] == np.bool_
    assert d["s"] == np.dtype(object) and d["t"] == np.dtype("datetime64[ns]")
    assert d["v"].shape == (3,) and d["v"].base == np.float32


def test_polars_compiler():
    s = FULL.to_polars()
    assert isinstance(s, pl.Schema)
    assert s["i"] == pl.Int16 and s["v"] == pl.Array(pl.Float32, 3) and s["l"] == pl.List(pl.String)
    assert s["t"] == pl.Datetime("ns")


def test_pandas_compiler():
    d = FULL.to_pandas()
    assert d["i"] == pd.ArrowDtype(pa.int16())
    n = FULL.to_pandas(dtype_backend="numpy_nullable")
    assert str(n["i"]) == "Int16" and str(n["u"]) == "UInt32" and str(n["b"]) == "boolean"


def test_round_trip_through_arrow():
    assert aerodf.Schema(FULL.to_arrow()) == FULL


def test_from_numpy_dtype():
    s = aerodf.Schema(np.dtype([("a", "i4"), ("b", "f8"), ("e", "f4", (16,)), ("t", "M8[s]")]))
    assert [str(f.type) for f in s] == ["int32", "float64", "vector<float32, 16>", "timestamp[s]"]


def test_from_dataclass_and_typeddict():
    @dataclasses.dataclass(frozen=True)
    class User:
        age: int
        name: Optional[str]
        tags: list[str]

    class Row(TypedDict):
        score: float
        flags: dict[str, int]

    s = aerodf.Schema(User)
    assert [str(f) for f in s] == ["age: int64 not null", "name: string", "tags: list<string> not null"]
    assert str(aerodf.Schema(Row)["flags"].type) == "map<string, int64>"


def test_field_objects_and_bin_mapping():
    s = aerodf.Schema([aerodf.Field("user_age", "int8", bin="age"), ("name", "string")])
    assert s.bins == ["age", "name"] and s.names == ["user_age", "name"]
    assert s.select(["name"]).names == ["name"]


def test_schema_errors():
    with pytest.raises(aerodf.SchemaError, match="15 bytes"):
        aerodf.Schema({"a_bin_name_that_is_too_long": "int64"})
    with pytest.raises(aerodf.SchemaError, match="duplicate"):
        aerodf.Schema([("a", "int8"), ("a", "int16")])
    with pytest.raises(aerodf.SchemaError, match="same bin"):
        aerodf.Schema([aerodf.Field("a", "int8"), aerodf.Field("b", "int8", bin="a")])
    with pytest.raises(KeyError, match="no field"):
        FULL["nope"]


def test_infer_from_records():
    from aerodf.inference import infer_from_records

    s = infer_from_records([{"a": 1, "f": 1.0, "e": [1.0, 2.0], "l": ["x"], "m": {"k": 1}},
                            {"a": 2, "f": 2.5, "e": [3.0, 4.0], "l": [], "s": "x"}])
    assert {f.name: str(f.type) for f in s} == {
        "a": "int64", "f": "float64", "e": "vector<float64, 2>", "l": "list<string>", "m": "map<string, int64>",
        "s": "string"}
    with pytest.raises(aerodf.SchemaError, match="several types"):
        infer_from_records([{"a": 1}, {"a": "x"}])


def test_infer_reports_each_conflicting_bin_and_keeps_the_others():
    from aerodf.inference import infer_from_records

    recs = [{"a": 1, "x": 1, "y": "s", "l": [1, 2.5]}, {"a": 2, "x": 2.5, "y": 3, "l": [3]}]
    with pytest.warns(aerodf.InferenceWarning, match=r"bin 'x' holds values of several types \(float, int\).*"
                                                     r"bin 'y' holds values of several types \(int, str\)"):
        s = infer_from_records(recs)
    # inside lists a float64 element takes ints (msgpack is untyped); bin values are never coerced
    assert {f.name: str(f.type) for f in s} == {"a": "int64", "l": "list<float64>"}
    with pytest.raises(aerodf.SchemaError, match="bin 'x'.*bin 'y'"):
        infer_from_records(recs, on_conflict="raise")
    with pytest.raises(aerodf.ConfigError):
        infer_from_records(recs, on_conflict="ignore")


def test_inferred_schema_reads_its_own_sample(client, aerospike_server, set_name, transport):
    # issue 15 item 16: float64 was proposed for a bin of ints and floats, then could not read it
    for i in range(6):
        client.put(("test", set_name, i), {"n": i if i % 2 else i + 0.5, "age": i, "v": [i, 1.5],
                                            "m": {"k": i if i % 3 else 0.5}})
    with pytest.warns(aerodf.InferenceWarning, match="bin 'n'"):
        s = aerodf.infer_schema("test", set_name, hosts=aerospike_server.hosts)
    assert {f.name: str(f.type) for f in s} == {"age": "int64", "v": "vector<float64, 2>",
                                                "m": "map<string, float64>"}
    with aerodf.connect(aerospike_server.hosts, transport=transport) as c:
        t = aerodf.read_batch(range(6), s, namespace="test", set=set_name, client=c, output="arrow")
    assert t.column("age").to_pylist() == list(range(6))
    assert t.column("v").to_pylist() == [[float(i), 1.5] for i in range(6)]


def test_infer_schema_from_server(client, aerospike_server, set_name):
    for i in range(5):
        client.put(("test", set_name, i), {"age": i, "name": f"n{i}", "emb": [0.5, 1.5, 2.5]})
    s = aerodf.infer_schema("test", set_name, hosts=aerospike_server.hosts)
    assert {f.name: str(f.type) for f in s} == {"age": "int64", "name": "string", "emb": "vector<float64, 3>"}
    s2 = aerodf.infer_schema("test", set_name, keys=[0, 1], hosts=aerospike_server.hosts)
    assert s2 == s
