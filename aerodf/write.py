"""write_frame: pandas / polars / Arrow / NumPy frames -> Aerospike records.

Everything that can be wrong with the input is checked before the first
write: the key column (present, no nulls, no duplicates, int / str / bytes),
bin names (at most 15 bytes), dtypes (supported), and values against the
schema when one is given (a safe Arrow cast: no overflow, no truncation).
Rows then go out in chunks of batch writes under the client's in-flight
limiter; every row ends up written, failed (with its result code) or in
doubt (a timeout on a write that was not retried: it may have applied), and
the :class:`WriteReport` says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import gcpause
from .progress import progress_bar, want_progress
from .client import Client, session
from .errors import (
    AerospikeServerError, ClusterConnectionError, ConfigError, DataError, SchemaError,
    TimeoutError_, describe_keys,
)
from .policy import Exists, GenerationCheck, WritePolicy, check_ttl, resolve
from .protocol import resultcodes as RC
from .schema import Bool, Bytes, Float, Int, List, Map, Schema, String, Timestamp, Vector
from .records import WriteResult
from .typemap import from_arrow_type, to_arrow_type

EXISTS = {e.value: e for e in Exists}
MAX_BIN_NAME = 15


class WriteError(AerospikeServerError):
    """Some rows of a write_frame failed or are in doubt; ``report`` has them all."""

    def __init__(self, message: str, report: "WriteReport") -> None:
        super().__init__(message, keys=report.failed_keys + report.in_doubt_keys)
        self.report = report


@dataclass
class WriteReport:
    """What happened to every row of a :func:`write_frame` call.

    Attributes
    ----------
    written
        Rows the cluster confirmed.
    failed
        A pandas DataFrame of failed rows: ``row``, ``key``, ``code``
        (Aerospike result code), ``error`` (its name) and ``message``.
    in_doubt
        A pandas DataFrame (same columns) of rows whose write timed out or lost
        its connection without a retry: each may or may not have applied.
    """

    written: int = 0
    _failed: list[tuple[int, Any, int, str]] = field(default_factory=list, repr=False)
    _in_doubt: list[tuple[int, Any, int, str]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self._failed and not self._in_doubt

    @property
    def failed(self):
        return _frame(self._failed)

    @property
    def in_doubt(self):
        return _frame(self._in_doubt)

    @property
    def failed_keys(self) -> list[Any]:
        return [k for _, k, _, _ in self._failed]

    @property
    def in_doubt_keys(self) -> list[Any]:
        return [k for _, k, _, _ in self._in_doubt]

    def __repr__(self) -> str:
        return f"WriteReport(written={self.written}, failed={len(self._failed)}, in_doubt={len(self._in_doubt)})"


def _frame(rows: list[tuple[int, Any, int, str]]):
    import pandas as pd

    return pd.DataFrame({
        "row": pd.Series([r[0] for r in rows], dtype="int64"),
        "key": pd.Series([r[1] for r in rows], dtype="object"),
        "code": pd.Series([r[2] for r in rows], dtype="int64"),
        "error": pd.Series([RC.name(r[2]) for r in rows], dtype="object"),
        "message": pd.Series([r[3] for r in rows], dtype="object"),
    })


# ----------------------------------------------------------------------------- input


def to_arrow_table(frame: Any) -> pa.Table:
    """A pyarrow Table from pandas, polars, Arrow (table, batch, reader) or NumPy structured input."""
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    if isinstance(frame, pa.RecordBatchReader):
        return frame.read_all()
    mod = type(frame).__module__.split(".")[0]
    if mod == "polars":
        import polars as pl

        if isinstance(frame, pl.LazyFrame):
            frame = frame.collect()
        try:
            return frame.to_arrow()
        except _ARROW_ERRORS as exc:
            for name in frame.columns:
                try:
                    frame.select(name).to_arrow()
                except _ARROW_ERRORS as col_exc:
                    raise _column_error(name, str(frame.schema[name]), frame.get_column(name).to_list(),
                                        col_exc) from None
            raise ConfigError(f"the polars frame cannot be converted to Arrow: {exc}") from None
    if mod == "pandas":
        try:
            return pa.Table.from_pandas(frame, preserve_index=False)
        except _ARROW_ERRORS as exc:
            for name in frame.columns:
                try:
                    pa.Array.from_pandas(frame[name])
                except _ARROW_ERRORS as col_exc:
                    raise _column_error(str(name), str(frame[name].dtype), frame[name].tolist(), col_exc) from None
            raise ConfigError(f"the pandas frame cannot be converted to Arrow: {exc}") from None
    if isinstance(frame, np.ndarray) and frame.dtype.names:
        cols = {}
        for name in frame.dtype.names:
            col = frame[name]
            if col.ndim == 2:  # a sub-array field: a vector
                cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(col).reshape(-1)),
                                                               col.shape[1])
            else:
                cols[name] = pa.array(col)
        return pa.table(cols)
    raise ConfigError(f"write_frame takes a pandas, polars or Arrow frame or a NumPy structured array, "
                      f"not {type(frame).__name__}")


_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError, ValueError)


def _column_error(name: str, dtype: str, values: list[Any], exc: Exception) -> Exception:
    """The aerodf error for a frame column Arrow cannot convert: the column, its dtype,
    and, when one value is at fault (an object column mixing types), its row."""
    if "complex" in dtype.lower():
        return SchemaError(f"column {name!r} has dtype {dtype}: Aerospike stores no complex numbers "
                           f"(write the real and imaginary parts as two float columns)")
    if dtype.lower() in ("int128", "uint128"):
        return SchemaError(f"column {name!r} has dtype {dtype}: Aerospike integers are signed 64-bit; cast the "
                           f"column to Int64 (values beyond that range cannot be stored)")
    first = next(((i, v) for i, v in enumerate(values) if v is not None), None)
    if first is not None:
        kind = _kind(first[1])
        for i, v in enumerate(values):
            if v is not None and _kind(v) != kind:
                return DataError(f"column {name!r} mixes values of type {kind} (row {first[0]}: {first[1]!r}) and "
                                 f"{_kind(v)} (row {i}: {v!r}); a bin column holds one type",
                                 bin=name, row=i, value=v)
    return SchemaError(f"column {name!r} (dtype {dtype}) cannot be written: {exc}")


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    return type(v).__name__


def _check_bins(names: Sequence[str]) -> None:
    long = [n for n in names if len(n.encode()) > MAX_BIN_NAME]
    if long:
        raise SchemaError(f"bin name(s) {long} longer than Aerospike's {MAX_BIN_NAME} bytes; rename the columns "
                          f"or map them with a schema (Field(name, type, bin='short'))")


def _schema_for(table: pa.Table, key: str, schema: Schema | None) -> tuple[Schema, pa.Table]:
    """The schema of the bins, and the table cast to it (validated: safe casts only)."""
    value_cols = [c for c in table.column_names if c != key]
    if schema is None:
        fields = []
        for name in value_cols:
            t = table.schema.field(name).type
            if pa.types.is_null(t):
                # an all-null column (polars dtype Null): its nulls are not written (or, with
                # remove_nulls=True, remove the bin), whatever the type; int64 carries them
                t = pa.int64()
                table = table.set_column(table.column_names.index(name), name, table.column(name).cast(t))
            if pa.types.is_dictionary(t):
                table = table.set_column(table.column_names.index(name), name, table.column(name).cast(t.value_type))
                t = t.value_type
            try:
                fields.append((name, from_arrow_type(t)))
            except SchemaError as exc:
                raise SchemaError(f"column {name!r}: {exc}") from None
        schema = Schema(fields)
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise ConfigError(f"column(s) {missing} of the schema are not in the frame")
    for f in schema:
        col = table.column(f.name)
        target = to_arrow_type(f.type)
        if col.type != target:
            try:
                col = col.cast(target, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise DataError(f"column {f.name!r} of type {table.schema.field(f.name).type} does not fit "
                                f"{f.type}: {exc}", bin=f.bin_name) from None
            table = table.set_column(table.column_names.index(f.name), f.name, col)
        if isinstance(f.type, Int) and not f.type.signed and f.type.bits == 64:
            mx = pc.max(col).as_py()
            if mx is not None and mx > 2**63 - 1:
                i = pc.index(pc.greater(col, pa.scalar(2**63 - 1, pa.uint64())), True).as_py()
                raise DataError(f"column {f.name!r} row {i} holds {mx}, above Aerospike's signed 64-bit integers",
                                bin=f.bin_name, row=i, value=mx)
        if not f.nullable and col.null_count:
            i = pc.index(col.is_null(), True).as_py()
            raise DataError(f"column {f.name!r} is not nullable but row {i} is null", bin=f.bin_name, row=i)
    _check_bins(schema.bins)
    return schema, table


def _keys(table: pa.Table, key: str) -> list[Any]:
    if key not in table.column_names:
        raise ConfigError(f"key column {key!r} is not in the frame (columns: {table.column_names})")
    col = table.column(key)
    if col.null_count:
        i = pc.index(col.is_null(), True).as_py()
        raise DataError(f"key column {key!r} is null at row {i}", row=i)
    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.cast(t.value_type), t.value_type
    if not (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_string_view(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        raise DataError(f"key column {key!r} has type {t}; Aerospike keys are integers, strings or bytes")
    if pa.types.is_unsigned_integer(t) and len(col) and pc.max(col).as_py() > 2**63 - 1:
        raise DataError(f"key column {key!r} holds a value above the signed 64-bit range")
    counts = pc.value_counts(col)
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dup):
        shown = describe_keys([d["values"] for d in dup.to_pylist()])
        raise DataError(f"key column {key!r} has duplicate keys ({shown}); one call writes each record once")
    return col.to_pylist()


def _has_nul(v: Any) -> bool:
    """Whether a Python value holds a str with a NUL byte (values, list items, map keys)."""
    if isinstance(v, str):
        return "\x00" in v
    if isinstance(v, (list, tuple)):
        return any(_has_nul(x) for x in v)
    if isinstance(v, dict):
        return any(_has_nul(k) or _has_nul(x) for k, x in v.items())
    return False


def _holds_strings(t: pa.DataType) -> bool:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return True
    if pa.types.is_map(t):
        return _holds_strings(t.key_type) or _holds_strings(t.item_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) \
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return _holds_strings(t.value_type)
    if pa.types.is_struct(t):
        return any(_holds_strings(t.field(i).type) for i in range(t.num_fields))
    return False


def _leaves_have_nul(arr: pa.Array) -> bool:
    """Whether any string inside ``arr`` (at any depth) holds a NUL byte, column-wise."""
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        if pa.types.is_string_view(t):
            arr = arr.cast(pa.large_string())
        return bool(pc.any(pc.match_substring(arr, "\x00")).as_py())
    if pa.types.is_map(t):
        return _leaves_have_nul(arr.keys) or _leaves_have_nul(arr.items)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _leaves_have_nul(arr.flatten())
    return True  # another nesting: let the caller look value by value


def _nul_row(col: pa.ChunkedArray) -> int | None:
    """The first row whose value holds a string with a NUL byte, or None."""
    t = col.type
    if not _holds_strings(t) or not any(_leaves_have_nul(chunk) for chunk in col.chunks):
        return None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        if pa.types.is_string_view(t):
            col = col.cast(pa.large_string())
        return pc.index(pc.fill_null(pc.match_substring(col, "\x00"), False), True).as_py()
    return next((i for i, v in enumerate(col.to_pylist()) if _has_nul(v)), None)


def _check_nul_strings(transport_name: str, key: str, user_keys: list[Any], schema: Schema, table: pa.Table,
                       send_key: bool) -> None:
    """Refuse, before anything is written, what this transport's client would cut at a NUL byte."""
    hint = "use transport='aerospike-py', which writes them as given"
    if send_key:
        for i, k in enumerate(user_keys):
            if (type(k) is str and "\x00" in k) or (type(k) is bytes and b"\x00" in k):
                raise DataError(f"key column {key!r} row {i}: key {k!r} holds a NUL byte, which the {transport_name!r} "
                                f"transport's client would store cut at the NUL (as another record's key); write "
                                f"with send_key=False (the digest is exact) or {hint}", key=k, row=i, value=k)
    for f in schema:
        i = _nul_row(table.column(f.name))
        if i is not None:
            raise DataError(f"column {f.name!r} row {i} (key {user_keys[i]!r}) holds a string with a NUL byte, which "
                            f"the {transport_name!r} transport's client would store cut at the NUL; {hint}",
                            key=user_keys[i], bin=f.bin_name, row=i)


