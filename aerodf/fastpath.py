"""The NumPy fast path: numeric schemas read through ``to_numpy`` (aerospike-py).

aerospike-py can fill a NumPy structured array straight from the wire with the
GIL released, but on its own that array cannot be trusted: a missing bin, a
missing record and a real 0 all read as 0, a float bin in an int field is
truncated, an int bin in a float field is converted, and a string aborts the
whole batch. So the fast path asks the server to vouch for every row:

1. The batch carries a filter expression requiring every requested bin to
   exist with the field's particle type (AND the caller's own filter). A row
   that passes holds exactly what the dtype says; any other row comes back
   FILTERED_OUT (27) instead of zero-filled.
2. Integers are read as int64 and range-checked before narrowing.
3. The few rows that failed (27) or are out of range are read again through
   the general path, which decides null, error or "filtered" exactly as it
   does for any read, and are scattered into the columns.

The answer therefore equals the general path's, value for value and null for
null (tests/test_fastpath.py checks this on random data); only the cost
differs. A record's rows never pass through a Python dict unless irregular.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from .arrow import ChunkContext, build_column
from .expr import _PARTICLE
from .schema import Bool, Float, Int, Schema

NOT_FOUND, FILTERED_OUT = 2, 27
_I64 = np.iinfo(np.int64)


@dataclass(frozen=True)
class FastPlan:
    """A schema compiled for ``to_numpy``: the dtype, the guard, the narrowings."""

    schema: Schema
    bins: list[str]
    dtype: np.dtype  # what aerospike-py fills (int64 / float64 / uint8 per bin)
    guard: tuple  # neutral filter: every bin present with its field's particle type
    ranges: tuple[tuple[str, int, int], ...]  # (bin, lo, hi) of narrowed integer fields


@functools.lru_cache(maxsize=256)
def plan_for(schema: Schema) -> FastPlan | None:
    """The fast-path plan of ``schema``, or None when a field is not plain numeric."""
    wire, guard, ranges = [], [], []
    for f in schema:
        t = f.type
        if isinstance(t, Int):
            wire.append((f.bin_name, "<i8"))
            guard.append((f.bin_name, _PARTICLE["int"]))
            lo, hi = t.bounds
            if (lo, hi) != (_I64.min, _I64.max):
                ranges.append((f.bin_name, max(lo, _I64.min), min(hi, _I64.max)))
        elif isinstance(t, Float):
            wire.append((f.bin_name, "<f8"))
            guard.append((f.bin_name, _PARTICLE["float"]))
        elif isinstance(t, Bool):
            wire.append((f.bin_name, "u1"))
            guard.append((f.bin_name, _PARTICLE["bool"]))
        else:
            return None
    if not wire or len({b for b, _ in wire}) != len(wire):
        return None  # nothing to read, or two fields of one bin
    checks = [("eq", ("bin_type", b), ("lit", p)) for b, p in guard]
    node = checks[0] if len(checks) == 1 else ("and", *checks)
    return FastPlan(schema, [b for b, _ in wire], np.dtype(wire), node, tuple(ranges))


def _int_dtype(t: Int) -> np.dtype:
    return np.dtype(f"{'i' if t.signed else 'u'}{t.bits // 8}")


@dataclass
class FastChunk:
    """One batch through the fast path: the array, final per-row codes, metadata,
    and the rows re-read through the general path (indices + their answer)."""

    data: np.ndarray
    codes: np.ndarray
    meta: np.ndarray
    redo: np.ndarray  # row indices answered by ``general``
    general: Any  # RecordsChunk for ``redo`` (or None)


def fetch(transport: Any, plan: FastPlan, keys: Sequence[tuple], policy: Any, wire_policy: dict) -> FastChunk:
    """Read one chunk: ``to_numpy`` under the guard, then the irregular rows again."""
    data, codes, meta = transport.batch_read_numpy(keys, plan.bins, plan.dtype, wire_policy)
    codes, idx = _irregular(plan, data, codes)
    general = transport.batch_read([keys[i] for i in idx], plan.bins, policy) if len(idx) else None
    return _chunk(data, codes, meta, idx, general)


async def fetch_async(transport: Any, plan: FastPlan, keys: Sequence[tuple], policy: Any,
                      wire_policy: dict) -> FastChunk:
    """:func:`fetch` over an async transport (:mod:`aerodf.aio`)."""
    data, codes, meta = await transport.batch_read_numpy(keys, plan.bins, plan.dtype, wire_policy)
    codes, idx = _irregular(plan, data, codes)
    general = await transport.batch_read([keys[i] for i in idx], plan.bins, policy) if len(idx) else None
    return _chunk(data, codes, meta, idx, general)


def _irregular(plan: FastPlan, data: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes as int64, and the rows to read again: rejected by the guard, or out of range."""
    codes = codes.astype(np.int64)
    redo = (codes == FILTERED_OUT) | out_of_range(plan, data, codes == 0)
    return codes, np.flatnonzero(redo)


def out_of_range(plan: FastPlan, data: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` (a mask) hold an integer too wide for its narrower field."""
    bad = np.zeros(len(data), dtype=bool)
    for name, lo, hi in plan.ranges:
        col = data[name]
        bad |= rows & ((col < lo) | (col > hi))
    return bad


def _chunk(data: np.ndarray, codes: np.ndarray, meta: np.ndarray, idx: np.ndarray, general: Any) -> FastChunk:
    if general is not None:
        codes[idx] = general.codes
    return FastChunk(data, codes, meta, idx, general)


def columns(chunk: FastChunk, plan: FastPlan, keys: list[Any], offset: int, rows: np.ndarray | None,
            on_type_error: str, strings: str) -> list[pa.Array]:
    """The schema's Arrow arrays of a chunk (``rows``: the rows kept, None = all)."""
    codes = chunk.codes
    absent = codes != 0  # not found / filtered out: only those are left once errors have raised
    redo = chunk.redo
    general_found: list[int] = []
    dicts: list[dict] = []
    if len(redo):
        gb = chunk.general.bins
        general_found = [j for j, b in enumerate(gb) if b is not None]
        dicts = [gb[j] for j in general_found]
    redo_rows = redo[general_found] if general_found else redo[:0]
    out = []
    for field in plan.schema:
        name = field.bin_name
        col = chunk.data[name]
        t = field.type
        if isinstance(t, Bool):
            values = col != 0
        else:
            values = col.astype(_np_of(t))
        mask = absent.copy()
        if len(redo_rows):
            ctx = ChunkContext([keys[i] for i in redo_rows], offset, on_type_error, strings,
                               rows=[offset + int(i) for i in redo_rows])
            sub = build_column([d.get(name) for d in dicts], field, ctx)
            sub_mask = np.asarray(sub.is_null(), dtype=bool)
            # fill before converting: an int64 array with nulls would go through float64
            filler = pa.scalar(False if isinstance(t, Bool) else 0, type=sub.type)
            sub_vals = sub.fill_null(filler).to_numpy(zero_copy_only=False)
            values[redo_rows] = sub_vals.astype(values.dtype, copy=False)
            mask[redo_rows] = sub_mask
        if rows is not None:
            values, mask = values[rows], mask[rows]
        arrow_type = pa.from_numpy_dtype(values.dtype)
        out.append(pa.array(values, type=arrow_type, mask=mask if mask.any() else None))
    return out


def _np_of(t: Any) -> np.dtype:
    if isinstance(t, Int):
        return _int_dtype(t)
    return np.dtype(f"f{t.bits // 8}")
