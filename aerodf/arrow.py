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

import math
from dataclasses import dataclass
from itertools import chain
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import (BinTypeError, DataError, FloatOverflowError, IntegerOverflowError, MissingValueError,
                     SchemaError)
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
    missing_rows: frozenset[int] = frozenset()  # rows whose record is missing (for error messages)
    rows: Sequence[int] | None = None  # request rows of scattered values (the fast path's re-reads)

    def row(self, i: int) -> int:
        """The request row of value ``i``."""
        return self.row_offset + i if self.rows is None else int(self.rows[i])

    def where(self, i: int) -> str:
        return f"key {self.keys[i]!r} (row {self.row(i)})"


def _shown(v: Any) -> str:
    """A value for an error message: its type and a short repr."""
    shown = repr(v)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{_type_name(v)} {shown}"


def _type_name(v: Any) -> str:
    """``HyperLogLog (particle type 18)`` for values no field type reads; else the type's name."""
    ptype = getattr(v, "particle_type", None)
    name = type(v).__name__
    return f"{name} (particle type {ptype})" if ptype is not None else name


def _bad_type(values: list, allowed: tuple, field: Field, ctx: ChunkContext, what: str) -> list:
    """Handle values whose type is not ``allowed``: raise, or null them out."""
    if ctx.on_type_error == "null":
        return [v if type(v) in allowed else None for v in values]
    i = next(i for i, v in enumerate(values) if type(v) not in allowed)
    v = values[i]
    raise BinTypeError(
        f"bin {field.bin_name!r} of {ctx.where(i)} holds {_shown(v)}, "
        f"but field {field.name!r} is {what}",
        key=ctx.keys[i], bin=field.bin_name, row=ctx.row(i), value=v,
    )


def _checked(values: list, allowed: tuple, field: Field, ctx: ChunkContext, what: str) -> list:
    types = set(map(type, values))
    if types.issubset(allowed):
        return values
    if dict in allowed and any(issubclass(t, dict) for t in types - set(allowed)):
        # a dict subclass (the official client's KeyOrderedDict for key-ordered maps) is a map
        values = [dict(v) if type(v) is not dict and isinstance(v, dict) else v for v in values]
        if set(map(type, values)).issubset(allowed):
            return values
    return _bad_type(values, allowed, field, ctx, what)


# the smallest magnitude of a double that rounds to infinity as a float32 (FLT_MAX + half an ulp)
F32_LIMIT = 2.0**128 - 2.0**103


def _outside(arr: pa.Array, t: Int | Float) -> np.ndarray | None:
    """Mask of the values of ``arr`` (int64 or float64) that ``t`` cannot hold, or None
    when all fit: integers outside the width, finite floats beyond float32's range
    (a stored inf or nan stays what it is)."""
    if isinstance(t, Float):
        if t.bits == 64 or not len(arr):
            return None
        bad = pc.and_(pc.is_finite(arr), pc.greater_equal(pc.abs(arr), F32_LIMIT))
    else:
        lo, hi = t.bounds
        mm = pc.min_max(arr)
        mn, mx = mm["min"].as_py(), mm["max"].as_py()
        if mn is None or (lo <= mn and mx <= hi):
            return None
        # bounds as int64 scalars: uint64's upper bound is no int64, and no int64 exceeds it
        bad = pc.less(arr, max(lo, INT64_MIN))
        if hi < INT64_MAX:
            bad = pc.or_(bad, pc.greater(arr, hi))
    mask = np.asarray(bad.fill_null(False))
    return mask if mask.any() else None


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _range_text(t: Int | Float) -> str:
    if isinstance(t, Float):
        return f"outside the finite range of {t}"
    lo, hi = t.bounds
    return f"outside {t} [{lo}, {hi}]"


def _overflow(field: Field, ctx: ChunkContext, i: int, v: Any, t: Int | Float, path: str = "") -> DataError:
    cls = FloatOverflowError if isinstance(t, Float) else IntegerOverflowError
    held = f"an element {v}" if path else f"{v}"
    return cls(f"bin {field.bin_name!r} of {ctx.where(i)} holds {held}, {_range_text(t)}",
               key=ctx.keys[i], bin=field.bin_name, row=ctx.row(i), value=v)


def _narrow(arr: pa.Array, t: Int | Float, field: Field, ctx: ChunkContext) -> pa.Array:
    """Cast int64 / float64 values to ``t`` after a range check (never truncate, never
    overflow into inf): out-of-range values raise naming key and row, or become null."""
    target = to_arrow_type(t)
    if arr.type == target:
        return arr
    bad = _outside(arr, t)
    if bad is not None:
        if ctx.on_type_error == "null":
            arr = pc.if_else(pa.array(bad), pa.scalar(None, arr.type), arr)
        else:
            i = int(np.flatnonzero(bad)[0])
            raise _overflow(field, ctx, i, arr[i].as_py(), t)
    return arr.cast(target, safe=False)


