"""Queries and scans: predicate -> server filter + partition ranges -> streamed batches.

The 4096 partitions are split into contiguous ranges that run concurrently
(never more than the client's ``max_in_flight`` at once), each streaming its
records into Arrow record batches of ``batch_size`` rows through a bounded
queue, so a whole-set scan runs in memory bounded by ``batch_size`` x the
concurrency, not by the set. Whatever part of ``where`` the server can run is
pushed (:mod:`aerodf.expr`); the full predicate is re-applied to every batch,
unless the server's filter is exact (:attr:`aerodf.expr.Plan.exact`) and values
arrive as stored (``on_type_error="raise"``), when re-applying it changes nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import pyarrow as pa

from . import gcpause
from .arrow import ChunkContext, build_column, build_key
from .progress import progress_bar, want_progress
from .client import Client, session
from .errors import AerospikeServerError, ConfigError, TimeoutError_
from .layout import META_COLUMNS, RowLayout, key_name_of, key_type_of
from .polars_expr import parse_where
from .protocol.constants import N_PARTITIONS
from .ranges import partition_span, split
from .transport.base import SetSize, estimate_set
from .expr import Plan, columns as expr_columns, could_use_index, plan as make_plan, records_without
from .output import check_output, convert, strings_for
from .policy import QueryPolicy, resolve
from .protocol.resultcodes import TIMEOUT
from .schema import Schema

_DONE = object()
log = logging.getLogger("aerodf")


def _partition_ranges(partitions: Any, pieces: int) -> list[tuple[int, int]]:
    # the one cut shared with the engines' tasks (aerodf.partitions)
    return split(partitions, pieces)


class _Sink:
    """Collects one range's records and emits record batches into the shared queue."""

    def __init__(self, out: "queue.Queue", stop: threading.Event, schema: Schema, out_schema: pa.Schema,
                 batch_size: int, key_name: str | None, with_meta: bool, strings: str, on_type_error: str,
                 counter: "_Counter") -> None:
        self.out, self.stop, self.schema, self.out_schema = out, stop, schema, out_schema
        self.batch_size, self.key_name, self.with_meta = batch_size, key_name, with_meta
        self.strings, self.on_type_error, self.counter = strings, on_type_error, counter
        self.keys: list[Any] = []
        self.bins: list[dict] = []
        self.gens: list[int] = []
        self.ttls: list[int] = []

    def __call__(self, user_key: Any, generation: int, ttl: int, bins: dict | None) -> bool:
        """One record, as transports hand it: stored user key (or None), generation,
        TTL in seconds (-1 = never expires), bins."""
        if self.stop.is_set():
            return False
        self.keys.append(user_key)
        self.bins.append(bins if bins is not None else {})
        if self.with_meta:
            self.gens.append(generation)
            self.ttls.append(ttl)
        if len(self.bins) >= self.batch_size:
            self.flush()
        return not self.stop.is_set()

    def flush(self) -> None:
        if not self.bins:
            return
        keys, bins, gens, ttls = self.keys, self.bins, self.gens, self.ttls
        self.keys, self.bins, self.gens, self.ttls = [], [], [], []
        ctx = ChunkContext(keys, self.counter.take(len(bins)), self.on_type_error, self.strings)
        arrays = []
        if self.key_name:
            arrays.append(build_key(keys, self.out_schema.field(self.key_name).type, ctx))
        for f in self.schema:
            name = f.bin_name
            arrays.append(build_column([b.get(name) for b in bins], f, ctx))
        if self.with_meta:
            arrays.append(pa.array(gens, type=pa.uint32()))
            arrays.append(pa.array(ttls, type=pa.int64()))
        _put(self.out, self.stop, pa.RecordBatch.from_arrays(arrays, schema=self.out_schema))


class _Counter:
    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def take(self, k: int) -> int:
        with self._lock:
            start = self._n
            self._n += k
            return start