# ----------------------------------------------------------------------------- encoding


def _encoder(f, col: pa.ChunkedArray):
    """Python values for the client, column-wise: lists stay lists, maps become dicts,
    timestamps integers in the schema's unit."""
    t = f.type
    if isinstance(t, Timestamp):
        return col.cast(pa.int64()).to_pylist()
    if isinstance(t, Map):
        return [None if v is None else dict(v) for v in col.to_pylist()]
    if isinstance(t, Float) and t.bits == 32:
        return col.cast(pa.float64()).to_pylist()
    if isinstance(t, Bytes):
        return [None if v is None else bytearray(v) for v in col.to_pylist()]
    if isinstance(t, (Int, Bool, String, List, Vector, Float)):
        return col.to_pylist()
    raise SchemaError(f"no encoder for {t}")  # pragma: no cover - the IR is closed


def _rows(schema: Schema, table: pa.Table, start: int, stop: int, remove_nulls: bool) -> list[dict[str, Any]]:
    part = table.slice(start, stop - start)
    names = schema.bins
    cols = [_encoder(f, part.column(f.name)) for f in schema]
    if not cols:
        return [{} for _ in range(stop - start)]
    if remove_nulls:
        return [dict(zip(names, vals)) for vals in zip(*cols)]
    return [{n: v for n, v in zip(names, vals) if v is not None} for vals in zip(*cols)]


