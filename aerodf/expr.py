"""Predicates: a small expression tree, split into what the server can run.

The tree (pyiceberg-style frozen nodes) comes from a polars expression
(:mod:`aerodf.polars_expr` reads polars' serialized form) and is compiled per
schema into a *server filter*, a neutral nested-tuple form of an Aerospike
filter expression (``("ge", ("bin", "int", "age"), ("lit", 21))``) that each
transport lowers to its client library's own form, plus an optional
secondary-index filter. The full predicate is always applied again to every
batch on the client, so pushing is an optimisation that may be partial, never
a change of results. What is pushed:

- comparisons of a column with a literal or another column of the same type;
- ``is_in`` (as an OR of equalities), ``is_between``, ``is_null`` / ``is_not_null``;
- and / or / not; string starts_with / ends_with / contains (literal) as regexes;
- ``+ - *`` on int64 / float64 columns, ``/`` on float64; list / map length.

Aerospike evaluates filters three-valued: a missing bin makes a comparison
*unknown* and unknown drops the record. polars drops null rows too, so a
conjunct at top level means the same on both sides. Under OR and NOT the two
could part ways, so there every comparison is guarded by the bin's type,
``cond(bin_type(x) == T, cmp, false)``: no unknown can arise, and the server
then keeps a superset of the rows polars keeps.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from .protocol.constants import PT_BLOB, PT_BOOL, PT_FLOAT, PT_INTEGER, PT_LIST, PT_MAP, PT_STRING
from .schema import Bool, Bytes, Float, Int, List, Map, Schema, String, Timestamp

# ----------------------------------------------------------------------------- the tree


class Expr:
    """A predicate node."""

    def __and__(self, other: "Expr") -> "Expr":
        return and_(self, other)

    def __or__(self, other: "Expr") -> "Expr":
        return or_(self, other)

    def __invert__(self) -> "Expr":
        return Not(self)


@dataclass(frozen=True)
class Col(Expr):
    name: str


@dataclass(frozen=True)
class TimeValue:
    """A datetime literal as polars holds it: an integer count of ``unit``."""

    value: int
    unit: str

    def to_unit(self, unit: str) -> int:
        scale = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
        ns = self.value * scale[self.unit]
        return ns // scale[unit]


@dataclass(frozen=True)
class Lit(Expr):
    value: Any


@dataclass(frozen=True)
class Cmp(Expr):
    op: str  # eq ne gt ge lt le
    left: Expr
    right: Expr


@dataclass(frozen=True)
class And(Expr):
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Or(Expr):
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Not(Expr):
    child: Expr


@dataclass(frozen=True)
class IsNull(Expr):
    child: Expr


@dataclass(frozen=True)
class IsIn(Expr):
    child: Expr
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Between(Expr):
    child: Expr
    lo: Any
    hi: Any
    closed: str = "both"  # both left right none


@dataclass(frozen=True)
class StrMatch(Expr):
    child: Expr
    kind: str  # starts ends contains
    pattern: str


@dataclass(frozen=True)
class Arith(Expr):
    op: str  # add sub mul div
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Length(Expr):
    child: Expr


@dataclass(frozen=True)
class Opaque(Expr):
    """Something aerodf does not push (kept client-side); ``what`` says what."""

    what: str


def and_(*parts: Expr) -> Expr:
    flat: list[Expr] = []
    for p in parts:
        flat.extend(p.parts if isinstance(p, And) else (p,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def or_(*parts: Expr) -> Expr:
    flat: list[Expr] = []
    for p in parts:
        flat.extend(p.parts if isinstance(p, Or) else (p,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def conjuncts(e: Expr) -> list[Expr]:
    return list(e.parts) if isinstance(e, And) else [e]


def columns(e: Expr) -> set[str]:
    """Every column name the predicate reads."""
    if isinstance(e, Col):
        return {e.name}
    out: set[str] = set()
    for v in vars(e).values():
        if isinstance(v, Expr):
            out |= columns(v)
        elif isinstance(v, tuple):
            for x in v:
                if isinstance(x, Expr):
                    out |= columns(x)
    return out


# ----------------------------------------------------------------------------- translation

_BIN_TYPE = {Int: "int", Timestamp: "int", Float: "float", String: "str", Bool: "bool", Bytes: "blob",
             List: "list", Map: "map"}
# particle types, for the type guards under OR / NOT
# the particle type a pushed expression checks for each storage kind
PARTICLE_OF = {"int": PT_INTEGER, "float": PT_FLOAT, "str": PT_STRING, "blob": PT_BLOB, "bool": PT_BOOL, "map": PT_MAP,
               "list": PT_LIST}


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class NotPushable(Exception):
    pass


@dataclass
class Plan:
    """The result of splitting a predicate for one schema."""

    server: tuple | None = None  # neutral server filter, or None
    index: tuple | None = None  # ("eq", bin, value) or ("range", bin, lo, hi) for a secondary index
    pushed: list[Expr] = field(default_factory=list)
    kept: list[Expr] = field(default_factory=list)
    # whether the server keeps exactly the records polars would keep from the values as
    # stored (nothing kept client-side, no form whose null, overflow or unit rules differ):
    # then, with values decoded as stored, the client has nothing left to re-check
    exact: bool = False

    def keeps_only_records_with(self, bins: list[str]) -> bool:
        """Whether every record this plan's server filters keep holds one of ``bins``
        (an index filter reads its bin; see :func:`_implies_a_bin`). A scan naming
        ``bins`` loses no record then: the server leaves out only records with none."""
        return self.index is not None or _implies_a_bin(self.server, frozenset(bins))

    def describe(self) -> str:
        lines = []
        if self.index:
            lines.append(f"index filter: {self.index}")
        lines.append("pushed to the server: " + (", ".join(map(_show, self.pushed)) or "nothing"))
        lines.append("client-side only: " + (", ".join(map(_show, self.kept)) or "nothing"))
        if self.exact:
            lines.append("(the server's filter is exact: with on_type_error='raise' nothing is re-checked)")
        else:
            lines.append("(the whole predicate is re-applied to every batch)")
        return "\n".join(lines)


def _show(e: Expr) -> str:
    if isinstance(e, Col):
        return e.name
    if isinstance(e, Lit):
        return repr(e.value)
    if isinstance(e, Cmp):
        sym = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}[e.op]
        return f"({_show(e.left)} {sym} {_show(e.right)})"
    if isinstance(e, (And, Or)):
        j = " & " if isinstance(e, And) else " | "
        return "(" + j.join(map(_show, e.parts)) + ")"
    if isinstance(e, Not):
        return f"~{_show(e.child)}"
    if isinstance(e, IsNull):
        return f"{_show(e.child)}.is_null()"
    if isinstance(e, IsIn):
        return f"{_show(e.child)}.is_in({list(e.values)!r})"
    if isinstance(e, Between):
        return f"{_show(e.child)}.is_between({e.lo!r}, {e.hi!r}, {e.closed!r})"
    if isinstance(e, StrMatch):
        return f"{_show(e.child)}.str.{e.kind}({e.pattern!r})"
    if isinstance(e, Arith):
        return f"({_show(e.left)} {dict(add='+', sub='-', mul='*', div='/')[e.op]} {_show(e.right)})"
    if isinstance(e, Length):
        return f"{_show(e.child)}.len()"
    if isinstance(e, Opaque):
        return f"<{e.what}>"
    return repr(e)


def plan(predicate: Expr | None, schema: Schema, *, indexes: dict[str, str] | None = None) -> Plan:
    """Split ``predicate`` into a server filter (and index filter) and the rest.

    ``indexes`` maps bin name -> ``"numeric"`` / ``"string"`` for the set's
    secondary indexes; one fitting conjunct becomes the query's index filter.
    """
    out = Plan()
    if predicate is None:
        return out
    server_parts = []
    translator = _Translator(schema)
    for c in conjuncts(predicate):
        if out.index is None and indexes:
            idx = _index_filter(c, schema, indexes)
            if idx is not None:
                out.index = idx
                out.pushed.append(c)
                continue
        try:
            server_parts.append(translator.visit(c, guarded=False))
            out.pushed.append(c)
        except NotPushable:
            out.kept.append(c)
    if server_parts:
        out.server = server_parts[0] if len(server_parts) == 1 else ("and", *server_parts)
    out.exact = not out.kept and translator.exact
    return out


def could_use_index(predicate: Expr | None, schema: Schema) -> bool:
    """Whether some conjunct of ``predicate`` has the shape of an index filter (``col ==
    int / str`` or a closed ``is_between`` of ints on an int or string column): only
    then is it worth asking the cluster which secondary indexes the set has."""
    if predicate is None:
        return False
    every = {f.bin_name: "numeric" if isinstance(f.type, Int) else "string" for f in schema
             if isinstance(f.type, (Int, String))}
    return any(_index_filter(c, schema, every) is not None for c in conjuncts(predicate))


def _index_filter(c: Expr, schema: Schema, indexes: dict[str, str]) -> tuple | None:
    col_lits = None
    if isinstance(c, Cmp) and c.op == "eq" and isinstance(c.left, Col) and isinstance(c.right, Lit):
        col_lits = (c.left.name, "eq", c.right.value)
    elif isinstance(c, Between) and isinstance(c.child, Col) and c.closed == "both":
        col_lits = (c.child.name, "range", (c.lo, c.hi))
    if col_lits is None or col_lits[0] not in schema:
        return None
    f = schema[col_lits[0]]
    kind = indexes.get(f.bin_name)
    if kind == "numeric" and isinstance(f.type, Int):
        if col_lits[1] == "eq" and type(col_lits[2]) is int and _INT64_MIN <= col_lits[2] <= _INT64_MAX:
            return ("range", f.bin_name, col_lits[2], col_lits[2])
        if col_lits[1] == "range" and all(type(v) is int and _INT64_MIN <= v <= _INT64_MAX for v in col_lits[2]):
            return ("range", f.bin_name, *col_lits[2])
    if kind == "string" and isinstance(f.type, String) and col_lits[1] == "eq" and isinstance(col_lits[2], str) \
            and "\0" not in col_lits[2]:  # an index filter's string is cut at a NUL too
        return ("eq", f.bin_name, col_lits[2])
    return None


# regcomp flags as the server passes them to glibc (it does not translate the clients'
# REGEX_* constants): the pushed patterns are POSIX *extended* regexes
REG_EXTENDED = 1


def _ere_escape(s: str) -> str:
    """``s`` as a POSIX extended regex matching exactly ``s`` (every ERE metacharacter
    behind a backslash; in a basic regex ``\\+ \\( \\{`` would be operators)."""
    return "".join("\\" + ch if ch in ".[]()*+?{}|^$\\" else ch for ch in s)


class _Translator:
    """Expr -> neutral server filter; raises NotPushable for anything it cannot mean exactly.

    A pushed filter may keep more records than polars would (a superset the client's
    re-check removes); ``exact`` turns false once a form is pushed whose records can
    differ from what polars keeps: NOT over a value that can be null (the server's type
    guard makes a missing bin false, so NOT keeps it; polars' null stays null), integer
    arithmetic (overflow, division), list lengths, list / map comparisons and timestamps
    (a literal is floored to the column's unit)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.exact = True

    def visit(self, e: Expr, *, guarded: bool) -> tuple:
        m = getattr(self, "visit_" + type(e).__name__.lower(), None)
        if m is None:
            raise NotPushable(type(e).__name__)
        return m(e, guarded)

    # -- values: (neutral exp, value type name, bins read)
    def value(self, e: Expr) -> tuple[tuple, str, frozenset[str]]:
        if isinstance(e, Col):
            if e.name not in self.schema:
                raise NotPushable(f"unknown column {e.name}")
            f = self.schema[e.name]
            t = f.type
            if isinstance(t, Float) and t.bits == 32:
                raise NotPushable("float32 columns are rounded client-side")
            bt = _BIN_TYPE.get(type(t))
            if bt is None:
                raise NotPushable(f"{t} columns")
            if isinstance(t, (Timestamp, List, Map)):
                self.exact = False
            return ("bin", bt, f.bin_name), bt, frozenset({f.bin_name})
        if isinstance(e, (Arith, Length)):
            self.exact = False
        if isinstance(e, Arith):
            (a, ta, ba), (b, tb, bb) = self.value(e.left), self.value(e.right)
            if ta != tb or ta not in ("int", "float"):
                raise NotPushable("arithmetic needs two int64 or two float64 values")
            if e.op == "div" and ta != "float":
                raise NotPushable("polars '/' divides as floats")
            for side in (e.left, e.right):
                if isinstance(side, Col) and self.schema[side.name].type not in (Int(64), Float(64)):
                    raise NotPushable("arithmetic overflows differently below 64 bits")
            return (e.op, a, b), ta, ba | bb
        if isinstance(e, Length):
            inner, t, bins = self.value(e.child)
            if t not in ("list", "map"):
                raise NotPushable("length of a non-list")
            return (f"{t}_size", inner), "int", bins
        if isinstance(e, Lit):
            v = e.value
            if v is None:
                raise NotPushable("null literal")
            if isinstance(v, bool):
                return ("lit", v), "bool", frozenset()
            if isinstance(v, int):
                if not _INT64_MIN <= v <= _INT64_MAX:
                    # an Aerospike integer is int64: such a literal would be sent as a uint64
                    # the server reads as another number; polars decides it client-side
                    raise NotPushable(f"integer literal {v} outside int64")
                return ("lit", v), "int", frozenset()
            if isinstance(v, float):
                if math.isnan(v):
                    raise NotPushable("NaN literal (polars orders NaN above every number)")
                return ("lit", v), "float", frozenset()
            if isinstance(v, str):
                if "\0" in v:
                    # the official client sends a filter's string up to its first NUL ("a\0b"
                    # would match "a"): polars decides it client-side, on every transport
                    raise NotPushable("string literal holding a NUL")
                return ("lit", v), "str", frozenset()
            if isinstance(v, bytes):
                return ("lit", v), "blob", frozenset()
            raise NotPushable(f"literal of type {type(v).__name__}")
        raise NotPushable(type(e).__name__)

    def _literal_for(self, col: Expr, v: Any) -> Lit:
        """A literal converted to the column's storage (timestamps -> integers)."""
        if isinstance(col, Col) and col.name in self.schema:
            t = self.schema[col.name].type
            if isinstance(t, Timestamp) and isinstance(v, dt.datetime):
                return Lit(_to_epoch(v, t))
            if isinstance(t, Timestamp) and isinstance(v, TimeValue):
                return Lit(v.to_unit(t.unit))
            if isinstance(t, Float) and type(v) is int:
                return Lit(float(v))
        return Lit(v)

    def _guard(self, exp: tuple, bins: frozenset[str], types: dict[str, str], guarded: bool) -> tuple:
        if not guarded or not bins:
            return exp
        checks = [("eq", ("bin_type", b), ("lit", PARTICLE_OF[types[b]])) for b in sorted(bins)]
        cond = checks[0] if len(checks) == 1 else ("and", *checks)
        return ("cond", cond, exp, ("lit", False))

    def visit_cmp(self, e: Cmp, guarded: bool) -> tuple:
        left, right = e.left, e.right
        if isinstance(right, Lit):
            right = self._literal_for(left, right.value)
        if isinstance(left, Lit):
            left = self._literal_for(right, left.value)
        (a, ta, ba), (b, tb, bb) = self.value(left), self.value(right)
        if ta != tb:
            raise NotPushable(f"comparing {ta} with {tb}")
        if ta in ("bool", "blob", "list", "map") and e.op not in ("eq", "ne"):
            raise NotPushable(f"ordering {ta} values")
        types = {x[2]: x[1] for x in (a, b) if x[0] == "bin"}
        types.update(self._nested_types(a) | self._nested_types(b))
        cmp: tuple = (e.op, a, b)
        if ta == "float":
            # polars orders NaN above every number (and NaN == NaN); the server compares as C
            # does (NaN is unordered, only != holds). Where polars keeps a NaN the pushed form
            # keeps it too, by x != x, which holds for NaN alone
            nan_a, nan_b = a[0] != "lit", b[0] != "lit"
            if nan_a and nan_b:
                raise NotPushable("comparing two float values that may both be NaN")
            if (nan_a and e.op in ("gt", "ge")) or (nan_b and e.op in ("lt", "le")):
                x = a if nan_a else b
                cmp = ("or", cmp, ("ne", x, x))
        return self._guard(cmp, ba | bb, types, guarded)

    def _nested_types(self, exp: tuple) -> dict[str, str]:
        out: dict[str, str] = {}
        if exp and exp[0] == "bin":
            out[exp[2]] = exp[1]
        for x in exp[1:]:
            if isinstance(x, tuple):
                out.update(self._nested_types(x))
        return out

    def visit_col(self, e: Col, guarded: bool) -> tuple:
        return self.visit_cmp(Cmp("eq", e, Lit(True)), guarded)  # a bool column used as a predicate

    def visit_and(self, e: And, guarded: bool) -> tuple:
        return ("and", *(self.visit(p, guarded=guarded) for p in e.parts))

    def visit_or(self, e: Or, guarded: bool) -> tuple:
        return ("or", *(self.visit(p, guarded=True) for p in e.parts))

    def visit_not(self, e: Not, guarded: bool) -> tuple:
        if not _never_null(e.child):
            self.exact = False
        return ("not", self.visit(e.child, guarded=True))

    def visit_isnull(self, e: IsNull, guarded: bool) -> tuple:
        if not isinstance(e.child, Col) or e.child.name not in self.schema:
            raise NotPushable("is_null of an expression")
        return ("eq", ("bin_type", self.schema[e.child.name].bin_name), ("lit", 0))

    def visit_isin(self, e: IsIn, guarded: bool) -> tuple:
        values = [v for v in e.values if v is not None]
        if not values or len(values) > 256:
            raise NotPushable("is_in with no or too many values")
        return self.visit(or_(*(Cmp("eq", e.child, Lit(v)) for v in values)), guarded=guarded)

    def visit_between(self, e: Between, guarded: bool) -> tuple:
        lo_op = "ge" if e.closed in ("both", "left") else "gt"
        hi_op = "le" if e.closed in ("both", "right") else "lt"
        return self.visit(And((Cmp(lo_op, e.child, Lit(e.lo)), Cmp(hi_op, e.child, Lit(e.hi)))), guarded=guarded)

    def visit_strmatch(self, e: StrMatch, guarded: bool) -> tuple:
        a, t, bins = self.value(e.child)
        if t != "str":
            raise NotPushable("string match on a non-string")
        if "\0" in e.pattern:
            raise NotPushable("the server's regex pattern ends at a NUL")
        p = _ere_escape(e.pattern)
        rx = {"starts": "^" + p, "ends": p + "$", "contains": p}[e.kind]
        return self._guard(("regex", rx, REG_EXTENDED, a), bins, {b: "str" for b in bins}, guarded)


def _never_null(e: Expr) -> bool:
    """Whether polars' value of ``e`` is never null (a null test, or NOT of one)."""
    return isinstance(e, IsNull) or (isinstance(e, Not) and _never_null(e.child))


def _implies_a_bin(exp: tuple | None, bins: frozenset[str]) -> bool:
    """Whether every record the neutral filter ``exp`` keeps holds one of ``bins``.

    An unguarded comparison (or regex) reading a bin is *unknown*, so false, when
    the bin is missing: at top level, or in every branch of an OR, it vouches for
    the bin. Type-guarded forms (``cond``), NOT and ``bin_type`` tests vouch for nothing.
    """
    if exp is None:
        return False
    op = exp[0]
    if op == "and":
        return any(_implies_a_bin(x, bins) for x in exp[1:])
    if op == "or":
        return all(_implies_a_bin(x, bins) for x in exp[1:])
    if op in ("eq", "ne", "gt", "ge", "lt", "le", "regex"):
        return bool(_bins_read(exp) & bins)
    return False


def _bins_read(exp: tuple) -> set[str]:
    if exp[0] == "bin":
        return {exp[2]}
    if exp[0] in ("bin_type", "cond", "not"):
        return set()
    out: set[str] = set()
    for x in exp[1:]:
        if isinstance(x, tuple) and x:
            out |= _bins_read(x)
    return out


def records_without(bins: list[str], server: tuple | None) -> tuple:
    """The neutral filter of the records a scan naming ``bins`` leaves out: ``server``
    holds and every one of the bins is missing."""
    missing = [("eq", ("bin_type", b), ("lit", 0)) for b in bins]
    parts = ([server] if server is not None else []) + missing
    return parts[0] if len(parts) == 1 else ("and", *parts)


def _to_epoch(v: dt.datetime, t: Timestamp) -> int:
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.timezone.utc)
    delta = v - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return {"s": us // 1_000_000, "ms": us // 1000, "us": us, "ns": us * 1000}[t.unit]
