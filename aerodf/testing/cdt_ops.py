"""List operations and return types beyond :mod:`cdt`'s basics (server ``particle_list.c``).

Every operation selects elements (by index, index range, rank, value, value
list or value interval), then answers with the requested return type and, for
the remove / pop family, drops what it selected. The dispatch tables map op
codes to ``(selector, is_multi, fixed return type)``; what is not in them goes
on to :mod:`cdt` (append, size, the map operations), which answers
UNSUPPORTED_FEATURE for anything it does not know either.

Lists and maps keep the order flags the server stores in their first element
(an ordered list, a key-ordered or key-value-ordered map: an ext element whose
type is the flags, server ``particle_list.c`` / ``particle_map.c``): ordered
containers stay sorted through every write, and insert / set by index on an
ordered list is refused as the server refuses it. Values order as on the
server: nil < bool < integer < string < list < map < bytes < float.
"""

from __future__ import annotations

from typing import Any, Callable

import msgpack

from aerodf.protocol import resultcodes as RC
from aerodf.protocol.constants import PT_LIST, PT_MAP
from aerodf.protocol.message import Op
from aerodf.protocol.values import packb

from . import cdt
from .cdt_order import (
    as_int, cmp_eq, key_order, multi_range, order_key, rank_order, ranks_of, request_error, single_index,
)
from .store import Bin

# return types (server proto.h result_type_t) and flags
RT_NONE, RT_INDEX, RT_REVINDEX, RT_RANK, RT_REVRANK, RT_COUNT, RT_KEY, RT_VALUE, RT_KEY_VALUE = range(9)
RT_EXISTS = 13
RT_UNORDERED_MAP, RT_ORDERED_MAP = 16, 17
INVERTED = 0x10000
RT_MASK = 0xFFFF

LIST_INSERT_BOUNDED = 0x02
LIST_NO_FAIL = 0x04

UINT32_MAX = 0xFFFFFFFF

NO_RESULT = object()  # the op sends no result bin (RT_NONE, clear, set, a no-op): not even a nil


# ------------------------------------------------------------------ selection
# A selector returns (indexes in result order, by_rank, rank start) of the
# elements an op picks from ``items`` (a list of values).

def sel_index(items, args, multi):
    index = as_int(args[0], "index")
    if not multi:
        return [single_index(index, len(items))], None
    count = UINT32_MAX if len(args) < 2 else as_int(args[1], "count")
    start, cnt = multi_range(index, count, len(items))
    return list(range(start, start + cnt)), None


def sel_rank(items, args, multi, heap: bool = True):
    rank = as_int(args[0], "rank")
    order = rank_order(items)
    if not multi:
        r = single_index(rank, len(items))
        return [order[r]], r
    count = UINT32_MAX if len(args) < 2 else as_int(args[1], "count")
    start, cnt = multi_range(rank, count, len(items))
    return _heap_order(order, start, cnt, heap), start


def _heap_order(order: list[int], start: int, cnt: int, heap: bool = True) -> list[int]:
    """Ranks ``start .. start+cnt-1`` in the order the server's heap selection leaves
    them (cdt.c order_heap_init_build_by_range_temp): descending when the range is
    nearer the bottom, ascending when nearer the top."""
    picked = order[start:start + cnt]
    if heap and start <= len(order) - start - cnt:  # (maps answer in rank order)
        picked.reverse()
    return picked


def sel_value(items, args, multi):
    value = args[0]
    hits = [i for i, v in enumerate(items) if cmp_eq(v, value)]
    return (hits if multi else hits[:1]), None


def sel_value_list(items, args, multi):
    wanted = args[0]
    if not isinstance(wanted, list):
        raise request_error(RC.PARAMETER_ERROR, "value list must be a list")
    keys = {repr(order_key(w)) for w in wanted}
    return [i for i, v in enumerate(items) if repr(order_key(v)) in keys], None


def sel_interval(items, args, multi):
    lo = order_key(args[0])
    hi = order_key(args[1]) if len(args) > 1 and args[1] is not None else None
    return [i for i, v in enumerate(items) if lo <= order_key(v) and (hi is None or order_key(v) < hi)], None