def iter_batches(
    namespace: str,
    set: str | None,
    schema: Any,
    *,
    where: Any = None,
    columns: list[str] | None = None,
    client: Client | None = None,
    hosts: Any = None,
    max_records: int | None = None,
    partitions: Any = None,
    max_in_flight: int | None = None,
    batch_size: int = 10_000,
    with_key: bool | str = False,
    key_type: str = "int64",
    with_meta: bool = False,
    on_type_error: str = "raise",
    strings: str = "string",
    policy: QueryPolicy | None = None,
    **policy_overrides: Any,
) -> Iterator[pa.RecordBatch]:
    """Stream a set (or the part matching ``where``) as Arrow record batches.

    Parameters
    ----------
    namespace, set
        What to scan (``set=None``: the whole namespace).
    schema
        The columns to read (any :class:`~aerodf.Schema` spelling).
    where
        A polars expression (``pl.col("age") > 30``): the part the server can
        evaluate is pushed as a filter expression (and, with a fitting
        secondary index, an index filter); the whole predicate is re-applied to
        every batch (unless the server's filter is exact and ``on_type_error``
        is ``"raise"``: then it would change nothing). An ``aerospike_helpers``
        expression is passed to the server as is.
    columns
        Only these columns (default: all of the schema); bins the predicate
        needs are read too but not returned.
    max_records
        Stop after this many records (rows matching ``where``).
    partitions
        ``range(begin, end)`` or ``(begin, count)`` of the 4096 partitions.
    max_in_flight
        Partition ranges read at once (default 4, never above the client's bound).
        The scan is cut into ranges by the set's size as the cluster reports it:
        one per 250 000 records on the wire transport's columnar scans, one per
        4 000 000 when records are decoded one by one (the official client's
        callbacks hold the GIL), at most 4 x ``max_in_flight``; a small set is
        one request per node.
    batch_size
        Rows per record batch.
    with_key, key_type, with_meta
        Add the stored user key as a column of ``key_type`` (``"int64"``,
        ``"string"`` or ``"bytes"``; null where the record was written without
        ``send_key``) / ``generation`` and ``ttl`` columns. A stored key of
        another type raises :class:`~aerodf.BinTypeError` naming it and its row,
        or, with ``on_type_error="null"``, becomes a null key.
    on_type_error
        As in :func:`~aerodf.read_batch`: a bin that does not fit its field
        raises (``"raise"``, naming key and bin) or becomes null (``"null"``).
    policy, **policy_overrides
        A :class:`~aerodf.QueryPolicy` or overrides of the client's.
    """
    yield from stream_batches(namespace, set, schema, where=where, columns=columns, client=client, hosts=hosts,
                              max_records=max_records, partitions=partitions, max_in_flight=max_in_flight,
                              batch_size=batch_size, with_key=with_key, key_type=key_type, with_meta=with_meta,
                              on_type_error=on_type_error, strings=strings, policy=policy, **policy_overrides)


