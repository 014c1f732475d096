"""The compiled wire kernel and the serving reader (issue 17).

- digests and the request bytes equal the Python path's;
- differential: random schemas over random records read through the serving
  reader (kernel), the NumPy wire path and the official client give the same
  tables, or the same errors;
- fuzz: random and mutated answer frames decoded by the kernel and by the
  NumPy path: no crash, and where both answer, the same answer;
- the serving reader under threads, with the policies and the in-flight bound.

With ``AERODF_PURE_PYTHON=1`` (or no compiler) the kernel-only tests skip and
the rest run the NumPy path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import struct
import subprocess
import sys
import threading

import aerospike
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aerodf
from aerodf import aio
from aerodf.protocol.digest import compute_digest
from aerodf.protocol.message import pack_field, pack_message_header, pack_op
from aerodf.protocol.values import encode_particle
from aerodf.serving import ServingReader
from aerodf.wire import batch as wb
from aerodf.wire import kernel
from aerodf.wire.columns import plan_of
from helpers import unique_set

needs_kernel = pytest.mark.skipif(not kernel.AVAILABLE, reason=f"kernel not in use: {kernel.REASON}")
CI = bool(os.environ.get("CI"))


@contextlib.contextmanager
def numpy_path():
    """The NumPy wire path in this process (the kernel switched off, as AERODF_PURE_PYTHON does)."""
    saved = kernel._k, kernel.AVAILABLE
    kernel._k, kernel.AVAILABLE = None, False
    try:
        yield
    finally:
        kernel._k, kernel.AVAILABLE = saved


def test_pure_python_switch_is_honoured():
    code = "from aerodf.wire import kernel; print(kernel.AVAILABLE, kernel.REASON)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "AERODF_PURE_PYTHON": "1"},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False AERODF_PURE_PYTHON=1"


@needs_kernel
@settings(max_examples=200, deadline=None)
@given(set_name=st.text(max_size=20), keys=st.lists(
    st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=100), st.binary(max_size=100),
              st.binary(max_size=70).map(bytearray)), max_size=20))
def test_kernel_digests_equal_the_protocol_digest(set_name, keys):
    got = kernel.digests(set_name.encode(), keys)
    assert got is not None and got.shape == (len(keys), 20)
    assert [bytes(d) for d in got] == [compute_digest(set_name, k) for k in keys]


@needs_kernel
def test_kernel_digests_of_many_keys_without_the_gil():
    keys = [*range(-300, 300), *(f"user-{i}" for i in range(300)), b"\x00" * 70, bytearray(b"blob")]
    assert len(keys) >= kernel._k.NOGIL_KEYS
    got = kernel.digests("features".encode(), keys)
    assert [bytes(d) for d in got] == [compute_digest("features", k) for k in keys]


@needs_kernel
def test_kernel_leaves_odd_keys_to_the_python_path():
    for odd in (True, 2**64, 1.5, None, "\ud800"):
        assert kernel.digests(b"s", [1, odd]) is None
    with pytest.raises(TypeError):  # the Python path raises as it always did
        wb.digests([("test", "s", 1), ("test", "s", 1.5)])


@needs_kernel
@pytest.mark.parametrize("n", [1, 2, 7, 300])
def test_kernel_request_equals_the_python_request(n):
    plan = plan_of(aerodf.Schema({"a": "int64", "bb": "string", "c": "float32"}))
    dig = wb.digests([("test", "s", k) for k in range(n)])
    rows = np.arange(n)[::-1].copy()
    for pol in (aerodf.BatchPolicy(), aerodf.BatchPolicy(allow_inline=False, respond_all_keys=False)):
        got = wb.request("test", "s", plan.bins, rows, dig, pol, 250)
        with numpy_path():
            want = wb.request("test", "s", plan.bins, rows, dig, pol, 250)
        assert got == want


# ----------------------------------------------------------------------------- differential

SCALARS = ["int8", "int16", "int32", "int64", "uint8", "uint32", "uint64", "float32", "float64", "bool",
           "string", "bytes", "timestamp[ms]", "timestamp[us]"]
# float vectors: decoded in C; the rest found by the kernel and decoded by the NumPy decoders
OTHERS = ["list<int64>", "list<string>", "map<string, int64>", "map<int64, float64>", "vector<float32, 3>",
          "vector<float64, 2>", "vector<float32, 20>", "vector<int16, 2>"]


def _vector(rng: random.Random, t: str):
    """A vector field's value: mostly one it reads, else one the exact path must judge."""
    inner, size = t[len("vector<"):-1].split(", ")
    size = int(size)
    r = rng.random()
    if inner.startswith("float"):
        if r < 0.1:  # a blob of little-endian values
            return struct.pack(f"<{size}{'f' if inner == 'float32' else 'd'}", *(rng.random() for _ in range(size)))
        vals = [rng.choice([rng.uniform(-1, 1), 0.0, -0.0, float("nan"), float("inf"), 3.4e38])
                for _ in range(size)]
        if r < 0.2:
            vals[rng.randrange(size)] = rng.choice([1e39, -1e300, 7, None])  # float32 overflow, an int, a nil
        elif r < 0.25:
            vals = vals[:-1] or [1.0, 2.0]  # the wrong length
        return vals
    if r < 0.1:
        return struct.pack(f"<{size}h", *(rng.randint(-999, 999) for _ in range(size)))
    return [rng.choice([rng.randint(-999, 999), 40000, 1.5]) for _ in range(size)]


