"""read_batch: keys -> chunks -> bounded concurrent batch reads -> typed columns.

Chunks of ``chunk_size`` keys are sent by the client's request threads, never
more than the client's ``max_in_flight`` at once (and at most ``workers`` per
call), while the calling thread decodes the chunks already answered, in key
order. Each chunk's Python objects die as soon as its columns are built, so
memory follows ``chunk_size``, not the size of the request.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa

from .protocol import resultcodes as _rc
from .arrow import ChunkContext, build_column, missing_value
from .sinks import sink_for
from .wire.columns import with_exact
from .errors import (AerodfError, AerospikeServerError, ClusterConnectionError, ConfigError, RecordNotFoundError,
                     describe_keys, error_for_code)
from .output import check_output
from .layout import RowLayout
from .pipeline import pipelined
from .progress import progress_bar
from .policy import BatchPolicy
from .schema import Schema

ON_MISSING = ("null", "drop", "raise")
_EMPTY: dict[str, Any] = {}


class KeySource:
    """The keys of one request, handed out chunk by chunk.

    Nothing per key is built up front: integer keys stay a NumPy array and the
    client's ``(namespace, set, key)`` tuples exist only for chunks in flight,
    so memory follows ``chunk_size``, not the request (1 000 000 key tuples
    alone would be ~100 MB).
    """

    def __init__(self, keys: Any, namespace: str | None, set_name: str | None) -> None:
        self.namespace, self.set_name = namespace, set_name or ""
        self.array: np.ndarray | None = None
        self.items: list[Any] | None = None
        self.tuples = False
        arr = _as_numpy_ints(keys)
        if arr is not None:
            if namespace is None:
                raise ConfigError("pass namespace= (and set=) with plain user keys, or (namespace, set, key) tuples")
            self.array = arr
            self.n = len(arr)
            return
        items = _as_list(keys)
        self.items, self.n = items, len(items)
        if not items:
            return
        if isinstance(items[0], tuple):
            self.tuples = True
            for i, k in enumerate(items):
                if not (isinstance(k, tuple) and len(k) == 3):
                    raise ConfigError(f"key at row {i} is {k!r}; expected (namespace, set, key)")
            return
        if namespace is None:
            raise ConfigError("pass namespace= (and set=) with plain user keys, or (namespace, set, key) tuples")
        types = set(map(type, items))
        if not types.issubset((int, str, bytes, bytearray)):
            i, k = next((i, k) for i, k in enumerate(items) if type(k) not in (int, str, bytes, bytearray))
            raise ConfigError(f"key at row {i} is {k!r} ({type(k).__name__}); user keys are int, str or bytes")

    def user_keys(self, start: int, end: int) -> list[Any]:
        if self.array is not None:
            return self.array[start:end].tolist()
        items = self.items[start:end]  # type: ignore[index]
        return [k[2] for k in items] if self.tuples else items

    def client_keys(self, start: int, end: int, user_keys: list[Any]) -> list[tuple]:
        if self.tuples:
            return self.items[start:end]  # type: ignore[index]
        ns, st = self.namespace, self.set_name
        return [(ns, st, k) for k in user_keys]

    def key_type(self) -> pa.DataType:
        if self.array is not None:
            return pa.int64()
        types = {type(k[2]) if self.tuples else type(k) for k in (self.items or [])}
        if not types or types == {int}:
            return pa.int64()
        if types == {str}:
            return pa.string()
        if types <= {bytes, bytearray}:
            return pa.binary()
        raise ConfigError(f"with_key needs keys of one type, got {sorted(t.__name__ for t in types)}")

    def key_array(self, start: int, end: int, user_keys: list[Any], rows: list[int] | None,
                  type_: pa.DataType) -> pa.Array:
        if self.array is not None:
            arr = pa.array(self.array[start:end])  # zero-copy view of the caller's keys
            return arr if rows is None else arr.take(pa.array(rows, type=pa.int64()))
        keys = user_keys if rows is None else [user_keys[i] for i in rows]
        return pa.array(keys, type=type_)


def _as_numpy_ints(keys: Any) -> np.ndarray | None:
    """Integer keys as an int64 array (no copy where possible), else None."""
    if isinstance(keys, range):
        return np.arange(keys.start, keys.stop, keys.step, dtype=np.int64)
    arr = None
    if isinstance(keys, np.ndarray):
        arr = keys
    elif type(keys).__module__.split(".")[0] in ("pandas", "polars", "pyarrow"):
        try:
            arr = keys.to_numpy()
        except Exception:  # strings, nulls: not an integer array
            return None
    if arr is None or arr.ndim != 1 or arr.dtype.kind not in "iu":
        return None
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ConfigError("an unsigned key exceeds the signed 64-bit range of Aerospike integer keys")
    return arr.astype(np.int64, copy=False)


def _as_list(keys: Any) -> list[Any]:
    if hasattr(keys, "to_pylist"):
        return keys.to_pylist()
    if hasattr(keys, "to_list"):
        return keys.to_list()
    if isinstance(keys, np.ndarray):
        return keys.tolist()
    return keys if isinstance(keys, list) else list(keys)


def check_read_options(schema: Schema, output: str, dtype_backend: str, on_missing: str, on_type_error: str,
                       chunk_size: int, with_key: bool | str, with_meta: bool) -> str | None:
    """Validate the options shaping a read (sync or async); the key column's name."""
    if not schema.fields:
        raise ConfigError("the schema has no fields: name the bins to read")
    check_output(output, dtype_backend)
    if on_missing not in ON_MISSING:
        raise ConfigError(f"on_missing must be one of {ON_MISSING}, not {on_missing!r}")
    if on_type_error not in ("raise", "null"):
        raise ConfigError(f"on_type_error must be 'raise' or 'null', not {on_type_error!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    return RowLayout.of(schema, with_key, with_meta).key_name


def read_chunks(client: Any, source: KeySource, schema: Schema, policy: BatchPolicy, *,
                chunk_size: int, concurrency: int, on_missing: str, on_type_error: str, strings: str,
                key_name: str | None, with_meta: bool, progress: bool) -> pa.Table:
    """The table of one read: chunks fetched by the client's threads (bounded by its
    limiter and ``concurrency``), decoded in key order as they arrive."""
    bins = schema.bins
    n = source.n
    bounds = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    transport, limiter = client.transport, client.limiter
    plan: Any = transport.wire_plan(schema) if transport.columnar and transport.covers(policy) else None
    columnar = plan is not None
    client.count_path("wire" if columnar else "general", n)

    unreachable: list[AerospikeServerError] = []  # once no node answers, later chunks are not sent

    def fetch(start: int, end: int):
        user_keys = source.user_keys(start, end)
        if unreachable:
            return Unread(unreachable[0], user_keys), user_keys
        try:
            with limiter.slot():
                if columnar and not source.tuples:  # one namespace and set: no key tuples
                    return transport.read_plan_keys(source.namespace, source.set_name, user_keys, plan,
                                                    policy), user_keys
                client_keys = source.client_keys(start, end, user_keys)
                if columnar:
                    return transport.read_plan(client_keys, plan, policy), user_keys
                return transport.batch_read(client_keys, bins, policy), user_keys
        except AerospikeServerError as exc:
            # a chunk the cluster did not answer: the other chunks go on, and the error raised
            # at the end names every key of the call not read
            if exc.keys and not isinstance(exc, RecordNotFoundError):
                if isinstance(exc, ClusterConnectionError):
                    unreachable.append(exc)
                return Unread(exc, exc.keys), user_keys
            raise

    asm = Assembly(source, schema, plan, on_missing=on_missing, on_type_error=on_type_error, strings=strings,
                   key_name=key_name, with_meta=with_meta, progress=progress, chunks=len(bounds))
    failures: list[Unread] = []
    try:
        for s, e, (chunk, user_keys) in pipelined(client.executor(), bounds, fetch, concurrency):
            if isinstance(chunk, Unread):
                failures.append(chunk)
                continue
            asm.add(s, e, chunk, user_keys)
            del chunk  # the client's record objects die before the next chunk is decoded
    finally:
        asm.close()
    if failures:
        raise unread_error(failures, n)
    return asm.finish()


class Unread:
    """A chunk that was not read: the error, and the keys of the chunk it leaves unread."""

    __slots__ = ("error", "keys")

    def __init__(self, error: AerospikeServerError, keys: list[Any]) -> None:
        self.error, self.keys = error, keys


def unread_error(failures: list[Unread], n: int) -> AerospikeServerError:
    """One error for every chunk of a read that failed: the first failure's type, code and
    reason, and every key of the call that was not read."""
    first = failures[0].error
    keys = [k for f in failures for k in f.keys]
    reason = str(first.args[0]) if first.args else type(first).__name__
    err = type(first)(f"{len(keys)} of {n} keys not read ({len(failures)} chunk(s) failed; first: {reason}); "
                      f"keys {describe_keys(keys)}", code=first.code, key=keys[0], keys=keys,
                      in_doubt=first.in_doubt)
    err.__cause__ = first
    return err


@dataclass
class ChunkRules:
    """What decoding one chunk needs (an :class:`Assembly` has the same attributes):
    the read's options, its output schema, and where missing keys are counted."""

    source: Any
    schema: Schema
    out_schema: pa.Schema
    on_missing: str
    on_type_error: str
    strings: str
    key_name: str | None
    with_meta: bool
    missing: list[Any]


class Assembly:
    """Decoded chunks -> one Arrow table, in key order (shared by sync and async reads)."""

    def __init__(self, source: KeySource, schema: Schema, plan: Any, *, on_missing: str,
                 on_type_error: str, strings: str, key_name: str | None, with_meta: bool,
                 progress: bool = False, chunks: int = 2) -> None:
        self.source, self.schema, self.plan = source, schema, plan
        self.on_missing, self.on_type_error, self.strings = on_missing, on_type_error, strings
        self.key_name, self.with_meta = key_name, with_meta
        self.out_schema = RowLayout(key_name, with_meta).arrow_schema(
            schema, source.key_type() if key_name else None, strings=strings,
            key_nullable=False)
        # a one-chunk request (the serving case) keeps its arrays as they are
        self.sinks = [sink_for(f.type, source.n) for f in self.out_schema] if chunks > 1 else None
        self.arrays: list[pa.Array] | None = None
        self.missing: list[Any] = []
        self.bar = progress_bar(source.n, progress) if source.n else None

    def add(self, start: int, end: int, chunk: Any, user_keys: list[Any]) -> None:
        decode = _decode if self.plan is None else decode_wire
        arrays = decode(self, chunk, start, end, user_keys)
        if arrays is not None:
            if self.sinks is None:
                self.arrays = arrays
            else:
                for sink, arr in zip(self.sinks, arrays):
                    sink.add(arr)
        if self.bar is not None:
            self.bar.update(end - start)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def finish(self) -> pa.Table:
        self.close()
        if self.missing:
            raise RecordNotFoundError(f"{len(self.missing)} of {self.source.n} records not found (or filtered out): "
                                      f"{describe_keys(self.missing)}", code=2, keys=self.missing)
        if self.sinks is None:
            arrays = self.arrays if self.arrays is not None else [pa.array([], type=f.type) for f in self.out_schema]
            return pa.Table.from_arrays(arrays, schema=self.out_schema)
        return pa.Table.from_arrays([sink.finish() for sink in self.sinks], schema=self.out_schema)


def _check_codes(codes: list[int], keys: list[Any], offset: int) -> None:
    """Raise for records that failed (anything but found, not found, filtered out)."""
    errors = [(i, c) for i, c in enumerate(codes) if c not in _rc.ANSWERED]
    if errors:
        i, c = errors[0]
        raise error_for_code(
            c, f"{len(errors)} record(s) failed with result {c} ({_rc.name(c)}), e.g. key {keys[i]!r} "
            f"(row {offset + i})", key=keys[i], keys=[keys[j] for j, _ in errors])


def _decode(asm: Any, chunk: Any, start: int, end: int, keys: list[Any]) -> list[pa.Array] | None:
    """The columns of one answered chunk (a :class:`~aerodf.records.RecordsChunk`) under
    the read's options (``asm``), or None when it adds no rows."""
    source, schema, out_schema, missing = asm.source, asm.schema, asm.out_schema, asm.missing
    on_missing, on_type_error, strings = asm.on_missing, asm.on_type_error, asm.strings
    key_name, with_meta = asm.key_name, asm.with_meta
    codes = chunk.codes
    bins = chunk.bins
    offset = start
    all_keys = keys
    rows: list[int] | None = None
    missing_rows: frozenset[int] = frozenset()
    if codes.count(0) != len(codes):
        # 27: rejected by the policy's filter expression; for the caller that is a missing record
        _check_codes(codes, keys, offset)
        lost = [i for i, c in enumerate(codes) if c in _rc.NOT_THERE]
        if on_missing == "raise":
            missing.extend(keys[i] for i in lost)
            return None
        if on_missing == "drop":
            rows = [i for i, c in enumerate(codes) if c == 0]
            bins = [bins[i] for i in rows]  # found records only: no None left
            keys = [keys[i] for i in rows]
        else:
            missing_rows = frozenset(lost)
    if missing:  # an earlier chunk had missing records and we will raise: skip the work
        return None
    # after "drop", value i is request row offset + rows[i] (errors name the request row)
    ctx = ChunkContext(keys, offset, on_type_error, strings, missing_rows,
                       rows=None if rows is None else [offset + i for i in rows])
    dicts = bins if not missing_rows else [b if b is not None else _EMPTY for b in bins]
    arrays = []
    if key_name:
        arrays.append(source.key_array(start, end, all_keys, rows, out_schema.field(key_name).type))
    for field, values in zip(schema, _columns(dicts, schema.bins)):
        arrays.append(build_column(values, field, ctx))
    if with_meta:
        gens, ttls = chunk.generations, chunk.ttls
        if rows is not None:
            gens, ttls = [gens[i] for i in rows], [ttls[i] for i in rows]
        found = np.asarray([b is not None for b in bins]) if missing_rows else None
        arrays.append(pa.array(gens, type=pa.uint32(), mask=None if found is None else ~found))
        arrays.append(pa.array(ttls, type=pa.int64(), mask=None if found is None else ~found))
    return arrays


def _columns(dicts: list[dict], names: list[str]) -> list[list[Any]]:
    """Per-bin value lists of the records (None where a bin is missing).

    One ``itemgetter`` call per record and a C-level transpose, instead of a
    ``dict.get`` per value: a third of the cost for 100 records x 10 bins. A
    record lacking a bin falls back to ``get`` for that record only.
    """
    if len(names) == 1:
        name = names[0]
        return [[d.get(name) for d in dicts]]
    getter = itemgetter(*names)
    rows = []
    append = rows.append
    for d in dicts:
        try:
            append(getter(d))
        except KeyError:
            append(tuple(d.get(n) for n in names))
    if not rows:
        return [[] for _ in names]
    return [list(col) for col in zip(*rows)]


def _kept(codes: np.ndarray, keys: list[Any], start: int, on_missing: str,
          missing: list[Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """:func:`_decode`'s rules for a columnar chunk's per-row codes: raise for failed
    records; ``(found mask, rows kept or None for all)``, or None when the chunk is
    not decoded (missing records will raise at the end)."""
    found = codes == 0
    rows = None
    if not found.all():
        _check_codes(codes.tolist(), keys, start)
        if on_missing == "raise":
            missing.extend(keys[i] for i in np.flatnonzero(~found))
            return None
        if on_missing == "drop":
            rows = np.flatnonzero(found)
    if missing:
        return None
    return found, rows


def _check_required(schema: Schema, found: np.ndarray, rows: np.ndarray | None, keys: list[Any],
                    start: int) -> None:
    """A missing record kept as a row of nulls (``on_missing="null"``) cannot fill a
    non-nullable field: raise naming its key, as :func:`~aerodf.arrow.build_column` does."""
    if rows is not None or found.all():
        return
    field = next((f for f in schema if not f.nullable), None)
    if field is not None:
        i = int(np.flatnonzero(~found)[0])
        raise missing_value(field, keys[i], start + i, record_missing=True)


def decode_wire(asm: Any, chunk: Any, start: int, end: int, keys: list[Any]) -> list[pa.Array] | None:
    """:func:`_decode` for a wire chunk (:mod:`aerodf.wire.batch`): same rules; the columns
    come decoded, and rows the wire decoders refused go through the builders here."""
    source, schema, out_schema, missing = asm.source, asm.schema, asm.out_schema, asm.missing
    on_missing, on_type_error, strings = asm.on_missing, asm.on_type_error, asm.strings
    key_name, with_meta = asm.key_name, asm.with_meta
    kept = _kept(chunk.codes, keys, start, on_missing, missing)
    if kept is None:
        return None
    found, rows = kept
    _check_required(schema, found, rows, keys, start)
    keep = None if rows is None else pa.array(found)
    arrays = []
    if key_name:
        arrays.append(source.key_array(start, end, keys, None if rows is None else rows.tolist(),
                                       out_schema.field(key_name).type))
    exact_rows = sorted(chunk.exact)
    ctx = ChunkContext([keys[i] for i in exact_rows], start, on_type_error, strings,
                       rows=[start + i for i in exact_rows])
    try:
        arrays.extend(with_exact(chunk.columns, schema, exact_rows, [chunk.exact[r] for r in exact_rows], ctx,
                                 keep, strings))
    except AerodfError:
        # the general path over every row, decoded exactly, raises the general path's error
        shadow = copy.copy(asm)
        shadow.missing = []  # this pass only finds the error; the keys missing are counted already
        _decode(shadow, chunk.as_records(), start, end, keys)
        raise
    if with_meta:
        absent = None if found.all() else ~found
        gens = pa.array(chunk.generations, type=pa.uint32(), mask=absent)
        ttls = pa.array(chunk.ttls, type=pa.int64(), mask=absent)
        arrays += [gens, ttls] if keep is None else [gens.filter(keep), ttls.filter(keep)]
    return arrays
