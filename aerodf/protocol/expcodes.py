"""Filter-expression op codes and value types (server ``as/src/base/exp.c``).

An expression is a msgpack array ``[op, args...]``; literals are msgpack
scalars (string values carry the 0x03 particle prefix, bin names do not) and
list or map literals are wrapped as ``[QUOTE, value]``.
"""

from __future__ import annotations

EQ, NE, GT, GE, LT, LE = 1, 2, 3, 4, 5, 6
REGEX = 7
GEO = 8
IN_LIST = 9
AND, OR, NOT, EXCLUSIVE = 16, 17, 18, 19
ADD, SUB, MUL, DIV, POW, LOG, MOD, ABS, FLOOR, CEIL = range(20, 30)
TO_INT, TO_FLOAT = 30, 31
INT_AND, INT_OR, INT_XOR, INT_NOT, INT_LSHIFT, INT_RSHIFT, INT_ARSHIFT, INT_COUNT, INT_LSCAN, INT_RSCAN = range(32, 42)
MIN, MAX = 50, 51
DIGEST_MODULO = 64
DEVICE_SIZE = 65
LAST_UPDATE = 66
SINCE_UPDATE = 67
VOID_TIME = 68
TTL = 69
SET_NAME = 70
KEY_EXISTS = 71
IS_TOMBSTONE = 72
MEMORY_SIZE = 73
RECORD_SIZE = 74
KEY = 80
BIN = 81
BIN_TYPE = 82
RESULT_REMOVE = 100
COND = 123
VAR = 124
LET = 125
QUOTE = 126
CALL = 127

# value types of KEY / BIN / CALL results
T_NIL, T_BOOL, T_INT, T_STR, T_LIST, T_MAP, T_BLOB, T_FLOAT, T_GEO, T_HLL = range(10)

# CALL system types
CALL_CDT = 0
CALL_BITS = 1
CALL_HLL = 2
CALL_MODIFY = 0x40

# CDT op codes used by expression CALLs and by CDT operations
LIST_APPEND = 1
LIST_APPEND_ITEMS = 2
LIST_INSERT = 3
LIST_CLEAR = 11
LIST_SIZE = 16
LIST_GET = 17
LIST_GET_RANGE = 18
LIST_GET_BY_INDEX = 19
LIST_GET_BY_VALUE = 22
LIST_GET_BY_RANK = 21
MAP_PUT = 67
MAP_PUT_ITEMS = 68
MAP_CLEAR = 75
MAP_SIZE = 96
MAP_GET_BY_KEY = 97
MAP_GET_BY_INDEX = 98
MAP_GET_BY_VALUE = 102
MAP_GET_BY_RANK = 100

# return types of "get by" CDT ops
RT_NONE, RT_INDEX, RT_REVERSE_INDEX, RT_RANK, RT_REVERSE_RANK, RT_COUNT, RT_KEY, RT_VALUE, RT_KEY_VALUE = (
    0, 1, 2, 3, 4, 5, 6, 7, 8,
)
RT_EXISTS = 13
RT_INVERTED = 0x10000