def sel_rel_rank(items, args, multi, heap: bool = True):
    value, rank = args[0], as_int(args[1], "rank")
    count = UINT32_MAX if len(args) < 3 else as_int(args[2], "count")
    order = rank_order(items)
    key = order_key(value)
    base = sum(1 for v in items if order_key(v) < key)
    start = base + rank
    if start < 0:
        count = max(0, count + start)
        start = 0
    start, cnt = multi_range(start, count, len(items))
    return _heap_order(order, start, cnt, heap), start


# ------------------------------------------------------------------ results

def _result(items: list, picked: list[int], rt: int, multi: bool, by_rank_start, op_name: str,
            keys: list | None = None, index_range: bool = False):
    """The op's answer for the elements at ``picked`` (result order); ``keys`` for maps
    (``items`` then holds the values, both in key order)."""
    n = len(items)
    kind = rt & RT_MASK
    if keys is not None and kind in (RT_KEY, RT_KEY_VALUE, RT_UNORDERED_MAP, RT_ORDERED_MAP):
        if kind == RT_KEY:
            if multi:
                return [keys[i] for i in picked]
            return keys[picked[0]] if picked else None
        return {keys[i]: items[i] for i in sorted(picked)}
    if kind == RT_NONE:
        return NO_RESULT
    if kind == RT_COUNT:
        return len(picked)
    if kind == RT_EXISTS:
        return bool(picked)
    if kind in (RT_INDEX, RT_REVINDEX):
        idx = sorted(picked) if multi else picked
        if kind == RT_REVINDEX:
            idx = [n - 1 - i for i in idx]
            if index_range:  # an index range answers its reverse indexes ascending
                idx.sort()
        if multi:
            return idx
        return idx[0] if idx else -1
    if kind in (RT_RANK, RT_REVRANK):
        if by_rank_start is not None and not rt & INVERTED:
            ranks = list(range(by_rank_start, by_rank_start + len(picked)))
        else:
            all_ranks = ranks_of(items)
            ranks = [all_ranks[i] for i in sorted(picked)]
        if kind == RT_REVRANK:
            ranks = [n - 1 - r for r in ranks]
        if multi:
            return ranks
        return ranks[0] if ranks else -1
    if kind == RT_VALUE:
        if multi:
            return [items[i] for i in picked]
        return items[picked[0]] if picked else None
    raise request_error(RC.OP_NOT_APPLICABLE, f"return type {kind} not supported by {op_name}")


# ------------------------------------------------------------------ dispatch

# op code -> (selector, is_multi, fixed return type or None when the first argument is it)
_SELECT_READS: dict[int, tuple[Callable, bool, int | None]] = {
    17: (sel_index, False, RT_VALUE),         # LIST_GET
    18: (sel_index, True, RT_VALUE),          # LIST_GET_RANGE
    19: (sel_index, False, None),             # LIST_GET_BY_INDEX
    20: (sel_value, False, None),             # LIST_GET_BY_VALUE
    21: (sel_rank, False, None),              # LIST_GET_BY_RANK
    22: (sel_value, True, None),              # LIST_GET_ALL_BY_VALUE
    23: (sel_value_list, True, None),         # LIST_GET_ALL_BY_VALUE_LIST
    24: (sel_index, True, None),              # LIST_GET_BY_INDEX_RANGE
    25: (sel_interval, True, None),           # LIST_GET_BY_VALUE_INTERVAL
    26: (sel_rank, True, None),               # LIST_GET_BY_RANK_RANGE
    27: (sel_rel_rank, True, None),           # LIST_GET_BY_VALUE_REL_RANK_RANGE
}
_SELECT_REMOVES: dict[int, tuple[Callable, bool, int | None]] = {
    5: (sel_index, False, RT_VALUE),          # LIST_POP
    6: (sel_index, True, RT_VALUE),           # LIST_POP_RANGE
    7: (sel_index, False, RT_COUNT),          # LIST_REMOVE
    8: (sel_index, True, RT_COUNT),           # LIST_REMOVE_RANGE
    10: (sel_index, True, RT_COUNT | INVERTED),  # LIST_TRIM: keeps the range
    32: (sel_index, False, None),             # LIST_REMOVE_BY_INDEX
    33: (sel_value, False, None),             # LIST_REMOVE_BY_VALUE
    34: (sel_rank, False, None),              # LIST_REMOVE_BY_RANK
    35: (sel_value, True, None),              # LIST_REMOVE_ALL_BY_VALUE
    36: (sel_value_list, True, None),         # LIST_REMOVE_ALL_BY_VALUE_LIST
    37: (sel_index, True, None),              # LIST_REMOVE_BY_INDEX_RANGE
    38: (sel_interval, True, None),           # LIST_REMOVE_BY_VALUE_INTERVAL
    39: (sel_rank, True, None),               # LIST_REMOVE_BY_RANK_RANGE
    40: (sel_rel_rank, True, None),           # LIST_REMOVE_BY_VALUE_REL_RANK_RANGE
}


