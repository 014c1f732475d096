"""Filter-expression evaluation for the test server.

The clients send an expression as msgpack ``[op, args...]`` (server
``as/src/base/exp.c``). It is compiled once per request into closures and run
per record. Like the server, evaluation is three-valued: reading a missing bin
(or one of another type) yields UNKNOWN, comparisons with UNKNOWN are UNKNOWN,
and a record passes the filter only when the result is ``True``. Type errors
that the server detects while building the expression (e.g. comparing an
integer bin with a float literal) raise :class:`ExpError`, which the handlers
answer with PARAMETER_ERROR; anything this evaluator does not implement raises
:class:`ExpUnsupported` (UNSUPPORTED_FEATURE), never a guessed result.
"""

from __future__ import annotations

import math
import struct
import time
from typing import Any, Callable

from aerodf.protocol import expcodes as X
from aerodf.protocol.constants import (
    BLOB_TYPES, CITRUSLEAF_EPOCH, PT_BOOL, PT_FLOAT, PT_GEOJSON, PT_INTEGER, PT_LIST,
    PT_MAP, PT_STRING,
)
from aerodf.protocol.values import GeoJSON, ValueCodecError, from_raw, unpack_raw

from . import cdt_ops, posix_regex
from .store import Record, now_citrusleaf


class ExpError(ValueError):
    """A malformed or ill-typed expression (the server answers PARAMETER_ERROR)."""


class ExpUnsupported(ExpError):
    """An expression this test server does not evaluate (UNSUPPORTED_FEATURE)."""


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

# particle type -> expression value type
_PT_TO_T = {PT_INTEGER: X.T_INT, PT_FLOAT: X.T_FLOAT, PT_STRING: X.T_STR, PT_BOOL: X.T_BOOL,
            PT_LIST: X.T_LIST, PT_MAP: X.T_MAP, PT_GEOJSON: X.T_GEO}
for _b in BLOB_TYPES:
    _PT_TO_T[_b] = X.T_BLOB
_PY_TO_T = {int: X.T_INT, float: X.T_FLOAT, str: X.T_STR, bool: X.T_BOOL, list: X.T_LIST,
            dict: X.T_MAP, bytes: X.T_BLOB, type(None): X.T_NIL}

Env = dict
Fn = Callable[[Record, Env], Any]


class Compiled:
    """A compiled filter: call :meth:`matches` per record."""

    __slots__ = ("fn",)

    def __init__(self, fn: Fn) -> None:
        self.fn = fn

    def matches(self, rec: Record) -> bool:
        return self.fn(rec, {}) is True


def compile_filter(data: bytes) -> Compiled:
    """Compile the msgpack bytes of a filter-expression field."""
    try:
        tree = unpack_raw(data)
    except ValueCodecError as exc:
        raise ExpError(str(exc)) from None
    fn, _t = compile_exp(tree)
    return Compiled(fn)


def _literal(v: Any) -> tuple[Fn, int | None]:
    if isinstance(v, (bytes, dict)):
        v = from_raw(v)  # a msgpack map is a map literal as it stands
    elif isinstance(v, list):
        raise ExpError("a list literal must be quoted")
    t = _PY_TO_T.get(type(v))
    return (lambda rec, env: v), t


def _name(v: Any) -> str:
    if not isinstance(v, bytes):
        raise ExpError(f"expected a name, got {v!r}")
    return v.decode("utf-8", "replace")


def compile_exp(node: Any) -> tuple[Fn, int | None]:
    """``(function, static value type or None)`` for one expression node."""
    if not isinstance(node, list):
        return _literal(node)
    if not node or not isinstance(node[0], int) or isinstance(node[0], bool):
        raise ExpError(f"bad expression node {node!r}")
    op = node[0]
    builder = _BUILDERS.get(op)
    if builder is None:
        if op not in _SERVER_OPS:  # the server fails to build it too
            raise ExpError(f"invalid expression op {op}")
        raise ExpUnsupported(f"expression op {op} not supported by the test server")
    return builder(node)


# every op code of the server's expression table (server exp.c op_table)
_SERVER_OPS = frozenset([*range(1, 10), *range(16, 42), 50, 51, *range(64, 75), 80, 81, 82, 100, 101, 102,
                         *range(122, 128)])