def stream_batches(
    namespace: str,
    set: str | None,
    schema: Any,
    *,
    where: Any = None,
    columns: list[str] | None = None,
    client: Client | None = None,
    hosts: Any = None,
    max_records: int | None = None,
    partitions: Any = None,
    max_in_flight: int | None = None,
    batch_size: int = 10_000,
    with_key: bool | str = False,
    key_type: str = "int64",
    with_meta: bool = False,
    on_type_error: str = "raise",
    strings: str = "string",
    policy: QueryPolicy | None = None,
    on_plan: Callable[[Any], None] | None = None,
    **policy_overrides: Any,
) -> Iterator[pa.RecordBatch]:
    """:func:`iter_batches`, and ``on_plan(plan)`` called with the pushdown plan before
    anything is read (for :func:`aerodf.explain` and the polars source)."""
    schema = schema if isinstance(schema, Schema) else Schema(schema)
    if not schema.fields:
        raise ConfigError("the schema has no fields: name the bins to read")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("batch_size must be a positive integer")
    tree, residual, native = parse_where(where)
    out_cols = list(columns) if columns is not None else schema.names
    unknown = [c for c in out_cols if c not in schema and c != "key" and c not in META_COLUMNS]
    if unknown:
        raise ConfigError(f"column(s) {unknown} are not in the schema")
    pred_cols = expr_columns(tree) if tree is not None else frozenset()
    if pred_cols:  # bind: a predicate on a column the schema lacks fails before anything is read
        known = {*schema.names, key_name_of(with_key) or "key", *META_COLUMNS}  # (``set`` is the set name here)
        stray = sorted(pred_cols - known)
        if stray:
            raise ConfigError(f"the predicate reads column(s) {stray}, which are not in the schema "
                              f"({', '.join(schema.names)})")
    needed = [n for n in schema.names if n in out_cols or n in pred_cols]
    read_schema = schema.select(needed)
    key_name = key_name_of(with_key)

    with session(client, hosts, max_in_flight=max_in_flight or 0) as client:
        pol = resolve(client.query_policy, policy, policy_overrides)
        indexes = _indexes(client, namespace, set) if could_use_index(tree, read_schema) else {}
        p = make_plan(tree, read_schema, indexes=indexes)
        if on_plan is not None:
            on_plan(p)
        if p.exact and on_type_error == "raise":
            # the server keeps exactly the rows polars would, and every value arrives as
            # stored (or the read raises): re-applying the predicate would change nothing
            residual = None
        yield from _stream(client, namespace, set, read_schema, out_cols, p, residual, native, pol,
                           max_records=max_records, partitions=partitions,
                           concurrency=_concurrency(max_in_flight, client),
                           batch_size=batch_size, key_name=key_name, key_type=key_type_of(key_type),
                           with_meta=with_meta, on_type_error=on_type_error, strings=strings)