def _on_keys(selector):
    def fn(items, args, multi, keys=None):
        return selector(keys, args, multi)
    return fn


def _on_values(selector):
    def fn(items, args, multi, keys=None):
        if selector in (sel_rank, sel_rel_rank):
            return selector(items, args, multi, heap=False)
        return selector(items, args, multi)
    return fn


def _key_rel_index(items, args, multi, keys=None):
    """Keys from (the position ``key`` has, or would have, in key order) + ``index``."""
    key, index = args[0], as_int(args[1], "index")
    count = UINT32_MAX if len(args) < 3 else as_int(args[2], "count")
    k = order_key(key)
    start = sum(1 for x in keys if order_key(x) < k) + index
    if start < 0:
        count = max(0, count + start)
        start = 0
    return list(range(start, min(len(keys), start + count))), None


def _map_index(items, args, multi, keys=None):
    return sel_index(items, args, multi)  # index = position in key order


# map op code -> (selector over (values, keys) in key order, is_multi, fixed return type)
_MAP_READS: dict[int, tuple[Callable, bool, int | None]] = {
    97: (_on_keys(sel_value), False, None),        # MAP_GET_BY_KEY
    98: (_map_index, False, None),                 # MAP_GET_BY_INDEX
    100: (_on_values(sel_rank), False, None),      # MAP_GET_BY_RANK
    102: (_on_values(sel_value), True, None),      # MAP_GET_ALL_BY_VALUE
    103: (_on_keys(sel_interval), True, None),     # MAP_GET_BY_KEY_INTERVAL
    104: (_map_index, True, None),                 # MAP_GET_BY_INDEX_RANGE
    105: (_on_values(sel_interval), True, None),   # MAP_GET_BY_VALUE_INTERVAL
    106: (_on_values(sel_rank), True, None),       # MAP_GET_BY_RANK_RANGE
    107: (_on_keys(sel_value_list), True, None),   # MAP_GET_BY_KEY_LIST
    108: (_on_values(sel_value_list), True, None), # MAP_GET_BY_VALUE_LIST
    109: (_key_rel_index, True, None),             # MAP_GET_BY_KEY_REL_INDEX_RANGE
    110: (_on_values(sel_rel_rank), True, None),   # MAP_GET_BY_VALUE_REL_RANK_RANGE
}
_MAP_REMOVES: dict[int, tuple[Callable, bool, int | None]] = {
    76: (_on_keys(sel_value), False, None),        # MAP_REMOVE_BY_KEY
    77: (_map_index, False, None),                 # MAP_REMOVE_BY_INDEX
    79: (_on_values(sel_rank), False, None),       # MAP_REMOVE_BY_RANK
    81: (_on_keys(sel_value_list), True, None),    # MAP_REMOVE_BY_KEY_LIST
    82: (_on_values(sel_value), True, None),       # MAP_REMOVE_ALL_BY_VALUE
    83: (_on_values(sel_value_list), True, None),  # MAP_REMOVE_BY_VALUE_LIST
    84: (_on_keys(sel_interval), True, None),      # MAP_REMOVE_BY_KEY_INTERVAL
    85: (_map_index, True, None),                  # MAP_REMOVE_BY_INDEX_RANGE
    86: (_on_values(sel_interval), True, None),    # MAP_REMOVE_BY_VALUE_INTERVAL
    87: (_on_values(sel_rank), True, None),        # MAP_REMOVE_BY_RANK_RANGE
    88: (_key_rel_index, True, None),              # MAP_REMOVE_BY_KEY_REL_INDEX_RANGE
    89: (_on_values(sel_rel_rank), True, None),    # MAP_REMOVE_BY_VALUE_REL_RANK_RANGE
}
READ_CODES = frozenset(_SELECT_READS) | frozenset(_MAP_READS)