# ------------------------------------------------------------------ compare

def _cmp_types(ta, tb):
    if ta is not None and tb is not None and ta != tb and X.T_NIL not in (ta, tb):
        raise ExpError(f"cannot compare value types {ta} and {tb}")


def _comparison(pyop):
    def build(node):
        if len(node) != 3:
            raise ExpError("comparison takes two arguments")
        (fa, ta), (fb, tb) = compile_exp(node[1]), compile_exp(node[2])
        _cmp_types(ta, tb)

        def fn(rec, env):
            a = fa(rec, env)
            if a is UNKNOWN:
                return UNKNOWN
            b = fb(rec, env)
            if b is UNKNOWN:
                return UNKNOWN
            if type(a) is dict:
                # maps compare only when key-ordered (the server): a stored unordered map never
                return UNKNOWN
            if type(a) is not type(b):
                # runtime types differ (e.g. a bin of another type read through
                # a typed BIN): the server treats the comparison as unknown
                return UNKNOWN
            try:
                return pyop(a, b)
            except TypeError:
                return UNKNOWN
        return fn, X.T_BOOL
    return build


def _eq(a, b):
    return a == b


def _ne(a, b):
    return a != b


def _gt(a, b):
    return a > b


def _ge(a, b):
    return a >= b


def _lt(a, b):
    return a < b


def _le(a, b):
    return a <= b


def _regex(node):
    # [REGEX, flags, regex, string-expr]; as the server's build_cmp_regex: the flags go to
    # glibc regcomp unchanged (basic syntax unless REG_EXTENDED=1), the pattern is the raw
    # msgpack string up to its first NUL, a pattern regcomp refuses is PARAMETER_ERROR
    if len(node) != 4:
        raise ExpError("regex takes flags, pattern and a value")
    flags, pattern, target = node[1], node[2], node[3]
    if not isinstance(pattern, bytes) or not isinstance(flags, int) or isinstance(flags, bool):
        raise ExpError("bad regex arguments")
    if not posix_regex.available():
        raise ExpUnsupported("regex needs glibc's regcomp on the test server's machine")
    ft, tt = compile_exp(target)
    if tt not in (None, X.T_STR):
        raise ExpError("regex needs a string value")
    try:
        rx = posix_regex.PosixRegex(pattern, flags)
    except posix_regex.RegexError as exc:
        raise ExpError(f"bad regex: {exc}") from None

    def fn(rec, env):
        s = ft(rec, env)
        if not isinstance(s, str):
            return UNKNOWN
        return rx.search(s.encode("utf-8", "surrogatepass"))
    return fn, X.T_BOOL


def _in_list(node):
    fv, _ = compile_exp(node[1])
    fl, tl = compile_exp(node[2])

    def fn(rec, env):
        v, lst = fv(rec, env), fl(rec, env)
        if v is UNKNOWN or not isinstance(lst, list):
            return UNKNOWN
        return any(type(x) is type(v) and x == v for x in lst)
    return fn, X.T_BOOL


# ------------------------------------------------------------------ logic

def _type_checks(nodes: list) -> list[tuple[str, int]] | None:
    """``[(bin, particle type)]`` when every node is ``bin_type(bin) == int``, else None."""
    out = []
    for n in nodes:
        if not (isinstance(n, list) and len(n) == 3 and n[0] == X.EQ and isinstance(n[1], list)
                and len(n[1]) == 2 and n[1][0] == X.BIN_TYPE and isinstance(n[1][1], bytes)
                and type(n[2]) is int):
            return None
        out.append((_name(n[1][1]), n[2]))
    return out


def _logical_args(node, at_least: int = 2) -> list:
    """The compiled arguments of and / or / exclusive / not: booleans only (server
    exp.c build_logical_vargs, build_logical_not)."""
    if len(node) - 1 < at_least:
        raise ExpError(f"logical op {node[0]} needs at least {at_least} arguments")
    out = []
    for n in node[1:]:
        f, t = compile_exp(n)
        if t is not None and t != X.T_BOOL:
            raise ExpError(f"logical op {node[0]} on a non-boolean argument")
        out.append(f)
    return out


