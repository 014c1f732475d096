"""Bin values on the wire -> Arrow arrays, by NumPy gathers over the answer buffer.

Input: the answer buffer and, for each output row, the offset of the op that
holds each schema bin (-1: no such bin, or no record). Output per field: an
Arrow array with the row's value, or null; plus a mask of the rows the
vectorized decoders would not vouch for (a particle of another type, an int
too wide for its field, a list holding a nested value, a non-nullable field
without its bin, a string that is not UTF-8). Those rows are decoded by the
exact path (:mod:`aerodf.arrow` builders over decoded Python values), so the
answer -- values, nulls and error messages -- equals the general path's.

Per type:

- int / timestamp / float / bool: fixed-width particles, one gather each.
- string / bytes: lengths -> Arrow offsets (cumsum), the bytes gathered in
  blocks; strings are then UTF-8-validated by Arrow.
- list / map / vector: Aerospike's msgpack, read element by element *in
  lockstep across rows* (element j of every list at once), so the Python
  loop runs once per element position, not per element. Lists of floats
  with float elements only (embeddings) skip even that: their elements sit
  9 bytes apart. Elements must be scalars of the field's element type;
  anything else (nested containers, ext values) sends the row to the exact
  path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..arrow import F32_LIMIT
from ..schema import Bool, Bytes, Float, Int, List, Map, Schema, String, Timestamp, Vector
from ..protocol.constants import MAX_BIN_NAME
from ..typemap import to_arrow_type
from .walk import be, be_raw

PT_INT, PT_FLOAT, PT_STR, PT_BLOB, PT_BOOL, PT_MAP, PT_LIST = 1, 2, 3, 4, 17, 19, 20
MAX_LOCKSTEP = 4096  # longer lists go to the exact path (one Python step per element position)
_I64 = np.iinfo(np.int64)

# msgpack element kinds (see _elements)
K_BAD, K_INT, K_FLOAT, K_BOOL, K_NIL, K_STR, K_BLOB, K_EXT = range(8)


@dataclass(frozen=True)
class WirePlan:
    """A schema compiled for the wire: the bins to request and how to find them."""

    schema: Schema
    bins: list[str]  # distinct bins, in schema order
    slot: tuple[int, ...]  # per field: its bin's index in ``bins``
    names: np.ndarray  # (bins, 16) uint8, zero padded
    name_len: np.ndarray  # (bins,)


@functools.lru_cache(maxsize=256)
def plan_of(schema: Schema) -> WirePlan | None:
    """The wire plan of ``schema`` (None: a bin name longer than the protocol's 15 bytes)."""
    bins: list[str] = []
    slot = []
    for f in schema:
        if f.bin_name not in bins:
            bins.append(f.bin_name)
        slot.append(bins.index(f.bin_name))
    enc = [b.encode() for b in bins]
    if not enc or any(len(b) > MAX_BIN_NAME for b in enc):
        return None
    names = np.zeros((len(enc), 16), dtype=np.uint8)
    for i, b in enumerate(enc):
        names[i, :len(b)] = np.frombuffer(b, dtype=np.uint8)
    return WirePlan(schema, bins, tuple(slot), names, np.asarray([len(b) for b in enc], dtype=np.int64))


def assign(buf: np.ndarray, ops: np.ndarray, plan: WirePlan, uniform: bool = False) -> np.ndarray:
    """``(bins, records)`` offset of the op holding each plan bin, -1 when absent.

    Ops are matched by name (the server may answer in any order, and leaves
    missing bins out); names are compared as 16 zero-padded bytes, all ops at
    once against the bin their position suggests, the rest against every bin."""
    steps, n = ops.shape
    nb = len(plan.bins)
    at = np.full((nb, n), -1, dtype=np.int64)
    if uniform and n:  # every record's ops carry the first record's names (walk._uniform checked)
        names = {b.encode(): s for s, b in enumerate(plan.bins)}
        for j in range(steps):
            q = int(ops[j, 0])
            s = names.get(buf[q + 8:q + 8 + int(buf[q + 7])].tobytes())
            if s is not None:
                at[s] = ops[j]
        return at
    flat = ops.ravel()
    idx = np.flatnonzero(flat >= 0)
    if not len(idx):
        return at
    p = flat[idx]
    rec = idx % n
    step = idx // n
    nlen = buf[p + 7].astype(np.int64)
    span = np.arange(16)
    got = buf[(p + 8)[:, None] + span[None, :]]
    got[span[None, :] >= nlen[:, None]] = 0
    key = got.view("<u8")  # (k, 2)
    want = plan.names.view("<u8")  # (bins, 2)
    guess = np.minimum(step, nb - 1)
    hit = (key[:, 0] == want[guess, 0]) & (key[:, 1] == want[guess, 1]) & (nlen == plan.name_len[guess])
    at[guess[hit], rec[hit]] = p[hit]
    miss = np.flatnonzero(~hit)
    for s in range(nb) if len(miss) else ():
        m = miss[(key[miss, 0] == want[s, 0]) & (key[miss, 1] == want[s, 1]) & (nlen[miss] == plan.name_len[s])]
        at[s, rec[m]] = p[m]
    return at


@dataclass
class Column:
    """One field decoded over all rows: the array (null where absent or bad) and
    the rows to decode exactly."""

    array: pa.Array
    bad: np.ndarray


def decode(buf: np.ndarray, at: np.ndarray, plan: WirePlan, found: np.ndarray) -> list[Column]:
    """Every field's column from op offsets ``at`` (``(bins, rows)``, -1: absent);
    ``found``: rows whose record exists (a found record without a non-nullable bin
    is bad). The op headers of all bins are read in one pass."""
    nb, n = at.shape
    flat = at.ravel()
    where = np.flatnonzero(flat >= 0)
    p = flat[where]
    size = be(buf, p, 4)
    ptype = buf[p + 5]
    nlen = buf[p + 7].astype(np.int64)
    vpos = p + 8 + nlen
    vlen = size - 4 - nlen
    row = where % n
    bounds = np.searchsorted(where // n, np.arange(nb + 1))
    out = []
    for field, s in zip(plan.schema, plan.slot):
        sl = slice(bounds[s], bounds[s + 1])
        idx = row[sl]
        bad = np.zeros(n, dtype=bool)
        if not field.nullable:
            bad |= found & (at[s] < 0)
        arr, ok = _DECODERS[type(field.type)](buf, field.type, n, idx, ptype[sl], vpos[sl], vlen[sl])
        bad[idx[~ok]] = True
        out.append(Column(arr, bad))
    return out


def _valid_mask(n: int, rows: np.ndarray) -> np.ndarray | None:
    """Arrow ``mask`` (True = null) for values set only at ``rows``."""
    if len(rows) == n:
        return None
    mask = np.ones(n, dtype=bool)
    mask[rows] = False
    return mask


def _fixed(n: int, idx: np.ndarray, ok: np.ndarray, values: np.ndarray, dtype: Any,
           arrow_type: pa.DataType) -> pa.Array:
    out = np.zeros(n, dtype=dtype)
    rows = idx[ok]
    out[rows] = values
    mask = _valid_mask(n, rows)
    if out.dtype == bool:
        return pa.array(out, type=arrow_type, mask=mask)
    # straight from the buffers: no conversion pass (and no GIL hand-off per column under threads)
    validity = None if mask is None else pa.py_buffer(np.packbits(~mask, bitorder="little"))
    return pa.Array.from_buffers(arrow_type, n, [validity, pa.py_buffer(out)],
                                 null_count=0 if mask is None else int(mask.sum()))


def _int(buf, t: Int, n, idx, ptype, vpos, vlen):
    ok = (ptype == PT_INT) & (vlen == 8)
    vals = be_raw(buf, vpos[ok], 8, ">i8")
    lo, hi = t.bounds
    if (lo, hi) != (_I64.min, _I64.max) and len(vals):
        inside = (vals >= max(lo, _I64.min)) & (vals <= min(hi, _I64.max))
        if not inside.all():
            ok[np.flatnonzero(ok)[~inside]] = False
            vals = vals[inside]
    np_t = np.dtype(f"{'i' if t.signed else 'u'}{t.bits // 8}")
    return _fixed(n, idx, ok, vals.astype(np_t), np_t, to_arrow_type(t)), ok


def _timestamp(buf, t: Timestamp, n, idx, ptype, vpos, vlen):
    ok = (ptype == PT_INT) & (vlen == 8)
    vals = be_raw(buf, vpos[ok], 8, ">i8")
    arr = _fixed(n, idx, ok, vals, np.int64, pa.int64())
    return arr.cast(pa.timestamp(t.unit, tz=t.tz)), ok


def _f32_overflow(vals: np.ndarray) -> np.ndarray:
    """Finite float64 values that would round to infinity as float32 (the exact path
    raises or nulls them; a stored inf or nan is read as it is)."""
    return np.isfinite(vals) & (np.abs(vals) >= F32_LIMIT)


def _float(buf, t: Float, n, idx, ptype, vpos, vlen):
    ok = (ptype == PT_FLOAT) & (vlen == 8)
    vals = be_raw(buf, vpos[ok], 8, ">f8")
    if t.bits == 32 and len(vals):
        over = _f32_overflow(vals)
        if over.any():
            ok[np.flatnonzero(ok)[over]] = False
            vals = vals[~over]
    arr = _fixed(n, idx, ok, vals, np.float64, pa.float64())
    return (arr if t.bits == 64 else arr.cast(pa.float32())), ok


def _bool(buf, t: Bool, n, idx, ptype, vpos, vlen):
    ok = (ptype == PT_BOOL) & (vlen == 1)
    vals = buf[vpos[ok]] != 0
    return _fixed(n, idx, ok, vals, bool, pa.bool_()), ok


def gather_bytes(buf: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bytes ``buf[s:s+l]`` of every (start, len), concatenated, and their int64 offsets."""
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    total = int(offsets[-1])
    out = np.empty(total, dtype=np.uint8)
    if total == 0:
        return out, offsets
    big = np.flatnonzero(lens > 65536)
    for i in big.tolist():  # few, long values: one slice copy each
        out[offsets[i]:offsets[i + 1]] = buf[starts[i]:starts[i] + lens[i]]
    small = np.flatnonzero(lens <= 65536) if len(big) else None
    rows = np.arange(len(lens)) if small is None else small
    block = 1 << 22  # bytes per gather, so the index array stays a few MB
    cum = offsets[1:][rows]
    i = 0
    while i < len(rows):
        j = int(np.searchsorted(cum, (offsets[rows[i]] + block), side="right"))
        j = max(j, i + 1)
        r = rows[i:j]
        ln = lens[r]
        tot = int(ln.sum())
        if tot:
            shift = np.repeat(starts[r] - offsets[r], ln)
            dst = np.repeat(offsets[r], ln) + (np.arange(tot) - np.repeat(np.cumsum(ln) - ln, ln))
            out[dst] = buf[dst + shift]
        i = j
    return out, offsets


def _varlen(n: int, idx: np.ndarray, ok: np.ndarray, vpos: np.ndarray, vlen: np.ndarray, buf: np.ndarray,
            skip: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, int64 offsets over all n rows, rows set) of the ok values (``skip`` leading bytes dropped)."""
    rows = idx[ok]
    lens = np.zeros(n, dtype=np.int64)
    starts = np.zeros(n, dtype=np.int64)
    lens[rows] = vlen[ok] - skip
    starts[rows] = vpos[ok] + skip
    data, offsets = gather_bytes(buf, starts, lens)
    return data, offsets, rows


def _binary_array(kind: pa.DataType, n: int, data: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> pa.Array:
    mask = _valid_mask(n, rows)
    validity = None if mask is None else pa.array(~mask).buffers()[1]
    large = offsets[-1] >= 2**31
    off = offsets if large else offsets.astype(np.int32)
    if kind == pa.string():
        t = pa.large_string() if large else pa.string()
    else:
        t = pa.large_binary() if large else pa.binary()
    arr = pa.Array.from_buffers(t, n, [validity, pa.py_buffer(off), pa.py_buffer(data)],
                                null_count=-1 if mask is None else int(mask.sum()))
    return arr


def _string(buf, t: String, n, idx, ptype, vpos, vlen):
    ok = ptype == PT_STR
    data, offsets, rows = _varlen(n, idx, ok, vpos, vlen, buf)
    arr = _binary_array(pa.string(), n, data, offsets, rows)
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:  # not UTF-8 somewhere: find the rows, decode them exactly
        bad_rows = [r for r in rows.tolist() if not _utf8(data[offsets[r]:offsets[r + 1]])]
        pos = np.flatnonzero(ok)
        ok[pos[np.isin(idx[pos], bad_rows)]] = False
        data, offsets, rows = _varlen(n, idx, ok, vpos, vlen, buf)
        arr = _binary_array(pa.string(), n, data, offsets, rows)
    return arr, ok


def _utf8(b: np.ndarray) -> bool:
    try:
        b.tobytes().decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _string_layout(arr: pa.Array, strings: str) -> pa.Array:
    target = getattr(pa, strings)()
    return arr if arr.type == target else arr.cast(target)


def _bytes(buf, t: Bytes, n, idx, ptype, vpos, vlen):
    ok = ptype == PT_BLOB
    data, offsets, rows = _varlen(n, idx, ok, vpos, vlen, buf)
    arr = _binary_array(pa.binary(), n, data, offsets, rows)
    return (arr if arr.type == pa.binary() else arr.cast(pa.binary())), ok


# ----------------------------------------------------------------------------- msgpack


def _container(buf: np.ndarray, vpos: np.ndarray, vlen: np.ndarray, is_map: bool):
    """(element count, offset of the first element, ok) of msgpack arrays / maps."""
    b0 = buf[vpos].astype(np.int64)
    fix_lo, fix_hi, c16, c32 = (0x80, 0x8F, 0xDE, 0xDF) if is_map else (0x90, 0x9F, 0xDC, 0xDD)
    fix = (b0 >= fix_lo) & (b0 <= fix_hi)
    m16, m32 = b0 == c16, b0 == c32
    count = np.where(fix, b0 & 0x0F, 0)
    count = np.where(m16, be(buf, vpos + 1, 2), count)
    count = np.where(m32, be(buf, vpos + 1, 4), count)
    first = vpos + np.where(fix, 1, np.where(m16, 3, 5))
    ok = (fix | m16 | m32) & (vlen >= first - vpos)
    return count * (2 if is_map else 1), first, ok


def _elements(buf: np.ndarray, first: np.ndarray, count: np.ndarray, end: np.ndarray):
    """Walk msgpack scalars of many containers in lockstep.

    Returns flat arrays over all elements, container by container: kind
    (K_*), value offset, value length, and per container ok (every element
    a scalar, inside its particle). Ints are decoded here (int64; an unsigned
    64-bit value above int64 is K_BAD)."""
    total = int(count.sum())
    kind = np.zeros(total, dtype=np.int8)
    at = np.zeros(total, dtype=np.int64)
    ln = np.zeros(total, dtype=np.int64)
    ival = np.zeros(total, dtype=np.int64)
    base = np.zeros(len(count), dtype=np.int64)
    np.cumsum(count[:-1], out=base[1:])
    ok = np.ones(len(count), dtype=bool)
    pos = first.copy()
    steps = int(count.max(initial=0))
    for j in range(steps):
        act = np.flatnonzero(ok & (count > j))
        if not len(act):
            break
        p = pos[act]
        t = buf[p].astype(np.int64)
        k = np.full(len(act), K_BAD, dtype=np.int8)
        w = np.ones(len(act), dtype=np.int64)  # bytes of the whole element
        hl = np.zeros(len(act), dtype=np.int64)  # header bytes before the value
        v = np.zeros(len(act), dtype=np.int64)
        # ints
        m = t < 0x80
        k[m], v[m] = K_INT, t[m]
        m = t >= 0xE0
        k[m], v[m] = K_INT, t[m] - 256
        for code, width, signed in ((0xCC, 1, False), (0xCD, 2, False), (0xCE, 4, False), (0xCF, 8, False),
                                    (0xD0, 1, True), (0xD1, 2, True), (0xD2, 4, True), (0xD3, 8, True)):
            m = t == code
            if m.any():
                raw = be_raw(buf, p[m] + 1, width, f">{'i' if signed else 'u'}{width}")
                if code == 0xCF:
                    fits = raw <= np.uint64(_I64.max)
                    vals = raw.astype(np.int64)
                    kk = np.where(fits, K_INT, K_BAD).astype(np.int8)
                else:
                    vals = raw.astype(np.int64)
                    kk = K_INT
                k[m], v[m], w[m], hl[m] = kk, vals, 1 + width, 1
        m = t == 0xCB
        k[m], w[m], hl[m] = K_FLOAT, 9, 1
        m = t == 0xCA
        k[m], w[m], hl[m] = K_FLOAT, 5, 1
        m = (t == 0xC2) | (t == 0xC3)
        k[m], v[m] = K_BOOL, t[m] - 0xC2
        m = t == 0xC0
        k[m] = K_NIL
        # strings / blobs: a msgpack str (or bin) whose first byte is the particle type
        slen = np.full(len(act), -1, dtype=np.int64)
        m = (t >= 0xA0) & (t <= 0xBF)
        slen[m], hl[m] = t[m] & 31, 1
        for code, width in ((0xD9, 1), (0xDA, 2), (0xDB, 4), (0xC4, 1), (0xC5, 2), (0xC6, 4)):
            m = t == code
            if m.any():
                slen[m], hl[m] = be(buf, p[m] + 1, width), 1 + width
        m = slen >= 1
        if m.any():
            w[m] = hl[m] + slen[m]
            pt = buf[p[m] + hl[m]]
            k[m] = np.where(pt == PT_STR, K_STR, np.where(pt == PT_BLOB, K_BLOB, K_BAD))
            hl[m] += 1  # skip the particle type byte
        # ext (ordered-map flags, wildcards): fixext 1/2/4/8/16, ext 8
        for code, width in ((0xD4, 3), (0xD5, 4), (0xD6, 6), (0xD7, 10), (0xD8, 18)):
            m = t == code
            k[m], w[m] = K_EXT, width
        m = t == 0xC7
        if m.any():
            k[m], w[m] = K_EXT, 3 + buf[p[m] + 1].astype(np.int64)
        nxt = p + w
        good = (k != K_BAD) & (nxt <= end[act])
        if not good.all():
            ok[act[~good]] = False
        flat = base[act] + j
        kind[flat], at[flat], ln[flat], ival[flat] = k, p + hl, w - hl, v
        pos[act] = nxt
    ok &= pos <= end
    return kind, at, ln, ival, ok


def _scalars(buf: np.ndarray, et: Any, kind: np.ndarray, at: np.ndarray, ln: np.ndarray, ival: np.ndarray) -> tuple[pa.Array, np.ndarray] | None:
    """Arrow values of one element type from walked elements, and which elements fit
    (None: a type this decoder leaves to the exact path)."""
    if isinstance(et, (Int, Timestamp)):
        fits = kind == K_INT
        if isinstance(et, Int):
            lo, hi = et.bounds
            fits &= (ival >= max(lo, _I64.min)) & (ival <= min(hi, _I64.max))
            np_t = np.dtype(f"{'i' if et.signed else 'u'}{et.bits // 8}")
            return pa.array(np.where(fits, ival, 0).astype(np_t), type=to_arrow_type(et)), fits
        return pa.array(ival, type=pa.int64()).cast(pa.timestamp(et.unit, tz=et.tz)), fits
    if isinstance(et, Float):
        fits = kind == K_FLOAT  # ints in a float list: the exact path converts (msgpack is untyped)
        vals = np.zeros(len(kind), dtype=np.float64)
        f8 = fits & (ln == 8)
        vals[f8] = be_raw(buf, at[f8], 8, ">f8")
        f4 = fits & (ln == 4)
        if f4.any():
            vals[f4] = be_raw(buf, at[f4], 4, ">f4")
        if et.bits == 32:
            over = _f32_overflow(vals)
            if over.any():
                fits &= ~over
                vals[over] = 0.0
        arr = pa.array(vals, type=pa.float64())
        return (arr if et.bits == 64 else arr.cast(pa.float32())), fits
    if isinstance(et, Bool):
        fits = kind == K_BOOL
        return pa.array(ival != 0, type=pa.bool_()), fits
    if isinstance(et, (String, Bytes)):
        want = K_STR if isinstance(et, String) else K_BLOB
        fits = kind == want
        data, offsets = gather_bytes(buf, at, np.where(fits, ln, 0))
        arr = _binary_array(pa.string() if want == K_STR else pa.binary(), len(kind), data, offsets,
                            np.arange(len(kind)))
        if want == K_STR:
            try:
                arr.validate(full=True)
            except pa.ArrowInvalid:
                return None
        return arr, fits
    return None


def _walked(buf: np.ndarray, want: int, ptype: np.ndarray, vpos: np.ndarray, vlen: np.ndarray, is_map: bool):
    """The values of particle type ``want`` that are lists (maps), walked in lockstep:
    (ok per value, element count per value, the walked values ``sel``, then
    with :func:`_elements`' kind, at, ln, ival and ok per walked value)."""
    ok = ptype == want
    count, first, okh = _container(buf, vpos, vlen, is_map)
    ok &= okh & (count <= MAX_LOCKSTEP)
    sel = np.flatnonzero(ok)
    return (ok, count, sel, *_elements(buf, first[sel], count[sel], (vpos + vlen)[sel]))


def _per_container(counts: np.ndarray, items: np.ndarray) -> np.ndarray:
    """How many of ``items`` (a mask over the items of containers holding ``counts``
    items each, in order) each container holds."""
    if not len(items):
        return np.zeros(len(counts), dtype=np.int64)
    return np.bincount(np.repeat(np.arange(len(counts)), counts)[items], minlength=len(counts))


def _offsets(n: int, rows: np.ndarray, lens: np.ndarray) -> pa.Array:
    """int32 Arrow offsets over n rows, ``lens`` items at ``rows`` and none elsewhere."""
    per_row = np.zeros(n, dtype=np.int64)
    per_row[rows] = lens
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    return pa.array(offsets)


def _list(buf, t: List, n, idx, ptype, vpos, vlen):
    ok, count, sel, kind, at, ln, ival, okw = _walked(buf, PT_LIST, ptype, vpos, vlen, is_map=False)
    vals = _scalars(buf, t.value, kind, at, ln, ival)
    if vals is None:
        ok[:] = False
        return pa.nulls(n, type=to_arrow_type(t, strings="string")), ok
    values, fits = vals
    # a container is good when walked and every element fits (nil elements: exact path)
    good_c = okw & (_per_container(count[sel], ~fits) == 0)
    ok[sel[~good_c]] = False
    # idx and sel are ascending, so containers and their elements are already in row
    # order: the kept elements are a filter, not a take
    keep = sel[good_c]
    rows = idx[keep]
    inner = values if good_c.all() else values.filter(pa.array(np.repeat(good_c, count[sel])))
    mask = _valid_mask(n, rows)
    arr = pa.ListArray.from_arrays(_offsets(n, rows, count[keep]), inner, type=to_arrow_type(t, strings="string"),
                                   mask=None if mask is None else pa.array(mask))
    return arr, ok


def _vector(buf, t: Vector, n, idx, ptype, vpos, vlen):
    size = t.size
    np_type = np.dtype(str(t.value)) if not isinstance(t.value, Bool) else np.dtype(bool)
    arrow_t = to_arrow_type(t)
    out = np.zeros((n, size), dtype=np_type)
    ok = np.zeros(len(idx), dtype=bool)
    # a blob of size little-endian values
    blob = (ptype == PT_BLOB) & (vlen == size * np_type.itemsize)
    if blob.any():
        raw = buf[vpos[blob][:, None] + np.arange(size * np_type.itemsize)[None, :]]
        out[idx[blob]] = np.ascontiguousarray(raw).view(np_type.newbyteorder("<")).reshape(-1, size)
        ok |= blob
    lst = ptype == PT_LIST
    if lst.any():
        count, first, okh = _container(buf, vpos, vlen, is_map=False)
        cand = lst & okh & (count == size)
        if isinstance(t.value, Float):
            # embeddings: float64 elements sit 9 bytes apart behind a 0xcb each
            stride = cand & (vlen == (first - vpos) + 9 * size)
            s_idx = np.flatnonzero(stride)
            if len(s_idx):
                el = first[s_idx][:, None] + 9 * np.arange(size)[None, :]
                tagged = (buf[el] == 0xCB).all(axis=1)
                s_idx = s_idx[tagged]
                el = el[tagged]
                vals = be_raw(buf, (el + 1).ravel(), 8, ">f8").reshape(-1, size)
                if np_type == np.float32:  # a row holding a value beyond float32: the exact path
                    fine = ~_f32_overflow(vals).any(axis=1)
                    s_idx, vals = s_idx[fine], vals[fine]
                out[idx[s_idx]] = vals.astype(np_type)
                ok[s_idx] = True
                cand &= ~ok
        sel = np.flatnonzero(cand)
        if len(sel):
            kind, at, ln, ival, okw = _elements(buf, first[sel], count[sel], (vpos + vlen)[sel])
            vals = _scalars(buf, t.value, kind, at, ln, ival)
            if vals is not None:
                values, fits = vals
                good = okw & (_per_container(np.full(len(sel), size), ~fits) == 0)
                flat = values.to_numpy(zero_copy_only=False).reshape(-1, size)
                out[idx[sel[good]]] = flat[good].astype(np_type)
                ok[sel[good]] = True
    rows = idx[ok]
    mask = _valid_mask(n, rows)
    inner = pa.array(out.reshape(-1), type=arrow_t.value_type)
    return pa.FixedSizeListArray.from_arrays(inner, size, mask=None if mask is None else pa.array(mask)), ok


def _map(buf, t: Map, n, idx, ptype, vpos, vlen):
    ok, count, sel, kind, at, ln, ival, okw = _walked(buf, PT_MAP, ptype, vpos, vlen, is_map=True)
    arrow_t = to_arrow_type(t)
    # keys are the even elements, values the odd ones; an ext key (ordered-map flags) drops its pair
    kpos = np.arange(0, len(kind), 2)
    keep_pair = kind[kpos] != K_EXT
    kk = _scalars(buf, t.key, kind[kpos], at[kpos], ln[kpos], ival[kpos])
    vv = _scalars(buf, t.value, kind[kpos + 1], at[kpos + 1], ln[kpos + 1], ival[kpos + 1])
    if kk is None or vv is None:
        ok[:] = False
        return pa.nulls(n, type=arrow_t), ok
    (keys, kfit), (vals, vfit) = kk, vv
    pairs = count[sel] // 2
    good_c = okw & (_per_container(pairs, keep_pair & ~(kfit & vfit)) == 0)
    ok[sel[~good_c]] = False
    rows = idx[sel[good_c]]
    # pairs kept: of good containers and not ext, already in row order (sel ascending)
    kept = np.repeat(good_c, pairs) & keep_pair
    sieve = pa.array(kept)
    mask = _valid_mask(n, rows)
    arr = pa.MapArray.from_arrays(_offsets(n, rows, _per_container(pairs, kept)[good_c]), keys.filter(sieve),
                                  vals.filter(sieve), type=arrow_t, mask=None if mask is None else pa.array(mask))
    return arr, ok


_DECODERS = {Int: _int, Float: _float, Bool: _bool, String: _string, Bytes: _bytes, Timestamp: _timestamp,
             List: _list, Vector: _vector, Map: _map}


def decode_field(buf: np.ndarray, t: Any, n: int, idx: np.ndarray, ptype: np.ndarray, vpos: np.ndarray,
                 vlen: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """One field of type ``t`` over ``n`` rows from the bins found at rows ``idx`` (their
    particle types, value offsets into ``buf`` and lengths): the array, and which of
    those bins it read (the others are the exact path's)."""
    return _DECODERS[type(t)](buf, t, n, idx, ptype, vpos, vlen)


def with_exact(columns: list[Column], schema: Schema, exact_rows: list[int], dicts: list[dict[str, Any]],
               ctx: Any, keep: pa.Array | None = None, strings: str = "string") -> list[pa.Array]:
    """The final arrays: each column with its exactly decoded rows built by the general
    builders (which raise or null exactly as on the general path) put in place, the
    rows ``keep`` (a mask) kept, and string columns in the ``strings`` layout.

    Strings stay ``string`` until the end: Arrow cannot take or filter a
    ``string_view`` array."""
    from ..arrow import build_column, has_map, sort_map_entries

    ctx.strings = "string"
    out = []
    for field, col in zip(schema, columns):
        arr = col.array
        if exact_rows:
            sub = build_column([d.get(field.bin_name) for d in dicts], field, ctx)
            arr = scatter(arr, exact_rows, sub)
        if keep is not None:
            arr = arr.filter(keep)
        if has_map(field.type):
            arr = sort_map_entries(arr)
        if isinstance(field.type, String):
            arr = _string_layout(arr, strings)
        out.append(arr)
    return out


def scatter(arr: pa.Array, rows: list[int], sub: pa.Array) -> pa.Array:
    """``arr`` with ``sub[i]`` at row ``rows[i]`` (one take over both)."""
    n = len(arr)
    idx = np.arange(n)
    idx[rows] = np.arange(n, n + len(rows))
    return pa.concat_arrays([arr, sub]).take(pa.array(idx))


def decode_key(buf: np.ndarray, at: np.ndarray, key_type: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """A scan's user-key column from key-field offsets ``at`` (-1: no key stored), and
    the rows whose key is of another type (decode those exactly)."""
    n = len(at)
    idx = np.flatnonzero(at >= 0)
    p = at[idx]
    size = be(buf, p, 4)
    ptype, vpos, vlen = buf[p + 5], p + 6, size - 2
    t = {pa.int64(): Int(64), pa.string(): String(), pa.binary(): Bytes()}[key_type]
    arr, ok = _DECODERS[type(t)](buf, t, n, idx, ptype, vpos, vlen)
    bad = np.zeros(n, dtype=bool)
    bad[idx[~ok]] = True
    return arr, bad