def evaluate(container, code: int, args: list):
    """The result of a selecting read op on a list or map value (for expressions)."""
    if code in _SELECT_READS:
        if not isinstance(container, list):
            raise request_error(RC.BIN_TYPE_ERROR, "not a list")
        return select(container, code, args, _SELECT_READS)[3]
    if not isinstance(container, dict):
        raise request_error(RC.BIN_TYPE_ERROR, "not a map")
    keys, values = key_order(container)
    return select(values, code, args, _MAP_READS, keys)[3]


def select(items: list, code: int, args: list, table, keys: list | None = None
           ) -> tuple[list[int], int, bool, Any]:
    """``(picked indexes, return type, is_multi, result)`` of a selecting op on ``items``
    (the values of a map in key order when ``keys`` is given)."""
    selector, multi, fixed = table[code]
    if fixed is None:
        if not args:
            raise request_error(RC.PARAMETER_ERROR, "missing return type")
        rt, args = as_int(args[0], "return type"), args[1:]
    else:
        rt = fixed
    if not args:
        raise request_error(RC.PARAMETER_ERROR, "missing operand")
    if rt & INVERTED and not multi:
        raise request_error(RC.OP_NOT_APPLICABLE, "INVERTED needs a multi-result op")
    if keys is None and rt & RT_MASK in (RT_KEY, RT_KEY_VALUE, RT_UNORDERED_MAP, RT_ORDERED_MAP):
        raise request_error(RC.OP_NOT_APPLICABLE, "a list has no keys")
    picked, rank_start = selector(items, args, multi) if keys is None else selector(items, args, multi, keys)
    if rt & INVERTED:
        chosen = set(picked)
        picked, rank_start = [i for i in range(len(items)) if i not in chosen], None
    index_range = selector in (sel_index, _map_index)
    return picked, rt, multi, _result(items, picked, rt, multi, rank_start, f"op {code}", keys, index_range)


def _list_of(b: Bin | None):
    return cdt._current(b, PT_LIST)


# ------------------------------------------------------------------ orders

LIST_SET_TYPE, MAP_SET_TYPE = 0, 64
LIST_ORDERED = 1
MAP_KEY_ORDERED, MAP_KEY_VALUE_ORDERED = 1, 3
_EXT_HEADS = {0xD4: 1, 0xD5: 1, 0xD6: 1, 0xD7: 1, 0xD8: 1, 0xC7: 2}  # ext format -> offset of its type byte


def flags_of(b: Bin | None) -> int:
    """The order flags of a stored list or map bin (0: unordered, or no container)."""
    if b is None or b.ptype not in (PT_LIST, PT_MAP) or not b.data:
        return 0
    d, h = b.data, b.data[0]
    p = 1 if 0x80 <= h <= 0x9F else 3 if h in (0xDC, 0xDE) else 5 if h in (0xDD, 0xDF) else None
    if p is None or p >= len(d) or d[p] not in _EXT_HEADS or p + _EXT_HEADS[d[p]] >= len(d):
        return 0
    return d[p + _EXT_HEADS[d[p]]]


def pack_list(items: list, flags: int) -> bytes:
    """A list particle as the server stores it: sorted and headed by its flags when ordered."""
    if not flags & LIST_ORDERED:
        return packb(items)
    return packb([msgpack.ExtType(flags, b"")] + sorted(items, key=order_key))


def pack_map(m: dict, flags: int) -> bytes:
    """A map particle as the server stores it: a key-ordered map sorted by key, with a
    leading flags entry (an ext key, a nil value)."""
    if not flags & MAP_KEY_ORDERED:
        return packb(m)
    out: dict = {msgpack.ExtType(flags, b""): None}
    out.update(sorted(m.items(), key=lambda kv: order_key(kv[0])))
    return packb(out)


def _list_bin(op: Op, items: list, flags: int = 0) -> Bin:
    return Bin(op.name.encode(), PT_LIST, pack_list(items, flags))


def _map_bin(op: Op, m: dict, flags: int) -> Bin:
    return Bin(op.name.encode(), PT_MAP, pack_map(m, flags))


def _policy(args: list, at: int) -> tuple[int, int]:
    """``(order, write flags)`` of a list / map write op's optional policy arguments."""
    order = args[at] if len(args) > at and type(args[at]) is int else 0
    flags = args[at + 1] if len(args) > at + 1 and type(args[at + 1]) is int else 0
    return order, flags


