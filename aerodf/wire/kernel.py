"""The compiled wire kernel (``aerodf/wire/_kernel.c``), or the NumPy path where it is absent.

The kernel does the wire path's per-request work in C: key digests, the
batch-index request, the walk and decode of scan frames (:meth:`Batch.scan`), the I/O of an attempt (every node's request sent, then
every answer read, with the socket timeout as poll timeout) and the answer:
frames walked message by message and every scalar bin (ints, floats, bools,
timestamps, strings, bytes) and float vector (a list of msgpack floats, or a
blob of little-endian values) decoded into row-ordered column buffers. The
hashing and the I/O with decoding run without the GIL (one hand-off per
attempt), so threads do not queue on it behind each other's socket calls. Rows it will not vouch for (another
particle type, an int too wide for its field, a string that is not UTF-8, a
found record without a non-nullable bin) are marked, and the caller decodes
them exactly, as on the NumPy path. Bins of any other type (lists, maps,
vectors of ints or bools) are found by the same walk -- particle type, offset
and length in the joined answer -- and read by the NumPy decoders
(:mod:`aerodf.wire.columns`). Either way the answer --
values, nulls, errors -- is the same (tests/test_kernel.py checks it
against the NumPy path and the official client, and fuzzes the decoder).

The extension is optional: ``pip install`` builds it when a C compiler is
there and goes on without it otherwise. ``AERODF_PURE_PYTHON=1`` (at import)
makes aerodf ignore a built kernel.

Attributes
----------
AVAILABLE : bool
    Whether the compiled kernel is in use.
REASON : str
    Why not, when it is not.

Examples
--------
>>> from aerodf.wire import kernel
>>> kernel.AVAILABLE in (True, False)
True
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import numpy as np
import pyarrow as pa

from ..schema import Bool, Bytes, Float, Int, Schema, String, Timestamp, Vector

__all__ = ["AVAILABLE", "REASON", "KernelPlan", "plan_for", "digests", "encode", "scan_rows"]

CITRUSLEAF_EPOCH = 1262304000

_k: Any = None
if os.environ.get("AERODF_PURE_PYTHON") == "1":
    REASON = "AERODF_PURE_PYTHON=1"
else:
    try:
        from . import _kernel as _k  # type: ignore[no-redef]
        REASON = ""
    except ImportError as exc:  # not built (no compiler at install time)
        REASON = f"not built: {exc}"
AVAILABLE: bool = _k is not None

# field kinds, as aerodf/wire/_kernel.c numbers them
F_INT, F_TS, F_F64, F_F32, F_BOOL, F_STR, F_BYTES, F_VEC, F_RAW = range(1, 10)
MAX_VECTOR = 1 << 20
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def digests(set_bytes: bytes, user_keys: list) -> np.ndarray | None:
    """``(n, 20)`` uint8 digests of ``user_keys`` in a set, or None when the kernel is
    absent or leaves a key to the Python path (a bool, an int beyond 64 bits, another type).

    Examples
    --------
    >>> from aerodf.protocol.digest import compute_digest
    >>> d = digests(b"s", [1, "a"])
    >>> d is None or bytes(d[0]) == compute_digest("s", 1)
    True
    """
    if _k is None:
        return None
    out = _k.digests(set_bytes, user_keys if type(user_keys) is list else list(user_keys))
    if type(out) is int:
        return None
    return np.frombuffer(out, dtype=np.uint8).reshape(len(user_keys), 20)


def scan_rows(payload: bytes) -> int:
    """The records of a scan frame (the kernel's :meth:`Batch.scan` takes them in one batch),
    or -1 when the frame is not a run of whole messages."""
    return _k.scan_rows(payload)


def encode(first_tail: bytes, digest: np.ndarray, rows: np.ndarray, parent_flags: int, info1: int,
           timeout_ms: int) -> bytes:
    """One batch-index request frame (see ``aerodf.wire.batch.request``)."""
    return _k.encode(first_tail, digest, np.ascontiguousarray(rows, dtype=np.int64), parent_flags, info1,
                     timeout_ms)


class KernelPlan:
    """A wire plan's fields compiled for the kernel's decoder (see :func:`plan_for`).

    Scalars and float vectors are decoded in C; any other type (lists, maps, vectors
    of ints or bools) is only found there -- its particle type, offset and length in
    the joined answer -- and decoded by the NumPy decoders of :mod:`aerodf.wire.columns`,
    so one walk of the frames serves every field."""

    def __init__(self, plan: Any) -> None:
        from ..typemap import to_arrow_type

        self.plan = plan
        specs, self.arrow_types, self.kinds = [], [], []
        for field, slot in zip(plan.schema, plan.slot):
            t = field.type
            if isinstance(t, Int):
                lo, hi = t.bounds
                spec, arrow = (F_INT, t.bits // 8, max(lo, _I64_MIN), min(hi, _I64_MAX)), to_arrow_type(t)
            elif isinstance(t, Timestamp):
                spec, arrow = (F_TS, 8, _I64_MIN, _I64_MAX), pa.timestamp(t.unit, tz=t.tz)
            elif isinstance(t, Float):
                spec = (F_F64 if t.bits == 64 else F_F32, t.bits // 8, 0, 0)
                arrow = pa.float64() if t.bits == 64 else pa.float32()
            elif isinstance(t, Bool):
                spec, arrow = (F_BOOL, 1, 0, 0), pa.bool_()
            elif isinstance(t, String):
                spec, arrow = (F_STR, 0, 0, 0), pa.string()
            elif isinstance(t, Bytes):
                spec, arrow = (F_BYTES, 0, 0, 0), pa.binary()
            elif isinstance(t, Vector) and isinstance(t.value, Float) and t.size <= MAX_VECTOR:
                spec, arrow = (F_VEC, t.value.bits // 8, t.size, 0), to_arrow_type(t)
            else:
                spec, arrow = (F_RAW, 0, 0, 0), None
            kind, width, lo, hi = spec
            specs.append((kind, slot, width, int(field.nullable), lo, hi))
            self.arrow_types.append(arrow)
            self.kinds.append(kind)
        self.has_raw = F_RAW in self.kinds
        self.c = _k.Plan([b.encode() for b in plan.bins], specs)

    def batch(self, n: int) -> Any:
        """The answer buffers of an ``n``-key call (``aerodf.wire._kernel.Batch``)."""
        return _k.Batch(self.c, n)

    def arrays(self, columns: list[tuple], n: int, buf: Any = None) -> list[tuple[pa.Array, np.ndarray | None]]:
        """Each field's ``n``-row Arrow array and its bad-rows mask (None: none) from ``Batch.finish``;
        ``buf()`` gives the padded joined answer, which the NumPy decoders of raw fields read."""
        from .columns import decode_field

        out = []
        for field, t, kind, col in zip(self.plan.schema, self.arrow_types, self.kinds, columns):
            if kind == F_RAW:
                ptype, vstart, vlen, state = (np.frombuffer(c, dtype=d) for c, d in
                                              zip(col, (np.uint8, np.int64, np.int64, np.uint8)))
                idx = np.flatnonzero(state == 1)
                arr, ok = decode_field(buf(), field.type, n, idx, ptype[idx], vstart[idx], vlen[idx])
                bad = state == 2
                bad[idx[~ok]] = True
                out.append((arr, bad if bad.any() else None))
                continue
            if len(col) == 6:
                offs, data, valid, nulls, bad, large = col
                if large:
                    t = pa.large_string() if t == pa.string() else pa.large_binary()
                bufs = [None if valid is None else pa.py_buffer(valid), pa.py_buffer(offs), pa.py_buffer(data)]
                arr = pa.Array.from_buffers(t, n, bufs, null_count=nulls)
            elif kind == F_VEC:
                values, valid, nulls, bad = col
                inner = pa.Array.from_buffers(t.value_type, n * t.list_size, [None, pa.py_buffer(values)],
                                              null_count=0)
                arr = pa.FixedSizeListArray.from_buffers(t, n, [None if valid is None else pa.py_buffer(valid)],
                                                         null_count=nulls, children=[inner])
            else:
                values, valid, nulls, bad = col
                bufs = [None if valid is None else pa.py_buffer(valid), pa.py_buffer(values)]
                arr = pa.Array.from_buffers(t, n, bufs, null_count=nulls)
            out.append((arr, None if bad is None else np.frombuffer(bad, dtype=bool)))
        return out


@functools.lru_cache(maxsize=256)
def _plan_for_schema(schema: Schema) -> KernelPlan | None:
    from .columns import plan_of

    plan = plan_of(schema)
    if plan is None or len(plan.bins) > 64 or len(schema) > 64:
        return None
    return KernelPlan(plan)


_BY_PLAN: dict[int, tuple[Any, KernelPlan | None]] = {}  # id(wire plan) -> (the plan, kept alive; its kernel plan)


def plan_for(plan: Any) -> KernelPlan | None:
    """The kernel's plan for a wire plan, or None (no kernel, or a type it leaves to NumPy).

    Asked on every call of the serving path: looked up by the wire plan's identity, since
    the schema-keyed cache hashes every field (about 27 us of a 0.39 ms call)."""
    if _k is None:
        return None
    got = _BY_PLAN.get(id(plan))
    if got is not None and got[0] is plan:
        return got[1]
    kplan = _plan_for_schema(plan.schema)
    if len(_BY_PLAN) >= 1024:
        _BY_PLAN.clear()
    _BY_PLAN[id(plan)] = (plan, kplan)
    return kplan


def now() -> int:
    """Seconds since the Aerospike epoch (2010-01-01), as TTLs are counted."""
    return int(time.time()) - CITRUSLEAF_EPOCH