def _scalar(rng: random.Random, t: str):
    if t.startswith(("int", "uint")):
        bits = int(t.lstrip("uint"))
        lo, hi = (0, 2**bits - 1) if t.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        return rng.choice([0, lo, min(hi, 2**63 - 1), rng.randint(lo, min(hi, 2**63 - 1)), 22, -1, 2**40, 300])
    if t.startswith("float"):
        return rng.choice([0.0, -1.5, float("nan"), float("inf"), 1e300, 3.4e38, rng.uniform(-1e6, 1e6)])
    if t == "bool":
        return rng.random() < 0.5
    if t == "string":
        return rng.choice(["", "a", "héllo", "日本語", "x\x00y", "\x16\x00\x00\x00", "x" * 300]) + str(rng.randint(0, 9))
    if t == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))
    if t.startswith("timestamp"):
        return rng.randint(-(2**40), 2**41)
    if t == "list<string>":
        return [rng.choice(["a", "héllo", ""]) for _ in range(rng.randint(0, 4))]
    if t.startswith("list"):
        return [rng.randint(-5, 5) for _ in range(rng.randint(0, 4))]
    if t == "map<int64, float64>":
        return {i: rng.random() for i in range(rng.randint(0, 3))}
    if t.startswith("map"):
        return {f"k{i}": i for i in range(rng.randint(0, 3))}
    return _vector(rng, t)


def _value(rng: random.Random, t: str, odd: float):
    r = rng.random()
    if r < odd / 2:  # a value of another type, often
        return rng.choice(["s", 1.5, 7, True, b"\x01", bytearray(b"\xff\xfe"), [1], {"k": 1}, 2**40, -1])
    if r < odd:
        return None  # a missing bin
    return _scalar(rng, t)


def _fill(client, rng: random.Random, fields: dict, n: int, odd: float, send_key: bool = False) -> str:
    set_name = unique_set("kd")
    policy = {"key": aerospike.POLICY_KEY_SEND} if send_key else None
    for k in range(n):
        if rng.random() < 0.15:
            continue  # a missing record
        bins = {name: v for name, t in fields.items() if (v := _value(rng, t, odd)) is not None}
        if rng.random() < 0.05:
            bins["n0"] = b"\xff\xfe not utf-8"  # stored as bytes: read into a string field, it is not text
        client.put(("test", set_name, k), bins or {"other": 1}, policy=policy)
    return set_name


@pytest.fixture(scope="module")
def clients(aerospike_server):
    with aerodf.connect(aerospike_server.hosts, transport="official") as off, \
            aerodf.connect(aerospike_server.hosts, transport="wire") as wire:
        yield off, wire


def _outcome(fn):
    try:
        got = fn()
    except aerodf.AerodfError as exc:
        return (type(exc).__name__, str(exc))
    return got if isinstance(got, pa.Table) else got


def _nan_spelled(v):
    if isinstance(v, float) and v != v:
        return "NaN"
    if isinstance(v, (list, tuple)):  # lists, vectors and map entries hold NaN too
        return type(v)(_nan_spelled(x) for x in v)
    if isinstance(v, dict):
        return {k: _nan_spelled(x) for k, x in v.items()}
    return v


def _plain(table: pa.Table) -> dict:
    """A table's values with NaN spelled out, inside lists too (NaN != NaN)."""
    return {k: [_nan_spelled(v) for v in col] for k, col in table.to_pydict().items()}


def _same(got, want, *, first_error_may_differ=False):
    if isinstance(want, tuple):
        if first_error_may_differ:  # both raise; which bad value is reported first may differ
            assert isinstance(got, tuple), got
        else:
            assert got == want
    else:
        assert isinstance(got, pa.Table), got
        assert got.schema == want.schema
        assert _plain(got) == _plain(want)


@settings(max_examples=12 if CI else 40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), odd=st.sampled_from([0.0, 0.1, 0.4]),
       on_missing=st.sampled_from(["null", "drop", "raise"]), on_type_error=st.sampled_from(["raise", "null"]),
       with_meta=st.booleans(), nullable=st.booleans())
