"""A few list and map operations (size, append, put, get by index / key).

The op value is Aerospike-dialect msgpack ``[op code, args...]``; a context
prefix (``[0xff, ctx, op]``) or any other op code answers UNSUPPORTED_FEATURE
rather than a guessed result.
"""

from __future__ import annotations

from aerodf.protocol import expcodes as X
from aerodf.protocol import resultcodes as RC
from aerodf.protocol.constants import PT_LIST, PT_MAP
from aerodf.protocol.message import Op
from aerodf.protocol.values import ValueCodecError, from_raw, packb, unpack_raw

from .errors import RequestError
from .store import Bin


def _args(op: Op) -> list:
    try:
        raw = unpack_raw(op.value)
    except ValueCodecError:
        raise RequestError(RC.PARAMETER_ERROR, "bad CDT op") from None
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], int):
        raise RequestError(RC.PARAMETER_ERROR, "bad CDT op")
    if raw[0] == 0xFF:
        raise RequestError(RC.UNSUPPORTED_FEATURE, "CDT context")
    return [raw[0]] + [from_raw(a) for a in raw[1:]]


def _current(b: Bin | None, ptype: int):
    if b is None:
        return None
    if b.ptype != ptype:
        raise RequestError(RC.BIN_TYPE_ERROR, "CDT op on a bin of another type")
    return b.value()


def _get(container, rt: int, sel):
    if rt == X.RT_VALUE:
        return sel
    raise RequestError(RC.UNSUPPORTED_FEATURE, f"CDT return type {rt}")


def read(b: Bin | None, op: Op):
    """The result of a CDT read op on bin ``b`` (None when the bin is absent)."""
    args = _args(op)
    code = args[0]
    if code in (X.LIST_SIZE, X.LIST_GET_BY_INDEX):
        lst = _current(b, PT_LIST)
        if lst is None:
            return None
        if code == X.LIST_SIZE:
            return len(lst)
        index = args[2]
        if not -len(lst) <= index < len(lst):
            raise RequestError(RC.OP_NOT_APPLICABLE, "list index out of range")
        return _get(lst, args[1], lst[index])
    if code in (X.MAP_SIZE, X.MAP_GET_BY_KEY):
        m = _current(b, PT_MAP)
        if m is None:
            return None
        if code == X.MAP_SIZE:
            return len(m)
        return _get(m, args[1], m.get(args[2]))
    raise RequestError(RC.UNSUPPORTED_FEATURE, f"CDT op {code}")


def modify(b: Bin | None, op: Op) -> tuple[Bin | None, object]:
    """``(new bin, result)`` of a CDT modify op on bin ``b``."""
    args = _args(op)
    code = args[0]
    name = op.name.encode()
    if code in (X.LIST_APPEND, X.LIST_APPEND_ITEMS, X.LIST_CLEAR):
        lst = _current(b, PT_LIST)
        lst = [] if lst is None else lst
        if code == X.LIST_APPEND:
            lst.append(args[1])
        elif code == X.LIST_APPEND_ITEMS:
            lst.extend(args[1])
        else:
            lst = []
        return Bin(name, PT_LIST, packb(lst)), (len(lst) if code != X.LIST_CLEAR else None)
    if code in (X.MAP_PUT, X.MAP_PUT_ITEMS, X.MAP_CLEAR):
        m = _current(b, PT_MAP)
        m = {} if m is None else m
        if code == X.MAP_PUT:
            m[args[1]] = args[2]
        elif code == X.MAP_PUT_ITEMS:
            m.update(args[1])
        else:
            m = {}
        return Bin(name, PT_MAP, packb(m)), (len(m) if code != X.MAP_CLEAR else None)
    if code in (X.LIST_SIZE, X.LIST_GET_BY_INDEX, X.MAP_SIZE, X.MAP_GET_BY_KEY):
        return b, read(b, op)
    raise RequestError(RC.UNSUPPORTED_FEATURE, f"CDT op {code}")
