"""Neutral server filters (:mod:`aerodf.expr`) -> filter-expression bytes (field 43).

The same msgpack the official client's ``expressions`` helpers produce
(tests/test_wire_expr.py compares the bytes the test server receives from
both): ``[op, args...]`` arrays, bin names as plain msgpack strings, string
and blob values as msgpack strings behind their particle-type byte (0x03,
0x04), floats as float64, list/map sizes as CDT calls.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import ConfigError
from ..protocol import expcodes as X
from ..protocol.values import pack_array_header as _array, pack_int as _int, pack_str_header

_CMP = {"eq": X.EQ, "ne": X.NE, "gt": X.GT, "ge": X.GE, "lt": X.LT, "le": X.LE}
_ARITH = {"add": X.ADD, "sub": X.SUB, "mul": X.MUL, "div": X.DIV}
_TYPES = {"int": X.T_INT, "float": X.T_FLOAT, "str": X.T_STR, "bool": X.T_BOOL, "blob": X.T_BLOB,
          "list": X.T_LIST, "map": X.T_MAP}


def encode(node: tuple) -> bytes:
    """The field-43 bytes of a neutral filter node."""
    out = bytearray()
    _node(out, node)
    return bytes(out)


def _node(out: bytearray, node: tuple) -> None:
    op = node[0]
    if op == "lit":
        _value(out, node[1])
    elif op == "bin":
        _array(out, 3)
        _int(out, X.BIN)
        _int(out, _TYPES[node[1]])
        _str(out, node[2].encode())
    elif op in _CMP or op in _ARITH:
        _array(out, 3)
        _int(out, _CMP.get(op) or _ARITH[op])
        _node(out, node[1])
        _node(out, node[2])
    elif op in ("and", "or", "cond"):
        _array(out, len(node))
        _int(out, {"and": X.AND, "or": X.OR, "cond": X.COND}[op])
        for x in node[1:]:
            _node(out, x)
    elif op == "not":
        _array(out, 2)
        _int(out, X.NOT)
        _node(out, node[1])
    elif op == "bin_type":
        _array(out, 2)
        _int(out, X.BIN_TYPE)
        _str(out, node[1].encode())
    elif op == "regex":  # ("regex", pattern, flags, value)
        _array(out, 4)
        _int(out, X.REGEX)
        _int(out, node[2])
        _str(out, node[1].encode())
        _node(out, node[3])
    elif op in ("list_size", "map_size"):
        _array(out, 5)
        _int(out, X.CALL)
        _int(out, X.T_INT)
        _int(out, X.CALL_CDT)
        _array(out, 1)
        _int(out, X.LIST_SIZE if op == "list_size" else X.MAP_SIZE)
        _node(out, node[1])
    else:
        raise ConfigError(f"no wire encoding for filter node {op!r}")


def _value(out: bytearray, v: Any) -> None:
    if v is True or v is False:
        out.append(0xC3 if v else 0xC2)
    elif isinstance(v, int):
        _int(out, v)
    elif isinstance(v, float):
        out += b"\xcb" + struct.pack(">d", v)
    elif isinstance(v, str):
        _str(out, b"\x03" + v.encode())
    elif isinstance(v, (bytes, bytearray)):
        _str(out, b"\x04" + bytes(v))
    else:
        raise ConfigError(f"no wire encoding for a {type(v).__name__} literal")


def _str(out: bytearray, b: bytes) -> None:
    pack_str_header(out, len(b))
    out += b


def index_range(index: tuple) -> bytes:
    """The index-range field (22) of a neutral secondary-index filter: ``("range", bin,
    lo, hi)`` on an integer index or ``("eq", bin, value)`` on a string index.

    ``count=1 | name length | name | particle type | u32 size | begin | u32 size | end``,
    as the official client sends it (shared/PROTOCOL.md has a captured example)."""
    kind, name = index[0], index[1].encode()
    if kind == "range":
        ptype, lo, hi = 1, struct.pack(">q", index[2]), struct.pack(">q", index[3])
    elif kind == "eq":
        ptype, lo = 3, index[2].encode()
        hi = lo
    else:
        raise ConfigError(f"no wire encoding for index filter {kind!r}")
    return b"".join((b"\x01", bytes((len(name),)), name, bytes((ptype,)),
                     struct.pack(">I", len(lo)), lo, struct.pack(">I", len(hi)), hi))
