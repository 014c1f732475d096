"""Column builders: values read from Aerospike -> typed Arrow arrays.

One builder per schema type turns a chunk's values (Python objects from a
client library, ``None`` where a bin or record is missing) into one Arrow
array of the field's final type, built by Arrow's C++ converters into a
single buffer (plus a validity bitmap). Types are checked, never coerced:
Aerospike bins are untyped, and pyarrow would silently truncate ``1.5`` into
an integer column, so each builder checks the Python types first (one
``set(map(type, values))`` pass, at C speed) and an integer's range before
narrowing. A mismatch raises :class:`~aerodf.errors.BinTypeError` or
:class:`~aerodf.errors.IntegerOverflowError` naming the key, bin and row, or
becomes null with ``on_type_error="null"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import BinTypeError, IntegerOverflowError, MissingValueError, SchemaError
from .schema import Bool, Bytes, DataType, Field, Float, Int, List, Map, String, Timestamp, Vector
from .typemap import to_arrow_type

NoneType = type(None)


@dataclass
class ChunkContext:
    """Where a chunk's values came from, for error messages."""

    keys: Sequence[Any]  # user keys of the chunk, in row order
    row_offset: int  # row of keys[0] in the whole request
    on_type_error: str = "raise"  # "raise" | "null"
    strings: str = "string"  # Arrow string layout to build
    missing_rows: frozenset[int] = frozenset()  # rows whose record is missing (nulls allowed)
    rows: Sequence[int] | None = None  # request rows of scattered values (the fast path's re-reads)

    def row(self, i: int) -> int:
        """The request row of value ``i``."""
        return self.row_offset + i if self.rows is None else int(self.rows[i])

    def where(self, i: int) -> str:
        return f"key {self.keys[i]!r} (row {self.row(i)})"


def _bad_type(values: list, allowed: tuple, field: Field, ctx: ChunkContext, what: str) -> list:
    """Handle values whose type is not ``allowed``: raise, or null them out."""
    if ctx.on_type_error == "null":
        return [v if type(v) in allowed else None for v in values]
    i = next(i for i, v in enumerate(values) if type(v) not in allowed)
    v = values[i]
    shown = repr(v)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise BinTypeError(
        f"bin {field.bin_name!r} of {ctx.where(i)} holds {type(v).__name__} {shown}, "
        f"but field {field.name!r} is {what}",
        key=ctx.keys[i], bin=field.bin_name, row=ctx.row(i), value=v,
    )


def _checked(values: list, allowed: tuple, field: Field, ctx: ChunkContext, what: str) -> list:
    if set(map(type, values)).issubset(allowed):
        return values
    return _bad_type(values, allowed, field, ctx, what)


def _narrow_int(arr: pa.Array, t: Int, field: Field, ctx: ChunkContext, path: str = "") -> pa.Array:
    """Cast int64 values to ``t`` after a range check (never truncate)."""
    target = to_arrow_type(t)
    if arr.type == target:
        return arr
    lo, hi = t.bounds
    mm = pc.min_max(arr)
    mn, mx = mm["min"].as_py(), mm["max"].as_py()
    if mn is not None and (mn < lo or mx > hi):
        bad = pc.or_(pc.less(arr, lo), pc.greater(arr, hi))
        if ctx.on_type_error == "null" and not path:
            arr = pc.if_else(bad, pa.scalar(None, arr.type), arr)
        else:
            i = pc.index(bad, True).as_py()
            v = arr[i].as_py()
            raise IntegerOverflowError(
                f"bin {field.bin_name!r}{path} of {ctx.where(i) if not path else 'a record'} holds {v}, "
                f"outside {t} [{lo}, {hi}]",
                key=None if path else ctx.keys[i], bin=field.bin_name,
                row=None if path else ctx.row(i), value=v,
            )
    return arr.cast(target, safe=False)


# ----------------------------------------------------------------------------- scalars


def build_int(values: list, t: Int, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (int, NoneType), field, ctx, str(t))
    return _narrow_int(pa.array(values, type=pa.int64()), t, field, ctx)


def build_float(values: list, t: Float, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (float, NoneType), field, ctx, str(t))
    arr = pa.array(values, type=pa.float64())
    return arr if t.bits == 64 else arr.cast(pa.float32())