def _container_rows(arr: pa.Array, bad: np.ndarray) -> list[int]:
    """The rows of a (fixed-size) list array built from Python values holding the child
    values flagged in ``bad``."""
    idx = np.flatnonzero(bad)
    if pa.types.is_fixed_size_list(arr.type):
        rows = idx // arr.type.list_size
    else:
        rows = np.searchsorted(np.asarray(arr.offsets), idx, side="right") - 1
    return sorted(set(rows.tolist()))


def _narrow_elements(arr: pa.Array, values: list, t: Int | Float, field: Field, ctx: ChunkContext,
                     rebuild: Callable[[list], pa.Array]) -> pa.Array:
    """A list / vector array (of int64 or float64 elements, from ``values``) with its
    elements narrowed to ``t``; a container holding an element ``t`` cannot hold
    raises naming key and row, or becomes null (``rebuild``: the builder over values)."""
    bad = _outside(arr.values, t)
    if bad is not None:
        rows = _container_rows(arr, bad)
        if ctx.on_type_error == "null":
            drop = set(rows)
            return rebuild([None if j in drop else v for j, v in enumerate(values)])
        i = rows[0]
        v = arr.values[int(np.flatnonzero(bad)[0])].as_py()
        raise _overflow(field, ctx, i, v, t, path="[]")
    inner = arr.values.cast(to_arrow_type(t), safe=False)
    mask = arr.is_null() if arr.null_count else None
    if pa.types.is_fixed_size_list(arr.type):
        return pa.FixedSizeListArray.from_arrays(inner, arr.type.list_size, mask=mask)
    return pa.ListArray.from_arrays(arr.offsets, inner, mask=mask)


def _misfit(v: Any, t: DataType) -> tuple[Any, str, type] | None:
    """Why a decoded value does not fit type ``t``: the offending value, a description of
    it and the error class; None when it fits. Recursive: the check for values nested in
    lists and maps (ints are accepted for float elements: msgpack containers are untyped)."""
    if v is None:
        return None
    tv = type(v)
    if isinstance(t, Int):
        if tv is not int:
            return v, f"an element {_shown(v)}", BinTypeError
        lo, hi = t.bounds
        return None if lo <= v <= hi else (v, f"an element {v}, {_range_text(t)}", IntegerOverflowError)
    if isinstance(t, Float):
        if tv is int:
            return None
        if tv is not float:
            return v, f"an element {_shown(v)}", BinTypeError
        if t.bits == 32 and math.isfinite(v) and abs(v) >= F32_LIMIT:
            return v, f"an element {v}, {_range_text(t)}", FloatOverflowError
        return None
    if isinstance(t, Timestamp):
        return None if tv is int else (v, f"an element {_shown(v)}", BinTypeError)
    if isinstance(t, (Bool, String, Bytes)):
        return None if tv in _PY_FOR[type(t)] else (v, f"an element {_shown(v)}", BinTypeError)
    if isinstance(t, Vector):
        if tv in (bytes, bytearray):
            width = 1 if isinstance(t.value, Bool) else t.value.bits // 8
            return None if len(v) == t.size * width else (v, f"a blob of {len(v)} bytes as {t}", BinTypeError)
        if tv is not list:
            return v, f"an element {_shown(v)}", BinTypeError
        if len(v) != t.size:
            return v, f"a list of {len(v)} elements as {t}", BinTypeError
        return next((m for x in v if (m := _misfit(x, t.value)) is not None), None)
    if isinstance(t, List):
        if tv is not list:
            return v, f"an element {_shown(v)}", BinTypeError
        return next((m for x in v if (m := _misfit(x, t.value)) is not None), None)
    if isinstance(t, Map):
        if not isinstance(v, dict):  # KeyOrderedDict (a key-ordered map, official client) too
            return v, f"an element {_shown(v)}", BinTypeError
        for k, x in v.items():
            m = _misfit(k, t.key) if k is not None else (k, "a null key", BinTypeError)
            if m is None:
                m = _misfit(x, t.value)
            if m is not None:
                return m
        return None
    return None  # pragma: no cover - the IR is closed


