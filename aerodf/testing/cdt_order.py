"""The server's order of CDT values, index arithmetic, and CDT contexts.

Shared by the list / map operations (:mod:`cdt_ops`), the expression engine
and secondary indexes on list / map elements (:mod:`store`): values order as
on the server, nil < bool < integer < string < list < map < bytes < float,
and a context (``[type, operand, ...]``, server ``cdt.c``) selects one element
of a nested container.
"""

from __future__ import annotations

import bisect
from typing import Any

from aerodf.protocol import resultcodes as RC

from .errors import RequestError


def request_error(code: int, msg: str):
    return RequestError(code, msg)


# ------------------------------------------------------------------ ordering

_TYPE_RANK = {type(None): 0, bool: 1, int: 2, str: 3, list: 4, dict: 5, bytes: 6, float: 7}


def order_key(v: Any):
    """A sort key giving the server's order of CDT values."""
    t = _TYPE_RANK.get(type(v), 8)
    if t == 4:
        return (t, len(v), [order_key(x) for x in v])
    if t == 5:
        return (t, len(v), sorted((order_key(k), order_key(x)) for k, x in v.items()))
    if t in (0, 8):
        return (t, 0)
    return (t, v)


def cmp_eq(a, b) -> bool:
    return order_key(a) == order_key(b)


# ------------------------------------------------------------------ index arithmetic

def single_index(index: int, n: int) -> int:
    i = index + n if index < 0 else index
    if not 0 <= i < n:
        raise request_error(RC.OP_NOT_APPLICABLE, f"index {index} out of bounds for {n} elements")
    return i


def multi_range(index: int, count: int, n: int) -> tuple[int, int]:
    """``(start, count)`` bounded by ``n`` (server calc_index_count_multi)."""
    if count < 0:
        raise request_error(RC.PARAMETER_ERROR, "negative count")
    if index >= n:
        return n, 0
    if index < 0:
        index += n
        if index < 0:
            return 0, min(count + index, n) if -index < count else 0
    return index, min(count, n - index)


def as_int(v, name: str) -> int:
    if type(v) is not int:
        raise request_error(RC.PARAMETER_ERROR, f"{name} must be an integer")
    return v



def ranks_of(items: list) -> list[int]:
    """Each element's rank: how many elements order strictly before it."""
    keys = [order_key(v) for v in items]
    srt = sorted(keys)
    return [bisect.bisect_left(srt, k) for k in keys]


def rank_order(items: list) -> list[int]:
    return sorted(range(len(items)), key=lambda i: (order_key(items[i]), i))



def key_order(m: dict) -> tuple[list, list]:
    pairs = sorted(m.items(), key=lambda kv: order_key(kv[0]))
    return [k for k, _ in pairs], [v for _, v in pairs]



# ------------------------------------------------------------------ contexts

def resolve_context(ctx: list, value):
    """The element a CDT context (``[type, operand, ...]``, server cdt.c) selects in
    ``value``, or None when it selects nothing."""
    if not isinstance(ctx, list) or len(ctx) % 2:
        raise request_error(RC.PARAMETER_ERROR, "bad CDT context")
    for t, operand in zip(ctx[::2], ctx[1::2]):
        if type(t) is not int:
            raise request_error(RC.PARAMETER_ERROR, "bad CDT context")
        t &= 0x3F  # drop the create flags
        if t in (0x10, 0x11, 0x13):
            if not isinstance(value, list):
                return None
            items = value
        elif t in (0x20, 0x21, 0x22, 0x23):
            if not isinstance(value, dict):
                return None
            keys, items = key_order(value)
        else:
            raise request_error(RC.PARAMETER_ERROR, f"bad CDT context type {t}")
        try:
            if t in (0x10, 0x20):  # by index (maps: in key order)
                i = single_index(as_int(operand, "index"), len(items))
            elif t in (0x11, 0x21):  # by rank
                i = rank_order(items)[single_index(as_int(operand, "rank"), len(items))]
            elif t == 0x22:  # map key
                hits = [j for j, k in enumerate(keys) if cmp_eq(k, operand)]
                i = hits[0] if hits else None
            else:  # by value
                hits = [j for j, v in enumerate(items) if cmp_eq(v, operand)]
                i = hits[0] if hits else None
        except Exception:  # out of range: nothing selected
            return None
        if i is None:
            return None
        value = items[i]
    return value