def build_bool(values: list, t: Bool, field: Field, ctx: ChunkContext) -> pa.Array:
    return pa.array(_checked(values, (bool, NoneType), field, ctx, "bool"), type=pa.bool_())


def build_string(values: list, t: String, field: Field, ctx: ChunkContext) -> pa.Array:
    return pa.array(_checked(values, (str, NoneType), field, ctx, "string"), type=getattr(pa, ctx.strings)())


def build_bytes(values: list, t: Bytes, field: Field, ctx: ChunkContext) -> pa.Array:
    return pa.array(_checked(values, (bytes, bytearray, NoneType), field, ctx, "bytes"), type=pa.binary())


def build_timestamp(values: list, t: Timestamp, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (int, NoneType), field, ctx, f"{t} (an integer count of {t.unit})")
    return pa.array(values, type=pa.int64()).cast(pa.timestamp(t.unit, tz=t.tz))


# ----------------------------------------------------------------------------- nested

_PY_FOR = {Int: (int,), Float: (float, int), Bool: (bool,), String: (str,), Bytes: (bytes, bytearray),
           Timestamp: (int,)}


def _element_check(flat: list, t: DataType, field: Field, ctx: ChunkContext, what: str) -> None:
    """Check element types inside lists / maps (floats accept ints: msgpack is untyped)."""
    allowed = _PY_FOR.get(type(t))
    if allowed is None:
        return
    types = set(map(type, flat)) - {NoneType}
    if not types.issubset(allowed):
        bad = next(v for v in flat if v is not None and type(v) not in allowed)
        raise BinTypeError(
            f"bin {field.bin_name!r} holds an element {bad!r} of type {type(bad).__name__} "
            f"in a {what}; field {field.name!r} is {field.type}",
            bin=field.bin_name, value=bad,
        )


def _find_row(values: list, pred: Callable[[Any], bool]) -> int:
    return next(i for i, v in enumerate(values) if v is not None and pred(v))


def _holds(container: list, bad: Any) -> bool:
    """Whether ``container`` holds ``bad`` itself, by type too (``True == 1`` in Python)."""
    return any(type(x) is type(bad) and x == bad for x in container)