def _check_nested(values: list, t: List | Map, field: Field, ctx: ChunkContext,
                  rebuild: Callable[[list], pa.Array]) -> pa.Array | None:
    """The element check of lists / maps whose elements are containers themselves (one
    recursive pass per row): Arrow's converters would truncate a float nested in an int
    list. None when every row fits; else the rebuilt array (``on_type_error="null"``)."""
    bad = [(i, m) for i, v in enumerate(values) if v is not None and (m := _misfit(v, t)) is not None]
    if not bad:
        return None
    if ctx.on_type_error == "null":
        drop = {i for i, _ in bad}
        return rebuild([None if j in drop else v for j, v in enumerate(values)])
    i, (value, what, cls) = bad[0]
    raise cls(f"bin {field.bin_name!r} of {ctx.where(i)} holds {what}; field {field.name!r} is {t}",
              key=ctx.keys[i], bin=field.bin_name, row=ctx.row(i), value=value)


# ----------------------------------------------------------------------------- scalars


def build_int(values: list, t: Int, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (int, NoneType), field, ctx, str(t))
    return _narrow(pa.array(values, type=pa.int64()), t, field, ctx)


def build_float(values: list, t: Float, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (float, NoneType), field, ctx, str(t))
    return _narrow(pa.array(values, type=pa.float64()), t, field, ctx)


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
_NESTED = (List, Map, Vector)


def _element_check(flat: list, t: DataType, field: Field, ctx: ChunkContext, what: str) -> None:
    """Check element types inside lists / maps (floats accept ints: msgpack is untyped)."""
    allowed = _PY_FOR.get(type(t))
    if allowed is None:
        return
    types = set(map(type, flat)) - {NoneType}
    if not types.issubset(allowed):
        bad = next(v for v in flat if v is not None and type(v) not in allowed)
        raise BinTypeError(
            f"bin {field.bin_name!r} holds an element {bad!r} of type {_type_name(bad)} "
            f"in a {what}; field {field.name!r} is {field.type}",
            bin=field.bin_name, value=bad,
        )


def _find_row(values: list, pred: Callable[[Any], bool]) -> int:
    return next(i for i, v in enumerate(values) if v is not None and pred(v))


def _holds(container: list, bad: Any) -> bool:
    """Whether ``container`` holds ``bad`` itself, by type too (``True == 1`` in Python)."""
    return any(type(x) is type(bad) and x == bad for x in container)


def _needs_narrowing(t: DataType) -> bool:
    return (isinstance(t, Int) and (t.bits < 64 or not t.signed)) or (isinstance(t, Float) and t.bits == 32)