# ----------------------------------------------------------------------------- write_frame


def write_frame(
    frame: Any,
    namespace: str,
    set: str,
    *,
    key: str = "key",
    schema: Any = None,
    client: Client | None = None,
    hosts: Any = None,
    ttl: int | str | None = None,
    exists: str = "upsert",
    generation: str | None = None,
    send_key: bool = True,
    blob_keys: bool = False,
    remove_nulls: bool = False,
    chunk_size: int = 5000,
    max_in_flight: int | None = None,
    progress: bool | None = None,
    raise_on_error: bool = False,
    policy: WritePolicy | None = None,
    **policy_overrides: Any,
) -> WriteReport:
    """Write a frame's rows as records, one per row, keyed by a column.

    Parameters
    ----------
    frame
        pandas or polars DataFrame (or polars LazyFrame), pyarrow Table,
        RecordBatch or RecordBatchReader, or a NumPy structured array.
    namespace, set
        Where to write.
    key
        The column holding the user keys (int, str or bytes; no nulls, no
        duplicates). Bytes keys are string keys, as the official client hashes
        Python ``bytes`` (``client.get((ns, set, b"k"))`` finds them); see
        ``blob_keys``.
    schema
        Types to write (validated before anything is written; columns not in it
        are not written). Without one, every other column is written with its
        frame type.
    client, hosts
        An open :class:`~aerodf.Client`, or seed hosts for this call only.
    ttl
        ``None`` or ``0`` (namespace default), seconds (at most ten years,
        315 360 000: the server's limit), ``-1`` (never expire), ``-2`` (keep
        the record's TTL), or the name of a column of per-row values of the
        same kinds (a null there: the namespace default). Every TTL is checked
        before anything is written; one out of range raises naming its row.
    exists
        ``"upsert"`` (default), ``"create_only"``, ``"update_only"``,
        ``"replace"`` or ``"replace_only"``.
    generation
        Name of a column of expected generations: a row is written only if its
        record still has that generation (check-and-set); stale rows fail with
        GENERATION_ERROR. A null there writes that row without a check (as for
        a record read as missing, whose generation is null).
    send_key
        Store the user key with the record (so scans can return it).
    blob_keys
        Write a bytes key column as *blob* keys (particle type BLOB, what the
        official client makes of a ``bytearray`` key; read them back with
        ``bytearray`` keys) instead of string keys.
    remove_nulls
        A null removes the bin (for update modes); by default a null bin is
        simply not written.
    chunk_size, max_in_flight, progress
        As for :func:`read_batch`.
    raise_on_error
        Raise :class:`WriteError` (carrying the report) when any row failed or
        is in doubt.
    policy, **policy_overrides
        A :class:`~aerodf.WritePolicy` or overrides of the client's
        (``total_timeout=...``; ``max_retries`` needs ``idempotent=True``).

    Returns
    -------
    WriteReport

    Examples
    --------
    >>> report = aerodf.write_frame(df, "test", "users", key="user_id", hosts="127.0.0.1:3000")  # doctest: +SKIP
    >>> report.written, report.failed
    """
    if exists not in EXISTS:
        raise ConfigError(f"exists must be one of {sorted(EXISTS)}, not {exists!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    if ttl is not None and not isinstance(ttl, str) and (why := check_ttl(ttl)) is not None:
        raise ConfigError(f"ttl={ttl!r}: {why}; or name a column of per-row TTLs")
    table = to_arrow_table(frame)
    user_keys = _keys(table, key)
    if blob_keys:
        t = table.column(key).type
        if not (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
                or (pa.types.is_dictionary(t) and pa.types.is_binary(t.value_type))):
            raise ConfigError(f"blob_keys=True needs a bytes key column; {key!r} has type {t}")
        user_keys = [bytearray(k) for k in user_keys]
    meta_cols = [c for c in (ttl if isinstance(ttl, str) else None, generation) if c]
    for c in meta_cols:
        if c not in table.column_names:
            raise ConfigError(f"column {c!r} is not in the frame")
    body = table.drop_columns(meta_cols) if meta_cols else table
    if schema is not None and not isinstance(schema, Schema):
        schema = Schema(schema)
    schema, body = _schema_for(body, key, schema)
    metas = _metas(table, ttl, generation, key)

    with session(client, hosts, max_in_flight=max_in_flight or 0) as c:
        changes = dict(policy_overrides)
        changes.setdefault("send_key", send_key)
        changes.setdefault("exists", EXISTS[exists])
        if generation:
            changes.setdefault("generation_check", GenerationCheck.EQ)
        if isinstance(ttl, int) and not isinstance(ttl, bool):
            changes.setdefault("ttl", ttl)
        pol = resolve(c.write_policy, policy, changes)
        with gcpause.paused(c.pause_gc):
            report = _write(c, namespace, set, key, user_keys, schema, body, metas, pol, chunk_size,
                            remove_nulls, want_progress(progress), max_in_flight if c is client else None)
    if raise_on_error and not report.ok:
        raise WriteError(f"{len(report._failed)} row(s) failed and {len(report._in_doubt)} are in doubt: "
                         f"{describe_keys(report.failed_keys + report.in_doubt_keys)}", report)
    return report


def _metas(table: pa.Table, ttl: Any, generation: str | None, key: str) -> list[dict[str, int] | None] | None:
    """Per-row ``{"ttl": seconds, "gen": expected}`` from the ttl / generation columns,
    every TTL checked before anything is written (a null: the call's TTL / no check)."""
    if not isinstance(ttl, str) and not generation:
        return None
    n = table.num_rows
    ttls = _int_column(table, ttl) if isinstance(ttl, str) else [None] * n
    if isinstance(ttl, str):
        keys = table.column(key).to_pylist() if key in table.column_names else [None] * n
        for i, t in enumerate(ttls):
            if t is not None and (why := check_ttl(t)) is not None:
                raise DataError(f"ttl column {ttl!r} row {i} (key {keys[i]!r}): {why}", key=keys[i], bin=ttl,
                                row=i, value=t)
    gens = _int_column(table, generation) if generation else [None] * n
    if generation:
        keys = table.column(key).to_pylist() if key in table.column_names else [None] * n
        for i, g in enumerate(gens):
            if g is not None and not 0 <= g <= 0xFFFFFFFF:
                raise DataError(f"generation column {generation!r} row {i} (key {keys[i]!r}) holds {g}: "
                                f"generations are 0 .. 2**32-1", key=keys[i], bin=generation, row=i, value=g)
    return [{k: v for k, v in (("ttl", t), ("gen", g)) if v is not None} or None for t, g in zip(ttls, gens)]


def _int_column(table: pa.Table, name: str) -> list[int | None]:
    col = table.column(name)
    if not pa.types.is_integer(col.type):
        raise DataError(f"column {name!r} must hold integers, not {col.type}")
    return col.to_pylist()


def _write(client: Client, namespace: str, set_name: str, key_name: str, user_keys: list[Any], schema: Schema,
           table: pa.Table, metas, policy: WritePolicy, chunk_size: int, remove_nulls: bool, progress: bool,
           per_call: int | None) -> WriteReport:
    from .pipeline import pipelined

    n = len(user_keys)
    report = WriteReport()
    transport, limiter = client.transport, client.limiter
    if not transport.writes_nul_strings:
        _check_nul_strings(transport.name, key_name, user_keys, schema, table, policy.send_key)
    batch_policy = client.batch_policy.replace(total_timeout=policy.total_timeout,
                                               socket_timeout=policy.socket_timeout,
                                               max_retries=policy.max_retries)
    concurrency = max(1, min(per_call or client.workers, client.workers))

    def call(keys: list, rows: list, pol: WritePolicy, chunk_metas) -> list[WriteResult]:
        """One batch write; a failure of the whole call becomes each row's outcome."""
        if not keys:
            return []
        try:
            return transport.batch_write(keys, rows, pol, batch_policy, chunk_metas)
        except AerospikeServerError as exc:
            # The whole batch failed in the client or the network. A timeout or a lost
            # connection on a write that was not retried may still have applied.
            doubtful = bool(exc.in_doubt) or isinstance(exc, (TimeoutError_, ClusterConnectionError))
            code = exc.code if exc.code is not None else -1
            return [WriteResult(code, doubtful, str(exc))] * len(keys)

    def send(start: int, stop: int):
        keys = [(namespace, set_name, k) for k in user_keys[start:stop]]
        rows = _rows(schema, table, start, stop, remove_nulls)
        chunk_metas = metas[start:stop] if metas is not None else None
        # A record needs at least one bin: an all-null row is reported, not sent.
        idx = [i for i, r in enumerate(rows) if r]
        results: list[WriteResult] = [WriteResult(RC.PARAMETER_ERROR, False,
                                                  "row has no non-null value: a record needs a bin")] * (stop - start)
        # A null expected generation: that row is written without a generation check.
        if chunk_metas is not None and policy.generation_check != GenerationCheck.NONE:
            groups = [([i for i in idx if chunk_metas[i] and "gen" in chunk_metas[i]], policy),
                      ([i for i in idx if not (chunk_metas[i] and "gen" in chunk_metas[i])],
                       policy.replace(generation_check=GenerationCheck.NONE))]
        else:
            groups = [(idx, policy)]
        with limiter.slot():
            for members, pol in groups:
                got = call([keys[i] for i in members], [rows[i] for i in members], pol,
                           [chunk_metas[i] for i in members] if chunk_metas is not None else None)
                for i, r in zip(members, got):
                    results[i] = r
        return results

    bar = progress_bar(n, progress, desc="write_frame") if n else None
    bounds = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    try:
        for s, e, results in pipelined(client.executor(), bounds, send, concurrency):
            _account(report, user_keys, s, e, results)
            if bar is not None:
                bar.update(e - s)
    finally:
        if bar is not None:
            bar.close()
    return report


def _account(report: WriteReport, user_keys: list[Any], start: int, stop: int,
             results: list[WriteResult]) -> None:
    for i, r in zip(range(start, stop), results):
        if r.code == 0:
            report.written += 1
        elif r.in_doubt:
            report._in_doubt.append((i, user_keys[i], r.code, r.message or RC.name(r.code)))
        else:
            report._failed.append((i, user_keys[i], r.code, r.message or RC.name(r.code)))
