"""Every read path equals the official client's general path.

Random numeric schemas over random records -- missing records, missing bins,
zeros, wrong types, integers too wide for their field -- are read through the
wire transport's columnar decoder and aerospike-py, and through the official
client's general path; the frames (or the errors) must be identical.
(aerospike-py's ``to_numpy`` fast path, once tested here too, was removed:
measured slower than the general path at every size.)
"""

from __future__ import annotations

import random

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aerodf
from helpers import unique_set
from aerodf.schema import Schema


def _columnar_paths():
    from aerodf.transport import available

    have_py = "aerospike-py" in available()
    return [pytest.param("aerospike-py", marks=() if have_py else pytest.mark.skip(reason="aerospike-py missing")),
            "wire"]

TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint32", "float32", "float64", "bool"]


@pytest.fixture(scope="module", params=_columnar_paths())
def both(aerospike_server, request):
    """The official general path, and another: aerospike-py's, or the wire decoder."""
    with aerodf.connect(aerospike_server.hosts, transport="official") as off, \
            aerodf.connect(aerospike_server.hosts, transport=request.param) as fast:
        fast.path_name = "general" if request.param == "aerospike-py" else "wire"
        yield off, fast


def _value(rng: random.Random, t: str, irregular: float):
    r = rng.random()
    if r < irregular / 3:
        return rng.choice(["s", 1.5, 7, True, [1], None, 300, -1, 2**40])  # anything, often wrong
    if r < irregular:
        return None  # missing bin
    if t == "bool":
        return rng.random() < 0.5
    if t.startswith("float"):
        return rng.choice([0.0, rng.uniform(-1e6, 1e6)])
    bits = int(t.lstrip("uint"))
    lo, hi = (0, 2**bits - 1) if t.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    hi = min(hi, 2**63 - 1)
    return rng.choice([0, lo, hi, rng.randint(lo, hi)])


def _read(client, keys, schema, set_name, **kw):
    try:
        return client.read_batch(keys, schema, namespace="test", set=set_name, output="polars", **kw)
    except aerodf.AerodfError as exc:
        return (type(exc).__name__, str(exc))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 100_000), irregular=st.sampled_from([0.0, 0.02, 0.3]),
       on_missing=st.sampled_from(["null", "drop", "raise"]), on_type_error=st.sampled_from(["raise", "null"]),
       with_meta=st.booleans())
def test_every_path_equals_the_official_general_path(both, client, seed, irregular, on_missing, on_type_error, with_meta):
    off, fast = both
    rng = random.Random(seed)
    set_name = unique_set("fp")
    fields = {f"c{i}": rng.choice(TYPES) for i in range(rng.randint(1, 5))}
    n = rng.randint(1, 60)
    for k in range(n):
        if rng.random() < 0.15:
            continue  # a missing record
        bins = {name: v for name, t in fields.items() if (v := _value(rng, t, irregular)) is not None}
        client.put(("test", set_name, k), bins or {"other": 1})
    keys = list(range(n + 3))
    schema = Schema(fields)
    before = fast.read_paths[fast.path_name]
    kw = dict(on_missing=on_missing, on_type_error=on_type_error, with_meta=with_meta, with_key=True,
              chunk_size=rng.choice([7, 100]))
    want = _read(off, keys, schema, set_name, **kw)
    got = _read(fast, keys, schema, set_name, **kw)
    if isinstance(want, tuple):
        assert got == want
    else:
        assert isinstance(got, pl.DataFrame), got
        assert got.schema == want.schema
        assert got.equals(want), (got, want)
    assert fast.read_paths[fast.path_name] > before  # the path under test really ran


def test_a_string_schema_stays_on_its_path(both, client, set_name):
    _, fast = both
    client.put(("test", set_name, 1), {"a": 1, "s": "x"})
    before = dict(fast.read_paths)
    df = fast.read_batch([1], {"a": "int64", "s": "string"}, namespace="test", set=set_name, output="polars")
    assert df.to_dicts() == [{"a": 1, "s": "x"}]
    path = "wire" if fast.path_name == "wire" else "general"
    assert fast.read_paths[path] == before.get(path, 0) + 1


def test_fast_path_is_deprecated_and_returns_the_same_frame(aerospike_server, client, set_name):
    client.put(("test", set_name, 1), {"a": 7})
    with pytest.warns(DeprecationWarning, match="fast_path"):
        c = aerodf.connect(aerospike_server.hosts, transport="official", fast_path=True)
    with c:
        assert not c.fast_path
        df = c.read_batch([1, 2], {"a": "int64"}, namespace="test", set=set_name, output="polars")
    assert df.to_dicts() == [{"a": 7}, {"a": None}]