def build_list(values: list, t: List, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (list, NoneType), field, ctx, str(t))
    vt = t.value

    def rebuild(vals: list) -> pa.Array:
        return build_list(vals, t, field, ctx)

    if isinstance(vt, _NESTED):
        redone = _check_nested(values, t, field, ctx, rebuild)
        if redone is not None:
            return redone
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
                return rebuild([v if v is None or not _holds(v, bad) else None for v in values])
            raise BinTypeError(f"{exc} ({ctx.where(i)})", key=ctx.keys[i], bin=exc.bin, row=ctx.row(i),
                               value=bad) from None
    if _needs_narrowing(vt):
        wide = pa.int64() if isinstance(vt, Int) else pa.float64()
        return _narrow_elements(_wide(values, pa.list_(wide), t, field, ctx), values, vt, field, ctx,
                                rebuild)
    try:
        return pa.array(values, type=to_arrow_type(t, strings="string"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise BinTypeError(f"bin {field.bin_name!r} does not fit {t}: {exc}", bin=field.bin_name) from None


def _wide(values: list, wide: pa.DataType, t: Any, field: Field, ctx: ChunkContext) -> pa.Array:
    """``values`` as an Arrow list of 64-bit elements, to be narrowed; an element Arrow
    cannot take exactly (an integer beyond a double's precision in a float list) is a
    type error naming its row, or a null row under ``on_type_error="null"``."""
    try:
        return pa.array(values, type=wide)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        def fits(v):
            try:
                pa.array([v], type=wide)
                return True
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                return False

        if ctx.on_type_error == "null":
            return pa.array([v if v is None or fits(v) else None for v in values], type=wide)
        i = _find_row(values, lambda v: v is not None and not fits(v))
        raise BinTypeError(f"bin {field.bin_name!r} does not fit {t}: {exc} ({ctx.where(i)})",
                           key=ctx.keys[i], bin=field.bin_name, row=ctx.row(i)) from None


def build_map(values: list, t: Map, field: Field, ctx: ChunkContext) -> pa.Array:
    values = _checked(values, (dict, NoneType), field, ctx, str(t))
    if isinstance(t.key, _NESTED) or isinstance(t.value, _NESTED) or _needs_narrowing(t.key) \
            or _needs_narrowing(t.value):
        # containers, and numbers to narrow, checked entry by entry (Arrow's converters
        # would truncate or overflow them); then the flat checks below find nothing
        redone = _check_nested(values, t, field, ctx, lambda vals: build_map(vals, t, field, ctx))
        if redone is not None:
            return redone
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

    def rebuild(vals: list) -> pa.Array:
        return build_vector(vals, t, field, ctx)

    width = np.dtype(bool).itemsize if isinstance(t.value, Bool) else np.dtype(str(t.value)).itemsize
    sized = [i for i, v in enumerate(values) if v is not None
             and len(v) != (t.size if type(v) is list else t.size * width)]
    if sized:  # a list of another length, or a blob of another size
        if ctx.on_type_error == "null":
            drop = set(sized)
            return rebuild([None if j in drop else v for j, v in enumerate(values)])
        i = sized[0]
        v = values[i]
        if type(v) is list:
            raise BinTypeError(
                f"bin {field.bin_name!r} of {ctx.where(i)} holds {len(v)} elements, "
                f"but field {field.name!r} is {t}", key=ctx.keys[i], bin=field.bin_name, row=ctx.row(i), value=v)
        raise BinTypeError(
            f"blob bin {field.bin_name!r} of {ctx.where(i)} holds {len(v)} bytes, not {t.size} x {width}",
            key=ctx.keys[i], bin=field.bin_name, row=ctx.row(i), value=v)
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
            if ctx.on_type_error == "null":
                return rebuild([v if v is None or not _holds(v, bad) else None for v in values])
            i = _find_row(values, lambda v: _holds(v, bad))
            raise BinTypeError(f"{exc} ({ctx.where(i)})", key=ctx.keys[i], bin=exc.bin,
                               row=ctx.row(i), value=bad) from None
    if _needs_narrowing(t.value):
        wide = pa.int64() if isinstance(t.value, Int) else pa.float64()
        return _narrow_elements(_wide(values, pa.list_(wide, t.size), t, field, ctx), values, t.value,
                                field, ctx, rebuild)
    return pa.array(values, type=to_arrow_type(t))


def _vector_with_blobs(values: list, t: Vector, field: Field, ctx: ChunkContext) -> pa.Array:
    """A vector column from lists and blobs, every one of the right size: the list rows
    go through the list checks (and their nulls), the blobs are read by their bytes."""
    n = len(values)
    np_type = np.dtype(str(t.value)) if not isinstance(t.value, Bool) else np.dtype(bool)
    lists = [i for i, v in enumerate(values) if type(v) is list]
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=n)
    rows = np.zeros((n, t.size), dtype=np_type)
    holes = None  # (n, size) null elements, when a list holds any
    for i, v in enumerate(values):
        if v is not None and type(v) is not list:
            rows[i] = np.frombuffer(v, dtype=np_type.newbyteorder("<"))
    if lists:
        sub = build_vector([values[i] for i in lists], t, field, ChunkContext(
            [ctx.keys[i] for i in lists], 0, ctx.on_type_error, ctx.strings, rows=[ctx.row(i) for i in lists]))
        at = np.asarray(lists)
        child = sub.values.fill_null(pa.scalar(False if isinstance(t.value, Bool) else 0, sub.values.type))
        rows[at] = np.asarray(child.to_numpy(zero_copy_only=False)).reshape(len(lists), t.size)
        if sub.values.null_count:  # a nil element stays null, as where no blob shares the column
            holes = np.zeros((n, t.size), dtype=bool)
            holes[at] = np.asarray(sub.values.is_null()).reshape(len(lists), t.size)
        if sub.null_count:
            valid[at] = ~np.asarray(sub.is_null())
    mask = None if valid.all() else pa.array(~valid)
    inner = pa.array(rows.reshape(-1), mask=None if holes is None else holes.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(inner, t.size, mask=mask)


_BUILDERS: dict[type, Callable] = {
    Int: build_int, Float: build_float, Bool: build_bool, String: build_string, Bytes: build_bytes,
    Timestamp: build_timestamp, List: build_list, Map: build_map, Vector: build_vector,
}


def has_map(t: DataType) -> bool:
    """Whether values of ``t`` hold maps (at any depth)."""
    if isinstance(t, Map):
        return True
    return isinstance(t, List) and has_map(t.value)


def _sorted_entries(parents: pa.Array, keys: pa.Array) -> pa.Array | None:
    """The permutation that sorts flattened map entries by (map, key), or None when they
    already are (checked with two vectorized comparisons, the usual case)."""
    if len(keys) < 2:
        return None
    same = pc.equal(parents[1:], parents[:-1])
    rising = pc.less(keys[:-1], keys[1:])
    if not pc.any(pc.and_(same, pc.invert(rising))).as_py():
        return None
    return pc.sort_indices(pa.table({"p": parents, "k": keys}), sort_keys=[("p", "ascending"), ("k", "ascending")])


def _fresh_offsets(arr: pa.Array) -> pa.Array:
    """0-based offsets of a list array's visible rows (a null row: an empty range)."""
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
    return pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))