def test_serving_reader_equals_numpy_wire_and_official_paths(clients, client, seed, odd, on_missing,
                                                             on_type_error, with_meta, nullable):
    off, wire = clients
    rng = random.Random(seed)
    kinds = SCALARS + (OTHERS if rng.random() < 0.2 else [])
    fields = {f"n{i}": rng.choice(kinds) for i in range(rng.randint(1, 6))}
    n = rng.randint(1, 60)
    set_name = _fill(client, rng, fields, n, odd)
    spec = {k: (v if nullable else aerodf.Field(k, v, nullable=False)) for k, v in fields.items()}
    schema = aerodf.Schema(list(spec.values()) if not nullable else spec)
    keys = list(range(n + 2))
    kw = dict(on_missing=on_missing, on_type_error=on_type_error, with_meta=with_meta, with_key=True)

    def batch(c):
        return c.read_batch(keys, schema, namespace="test", set=set_name, output="arrow", **kw)

    with ServingReader(schema, namespace="test", set=set_name, client=wire, output="arrow", **kw) as reader:
        got = _outcome(lambda: reader.read(keys))

        async def in_loop():
            try:
                return await reader.aread(keys)
            finally:
                await reader.aclose()  # its asyncio connections close on this loop

        got_async = _outcome(lambda: asyncio.run(in_loop()))
        assert reader.compiled
    with numpy_path():
        numpy_wire = _outcome(lambda: batch(wire))
    want = _outcome(lambda: batch(off))
    if isinstance(want, pa.Table) and with_meta:  # void times tick between reads
        got, numpy_wire, want = (t.drop_columns(["ttl"]) if isinstance(t, pa.Table) else t
                                 for t in (got, numpy_wire, want))
    if isinstance(got_async, pa.Table) and with_meta:
        got_async = got_async.drop_columns(["ttl"])
    _same(got_async, got)
    _same(got, numpy_wire)
    # A known difference of the wire path (before the kernel too): with a non-nullable field, a
    # missing record is reported before a bad value of an earlier row (aerodf/batch.py
    # _check_required runs before the builders); the official path reports the earlier row.
    _same(got, want, first_error_may_differ=not nullable)


def _same_numpy(got, want):
    assert type(got) is type(want) and got.dtype == want.dtype
    if isinstance(want, np.ma.MaskedArray):
        assert (got.mask == want.mask).all()
        got, want = got.data, want.data
    names = [n for n in want.dtype.names if n != "ttl"]  # void times may tick between the reads
    assert got[names].tolist() == want[names].tolist()  # nulls read 0 underneath, as to_numpy leaves them


@pytest.mark.parametrize("with_meta", [False, True])
@pytest.mark.parametrize("bad", [False, True], ids=["clean", "bad"])
@pytest.mark.parametrize("gaps", [False, True], ids=["dense", "gaps"])
def test_serving_reader_outputs_equal_read_batch(clients, client, set_name, gaps, bad, with_meta):
    """Every output equals read_batch's, with and without missing records and bins, and with
    a value the exact path decodes (numpy output: from the kernel's buffers directly, or
    through the general assembly)."""
    _, wire = clients
    for k in range(30):
        if k % 7 or not gaps:
            bins = {"i": k, "f": k / 2, "s": f"s{k}", "b": k % 2 == 0, "u": k * 3, "h": k - 5}
            if gaps and k % 5 == 0:
                del bins["f"], bins["b"]  # missing bins
            if k == 11 and bad:
                bins["i"] = "eleven"  # a string in an int field: null with on_type_error="null"
            client.put(("test", set_name, k), bins)
    numeric = {"i": "int32", "f": "float32", "b": "bool", "u": "uint16", "h": "int8"}
    keys = list(range(30 + 2 * gaps))
    for schema in (numeric, {**numeric, "s": "string"}):
        for output in ("numpy", "pandas", "polars", "arrow"):
            kw = dict(output=output, with_meta=with_meta, on_type_error="null")
            with ServingReader(schema, namespace="test", set=set_name, client=wire, **kw) as r:
                got = [r.read(keys), r.read(np.asarray(keys))]  # a NumPy array of keys: same frame
            want = wire.read_batch(keys, schema, namespace="test", set=set_name, **kw)
            for g in got:
                if output == "numpy":
                    _same_numpy(g, want)
                elif with_meta:  # void times may tick between the reads
                    assert g.drop(columns=["ttl"]).equals(want.drop(columns=["ttl"])) if output == "pandas" \
                        else g.drop("ttl" if output == "polars" else ["ttl"]).equals(want.drop(
                            "ttl" if output == "polars" else ["ttl"]))
                else:
                    assert g.equals(want)
                if output == "polars":  # the kernel's buffers straight into Series: the same dtypes
                    assert g.schema == want.schema


# ----------------------------------------------------------------------------- serving: threads, policies


@pytest.fixture(scope="module")
def served(aerospike_server):
    name = unique_set("ksrv")
    c = aerospike.client({"hosts": aerospike_server.hosts}).connect()
    for k in range(500):
        c.put(("test", name, k), {"v": k, "w": k * 0.5, "s": f"k{k}"})
    c.close()
    return name


def test_serving_reader_is_safe_under_many_threads(aerospike_server, served):
    schema = {"v": "int64", "w": "float64", "s": "string"}
    errors: list[BaseException] = []
    with ServingReader(schema, namespace="test", set=served, hosts=aerospike_server.hosts, output="arrow",
                       max_in_flight=8) as r:
        assert r.kernel == kernel.AVAILABLE

        def work(seed):
            rng = random.Random(seed)
            try:
                for _ in range(15):
                    keys = [rng.randrange(520) for _ in range(rng.randint(1, 120))]
                    t = r.read(keys)
                    assert t["v"].to_pylist() == [k if k < 500 else None for k in keys]
                    assert t["s"].to_pylist() == [f"k{k}" if k < 500 else None for k in keys]
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert r.client.limiter.stats().peak <= 8
    assert not errors, errors[0]


