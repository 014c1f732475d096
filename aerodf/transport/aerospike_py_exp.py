"""Neutral server filters (:mod:`aerodf.expr`) -> aerospike-py's ``exp`` dicts."""

from __future__ import annotations

from typing import Any

from aerospike_py import exp as x

_BINS = {"int": x.int_bin, "float": x.float_bin, "str": x.string_bin, "bool": x.bool_bin, "blob": x.blob_bin,
         "list": x.list_bin, "map": x.map_bin}
_CMP = {"eq": x.eq, "ne": x.ne, "gt": x.gt, "ge": x.ge, "lt": x.lt, "le": x.le}
_ARITH = {"add": x.num_add, "sub": x.num_sub, "mul": x.num_mul, "div": x.num_div}


class NotLowerable(Exception):
    """aerospike-py has no builder for this node (CDT sizes in 0.14)."""


def _lit(v: Any) -> dict:
    if isinstance(v, bool):
        return x.bool_val(v)
    if isinstance(v, int):
        return x.int_val(v)
    if isinstance(v, float):
        return x.float_val(v)
    if isinstance(v, str):
        return x.string_val(v)
    if isinstance(v, (bytes, bytearray)):
        return x.blob_val(bytes(v))
    raise NotLowerable(f"literal of type {type(v).__name__}")


def lower(node: tuple) -> dict:
    """The aerospike-py expression of a neutral filter node."""
    op = node[0]
    if op == "lit":
        return _lit(node[1])
    if op == "bin":
        return _BINS[node[1]](node[2])
    if op in _CMP:
        return _CMP[op](lower(node[1]), lower(node[2]))
    if op == "and":
        return x.and_(*(lower(n) for n in node[1:]))
    if op == "or":
        return x.or_(*(lower(n) for n in node[1:]))
    if op == "not":
        return x.not_(lower(node[1]))
    if op == "cond":
        return x.cond(*(lower(n) for n in node[1:]))
    if op == "bin_type":
        return x.bin_type(node[1])
    if op == "regex":
        return x.regex_compare(node[1], node[2], lower(node[3]))
    if op in _ARITH:
        return _ARITH[op](lower(node[1]), lower(node[2]))
    raise NotLowerable(op)