def sort_map_entries(arr: pa.Array) -> pa.Array:
    """``arr`` with the entries of every map (at any depth) in key order.

    An unordered Aerospike map has no order of its own: the official client and
    the wire return entries as stored, aerospike-py in hash order. Key order is
    the one order every transport can give (and the stored order of a
    key-ordered map), so frames from different transports are equal.
    """
    t = arr.type
    if not (pa.types.is_map(t) or pa.types.is_list(t) or pa.types.is_large_list(t)):
        return arr
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not (pa.types.is_map(t.value_type) or pa.types.is_list(t.value_type)):
            return arr
        values = sort_map_entries(pc.list_flatten(arr))
        return pa.ListArray.from_arrays(_fresh_offsets(arr), values, type=t,
                                        mask=arr.is_null() if arr.null_count else None)
    mask = arr.is_null() if arr.null_count else None
    offs = arr.offsets.to_numpy()
    # list<struct> over the same entries (the list kernels take no maps), rebased for a slice
    view = pa.ListArray.from_arrays(pa.array(offs - offs[0]), arr.values.slice(offs[0], offs[-1] - offs[0]),
                                    mask=mask)
    entries = pc.list_flatten(view)
    keys, values = entries.field(0), entries.field(1)
    items = sort_map_entries(values)
    order = _sorted_entries(pc.list_parent_indices(view), keys)
    if order is None and items is values:
        return arr
    if order is not None:
        keys, items = keys.take(order), items.take(order)
    return pa.MapArray.from_arrays(_fresh_offsets(view), keys, items, type=t, mask=mask)


def build_column(values: list, field: Field, ctx: ChunkContext) -> pa.Array:
    """The Arrow array of one field for one chunk of values."""
    builder = _BUILDERS.get(type(field.type))
    if builder is None:  # pragma: no cover - the IR is closed
        raise SchemaError(f"no builder for {field.type}")
    arr = builder(values, field.type, field, ctx)
    if has_map(field.type):
        arr = sort_map_entries(arr)
    if not field.nullable and arr.null_count:
        i = int(np.flatnonzero(np.asarray(arr.is_null()))[0])
        raise missing_value(field, ctx.keys[i], ctx.row(i), i in ctx.missing_rows)
    return arr


_KEY_TYPES = {pa.int64(): ((int,), "int64"), pa.string(): ((str,), "string"),
              pa.binary(): ((bytes, bytearray), "bytes")}


def build_key(keys: list, arrow_type: pa.DataType, ctx: ChunkContext) -> pa.Array:
    """A scan's stored user keys (None: the record was written without its key) as a
    column of ``arrow_type``. A key of another type raises :class:`BinTypeError` naming
    it and its row, or becomes null with ``on_type_error="null"``."""
    allowed, name = _KEY_TYPES[arrow_type]
    allowed = allowed + (NoneType,)
    if not set(map(type, keys)).issubset(allowed):
        if ctx.on_type_error == "null":
            keys = [k if type(k) in allowed else None for k in keys]
        else:
            i = next(i for i, k in enumerate(keys) if type(k) not in allowed)
            k = keys[i]
            raise BinTypeError(f"the stored key of row {ctx.row(i)} is {_shown(k)}, but the key column is {name} "
                               f"(pass key_type=, or on_type_error='null' for a null key)",
                               key=k, row=ctx.row(i), value=k)
    return pa.array(keys, type=arrow_type)


def missing_value(field: Field, key: Any, row: int, record_missing: bool) -> MissingValueError:
    """The error for a null in a non-nullable field: a missing bin, or a missing record
    (with ``on_missing="null"``; ``"drop"`` leaves such rows out)."""
    what = "the record is missing" if record_missing else f"bin {field.bin_name!r} is missing"
    hint = " (on_missing='drop' leaves missing records out)" if record_missing else ""
    return MissingValueError(f"{what} for key {key!r} (row {row}), but field {field.name!r} is not nullable{hint}",
                             key=key, bin=field.bin_name, row=row)
