"""polars expressions -> :mod:`aerodf.expr` trees.

All reading of polars' serialized expression form lives here: it is not a
stable API (``Expr.meta.serialize(format="json")``), so each polars minor
version gets its regression cases in ``tests/test_polars_expr.py``. Anything
not understood becomes :class:`~aerodf.expr.Opaque` (kept client-side), never
an error: it stays client-side, and a plan with anything client-side re-applies
the full predicate to every batch.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .errors import ConfigError
from .expr import (
    Arith, Between, Cmp, Col, Expr, IsIn, IsNull, Length, Lit, Not, Opaque, StrMatch, TimeValue, and_, or_,
)

_CMP = {"Eq": "eq", "NotEq": "ne", "Gt": "gt", "GtEq": "ge", "Lt": "lt", "LtEq": "le"}
_FLIP = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_ARITH = {"Plus": "add", "Minus": "sub", "Multiply": "mul", "TrueDivide": "div"}
_UNITS = {"Nanoseconds": "ns", "Microseconds": "us", "Milliseconds": "ms"}
_CLOSED = {"Both": "both", "Left": "left", "Right": "right", "None": "none"}


def from_polars(expr: Any) -> Expr:
    """The aerodf tree of a polars expression."""
    try:
        node = json.loads(expr.meta.serialize(format="json"))
    except Exception as exc:  # a polars without JSON serialization, or an odd expression
        return Opaque(f"unserializable polars expression ({type(exc).__name__})")
    return _node(node)


def _node(node: Any) -> Expr:
    if not isinstance(node, dict) or len(node) != 1:
        return Opaque("unknown node")
    (kind, body), = node.items()
    handler = _NODES.get(kind)
    return handler(body) if handler else Opaque(kind)


def _column(body: Any) -> Expr:
    return Col(body) if isinstance(body, str) else Opaque("column")


def _literal(body: Any) -> Expr:
    if not isinstance(body, dict) or len(body) != 1:
        return Opaque("literal")
    (kind, inner), = body.items()
    if kind == "Dyn":
        (_, value), = inner.items()
        return Lit(value)
    if kind != "Scalar":
        return Opaque(f"{kind} literal")
    if inner == "Null" or inner is None:
        return Lit(None)
    (dtype, value), = inner.items()
    if dtype in ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Int",
                 "Float32", "Float64", "Float", "String", "Boolean"):
        return Lit(value)
    if dtype == "Datetime" and isinstance(value, list) and value[1] in _UNITS and value[2] is None:
        return Lit(TimeValue(int(value[0]), _UNITS[value[1]]))
    if dtype == "List":
        values = _arrow_ipc_list(value)
        return Lit(values) if values is not None else Opaque("list literal")
    if dtype == "Null":
        return Lit(None)
    return Opaque(f"{dtype} literal")


def _arrow_ipc_list(raw: Any) -> tuple | None:
    """is_in lists travel as Arrow IPC bytes inside the JSON."""
    try:
        import pyarrow as pa

        reader = pa.ipc.open_stream(pa.py_buffer(bytes(raw)))
        table = reader.read_all()
        col = table.column(0).combine_chunks()
        values = col.to_pylist()
        if len(values) == 1 and isinstance(values[0], list):
            values = values[0]
        return tuple(values)
    except Exception:
        return None


def _binary(body: dict) -> Expr:
    left, right, op = _node(body.get("left")), _node(body.get("right")), body.get("op")
    if op in _CMP:
        if isinstance(left, Lit) and not isinstance(right, Lit):
            return Cmp(_FLIP[_CMP[op]], right, left)
        return Cmp(_CMP[op], left, right)
    if op in ("And", "LogicalAnd"):
        return and_(left, right)
    if op in ("Or", "LogicalOr"):
        return or_(left, right)
    if op in _ARITH:
        return Arith(_ARITH[op], left, right)
    return Opaque(f"binary {op}")


def _function(body: dict) -> Expr:
    args = [_node(a) for a in body.get("input", [])]
    fn = body.get("function")
    if isinstance(fn, dict) and len(fn) == 1:
        (family, detail), = fn.items()
    else:
        family, detail = fn, None
    if family == "Boolean":
        return _boolean(detail, args)
    if family == "StringExpr":
        return _string(detail, args)
    if family == "ListExpr" and detail == "Length" and len(args) == 1:
        return Length(args[0])
    return Opaque(f"function {family}:{detail}")


def _boolean(detail: Any, args: list[Expr]) -> Expr:
    name = detail if isinstance(detail, str) else next(iter(detail)) if isinstance(detail, dict) else None
    if name == "Not" and len(args) == 1:
        return Not(args[0])
    if name == "IsNull" and len(args) == 1:
        return IsNull(args[0])
    if name == "IsNotNull" and len(args) == 1:
        return Not(IsNull(args[0]))
    if name == "IsIn" and len(args) == 2 and isinstance(args[1], Lit) and isinstance(args[1].value, tuple):
        values = args[1].value
        nulls_equal = isinstance(detail, dict) and isinstance(detail.get("IsIn"), dict) \
            and detail["IsIn"].get("nulls_equal") is True
        if nulls_equal and any(v is None for v in values):
            # is_in([.., None], nulls_equal=True) keeps the null rows too: a missing bin
            # is one of them, so the null is a test of its own, not a value to compare
            rest = tuple(v for v in values if v is not None)
            return or_(IsIn(args[0], rest), IsNull(args[0])) if rest else IsNull(args[0])
        return IsIn(args[0], values)
    if name == "IsBetween" and len(args) == 3 and isinstance(args[1], Lit) and isinstance(args[2], Lit):
        closed = _CLOSED.get(detail["IsBetween"].get("closed"), None) if isinstance(detail, dict) else None
        if closed is None:
            return Opaque("is_between")
        return Between(args[0], args[1].value, args[2].value, closed)
    return Opaque(f"boolean {name}")


def _string(detail: Any, args: list[Expr]) -> Expr:
    if len(args) != 2 or not isinstance(args[1], Lit) or not isinstance(args[1].value, str):
        return Opaque("string function")
    pattern = args[1].value
    if detail == "StartsWith":
        return StrMatch(args[0], "starts", pattern)
    if detail == "EndsWith":
        return StrMatch(args[0], "ends", pattern)
    if isinstance(detail, dict) and "Contains" in detail:
        literal = detail["Contains"].get("literal", False)
        # a polars (Rust) regex means the same as a POSIX one only when it has no metacharacters
        if literal or not any(ch in pattern for ch in ".[]()*+?{}|^$\\"):
            return StrMatch(args[0], "contains", pattern)
    return Opaque(f"string {detail}")


_NODES: dict[str, Callable[[Any], Expr]] = {
    "Column": _column,
    "Literal": _literal,
    "BinaryExpr": _binary,
    "Function": _function,
}


def parse_where(where: Any) -> tuple[Expr | None, Any, Any]:
    """A reader's ``where=``: ``(aerodf tree, polars expression to re-apply, native server
    expression)``; anything else raises :class:`~aerodf.ConfigError`."""
    if where is None:
        return None, None, None
    mod = type(where).__module__.split(".")[0]
    if mod == "polars":
        return from_polars(where), where, None
    if isinstance(where, Expr):
        raise ConfigError("pass where= as a polars expression (aerodf trees are internal)")
    if isinstance(where, (str, bool, int, float, bytes)):
        raise ConfigError(f"where= takes a polars expression (pl.col('age') > 30) or an aerospike_helpers "
                          f"expression, not {where!r}")
    # an aerospike_helpers expression (or its compiled list): the server decides, nothing to re-apply
    return None, None, where