def _and(node):
    checks = _type_checks(node[1:])
    if checks:
        # a conjunction of bin-type checks (aerodf's fast-path guard) in one loop: the
        # same answer (never unknown: a missing bin has type 0) at a fraction of the calls
        def all_types(rec, env):
            bins = rec.bins
            for name, pt in checks:
                b = bins.get(name)
                if (0 if b is None else b.ptype) != pt:
                    return False
            return True
        return all_types, X.T_BOOL
    parts = _logical_args(node)

    def fn(rec, env):
        unknown = False
        for p in parts:
            v = p(rec, env)
            if v is False:
                return False
            if v is not True:
                unknown = True
        return UNKNOWN if unknown else True
    return fn, X.T_BOOL


def _or(node):
    parts = _logical_args(node)

    def fn(rec, env):
        unknown = False
        for p in parts:
            v = p(rec, env)
            if v is True:
                return True
            if v is not False:
                unknown = True
        return UNKNOWN if unknown else False
    return fn, X.T_BOOL


def _not(node):
    if len(node) != 2:
        raise ExpError("not takes one argument")
    (f,) = _logical_args(node, 1)

    def fn(rec, env):
        v = f(rec, env)
        if v is True:
            return False
        if v is False:
            return True
        return UNKNOWN
    return fn, X.T_BOOL


def _exclusive(node):
    parts = _logical_args(node)

    def fn(rec, env):
        n_true = 0
        for p in parts:
            v = p(rec, env)
            if v is True:
                n_true += 1
            elif v is not False:
                return UNKNOWN
        return n_true == 1
    return fn, X.T_BOOL


# ------------------------------------------------------------------ arithmetic

_I64_MASK = (1 << 64) - 1


def _wrap64(v: int) -> int:
    v &= _I64_MASK
    return v - (1 << 64) if v >> 63 else v


def _arith(kind):
    def build(node):
        fs = [compile_exp(n) for n in node[1:]]
        if not fs:
            raise ExpError("arithmetic needs arguments")
        types = {t for _, t in fs if t is not None}
        if len(types) > 1 or (types and not types <= {X.T_INT, X.T_FLOAT}):
            raise ExpError("arithmetic arguments must all be int or all be float")
        need = _ARITH_TYPES.get(kind)
        if need is not None:
            # server exp.c build_math_pow / _log / _mod, build_float_op: fixed operand types
            if len(fs) != (1 if kind in (X.FLOOR, X.CEIL) else 2):
                raise ExpError(f"op {kind} takes {1 if kind in (X.FLOOR, X.CEIL) else 2} arguments")
            if types and types != {need}:
                raise ExpError(f"op {kind} needs {'float' if need == X.T_FLOAT else 'integer'} arguments")
        rtype = types.pop() if types else need
        fns = [f for f, _ in fs]

        def fn(rec, env):
            vals = []
            for f in fns:
                v = f(rec, env)
                if v is UNKNOWN or type(v) not in (int, float):
                    return UNKNOWN
                vals.append(v)
            if len({type(v) for v in vals}) > 1:
                return UNKNOWN
            if need is not None and type(vals[0]) is not (float if need == X.T_FLOAT else int):
                return UNKNOWN
            return _apply(kind, vals)
        return fn, rtype
    return build


_ARITH_TYPES = {X.POW: X.T_FLOAT, X.LOG: X.T_FLOAT, X.FLOOR: X.T_FLOAT, X.CEIL: X.T_FLOAT, X.MOD: X.T_INT}


def _idiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _apply(kind, vals):
    isint = type(vals[0]) is int
    acc = vals[0]
    try:
        if kind == X.ADD:
            for v in vals[1:]:
                acc = acc + v
        elif kind == X.SUB:
            if len(vals) == 1:
                acc = -acc
            for v in vals[1:]:
                acc = acc - v
        elif kind == X.MUL:
            for v in vals[1:]:
                acc = acc * v
        elif kind == X.DIV:
            if len(vals) == 1:
                acc = 1 / acc if not isint else _idiv(1, acc)
            for v in vals[1:]:
                acc = _idiv(acc, v) if isint else acc / v
        elif kind == X.MOD:
            a, b = vals
            if not isint:
                return UNKNOWN
            acc = a - b * _idiv(a, b)
        elif kind == X.POW:
            a, b = vals
            acc = math.pow(a, b)
        elif kind == X.LOG:
            a, b = vals
            acc = math.log(a, b)
        elif kind == X.ABS:
            acc = abs(acc)
        elif kind == X.FLOOR:
            acc = float(math.floor(acc))
        elif kind == X.CEIL:
            acc = float(math.ceil(acc))
        elif kind == X.MIN:
            acc = min(vals)
        elif kind == X.MAX:
            acc = max(vals)
    except (ZeroDivisionError, ValueError, OverflowError):
        return UNKNOWN
    return _wrap64(acc) if isint else acc