def _stream(client: Client, namespace: str, set_name: str | None, schema: Schema, out_cols: list[str], p: Plan,
            residual: Any, native: Any, policy: QueryPolicy, *, max_records: int | None, partitions: Any,
            concurrency: int, batch_size: int, key_name: str | None, key_type: pa.DataType, with_meta: bool,
            on_type_error: str, strings: str) -> Iterator[pa.RecordBatch]:
    layout = RowLayout(key_name, with_meta)
    out_schema = layout.arrow_schema(schema, key_type, strings=strings)
    out_names = layout.names(out_cols)
    stop = threading.Event()
    counter = _Counter()
    transport, limiter = client.transport, client.limiter
    # Aerospike's max_records caps what the server sends. With a client-side residual some
    # of those records may still be dropped (the server filter can be a superset), so the
    # cap is pushed only when every record the server sends is a row; otherwise the
    # stream stops client-side once it has max_records rows.
    server_cap = max_records if residual is None else None
    bins = schema.bins
    # A real server leaves out of a scan naming bins every record that holds none of them
    # ("don't return an empty record", as_msg_make_response_bufbuilder). Those records are
    # rows too (null in every column, as read_batch returns them): unless the filter already
    # implies one of the bins exists, a second, metadata-only pass over the same range asks
    # for exactly them, so the projection still saves its bytes on the wire.
    empties = None
    if bins:
        if isinstance(native, list):  # a compiled native filter cannot be extended: read every bin
            bins = None
        elif not p.keeps_only_records_with(bins):
            empties = records_without(bins, p.server)

    fplan = None
    if transport.columnar and transport.covers_scan(p.server, native, p.index, server_cap, key_type):
        fplan = transport.wire_plan(schema)
    client.count_path("wire_scan" if fplan is not None else "general_scan", 1)
    size = estimate_set(client.transport, namespace, set_name)
    _, span = partition_span(partitions)
    share = span / N_PARTITIONS
    ranges = _partition_ranges(partitions, _pieces(size, share, concurrency, columnar=fplan is not None))
    # Without a set index the server walks the whole namespace for each pass, so a
    # second pass can cost more than the records themselves: a set this small is read
    # whole (every bin, the schema's columns kept) in one pass instead.
    small = size is not None and size.bytes is not None and size.bytes * share <= WHOLE_RECORDS_BYTES
    whole = empties is not None and small
    if whole:
        bins, empties = None, None
    # One range of a small set on the wire transport runs in the caller's thread: a thread
    # and a queue hand-off cost more than it does (0.4-0.5 ms of a 15 ms filtered scan), the
    # records it buffers before the first is yielded are bounded by the size of a whole
    # read, and Ctrl-C still stops it at once (the wait is a Python socket read; the
    # official client's waits hold off signals, so its scans keep their threads).
    inline = fplan is not None and len(ranges) == 1 and small
    out: queue.Queue = queue.Queue(maxsize=0 if inline else max(2, concurrency * 2))

    def emit(batch: pa.RecordBatch) -> bool:
        _put(out, stop, batch)
        return not stop.is_set()

    # total_timeout bounds the whole call, as one scan of the official client: each range
    # (and its second pass) gets what is left of it when it starts
    deadline = time.monotonic() + policy.total_timeout / 1000 if policy.total_timeout else None

    def left_of(begin: int, count: int) -> QueryPolicy:
        if deadline is None:
            return policy
        ms = int((deadline - time.monotonic()) * 1000)
        if ms <= 0:
            part = list(range(begin, begin + count))
            raise TimeoutError_(f"total_timeout of {policy.total_timeout} ms spent", code=TIMEOUT, partitions=part)
        return policy.replace(total_timeout=ms)

    def run(begin: int, count: int) -> None:
        sink = _Sink(out, stop, schema, out_schema, batch_size, key_name, with_meta, strings, on_type_error, counter)
        try:
            with limiter.slot():
                if stop.is_set():
                    return
                if fplan is not None:
                    transport.scan_range(namespace, set_name, fplan, left_of(begin, count), begin=begin, count=count,
                                         all_bins=whole,
                                         out_schema=out_schema, key_name=key_name, with_meta=with_meta,
                                         server_filter=p.server, index=p.index,
                                         on_type_error=on_type_error, strings=strings, batch_size=batch_size,
                                         row_counter=counter.take, emit=emit, stop=stop)
                else:
                    transport.query_range(namespace, set_name, bins, left_of(begin, count), begin=begin,
                                          count=count, server_filter=p.server, native_filter=native, index=p.index,
                                          max_records=server_cap, on_record=sink)
                if empties is not None and not stop.is_set():
                    transport.query_range(namespace, set_name, [], left_of(begin, count), begin=begin, count=count,
                                          server_filter=empties, native_filter=native, index=None,
                                          max_records=server_cap, on_record=sink)
            sink.flush()
        except BaseException as exc:  # handed to the consumer, which re-raises it
            try:  # the rows read before the failure are delivered: the error names what is not
                sink.flush()
            except Exception:  # pragma: no cover - the first error is the one to report
                pass
            _put(out, stop, exc)
        finally:
            _put(out, stop, _DONE)

    pool = None
    if not inline:
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="aerodf-scan")
        for b, c in ranges:
            pool.submit(run, b, c)
    finished = 0
    emitted = 0
    failures: list[AerospikeServerError] = []
    interrupted = False
    try:
        with gcpause.paused(client.pause_gc):
            if inline:
                run(*ranges[0])
            while finished < len(ranges):
                item = _get(out)
                if item is _DONE:
                    finished += 1
                    continue
                if isinstance(item, BaseException):
                    if isinstance(item, AerospikeServerError) and item.partitions:
                        # a range that could not be read: the others go on, and the error
                        # raised at the end names every partition of the call not delivered
                        failures.append(item)
                        continue
                    raise item
                batch = item
                if residual is not None:
                    batch = _apply(batch, residual)
                if batch.schema.names != out_names:
                    batch = batch.select(out_names)
                if max_records is not None and emitted + batch.num_rows >= max_records:
                    batch = batch.slice(0, max_records - emitted)
                    if batch.num_rows:
                        yield batch
                    return
                emitted += batch.num_rows
                if batch.num_rows:
                    yield batch
        if failures:
            raise _unread(failures, emitted)
    except BaseException as exc:
        interrupted = not isinstance(exc, (GeneratorExit, AerospikeServerError))
        raise
    finally:
        stop.set()
        while True:  # unblock producers waiting on a full queue
            try:
                out.get_nowait()
            except queue.Empty:
                break
        # Ctrl-C (or any other error) returns at once: ranges still waiting on the
        # cluster see the stop flag and end on their own, releasing their slots
        if pool is not None:
            pool.shutdown(wait=not interrupted, cancel_futures=True)
            if interrupted:
                client.detach(pool)