def build_list(values: list, t: List, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (list, NoneType), field, ctx, str(t))
    vt = t.value
    allowed = _PY_FOR.get(type(vt))
    if allowed is not None and not set(
        map(type, chain.from_iterable(v for v in values if v is not None))
    ).issubset(allowed):
        flat = [x for v in values if v is not None for x in v]
        try:
            _element_check(flat, vt, field, ctx, str(t))
        except BinTypeError as exc:
            bad = exc.value
            i = _find_row(values, lambda v: _holds(v, bad))
            if ctx.on_type_error == "null":
                return build_list([v if v is None or not _holds(v, bad) else None for v in values], t, field, ctx)
            raise BinTypeError(f"{exc} ({ctx.where(i)})", key=ctx.keys[i], bin=exc.bin, row=ctx.row(i),
                               value=bad) from None
    if isinstance(vt, Int) and (vt.bits < 64 or not vt.signed):
        arr = pa.array(values, type=pa.list_(pa.int64()))
        inner = _narrow_int(arr.values, vt, field, ctx, path="[]")
        return pa.ListArray.from_arrays(arr.offsets, inner, mask=arr.is_null()) if arr.null_count else \
            pa.ListArray.from_arrays(arr.offsets, inner)
    try:
        return pa.array(values, type=to_arrow_type(t, strings="string"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise BinTypeError(f"bin {field.bin_name!r} does not fit {t}: {exc}", bin=field.bin_name) from None


def build_map(values: list, t: Map, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (dict, NoneType), field, ctx, str(t))
    keys = [k for v in values if v is not None for k in v]
    vals = [x for v in values if v is not None for x in v.values()]
    for flat, et, part in ((keys, t.key, "key"), (vals, t.value, "value")):
        try:
            _element_check(flat, et, field, ctx, f"{t} ({part})")
        except BinTypeError as exc:
            bad = exc.value
            i = _find_row(values, lambda v: bad in (v if part == "key" else list(v.values())))
            if ctx.on_type_error == "null":
                return build_map([None if j == i else v for j, v in enumerate(values)], t, field, ctx)
            raise BinTypeError(f"{exc} ({ctx.where(i)})", key=ctx.keys[i], bin=exc.bin,
                               row=ctx.row(i), value=bad) from None
    try:
        return pa.array(values, type=to_arrow_type(t))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise BinTypeError(f"bin {field.bin_name!r} does not fit {t}: {exc}", bin=field.bin_name) from None


def build_vector(values: list, t: Vector, field: Field, ctx: ChunkContext) -> pa.Array:
    """A fixed-size list from list bins of exactly ``t.size`` numbers, or blobs of
    ``t.size`` little-endian values."""
    values = _checked(values, (list, bytes, bytearray, NoneType), field, ctx, str(t))
    present = [v for v in values if v is not None]
    if any(type(v) is not list for v in present):
        return _vector_with_blobs(values, t, field, ctx)
    allowed = _PY_FOR[type(t.value)]
    if not set(map(type, chain.from_iterable(present))).issubset(allowed):
        flat = list(chain.from_iterable(present))
        try:
            _element_check(flat, t.value, field, ctx, str(t))
        except BinTypeError as exc:
            bad = exc.value
            i = _find_row(values, lambda v: _holds(v, bad))
            raise BinTypeError(f"{exc} ({ctx.where(i)})", key=ctx.keys[i], bin=exc.bin,
                               row=ctx.row(i), value=bad) from None
    wide = Int(64) if isinstance(t.value, Int) else t.value
    try:
        arr = pa.array(values, type=pa.list_(to_arrow_type(wide), t.size))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        bad = [i for i, v in enumerate(values) if v is not None and len(v) != t.size]
        if not bad:
            raise
        i = bad[0]
        raise BinTypeError(
            f"bin {field.bin_name!r} of {ctx.where(i)} holds {len(values[i])} elements, "
            f"but field {field.name!r} is {t}", key=ctx.keys[i], bin=field.bin_name,
            row=ctx.row(i), value=values[i]) from None
    if wide is not t.value:
        inner = _narrow_int(arr.values, t.value, field, ctx, path="[]")
        arr = pa.FixedSizeListArray.from_arrays(inner, t.size, mask=arr.is_null() if arr.null_count else None)
    return arr


def _vector_with_blobs(values: list, t: Vector, field: Field, ctx: ChunkContext) -> pa.Array:
    n = len(values)
    np_type = np.dtype(str(t.value)) if not isinstance(t.value, Bool) else np.dtype(bool)
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=n)
    rows = np.zeros((n, t.size), dtype=np_type)
    for i, v in enumerate(values):
        if v is None:
            continue
        if type(v) is list:
            single = build_vector([v], t, field, ChunkContext([ctx.keys[i]], ctx.row(i), ctx.on_type_error))
            rows[i] = np.asarray(single.values)
            continue
        if len(v) != t.size * np_type.itemsize:
            raise BinTypeError(
                f"blob bin {field.bin_name!r} of {ctx.where(i)} holds {len(v)} bytes, "
                f"not {t.size} x {np_type.itemsize}", key=ctx.keys[i], bin=field.bin_name,
                row=ctx.row(i))
        rows[i] = np.frombuffer(v, dtype=np_type.newbyteorder("<"))
    mask = None if valid.all() else pa.array(~valid)
    return pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), t.size, mask=mask)


_BUILDERS: dict[type, Callable] = {
    Int: build_int, Float: build_float, Bool: build_bool, String: build_string, Bytes: build_bytes,
    Timestamp: build_timestamp, List: build_list, Map: build_map, Vector: build_vector,
}


def build_column(values: list, field: Field, ctx: ChunkContext) -> pa.Array:
    """The Arrow array of one field for one chunk of values."""
    builder = _BUILDERS.get(type(field.type))
    if builder is None:  # pragma: no cover - the IR is closed
        raise SchemaError(f"no builder for {field.type}")
    arr = builder(values, field.type, field, ctx)
    if not field.nullable and arr.null_count:
        nulls = np.flatnonzero(np.asarray(arr.is_null()))
        bad = [int(i) for i in nulls if int(i) not in ctx.missing_rows]
        if bad:
            i = bad[0]
            raise MissingValueError(
                f"bin {field.bin_name!r} is missing in {ctx.where(i)}, but field {field.name!r} is not nullable",
                key=ctx.keys[i], bin=field.bin_name, row=ctx.row(i))
    return arr