@pytest.mark.fake_only
def test_serving_reader_timeouts_and_errors_name_the_keys_like_read_batch(fake, served):
    schema = {"v": "int64"}
    keys = list(range(40))
    with aerodf.connect(fake.hosts, transport="wire") as c:
        r = ServingReader(schema, namespace="test", set=served, client=c, socket_timeout=100, total_timeout=400,
                          max_retries=1)
        fake.add_fault("delay", command="batch", ms=600)
        try:
            with pytest.raises(aerodf.TimeoutError) as got:
                r.read(keys)
            with pytest.raises(aerodf.TimeoutError) as want:
                c.read_batch(keys, schema, namespace="test", set=served, socket_timeout=100, total_timeout=400,
                             max_retries=1)
        finally:
            fake.clear_faults()
        assert sorted(got.value.keys) == keys == sorted(want.value.keys)
        assert type(got.value) is type(want.value) and got.value.code == want.value.code
        assert "40 of 40 keys not read" in str(got.value) and "40 of 40 keys not read" in str(want.value)
        # one delayed attempt, then the retry answers
        fake.add_fault("delay", command="batch", ms=600, count=1)
        try:
            arr = r.read(keys)
        finally:
            fake.clear_faults()
        assert arr["v"].tolist() == keys
        # a record error: the server's code, naming the key
        fake.add_fault("error", command="batch", code=4, count=1)
        try:
            with pytest.raises(aerodf.AerospikeServerError) as e:
                r.read(keys)
        finally:
            fake.clear_faults()
        assert e.value.code == 4 and sorted(e.value.keys) == keys


def test_serving_reader_backpressure(aerospike_server, served):
    with ServingReader({"v": "int64"}, namespace="test", set=served, hosts=aerospike_server.hosts,
                       max_in_flight=1, queue_timeout=0.01) as r:
        r.client.limiter.acquire()  # the one slot is taken
        try:
            with pytest.raises(aerodf.BackpressureError):
                r.read([1, 2])
        finally:
            r.client.limiter.release()
        assert r.read([1, 2])["v"].tolist() == [1, 2]


def test_serving_reader_errors_name_key_and_bin(clients, client, set_name):
    _, wire = clients
    client.put(("test", set_name, 3), {"v": "not an int"})
    client.put(("test", set_name, 4), {"v": 2**40})
    with ServingReader({"v": "int32"}, namespace="test", set=set_name, client=wire) as r:
        with pytest.raises(aerodf.BinTypeError) as e:
            r.read([1, 3, 4])
        assert e.value.key == 3 and e.value.bin == "v"
        with pytest.raises(aerodf.IntegerOverflowError) as e:
            r.read([4])
        assert e.value.key == 4
    with ServingReader({"v": "int32"}, namespace="test", set=set_name, client=wire, on_type_error="null",
                       on_missing="raise") as r:
        with pytest.raises(aerodf.RecordNotFoundError) as e:
            r.read([1, 3, 4])
        assert e.value.keys == [1]
        assert r.read([3, 4])["v"].mask.all()


# ----------------------------------------------------------------------------- fuzz


class _Frames:
    """A frame source for the answer decoders (``reader.frame()``), from byte strings."""

    def __init__(self, payloads):
        self.payloads = list(payloads)

    def frame(self):
        if not self.payloads:
            raise ConnectionError("no more frames")
        return 3, self.payloads.pop(0)


FUZZ_SCHEMA = aerodf.Schema([aerodf.Field("a", "int16"), aerodf.Field("b", "float32"), aerodf.Field("c", "string"),
                             aerodf.Field("d", "bytes", nullable=False), aerodf.Field("e", "bool"),
                             aerodf.Field("f", "timestamp[s]"), aerodf.Field("g", "uint64"),
                             aerodf.Field("h", "vector<float32, 3>"), aerodf.Field("i", "vector<float64, 2>"),
                             aerodf.Field("j", "list<int64>"), aerodf.Field("k", "map<string, int64>"),
                             aerodf.Field("l", "vector<int8, 2>")])
FUZZ_BINS = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "zz", "a"]


def _random_value(rng: random.Random):
    return rng.choice([rng.randint(-(2**63), 2**63 - 1), rng.randint(-40000, 40000), 22, rng.random() * 1e39,
                       float("nan"), True, False, "héllo", "\x16" * 5, b"\xff\x16", bytes(rng.randrange(256)
                       for _ in range(rng.randrange(40))), [1, 2], {"k": 1}, None,
                       [rng.random(), 1e39, rng.random()], [rng.random() for _ in range(rng.choice([2, 3]))],
                       [1.5, 2], [[1.0], 2.0], bytes(rng.randrange(256) for _ in range(rng.choice([2, 12, 16]))),
                       [rng.randint(-200, 200) for _ in range(2)], {"a": 1, "b": [2]}])