def _unread(failures: list[AerospikeServerError], delivered: int) -> AerospikeServerError:
    """One error for every range of a scan that failed: the first failure's type and
    code, every partition not read, and how many rows were delivered before."""
    from .records import unread_message

    first = failures[0]
    left = sorted({p for f in failures for p in f.partitions})
    reason = first.reason or type(first).__name__
    more = f" ({len(failures)} ranges failed)" if len(failures) > 1 else ""
    err = type(first)(unread_message(f"{reason}{more}; {delivered} rows delivered", left),
                      code=first.code, partitions=left)
    err.__cause__ = first
    return err


def _indexes(client: Client, namespace: str, set_name: str | None) -> dict[str, str]:
    """The set's secondary indexes; none when they cannot be listed (an index filter
    is an optimisation: the query itself will report a real cluster problem)."""
    try:
        return client.transport.sindexes(namespace, set_name)
    except AerospikeServerError as exc:
        log.warning("could not list secondary indexes of %s.%s (%s); querying without an index filter",
                    namespace, set_name, exc)
        return {}


# Records per partition range of a scan. A range is one request per node, which the
# server walks with its own threads, so extra ranges buy client-side parallelism and
# cost a request and the server's per-job setup each. Measured on a real 8.1 server
# (2 cores; benchmarks/scan.py --small and the note of issue 17): 20 000 records scan
# in 27 ms as one range vs 86-97 ms as 16 (a 1% filter), 1 000 000 on the wire
# transport in 4.2 s as 1, 2 or 4 ranges vs 4.9 s as 16, and an 11% filter over them
# in 1.57 s as one range vs 1.17 s as 4. Records that reach Python one by one (the
# official client's callbacks) hold the GIL, so ranges there queue on each other:
# 1 000 000 in 12.6 s as one range vs 20.1 s as two.
RECORDS_PER_RANGE = 250_000
RECORDS_PER_RANGE_GENERAL = 4_000_000
# A scan naming bins needs a second, metadata-only pass for the records holding none of
# them (the server leaves those out). Up to this many stored bytes the set is read whole
# in one pass instead: on a real 8.1 server with a namespace of 1.1 million records, a
# 10-record set scanned in 162 ms by hand and 340 ms with the second pass.
WHOLE_RECORDS_BYTES = 16 << 20