def _ordered_write(b: Bin | None, op: Op, args: list):
    """``(new bin, result)`` of the writes that set or keep an order (set type, append,
    put), or None for the others."""
    code = args[0]
    if code == LIST_SET_TYPE:
        order = as_int(args[1], "order") if len(args) > 1 else 0
        items = _list_of(b)
        return _list_bin(op, [] if items is None else items, order & LIST_ORDERED), NO_RESULT
    if code == MAP_SET_TYPE:
        order = as_int(args[1], "map order") if len(args) > 1 else 0
        m = cdt._current(b, PT_MAP)
        return _map_bin(op, {} if m is None else m, order & MAP_KEY_VALUE_ORDERED), NO_RESULT
    if code in (1, 2):  # LIST_APPEND, LIST_APPEND_ITEMS [value(s), order, flags]
        order, _wflags = _policy(args, 2)
        items = _list_of(b)
        flags = order & LIST_ORDERED if items is None else flags_of(b)
        if not flags:
            return None
        add = [args[1]] if code == 1 else args[1]
        if code == 2 and not isinstance(add, list):
            raise request_error(RC.PARAMETER_ERROR, "append_items needs a list")
        new = (items or []) + list(add)
        return _list_bin(op, new, flags), len(new)
    if code in (67, 68):  # MAP_PUT [key, value, attr, flags], MAP_PUT_ITEMS [items, attr, flags]
        order, _wflags = _policy(args, 3 if code == 67 else 2)
        m = cdt._current(b, PT_MAP)
        flags = order & MAP_KEY_VALUE_ORDERED if m is None else flags_of(b)
        if not flags:
            return None
        m = {} if m is None else m
        if code == 67:
            m[args[1]] = args[2]
        elif isinstance(args[1], dict):
            m.update(args[1])
        else:
            raise request_error(RC.PARAMETER_ERROR, "put_items needs a map")
        return _map_bin(op, m, flags), len(m)
    if code in (11, 75) and flags_of(b):  # LIST_CLEAR / MAP_CLEAR keep the order
        return (_list_bin(op, [], flags_of(b)) if code == 11 else _map_bin(op, {}, flags_of(b))), NO_RESULT
    if code in (3, 4, 9) and flags_of(b) & LIST_ORDERED:
        raise request_error(RC.OP_NOT_APPLICABLE, "insert / set by index on an ordered list")
    return None


def _insert(items: list, index: int, values: list, flags: int) -> list:
    n = len(items)
    if index < 0:
        index += n
        if index < 0:
            raise request_error(RC.OP_NOT_APPLICABLE, "insert index out of bounds")
    if index > n:
        if flags & LIST_INSERT_BOUNDED:
            if flags & LIST_NO_FAIL:
                return items
            raise request_error(RC.OP_NOT_APPLICABLE, "insert index beyond the end of a bounded list")
        items = items + [None] * (index - n)  # the server pads with nils
    return items[:index] + values + items[index:]


def _m_insert(items, args, op):
    index = as_int(args[0], "index")
    if len(args) < 2:
        raise request_error(RC.PARAMETER_ERROR, "insert needs a value")
    flags = args[2] if len(args) > 2 and type(args[2]) is int else 0
    values = [args[1]]
    if op == 4:  # LIST_INSERT_ITEMS
        if not isinstance(args[1], list):
            raise request_error(RC.PARAMETER_ERROR, "insert_items needs a list")
        values = args[1]
        if not values:
            return items, len(items)
    new = _insert(items, index, values, flags)
    return new, len(new)


def _m_set(items, args, op):  # answers no result
    index = as_int(args[0], "index")
    if len(args) < 2:
        raise request_error(RC.PARAMETER_ERROR, "set needs a value")
    flags = args[2] if len(args) > 2 and type(args[2]) is int else 0
    n = len(items)
    if index >= n:
        return _insert(items, index, [args[1]], flags), NO_RESULT
    i = single_index(index, n)
    new = list(items)
    new[i] = args[1]
    return new, NO_RESULT