def _typed_arg(node, want: int, name: str):
    if len(node) != 2:
        raise ExpError(f"{name} takes one argument")
    f, t = compile_exp(node[1])
    if t is not None and t != want:  # server exp.c build_float_op / build_int_op
        raise ExpError(f"{name} of a {t} value")
    return f


def _to_int(node):
    f = _typed_arg(node, X.T_FLOAT, "to_int")

    def fn(rec, env):
        v = f(rec, env)
        if type(v) is not float or math.isnan(v) or math.isinf(v):
            return UNKNOWN
        return int(v)
    return fn, X.T_INT


def _to_float(node):
    f = _typed_arg(node, X.T_INT, "to_float")

    def fn(rec, env):
        v = f(rec, env)
        return float(v) if type(v) is int else UNKNOWN
    return fn, X.T_FLOAT


def _int_bits(kind):
    def build(node):
        fs = [compile_exp(n)[0] for n in node[1:]]

        def fn(rec, env):
            vals = [f(rec, env) for f in fs]
            if any(type(v) is not int for v in vals):
                return UNKNOWN
            a = vals[0]
            if kind == X.INT_AND:
                for v in vals[1:]:
                    a &= v
            elif kind == X.INT_OR:
                for v in vals[1:]:
                    a |= v
            elif kind == X.INT_XOR:
                for v in vals[1:]:
                    a ^= v
            elif kind == X.INT_NOT:
                a = ~a
            elif kind == X.INT_LSHIFT:
                a = a << vals[1]
            elif kind == X.INT_RSHIFT:
                a = (a & _I64_MASK) >> vals[1]
            elif kind == X.INT_ARSHIFT:
                a = a >> vals[1]
            elif kind == X.INT_COUNT:
                a = bin(a & _I64_MASK).count("1")
            else:
                return UNKNOWN
            return _wrap64(a)
        return fn, X.T_INT
    return build


# ------------------------------------------------------------------ record data

def _bin(node):
    # [BIN, type, name]
    if len(node) != 3 or not isinstance(node[1], int):
        raise ExpError("bin takes a type and a name")
    want, name = node[1], _name(node[2])

    def fn(rec, env):
        b = rec.bins.get(name)
        if b is None:
            return UNKNOWN
        if _PT_TO_T.get(b.ptype) != want:
            return UNKNOWN
        return b.value()
    return fn, want


def _bin_type(node):
    name = _name(node[1])

    def fn(rec, env):
        b = rec.bins.get(name)
        return 0 if b is None else b.ptype
    return fn, X.T_INT


def _key(node):
    want = node[1]

    def fn(rec, env):
        if rec.key is None:
            return UNKNOWN
        ptype, data = rec.key
        if _PT_TO_T.get(ptype) != want:
            return UNKNOWN
        if ptype == PT_INTEGER:
            return struct.unpack(">q", data)[0]
        if ptype == PT_STRING:
            return data.decode()
        return data
    return fn, want