# ----------------------------------------------------------------------------- sinks


class FixedWidthSink:
    """One preallocated buffer of the column's final type for the whole request.

    Each chunk's array is copied into its slice as it is decoded, and the
    chunk's temporaries die at once. :meth:`finish` returns one Arrow chunk
    per decoded chunk, each an offset-0 array whose buffers are views into the
    one allocation (zero-copy; every column shares the same chunk boundaries,
    so record batches line up and nothing is sliced downstream). Building one
    buffer instead of many per-chunk ones keeps the allocator from
    fragmenting: measured on 1 000 000 records, per-chunk arrays left 170 MB
    resident for 78 MB of data.
    """

    def __init__(self, arrow_type: pa.DataType, capacity: int) -> None:
        self.type = arrow_type
        self.is_list = pa.types.is_fixed_size_list(arrow_type)
        self.size = arrow_type.list_size if self.is_list else 1
        self.value_type = arrow_type.value_type if self.is_list else arrow_type
        self.is_bool = pa.types.is_boolean(self.value_type)
        if self.is_bool:
            np_type = np.dtype(bool)
        elif pa.types.is_timestamp(self.value_type):
            np_type = np.dtype(np.int64)
        else:
            np_type = np.dtype(self.value_type.to_pandas_dtype())
        self.values = np.empty(capacity * self.size, dtype=np_type)
        self.valid = np.ones(capacity, dtype=bool)
        self.bounds: list[tuple[int, int]] = []
        self.pos = 0

    def add(self, arr: pa.Array) -> None:
        k = len(arr)
        start, stop = self.pos * self.size, (self.pos + k) * self.size
        if self.is_list:
            child, first = arr.values, arr.offset * self.size
        else:
            child, first = arr, 0
        if self.is_bool:
            self.values[start:stop] = np.asarray(child.slice(first, k * self.size).fill_null(False))
        else:
            base = child.offset + first
            data = np.frombuffer(child.buffers()[1], dtype=self.values.dtype, count=base + k * self.size)
            self.values[start:stop] = data[base:]
        if arr.null_count:
            self.valid[self.pos : self.pos + k] = ~np.asarray(arr.is_null())
        self.bounds.append((self.pos, k))
        self.pos += k

    def _chunk(self, start: int, k: int) -> pa.Array:
        values = self.values[start * self.size : (start + k) * self.size]
        valid = self.valid[start : start + k]
        nulls = k - int(np.count_nonzero(valid))
        data = pa.py_buffer(np.packbits(values, bitorder="little") if self.is_bool else values)
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
        if self.is_list:
            child = pa.Array.from_buffers(self.value_type, k * self.size, [None, data])
            return pa.Array.from_buffers(self.type, k, [bitmap], null_count=nulls, children=[child])
        return pa.Array.from_buffers(self.type, k, [bitmap, data], null_count=nulls)

    def finish(self) -> pa.ChunkedArray:
        return pa.chunked_array([self._chunk(s, k) for s, k in self.bounds], type=self.type)


class ChunkedSink:
    """Variable-width columns (strings, bytes, lists, maps) stay one array per chunk."""

    def __init__(self, arrow_type: pa.DataType, capacity: int) -> None:
        self.type = arrow_type
        self.chunks: list[pa.Array] = []

    def add(self, arr: pa.Array) -> None:
        self.chunks.append(arr)

    def finish(self) -> pa.ChunkedArray:
        return pa.chunked_array(self.chunks, type=self.type)


def sink_for(arrow_type: pa.DataType, capacity: int):
    """A :class:`FixedWidthSink` for numbers, bools, timestamps and vectors of them."""
    t = arrow_type.value_type if pa.types.is_fixed_size_list(arrow_type) else arrow_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_timestamp(t):
        return FixedWidthSink(arrow_type, capacity)
    return ChunkedSink(arrow_type, capacity)