def _m_increment(items, args, op):
    index = as_int(args[0], "index") if args else 0
    delta = args[1] if len(args) > 1 and args[1] is not None else 1
    flags = args[3] if len(args) > 3 and type(args[3]) is int else 0
    if type(delta) not in (int, float):
        raise request_error(RC.PARAMETER_ERROR, "increment by a non-number")
    n = len(items)
    if index < 0:
        index += n
        if index < 0:
            raise request_error(RC.OP_NOT_APPLICABLE, "increment index out of bounds")
    if index < n:
        cur = items[index]
        if type(cur) is int:
            value = cur + (int(delta) if type(delta) is float else delta)
            value = ((value + (1 << 63)) % (1 << 64)) - (1 << 63)
        elif type(cur) is float:
            value = cur + float(delta)
        else:
            raise request_error(RC.PARAMETER_ERROR, "increment of a non-number element")
        new = list(items)
        new[index] = value
        return new, value
    return _insert(items, index, [delta], flags), delta


_MODIFIERS: dict[int, Callable] = {3: _m_insert, 4: _m_insert, 9: _m_set, 12: _m_increment}


# ------------------------------------------------------------------ entry points

# every op code of the server's CDT op table (server proto.h as_cdt_optype)
_SERVER_CDT_OPS = frozenset([*range(0, 14), *range(16, 28), *range(32, 41), *range(64, 71), *range(73, 80),
                             *range(81, 90), *range(96, 101), *range(102, 111), 0xFE, 0xFF])


def _args(op: Op, b: Bin | None) -> list:
    args = cdt._args(op)
    code = args[0]
    if code not in _SERVER_CDT_OPS:
        # a map op code on a list bin (or a list one on a map) is a type clash first
        if b is not None and (b.ptype == PT_MAP) != (code >= 64) and b.ptype in (PT_LIST, PT_MAP):
            raise request_error(RC.BIN_TYPE_ERROR, f"CDT op {code} on a bin of another type")
        raise request_error(RC.PARAMETER_ERROR, f"invalid CDT op {code}")
    return args


def read(b: Bin | None, op: Op):
    """A list or map read op's result, or :mod:`cdt`'s for the ops not here."""
    if b is None:
        return NO_RESULT  # a read of a missing bin answers OK without a result
    args = _args(op, b)
    code = args[0]
    if code in _SELECT_READS:
        items = _list_of(b)
        if items is None:
            return None
        return select(items, code, args[1:], _SELECT_READS)[3]
    if code in _MAP_READS:
        m = cdt._current(b, PT_MAP)
        if m is None:
            return None
        keys, values = key_order(m)
        return select(values, code, args[1:], _MAP_READS, keys)[3]
    return cdt.read(b, op)


def modify(b: Bin | None, op: Op) -> tuple[Bin | None, object]:
    """``(new bin, result)`` of a list modify op, or :mod:`cdt`'s for the ops not here."""
    args = _args(op, b)
    code = args[0]
    if code in READ_CODES:
        return b, read(b, op)
    ordered = _ordered_write(b, op, args)
    if ordered is not None:
        return ordered
    if code in _MAP_REMOVES:
        m = cdt._current(b, PT_MAP)
        if m is None:
            return b, NO_RESULT
        keys, values = key_order(m)
        picked, _rt, _multi, result = select(values, code, args[1:], _MAP_REMOVES, keys)
        if not picked:
            return b, result
        gone = {repr(order_key(keys[i])) for i in picked}
        kept = {k: v for k, v in m.items() if repr(order_key(k)) not in gone}
        return _map_bin(op, kept, flags_of(b)), result
    if code in _SELECT_REMOVES:
        items = _list_of(b)
        if items is None:
            return b, NO_RESULT  # no bin: a no-op, and no bin is created
        picked, _rt, _multi, result = select(items, code, args[1:], _SELECT_REMOVES)
        if not picked:
            return b, result
        drop = set(picked)
        return _list_bin(op, [v for i, v in enumerate(items) if i not in drop], flags_of(b)), result
    fn = _MODIFIERS.get(code)
    if fn is not None:
        items = _list_of(b)
        new, result = fn([] if items is None else items, args[1:], code)
        return _list_bin(op, new, flags_of(b)), result
    if code == 11:  # LIST_CLEAR: of a missing bin, a no-op
        items = _list_of(b)
        if items is None:
            return b, NO_RESULT
        return _list_bin(op, []), NO_RESULT
    new, result = cdt.modify(b, op)
    if code == 75:  # MAP_CLEAR answers no result either
        return new, NO_RESULT
    return new, result