def _answer(rng: random.Random, n: int) -> list[bytes]:
    msgs = []
    for row in rng.sample(range(n), k=rng.randint(0, n)):
        code = rng.choice([0, 0, 0, 2, 27])
        ops = []
        if code == 0:
            for name in rng.sample(FUZZ_BINS, k=rng.randint(0, 8)):
                v = _random_value(rng)
                if v is None:
                    continue
                pt, b = encode_particle(v)
                ops.append(pack_op(1, pt, name, b))
        fields = [pack_field(4, bytes(20))] if rng.random() < 0.1 else []
        msgs.append(pack_message_header(result_code=code, generation=rng.randrange(2**32),
                                        record_ttl=rng.choice([0, 1, 2**31]), transaction_ttl=row,
                                        n_fields=len(fields), n_ops=len(ops)) + b"".join(fields + ops))
    msgs.append(pack_message_header(info3=1, result_code=rng.choice([0, 0, 0, 4])))
    # several frames, split between messages (as servers send them)
    cuts = sorted(rng.sample(range(1, len(msgs)), k=min(rng.randint(0, 3), len(msgs) - 1)))
    return [b"".join(msgs[i:j]) for i, j in zip([0, *cuts], [*cuts, len(msgs)])]


def _mutate(rng: random.Random, frames: list[bytes]) -> list[bytes]:
    out = [bytearray(f) for f in frames]
    for _ in range(rng.choice([1, 1, 1, 2, 4])):
        f = out[rng.randrange(len(out))]
        if not f:
            continue
        i = rng.randrange(len(f))
        op = rng.random()
        if op < 0.7:
            f[i] = rng.choice([0, 1, 2, 3, 4, 17, 22, 0x7F, 0xFF, rng.randrange(256)])
        elif op < 0.8:
            del f[i:i + rng.randint(1, 8)]
        elif op < 0.9:
            f[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            struct.pack_into(">I", f, max(0, min(i, len(f) - 4)), rng.choice([0, 1, 3, 4, 2**31, 2**32 - 1])) \
                if len(f) >= 4 else None
    return [bytes(f) for f in out]


def _decode(answers_cls, payloads, n, plan):
    ans = answers_cls(plan, n)
    try:
        error = ans.receive(_Frames(payloads))
        if error:
            return ("error", error)
        ans.accept(type("N", (), {"name": "fuzz"})())
        chunk = ans.chunk()
    except (ValueError, ConnectionError, aerodf.AerodfError, IndexError) as exc:
        return ("raised", type(exc).__name__)
    return chunk


def _chunks_equal(got, want):
    assert (got.codes == want.codes).all()
    found = want.codes == 0
    assert (got.generations[found] == want.generations[found]).all()
    assert (np.abs(got.ttls - want.ttls) <= 1).all()  # a second may tick between the two decodes
    assert got.exact.keys() == want.exact.keys()
    for r in want.exact:
        assert got.exact[r] == want.exact[r] or (str(got.exact[r]) == str(want.exact[r]))  # nan != nan
    for g, w in zip(got.columns, want.columns):
        assert g.array.type == w.array.type
        ga, wa = (a.view(pa.int64()) if pa.types.is_timestamp(a.type) else a for a in (g.array, w.array))
        assert _plain(pa.table({"c": ga})) == _plain(pa.table({"c": wa}))
        assert (g.bad == w.bad).all()


@needs_kernel
@settings(max_examples=int(os.environ.get("AERODF_FUZZ_EXAMPLES", 150 if CI else 600)), deadline=None)
@given(seed=st.integers(0, 2**32), mutate=st.booleans())
def test_fuzz_kernel_decoder_against_the_numpy_decoder(seed, mutate):
    rng = random.Random(seed)
    plan = plan_of(FUZZ_SCHEMA)
    kplan = kernel.plan_for(plan)
    n = rng.randint(1, 40)
    frames = _answer(rng, n)
    if mutate:
        frames = _mutate(rng, frames)
    got = _decode(lambda p, m: wb._KernelAnswers(kplan, m), frames, n, plan)
    want = _decode(wb._PureAnswers, frames, n, plan)
    if isinstance(want, tuple):  # the NumPy path refuses a damaged answer: so does the kernel
        assert isinstance(got, tuple), (got, want)
        return
    if isinstance(got, tuple):  # the kernel, stricter, refuses what the NumPy path reads
        assert mutate, got  # (never an undamaged answer)
        return
    _chunks_equal(got, want)


# ----------------------------------------------------------------------------- serving: asyncio


def test_async_serving_reader_many_tasks_one_loop(aerospike_server, served):
    schema = {"v": "int64", "w": "float64", "s": "string"}

    async def main():
        async with aio.AsyncReader(schema, namespace="test", set=served, hosts=aerospike_server.hosts,
                                   transport="wire", output="arrow", max_in_flight=8) as r:
            assert r._serving is not None and r._serving.compiled

            async def one(seed):
                rng = random.Random(seed)
                for _ in range(10):
                    keys = [rng.randrange(520) for _ in range(rng.randint(1, 120))]
                    t = await r.read(keys)
                    assert t["v"].to_pylist() == [k if k < 500 else None for k in keys]
                    assert t["s"].to_pylist() == [f"k{k}" if k < 500 else None for k in keys]

            await asyncio.gather(*(one(i) for i in range(32)))
            assert r.limiter.stats().peak <= 8
            pools = r._serving._pools.by_node.values()
            assert sum(len(p.idle) for p in pools) <= 8  # one connection per read in flight, reused

    asyncio.run(main())


@pytest.mark.fake_only
def test_async_serving_reader_policies_like_read_batch(fake, served):
    keys = list(range(40))
    pol = dict(socket_timeout=100, total_timeout=400, max_retries=1)
    with aerodf.connect(fake.hosts, transport="wire") as c:
        with pytest.raises(aerodf.TimeoutError) as want:
            fake.add_fault("delay", command="batch", ms=600)
            try:
                c.read_batch(keys, {"v": "int64"}, namespace="test", set=served, **pol)
            finally:
                fake.clear_faults()

    async def main():
        r = ServingReader({"v": "int64"}, namespace="test", set=served, hosts=fake.hosts, **pol)
        try:
            fake.add_fault("delay", command="batch", ms=600)
            try:
                with pytest.raises(aerodf.TimeoutError) as got:
                    await r.aread(keys)
            finally:
                fake.clear_faults()
            assert sorted(got.value.keys) == keys == sorted(want.value.keys)
            assert type(got.value) is type(want.value) and got.value.code == want.value.code
            assert "40 of 40 keys not read" in str(got.value)
            fake.add_fault("delay", command="batch", ms=600, count=1)  # the retry answers
            try:
                assert (await r.aread(keys))["v"].tolist() == keys
            finally:
                fake.clear_faults()
            fake.add_fault("error", command="batch", code=4, count=1)
            try:
                with pytest.raises(aerodf.AerospikeServerError) as e:
                    await r.aread(keys)
            finally:
                fake.clear_faults()
            assert e.value.code == 4 and sorted(e.value.keys) == keys
        finally:
            await r.aclose()

    asyncio.run(main())


@pytest.mark.fake_only
def test_async_timeout_delay_drains_and_keeps_the_connection(fake, served):
    async def main():
        r = ServingReader({"v": "int64"}, namespace="test", set=served, hosts=fake.hosts, socket_timeout=100,
                          total_timeout=1000, max_retries=0, timeout_delay=3000)
        try:
            await r.aread([1])  # a connection in the pool
            fake.add_fault("delay", command="batch", ms=400, count=1)
            try:
                with pytest.raises(aerodf.TimeoutError):
                    await r.aread(list(range(20)))
            finally:
                fake.clear_faults()
            (pool,) = r._pools.by_node.values()
            for _ in range(100):
                if pool.drained:
                    break
                await asyncio.sleep(0.05)
            assert pool.drained == 1 and len(pool.idle) == 1  # read to its end, back in the pool
            assert (await r.aread(list(range(20))))["v"].tolist() == list(range(20))  # no stale bytes
        finally:
            await r.aclose()

    asyncio.run(main())


def _stream(frames: list[bytes], rng: random.Random, damage: bool) -> bytes:
    """Frames with their 8-byte headers (some damaged: version, type, a length that lies)."""
    out = bytearray()
    for f in frames:
        head = bytearray(struct.pack(">Q", (2 << 56) | (3 << 48) | len(f)))
        if damage and rng.random() < 0.2:
            i = rng.randrange(8)
            head[i] = rng.choice([0, 1, 2, 4, 0xFF, rng.randrange(256)])
        out += head + f
    if damage and rng.random() < 0.2:
        del out[rng.randrange(len(out)):]  # the connection drops mid-answer
    return bytes(out)


def _over_socket(stream: bytes, run):
    import socket

    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(stream)
        theirs.shutdown(socket.SHUT_WR)  # end of the answer: then EOF
        ours.settimeout(0.5)
        return run(ours)
    finally:
        ours.close()
        theirs.close()


@needs_kernel
@settings(max_examples=int(os.environ.get("AERODF_FUZZ_EXAMPLES", 100 if CI else 300)), deadline=None)
@given(seed=st.integers(0, 2**32), damage=st.booleans())
def test_fuzz_kernel_socket_reader_against_the_python_reader(seed, damage):
    """The kernel's own frame reader (exchange: recv + headers + walk, no GIL) against the
    Python FrameReader feeding the NumPy decoder, on the same bytes from a socket."""
    from aerodf.protocol.framing import FrameReader

    rng = random.Random(seed)
    plan = plan_of(FUZZ_SCHEMA)
    kplan = kernel.plan_for(plan)
    n = rng.randint(1, 30)
    frames = _answer(rng, n)
    if damage:
        frames = _mutate(rng, frames)
    stream = _stream(frames, rng, damage)

    def kernel_side(sock):
        ans = wb._KernelAnswers(kplan, n)
        (kind, *rest), = ans.batch.exchange([sock.fileno()], [b"request"], 500)
        if kind != 0:
            return ("failed", kind)
        if rest[0]:
            return ("error", rest[0])
        try:
            return ans.chunk()
        except ValueError as exc:  # a damaged value the exact path cannot decode (both sides alike)
            return ("failed", type(exc).__name__)

    def python_side(sock):
        ans = wb._PureAnswers(plan, n)
        try:
            error = ans.receive(FrameReader(sock))
            if error:
                return ("error", error)
            ans.accept(type("N", (), {"name": "fuzz"})())
            return ans.chunk()
        except (ValueError, OSError, ConnectionError, aerodf.AerodfError, IndexError) as exc:
            return ("failed", type(exc).__name__)

    got, want = _over_socket(stream, kernel_side), _over_socket(stream, python_side)
    if isinstance(want, tuple):
        assert isinstance(got, tuple), (got, want)  # the kernel never reads what Python refuses
        return
    if isinstance(got, tuple):
        assert damage, got  # stricter, only on damaged answers
        return
    _chunks_equal(got, want)


def test_blocking_and_asyncio_reads_share_the_node_connection_bound(aerospike_server, served):
    """max_conns_per_node bounds a node's connections in use for read and aread together:
    with both slots held by blocking connections, an aread waits for one (and fails naming
    the node when none frees up in time), then reads once one is returned."""

    async def main():
        r = ServingReader({"v": "int64"}, namespace="test", set=served, hosts=aerospike_server.hosts,
                          config={"max_conns_per_node": 2}, socket_timeout=300, total_timeout=600, max_retries=0)
        try:
            (node,) = r.client.transport.cluster.map.nodes
            held = [node.acquire(1.0), node.acquire(1.0)]
            with pytest.raises(aerodf.ClusterConnectionError, match="no free connection"):
                await r.aread([1, 2])
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, lambda s=held.pop(): node.release(s, healthy=True))  # one frees up while aread waits
            assert (await r.aread([1, 2]))["v"].tolist() == [1, 2]
            node.release(held.pop(), healthy=True)
            # both bounds are whole again: every slot can be taken
            assert [node.take_slot() for _ in range(2)] == [True, True] and not node.take_slot()
            node.give_slot()
            node.give_slot()
        finally:
            await r.aclose()

    asyncio.run(main())