def _pieces(size: SetSize | None, share: float, concurrency: int, columnar: bool) -> int:
    """How many ranges to cut a scan into: one per ``RECORDS_PER_RANGE`` records
    (``RECORDS_PER_RANGE_GENERAL`` when records are decoded one by one) the cluster
    says the set holds, times the ``share`` of the partitions asked for; at least one
    and at most 4 x ``concurrency``. ``concurrency`` ranges when the size is unknown."""
    most = concurrency * 4
    if most <= 1:
        return 1
    if size is None:
        return concurrency
    expected = int(size.records * share)
    per = RECORDS_PER_RANGE if columnar else RECORDS_PER_RANGE_GENERAL
    return max(1, min(most, -(-expected // per)))


def _concurrency(max_in_flight: int | None, client: Client) -> int:
    """Partition ranges read at once: the caller's choice, else 4; never above the
    client's bound (a ceiling for the whole client, not a target for each scan)."""
    want = max_in_flight or 4
    bound = client.limiter.max_in_flight
    return max(1, min(want, bound) if bound else want)


def _get(out: "queue.Queue") -> Any:
    """The next item, waiting in short slices: a signal (Ctrl-C) delivered to another
    thread still reaches this one within a slice, not when the cluster next answers."""
    while True:
        try:
            return out.get(timeout=0.1)
        except queue.Empty:
            continue


def _put(out: "queue.Queue", stop: threading.Event, item: Any) -> None:
    while True:
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            if stop.is_set():
                return



def _apply(batch: pa.RecordBatch, predicate: Any) -> pa.RecordBatch:
    """The rows of ``batch`` for which polars evaluates ``predicate`` to true (false and
    null drop a row, as ``DataFrame.filter``). Polars only computes the mask; the batch
    is filtered as it is, or returned whole when every row is kept (the common case
    after an exact pushdown), so no frame goes back to Arrow and no cast is needed."""
    import polars as pl

    df = pl.from_arrow(batch, rechunk=False)
    mask = df.select(predicate).to_series()
    if len(mask) != batch.num_rows:  # a literal predicate: one value for every row
        mask = pl.repeat(mask[0] if len(mask) else None, batch.num_rows, eager=True, dtype=pl.Boolean)
    keep = mask.fill_null(False)
    if keep.all():
        return batch
    if not any(pa.types.is_string_view(t) for t in batch.schema.types):
        return batch.filter(keep.to_arrow())
    # Arrow cannot filter a string_view column: polars filters, and the frame goes back
    kept = df.filter(keep).to_arrow()
    kept = kept.cast(batch.schema) if kept.schema != batch.schema else kept
    return kept.combine_chunks().to_batches()[0] if kept.num_rows else batch.slice(0, 0)


def read_query(
    namespace: str,
    set: str | None,
    schema: Any,
    *,
    where: Any = None,
    columns: list[str] | None = None,
    client: Client | None = None,
    hosts: Any = None,
    max_records: int | None = None,
    partitions: Any = None,
    max_in_flight: int | None = None,
    batch_size: int = 10_000,
    output: str = "pandas",
    dtype_backend: str = "pyarrow",
    with_key: bool | str = False,
    key_type: str = "int64",
    with_meta: bool = False,
    progress: bool | None = None,
    on_type_error: str = "raise",
    policy: QueryPolicy | None = None,
    **policy_overrides: Any,
):
    """Read a set (or the records matching ``where``) into a frame.

    Takes the arguments of :func:`iter_batches` plus ``output`` /
    ``dtype_backend`` as in :func:`read_batch`, and ``progress`` (a tqdm bar of
    rows read; default only on an interactive terminal).

    Examples
    --------
    >>> adults = aerodf.read_query("test", "users", schema, where=pl.col("age") >= 18,
    ...                            hosts="127.0.0.1:3000", output="polars")  # doctest: +SKIP
    """
    schema = schema if isinstance(schema, Schema) else Schema(schema)
    check_output(output, dtype_backend)
    stream = iter_batches(namespace, set, schema, where=where, columns=columns, client=client, hosts=hosts,
                          max_records=max_records, partitions=partitions, max_in_flight=max_in_flight,
                          batch_size=batch_size, with_key=with_key, key_type=key_type, with_meta=with_meta,
                          on_type_error=on_type_error, strings=strings_for(output), policy=policy,
                          **policy_overrides)
    bar = progress_bar(max_records or 0, want_progress(progress), desc="read_query")
    batches = []
    try:
        for batch in stream:
            batches.append(batch)
            if bar is not None:
                bar.update(batch.num_rows)
    finally:
        if bar is not None:
            bar.close()
    if batches:
        table = pa.Table.from_batches(batches)
    else:
        cols = columns if columns is not None else schema.names
        table = RowLayout(key_name_of(with_key), with_meta).arrow_schema(
            schema.select([c for c in cols if c in schema]), key_type_of(key_type), strings=strings_for(output)
        ).empty_table()
    return convert(table, output, dtype_backend=dtype_backend)
