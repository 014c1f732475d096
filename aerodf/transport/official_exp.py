"""Neutral server filters (:mod:`aerodf.expr`) -> the official client's expression helpers."""

from __future__ import annotations

import warnings
from typing import Any

from aerospike_helpers import expressions as e

from ..errors import ConfigError

# CmpRegex is deprecated in favour of RegexCompare, which needs newer servers; the
# classic form works on every server (shared/INTEROP.md). The client warns while
# serializing, on our scan threads, where catch_warnings is not thread-safe: one
# filter for exactly this message.
warnings.filterwarnings("ignore", message="CmpRegex expression is deprecated", category=DeprecationWarning)

_BINS = {"int": e.IntBin, "float": e.FloatBin, "str": e.StrBin, "bool": e.BoolBin, "blob": e.BlobBin,
         "list": e.ListBin, "map": e.MapBin}
_CMP = {"eq": e.Eq, "ne": e.NE, "gt": e.GT, "ge": e.GE, "lt": e.LT, "le": e.LE}
_ARITH = {"add": e.Add, "sub": e.Sub, "mul": e.Mul, "div": e.Div}


def lower(node: tuple) -> Any:
    """The aerospike_helpers expression of a neutral filter node."""
    op = node[0]
    if op == "lit":
        v = node[1]
        return v if not isinstance(v, bytes) else bytearray(v)
    if op == "bin":
        return _BINS[node[1]](node[2])
    if op in _CMP:
        return _CMP[op](lower(node[1]), lower(node[2]))
    if op == "and":
        return e.And(*(lower(x) for x in node[1:]))
    if op == "or":
        return e.Or(*(lower(x) for x in node[1:]))
    if op == "not":
        return e.Not(lower(node[1]))
    if op == "cond":
        return e.Cond(*(lower(x) for x in node[1:]))
    if op == "bin_type":
        return e.BinType(node[1])
    if op == "regex":
        return e.CmpRegex(node[2], node[1], lower(node[3]))
    if op in _ARITH:
        return _ARITH[op](lower(node[1]), lower(node[2]))
    if op == "list_size":
        return e.ListSize(None, lower(node[1]))
    if op == "map_size":
        return e.MapSize(None, lower(node[1]))
    raise ConfigError(f"no lowering for filter node {op!r}")


def compile_filter(node: tuple | None, native: Any = None) -> Any:
    """The policy ``expressions`` value: a neutral filter, a native expression, or both (AND)."""
    parts = []
    if node is not None:
        parts.append(lower(node))
    if native is not None:
        if isinstance(native, list):  # already compiled by the caller
            if parts:
                raise ConfigError("a compiled native filter cannot be combined with a pushed predicate")
            return native
        parts.append(native)
    if not parts:
        return None
    return (parts[0] if len(parts) == 1 else e.And(*parts)).compile()