# ----------------------------------------------------------------------------- scans


def _scan_frames(rng: random.Random, with_key: bool) -> list[bytes]:
    """A scan's answer: records (digest and key fields, bin ops), NOT_FOUND / FILTERED_OUT
    messages, partition-done markers (some unavailable), the LAST header; in a few frames
    cut between messages."""
    msgs = []
    for _ in range(rng.randint(0, 30)):
        r = rng.random()
        if r < 0.1:
            msgs.append(pack_message_header(info3=4, result_code=rng.choice([0, 11]), generation=rng.randrange(4096)))
            continue
        code = 0 if r < 0.9 else rng.choice([2, 27])
        pid = rng.randrange(4096)
        digest = bytes([pid & 0xFF, pid >> 8]) + bytes(rng.randrange(256) for _ in range(18))
        fields = [pack_field(4, digest)] if rng.random() < 0.95 else []
        if with_key and rng.random() < 0.9:
            pt, b = encode_particle(rng.choice([rng.randint(-99, 99), rng.randint(0, 9), "k", b"\x01"]))
            fields.append(pack_field(2, bytes([pt]) + b))
        ops = []
        if code == 0:
            for name in rng.sample(FUZZ_BINS, k=rng.randint(0, 8)):
                v = _random_value(rng)
                if v is not None:
                    pt, b = encode_particle(v)
                    ops.append(pack_op(1, pt, name, b))
        msgs.append(pack_message_header(result_code=code, generation=rng.randrange(2**16),
                                        record_ttl=rng.choice([0, 2**31]), n_fields=len(fields),
                                        n_ops=len(ops)) + b"".join(fields + ops))
    msgs.append(pack_message_header(info3=1, result_code=rng.choice([0, 0, 0, 2])))
    cuts = sorted(rng.sample(range(1, len(msgs)), k=min(rng.randint(0, 3), len(msgs) - 1)))
    return [b"".join(msgs[i:j]) for i, j in zip([0, *cuts], [*cuts, len(msgs)])]


