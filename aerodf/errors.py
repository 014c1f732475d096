"""aerodf's exceptions: one tree, each naming the key, bin, row or partition.

::

    AerodfError
    ├── ConfigError              bad arguments: hosts, options, keys
    │   └── ClientClosedError    a call on a client that was closed (nothing is sent)
    ├── SchemaError              a schema that cannot be built or compiled
    ├── DataError                data that does not fit the schema
    │   ├── BinTypeError         a bin of another type than its field
    │   ├── IntegerOverflowError an integer outside the field's width
    │   ├── FloatOverflowError   a finite float beyond float32's range
    │   └── MissingValueError    null in a non-nullable field
    ├── BackpressureError        waited longer than queue_timeout for an in-flight slot
    └── AerospikeServerError     the cluster (or the client library) said no
        ├── RecordNotFoundError  missing records with on_missing="raise" (result 2)
        ├── TimeoutError_        (exported as aerodf.TimeoutError) client or server timeout
        ├── ClusterConnectionError  no connection, node down, connection dropped
        ├── OverloadError        the cluster is shedding load (key busy, device overload, ...)
        ├── RecordTooBigError    a record over the namespace's size limit (result 13)
        ├── IncompatibleBinError the server refused an operation on a bin of another type (12)
        └── GenerationError      a check-and-set lost to another writer (result 3)

Errors from the client libraries are mapped onto this tree in
``aerodf/transport/`` only, with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any, Sequence

from .protocol import resultcodes as RC


class AerodfError(Exception):
    """Root of every error aerodf raises."""


class ConfigError(AerodfError, ValueError):
    """Bad arguments: hosts, options, keys or outputs."""


class ClientClosedError(ConfigError):
    """A call on a :class:`~aerodf.Client` after ``close()`` (or its ``with`` block):
    raised before anything is sent."""


class SchemaError(AerodfError, ValueError):
    """A schema that cannot be built, parsed or compiled."""


class DataError(AerodfError, ValueError):
    """Data read from (or written to) Aerospike does not fit the schema.

    Attributes: ``key`` (the user key or digest), ``bin``, ``row`` (position
    in the request), ``value``.
    """

    def __init__(self, message: str, *, key: Any = None, bin: str | None = None, row: int | None = None,
                 value: Any = None) -> None:
        super().__init__(message)
        self.key, self.bin, self.row, self.value = key, bin, row, value


class BinTypeError(DataError):
    """A bin holds a value of another type than its field declares."""


class IntegerOverflowError(DataError, OverflowError):
    """An integer does not fit the field's width; never silently truncated."""


class FloatOverflowError(DataError, OverflowError):
    """A finite float too large for a float32 field; never silently made infinite
    (a stored inf or nan is read as it is)."""


class MissingValueError(DataError):
    """A missing bin or record in a field declared not nullable."""


class BackpressureError(AerodfError):
    """No in-flight slot became free within ``queue_timeout``."""


class AerospikeServerError(AerodfError):
    """An operation failed in the cluster or in the client library.

    Attributes: ``code`` (Aerospike result code; negative codes are
    client-side), ``key``, ``keys``, ``bin``, ``partitions``, ``in_doubt``
    (a write that may have applied), ``reason`` (the cause alone, without the
    keys or partitions the message goes on to name).
    """

    def __init__(self, message: str, *, code: int | None = None, key: Any = None,
                 keys: Sequence[Any] | None = None, bin: str | None = None,
                 partitions: Sequence[int] | None = None, in_doubt: bool = False,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.key, self.keys, self.bin = code, key, list(keys or ()), bin
        self.partitions = list(partitions or ())
        self.in_doubt = in_doubt
        self.reason = reason if reason is not None else message


class RecordNotFoundError(AerospikeServerError, KeyError):
    """Records that do not exist (with ``on_missing="raise"``); ``keys`` lists them."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class TimeoutError_(AerospikeServerError, TimeoutError):
    """A socket or total timeout expired (``in_doubt`` for writes)."""


class ClusterConnectionError(AerospikeServerError, ConnectionError):
    """No usable connection: the cluster is unreachable or a node went away."""


class OverloadError(AerospikeServerError):
    """The cluster is shedding load: back off (key busy, device overload, queues full)."""


class RecordTooBigError(AerospikeServerError):
    """A record larger than the namespace allows."""


class IncompatibleBinError(AerospikeServerError):
    """The server refused an operation on a bin of another type (result 12)."""


class GenerationError(AerospikeServerError):
    """A generation check failed: the record changed since it was read."""


OVERLOAD_CODES = frozenset({RC.KEY_BUSY, RC.DEVICE_OVERLOAD, RC.XDR_KEY_BUSY, RC.BATCH_QUEUES_FULL, RC.QUERY_QUEUE_FULL})

# Client-side codes (negative) that mean "no usable connection" in the C client.
CONNECTION_CODES = frozenset({RC.NO_MORE_CONNECTIONS, RC.INVALID_NODE, RC.CONNECTION_ERROR, RC.ASYNC_CONNECTION, RC.MAX_ERROR_RATE})


def error_for_code(code: int | None, message: str, **kw: Any) -> AerospikeServerError:
    """The exception class for an Aerospike result code (server or client side)."""
    if code == RC.KEY_NOT_FOUND:
        return RecordNotFoundError(message, code=code, **kw)
    if code in (RC.TIMEOUT, RC.NO_RESPONSE):  # server timeout; no response before the client's timeout
        return TimeoutError_(message, code=code, **kw)
    if code in CONNECTION_CODES:
        return ClusterConnectionError(message, code=code, **kw)
    if code in OVERLOAD_CODES:
        return OverloadError(message, code=code, **kw)
    if code == RC.RECORD_TOO_BIG:
        return RecordTooBigError(message, code=code, **kw)
    if code == RC.GENERATION_ERROR:
        return GenerationError(message, code=code, **kw)
    if code == RC.BIN_TYPE_ERROR:
        return IncompatibleBinError(message, code=code, **kw)
    return AerospikeServerError(message, code=code, **kw)


def describe_keys(keys: Sequence[Any], limit: int = 5) -> str:
    """``1, 2, 3 and 7 more`` for error messages."""
    shown = ", ".join(repr(k) for k in keys[:limit])
    more = len(keys) - limit
    return shown + (f" and {more} more" if more > 0 else "")
