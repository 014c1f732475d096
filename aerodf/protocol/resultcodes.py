"""The server's result codes, by name (server ``proto.h``; C ``as_status.h``)."""

from __future__ import annotations

OK = 0
SERVER_ERROR = 1
KEY_NOT_FOUND = 2
GENERATION_ERROR = 3
PARAMETER_ERROR = 4
KEY_EXISTS = 5
BIN_EXISTS = 6
CLUSTER_KEY_MISMATCH = 7
SERVER_MEM_ERROR = 8
TIMEOUT = 9
ALWAYS_FORBIDDEN = 10
PARTITION_UNAVAILABLE = 11
BIN_TYPE_ERROR = 12
RECORD_TOO_BIG = 13
KEY_BUSY = 14
SCAN_ABORT = 15
UNSUPPORTED_FEATURE = 16
BIN_NOT_FOUND = 17
DEVICE_OVERLOAD = 18
KEY_MISMATCH = 19
INVALID_NAMESPACE = 20
BIN_NAME_TOO_LONG = 21
FAIL_FORBIDDEN = 22
ELEMENT_NOT_FOUND = 23
ELEMENT_EXISTS = 24
ENTERPRISE_ONLY = 25
OP_NOT_APPLICABLE = 26
FILTERED_OUT = 27
LOST_CONFLICT = 28
XDR_KEY_BUSY = 32
QUERY_END = 50
UDF_ERROR = 100
BATCH_DISABLED = 150
BATCH_MAX_REQUESTS_EXCEEDED = 151
BATCH_QUEUES_FULL = 152
INDEX_FOUND = 200
INDEX_NOT_FOUND = 201
INDEX_OOM = 202
INDEX_NOT_READABLE = 203
INDEX_GENERIC = 204
INDEX_NAME_MAX_LEN = 205
INDEX_MAX_COUNT = 206
QUERY_ABORTED = 210
QUERY_QUEUE_FULL = 211
QUERY_TIMEOUT = 212
QUERY_GENERIC = 213

# Client-side codes (negative): never on the wire, but reported per record by
# the clients (C client ``as_status.h``).
CLIENT_ERROR = -1
PARAM_ERROR = -2
INVALID_HOST = -4
NO_MORE_CONNECTIONS = -7
INVALID_NODE = -8
CONNECTION_ERROR = -10
ASYNC_CONNECTION = -11
MAX_RETRIES_EXCEEDED = -12
MAX_ERROR_RATE = -14
NO_RESPONSE = -15
BATCH_FAILED = -16

# a batch record answered with a record, or with why it has none (not found, filtered out)
ANSWERED = frozenset({OK, KEY_NOT_FOUND, FILTERED_OUT})
NOT_THERE = frozenset({KEY_NOT_FOUND, FILTERED_OUT})  # a missing record, for the caller

NAMES: dict[int, str] = {
    v: k for k, v in globals().items() if k.isupper() and isinstance(v, int)
}


def name(code: int) -> str:
    """The symbolic name of a result code, e.g. ``name(2) == "KEY_NOT_FOUND"``."""
    return NAMES.get(code, f"RESULT_{code}")