def _scan_reader(with_key: bool, with_meta: bool):
    from aerodf.layout import RowLayout
    from aerodf.policy import QueryPolicy
    from aerodf.wire.scan import ScanReader

    key = "key" if with_key else None
    out_schema = RowLayout(key, with_meta).arrow_schema(FUZZ_SCHEMA, pa.int64() if with_key else None)
    taken = [0]

    def rows(n):
        taken[0] += n
        return taken[0] - n

    return ScanReader(None, "test", "s", plan_of(FUZZ_SCHEMA), QueryPolicy(), out_schema, key_name=key,
                      with_meta=with_meta, on_type_error="null", strings="string", batch_size=10_000,
                      row_counter=rows, all_bins=True)


def _scan_numpy(reader, payload):
    try:
        part, unav, last, code = reader._frame(payload)
        resume: dict = {}
        batch = reader._decode([part], resume) if part is not None else None
    except (ValueError, aerodf.AerodfError, IndexError) as exc:
        return ("raised", type(exc).__name__)
    return batch, unav, last, code, resume


def _scan_kernel(reader, payload):
    resume: dict = {}
    try:
        got = reader._kernel_frame(payload, resume)
    except (ValueError, aerodf.AerodfError, IndexError) as exc:
        return ("raised", type(exc).__name__)
    return None if got is None else (*got, resume)