def _meta(kind):
    def build(node):
        if kind == X.DIGEST_MODULO:
            mod = node[1]
            if not isinstance(mod, int) or mod <= 0:
                raise ExpError("digest_modulo needs a positive integer")
            return (lambda rec, env: struct.unpack_from("<I", rec.digest, 16)[0] % mod), X.T_INT
        if kind == X.LAST_UPDATE:
            return (lambda rec, env: rec.last_update_ns), X.T_INT
        if kind == X.SINCE_UPDATE:
            return (lambda rec, env: max(0, (time.time_ns() - rec.last_update_ns) // 1_000_000)), X.T_INT
        if kind == X.VOID_TIME:
            return (lambda rec, env: -1 if rec.void_time == 0
                    else (rec.void_time + CITRUSLEAF_EPOCH) * 1_000_000_000), X.T_INT
        if kind == X.TTL:
            return (lambda rec, env: rec.ttl(now_citrusleaf())), X.T_INT
        if kind == X.SET_NAME:
            return (lambda rec, env: rec.set_name), X.T_STR
        if kind == X.KEY_EXISTS:
            return (lambda rec, env: rec.key is not None), X.T_BOOL
        if kind == X.IS_TOMBSTONE:
            return (lambda rec, env: False), X.T_BOOL
        if kind in (X.RECORD_SIZE, X.MEMORY_SIZE):
            return (lambda rec, env: rec.size()), X.T_INT
        if kind == X.DEVICE_SIZE:
            return (lambda rec, env: 0), X.T_INT
        raise ExpUnsupported(f"metadata op {kind}")
    return build


# ------------------------------------------------------------------ control flow

def _cond(node):
    args = node[1:]
    if len(args) < 3 or len(args) % 2 == 0:
        raise ExpError("cond takes condition/value pairs and a default")
    pairs = [(compile_exp(args[i])[0], compile_exp(args[i + 1])[0]) for i in range(0, len(args) - 1, 2)]
    default, tdef = compile_exp(args[-1])

    def fn(rec, env):
        for c, v in pairs:
            r = c(rec, env)
            if r is True:
                return v(rec, env)
            if r is not False:
                return UNKNOWN
        return default(rec, env)
    return fn, tdef


def _let(node):
    args = node[1:]
    if len(args) < 1 or len(args) % 2 == 0:
        raise ExpError("let takes name/value pairs and a scope")
    defs = [(_name(args[i]), compile_exp(args[i + 1])[0]) for i in range(0, len(args) - 1, 2)]
    body, tb = compile_exp(args[-1])

    def fn(rec, env):
        env = dict(env)
        for name, f in defs:
            env[name] = f(rec, env)
        return body(rec, env)
    return fn, tb


def _var(node):
    name = _name(node[1])

    def fn(rec, env):
        if name not in env:
            raise ExpError(f"undefined variable {name}")
        return env[name]
    return fn, None


def _quote(node):
    v = from_raw(node[1])
    t = _PY_TO_T.get(type(v))
    return (lambda rec, env: v), t


def _call(node):
    # [CALL, return type, system type, [op, args...], bin-expr]; lists/maps only
    if len(node) != 5:
        raise ExpError("call takes a return type, a system type, an op and a bin")
    rtype, system, opnode, target = node[1], node[2], node[3], node[4]
    if system != X.CALL_CDT or not isinstance(opnode, list) or not opnode:
        raise ExpUnsupported("only list/map read calls are supported")
    ft, _ = compile_exp(target)
    code = opnode[0]
    if code == 0xFF:  # context: not supported
        raise ExpUnsupported("CDT context in expressions")
    if code == X.LIST_SIZE:
        def fn(rec, env):
            v = ft(rec, env)
            return len(v) if isinstance(v, list) else UNKNOWN
        return fn, X.T_INT
    if code == X.MAP_SIZE:
        def fn(rec, env):
            v = ft(rec, env)
            return len(v) if isinstance(v, dict) else UNKNOWN
        return fn, X.T_INT
    if code in cdt_ops.READ_CODES:
        # a selecting list/map read (by index, rank, value, key...) with any return type
        fargs = [compile_exp(a)[0] for a in opnode[1:]]

        def fn(rec, env):
            v = ft(rec, env)
            args = [f(rec, env) for f in fargs]
            if v is UNKNOWN or any(a is UNKNOWN for a in args):
                return UNKNOWN
            try:
                return cdt_ops.evaluate(v, code, args)
            except Exception:  # out of range, wrong type: the server's expression fails
                return UNKNOWN
        return fn, rtype
    raise ExpUnsupported(f"CDT call op {code}")


# ------------------------------------------------------------------ geo

_EARTH_RADIUS_M = 6371008.8  # mean radius, as S2's


def _geo_shape(v):
    """``("point", (lng, lat))``, ``("circle", (lng, lat, metres))`` or ``("polygon", rings)``."""
    import json

    try:
        g = json.loads(v)
        t, c = g["type"], g["coordinates"]
    except (ValueError, KeyError, TypeError):
        return None
    if t == "Point":
        return "point", (float(c[0]), float(c[1]))
    if t == "AeroCircle":
        return "circle", (float(c[0][0]), float(c[0][1]), float(c[1]))
    if t == "Polygon":
        return "polygon", [[(float(x), float(y)) for x, y in ring] for ring in c]
    return None


def _in_ring(pt, ring) -> bool:
    x, y = pt
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _point_in(pt, region) -> bool:
    kind, shape = region
    if kind == "circle":
        lng1, lat1, radius = shape
        lng0, lat0 = pt
        p0, p1 = math.radians(lat0), math.radians(lat1)
        d = 2 * math.asin(math.sqrt(math.sin((p1 - p0) / 2) ** 2
                                    + math.cos(p0) * math.cos(p1) * math.sin(math.radians(lng1 - lng0) / 2) ** 2))
        return d * _EARTH_RADIUS_M <= radius
    outer, *holes = shape
    return _in_ring(pt, outer) and not any(_in_ring(pt, h) for h in holes)


def _geo(node):
    """``[CMP_GEO, a, b]``: true when a point lies within a region (either way round)."""
    if len(node) != 3:
        raise ExpError("geo compare takes two arguments")
    (fa, ta), (fb, tb) = compile_exp(node[1]), compile_exp(node[2])
    if any(t is not None and t != X.T_GEO for t in (ta, tb)):
        raise ExpError("geo compare of a non-geojson value")

    def fn(rec, env):
        a, b = fa(rec, env), fb(rec, env)
        if not isinstance(a, GeoJSON) or not isinstance(b, GeoJSON):
            return UNKNOWN
        sa, sb = _geo_shape(a), _geo_shape(b)
        if sa is None or sb is None:
            return UNKNOWN
        if sa[0] == "point" and sb[0] != "point":
            return _point_in(sa[1], sb)
        if sb[0] == "point" and sa[0] != "point":
            return _point_in(sb[1], sa)
        return False  # region against region: not evaluated here
    return fn, X.T_BOOL


def _unknown(node):
    """``Unknown()``: evaluates to unknown (in a cond or let, it fails the filter)."""
    return (lambda rec, env: UNKNOWN), None


_BUILDERS: dict[int, Callable] = {
    0: _unknown,  # EXP_UNK
    X.GEO: _geo,
    X.EQ: _comparison(_eq), X.NE: _comparison(_ne), X.GT: _comparison(_gt),
    X.GE: _comparison(_ge), X.LT: _comparison(_lt), X.LE: _comparison(_le),
    X.REGEX: _regex, X.IN_LIST: _in_list,
    X.AND: _and, X.OR: _or, X.NOT: _not, X.EXCLUSIVE: _exclusive,
    X.TO_INT: _to_int, X.TO_FLOAT: _to_float,
    X.BIN: _bin, X.BIN_TYPE: _bin_type, X.KEY: _key,
    X.COND: _cond, X.LET: _let, X.VAR: _var, X.QUOTE: _quote, X.CALL: _call,
}
for _op in (X.ADD, X.SUB, X.MUL, X.DIV, X.POW, X.LOG, X.MOD, X.ABS, X.FLOOR, X.CEIL, X.MIN, X.MAX):
    _BUILDERS[_op] = _arith(_op)
for _op in (X.INT_AND, X.INT_OR, X.INT_XOR, X.INT_NOT, X.INT_LSHIFT, X.INT_RSHIFT, X.INT_ARSHIFT,
            X.INT_COUNT):
    _BUILDERS[_op] = _int_bits(_op)
for _op in (X.DIGEST_MODULO, X.DEVICE_SIZE, X.LAST_UPDATE, X.SINCE_UPDATE, X.VOID_TIME, X.TTL,
            X.SET_NAME, X.KEY_EXISTS, X.IS_TOMBSTONE, X.MEMORY_SIZE, X.RECORD_SIZE):
    _BUILDERS[_op] = _meta(_op)