@needs_kernel
@settings(max_examples=int(os.environ.get("AERODF_FUZZ_EXAMPLES", 150 if CI else 600)), deadline=None)
@given(seed=st.integers(0, 2**32), mutate=st.booleans(), with_key=st.booleans(), with_meta=st.booleans())
def test_fuzz_kernel_scan_frames_against_the_numpy_walk(seed, mutate, with_key, with_meta):
    """Scan frames, whole and damaged: the kernel's record batch, unavailable partitions,
    LAST and resume digests equal the NumPy walk's; where the kernel passes a frame on
    (None), the NumPy walk reads it as before; it never reads what the NumPy walk refuses."""
    rng = random.Random(seed)
    frames = _scan_frames(rng, with_key)
    if mutate:
        frames = _mutate(rng, frames)
    for payload in frames:
        want = _scan_numpy(_scan_reader(with_key, with_meta), payload)
        got = _scan_kernel(_scan_reader(with_key, with_meta), payload)
        if got is None:  # left to the NumPy walk, which then answers alone
            continue
        if want[0] == "raised" or got[0] == "raised":  # the same refusal (a result code) on both sides
            assert got == want
            continue
        gb, gu, gl, gc, gr = got
        wb_, wu, wl, wc, wr = want
        assert (gu, gl, gc) == (wu, wl, wc)
        assert gr == wr
        if wb_ is None:
            assert gb is None
            continue
        assert gb is not None and gb.schema == wb_.schema
        assert _plain(_ints_for_times(gb)) == _plain(_ints_for_times(wb_))


def _ints_for_times(batch: pa.RecordBatch) -> pa.Table:
    """The batch with timestamps as their int64 values (a stored int can lie beyond datetime)."""
    return pa.table({name: col.view(pa.int64()) if pa.types.is_timestamp(col.type) else col
                     for name, col in zip(batch.schema.names, batch.columns)})


@settings(max_examples=8 if CI else 25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), odd=st.sampled_from([0.0, 0.1, 0.4]), with_meta=st.booleans(),
       on_type_error=st.sampled_from(["raise", "null"]))
def test_scan_kernel_equals_numpy_wire_and_official_paths(clients, client, seed, odd, with_meta, on_type_error):
    """read_query over random schemas and records: the kernel's scan decode, the NumPy
    wire path and the official client give the same table, or the same error."""
    off, wire = clients
    rng = random.Random(seed)
    kinds = SCALARS + (OTHERS if rng.random() < 0.3 else [])
    fields = {f"n{i}": rng.choice(kinds) for i in range(rng.randint(1, 5))}
    n = rng.randint(0, 80)
    set_name = _fill(client, rng, fields, n, odd, send_key=True)  # the key orders the rows
    kw = dict(with_key=True, with_meta=with_meta, on_type_error=on_type_error, output="arrow")

    def scan(c):
        return aerodf.read_query("test", set_name, aerodf.Schema(fields), client=c, progress=False, **kw)

    def ordered(t):
        return t.drop_columns(["ttl"]).sort_by("key") if isinstance(t, pa.Table) and with_meta else \
            t.sort_by("key") if isinstance(t, pa.Table) else t

    got = _outcome(lambda: scan(wire))
    if isinstance(got, pa.Table):
        assert got.num_rows == 0 or got["key"].null_count == 0
    with numpy_path():
        numpy_wire = _outcome(lambda: scan(wire))
    want = _outcome(lambda: scan(off))
    _same(ordered(got), ordered(numpy_wire), first_error_may_differ=True)
    _same(ordered(got), ordered(want), first_error_may_differ=True)


@pytest.mark.parametrize("path", ["batch", "scan"])
def test_kernel_vector_values_are_as_stored_null_or_an_error_naming_key_and_bin(clients, client, path):
    """The kernel's float-vector decoder (batch answers and scan frames): NaN and inf arrive
    as stored, an int element as its float, a missing bin is null, and a float32 overflow
    or a string element is an error naming the key and bin (or null, when asked)."""
    _, wire = clients
    set_name = unique_set("kvec")
    send = {"key": aerospike.POLICY_KEY_SEND}
    client.put(("test", set_name, 1), {"v": [float("nan"), float("inf")]}, policy=send)
    client.put(("test", set_name, 2), {"other": 1}, policy=send)  # no vector bin
    schema = aerodf.Schema({"v": "vector<float32, 2>"})

    def read(keys=(1, 2), **kw):  # a scan reads the whole set
        if path == "batch":
            return wire.read_batch(list(keys), schema, namespace="test", set=set_name, output="arrow", with_key=True,
                                   **kw)
        return aerodf.read_query("test", set_name, schema, client=wire, output="arrow", with_key=True, **kw)

    got = read().sort_by("key").to_pydict()
    assert got["key"] == [1, 2]
    assert str(got["v"][0]) == "[nan, inf]" and got["v"][1] is None
    # an int element is a number, read as a float (msgpack does not type it); a string is not
    client.put(("test", set_name, 5), {"v": [1.0, 7]}, policy=send)
    assert read((1, 2, 5)).sort_by("key").to_pydict()["v"][2] == [1.0, 7.0]
    client.remove(("test", set_name, 5))
    for k, bad, error in ((3, [1e39, 1.0], aerodf.FloatOverflowError), (4, [1.0, "x"], aerodf.BinTypeError)):
        client.put(("test", set_name, k), {"v": bad}, policy=send)
        with pytest.raises(error) as exc:
            read((1, 2, k))
        assert exc.value.key == k and exc.value.bin == "v"
        client.remove(("test", set_name, k))
    client.put(("test", set_name, 3), {"v": [1e39, 1.0]}, policy=send)
    nulled = read((1, 2, 3), on_type_error="null").sort_by("key").to_pydict()
    assert nulled["key"] == [1, 2, 3] and nulled["v"][2] is None
