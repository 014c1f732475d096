"""Feature fetch for model serving: a reader compiled once, on the wire transport.

:class:`ServingReader` fixes everything a read needs when it is opened: the
schema's wire plan and the kernel's decoder plan, the request template
(namespace, set and READ ops), the output schema, the policy, and the
cluster's connections per node. A call is then keys -> request -> I/O ->
decode -> arrays: no option parsing, no planning, no thread pool hop. With
the compiled kernel (:mod:`aerodf.wire.kernel`) digests, the request and the
answer's decoding run in C; without it the same reader runs the NumPy wire
path.

It is safe to call from many threads at once (each call has its own
buffers; connections come from the nodes' pools). ``max_in_flight`` /
``queue_timeout`` bound calls in flight as on any :class:`~aerodf.Client`,
and the policy's timeouts, retries, replica and ``timeout_delay`` behave as
in :func:`aerodf.read_batch`: results and errors (naming key and bin, or
the keys not read) are the same as ``read_batch`` on the same client gives.
Calls it does not compile for (more keys than ``chunk_size``, key tuples or
odd key types, a policy with a native ``filter``) run through
:func:`aerodf.read_batch` itself.

Examples
--------
>>> reader = aerodf.serving.ServingReader(  # doctest: +SKIP
...     {"clicks": "int32", "ctr": "float32"}, namespace="fs", set="users",
...     hosts="127.0.0.1:3000", output="numpy", max_in_flight=64, total_timeout=50)
>>> features = reader.read(user_ids)  # doctest: +SKIP
>>> reader.close()  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
from typing import Any, Iterable

import numpy as np
import pyarrow as pa

from .batch import ChunkRules, KeySource, Unread, check_read_options, decode_wire, unread_error
from .client import Client, read_batch
from .errors import AerospikeServerError, ConfigError, RecordNotFoundError, describe_keys
from .output import convert, strings_for
from .policy import BatchPolicy, resolve
from .schema import Schema
from .wire import batch as wb
from .wire import kernel

__all__ = ["ServingReader"]

_KEY_TYPES = frozenset((int, str, bytes, bytearray))


class ServingReader:
    """A long-lived, thread-safe batch reader for one schema and one set (see the module doc).

    Parameters
    ----------
    schema
        A :class:`~aerodf.Schema` or anything it accepts.
    namespace, set
        Where the keys live.
    hosts
        Seed hosts: the reader opens its own ``transport="wire"`` client (closed
        by :meth:`close`). Or pass ``client``.
    client
        An open :class:`~aerodf.Client` on the ``wire`` transport to share (its
        limiter and default batch policy apply; :meth:`close` leaves it open).
    output, dtype_backend, on_missing, on_type_error, with_key, with_meta
        As in :func:`aerodf.read_batch`.
    chunk_size
        Calls with more keys than this run through :func:`aerodf.read_batch`
        (chunked, pipelined).
    max_in_flight, queue_timeout, config
        For the reader's own client (see :class:`aerodf.Client`).
    policy, **policy_overrides
        A :class:`~aerodf.BatchPolicy`, or fields overriding the client's default
        (``total_timeout=50``, ``max_retries=1`` ...).

    Attributes
    ----------
    compiled : bool
        Whether calls run the compiled path (False: every call goes through
        :func:`aerodf.read_batch`, e.g. a bin name too long for the wire).
    kernel : bool
        Whether the C kernel decodes the answers (see :mod:`aerodf.wire.kernel`).

    Examples
    --------
    >>> with ServingReader({"v": "int64"}, namespace="test", set="s",  # doctest: +SKIP
    ...                    hosts="127.0.0.1:3000", output="polars") as r:
    ...     df = r.read([1, 2, 3])
    """

    def __init__(self, schema: Any, *, namespace: str, set: str | None = None, hosts: Any = None,
                 client: Client | None = None, output: str = "numpy", dtype_backend: str = "pyarrow",
                 on_missing: str = "null", on_type_error: str = "raise", with_key: bool | str = False,
                 with_meta: bool = False, chunk_size: int = 5000, max_in_flight: int = 0,
                 queue_timeout: float | None = None, config: dict[str, Any] | None = None,
                 policy: BatchPolicy | None = None, **policy_overrides: Any) -> None:
        self.schema = schema if isinstance(schema, Schema) else Schema(schema)
        self.key_name = check_read_options(self.schema, output, dtype_backend, on_missing, on_type_error,
                                           chunk_size, with_key, with_meta)
        if client is not None and client.transport_name != "wire":
            raise ConfigError(f"ServingReader needs a client on transport='wire', not {client.transport_name!r}")
        self._owns = client is None
        self.client = client if client is not None else Client(
            hosts, transport="wire", max_in_flight=max_in_flight, queue_timeout=queue_timeout, config=config)
        self.namespace, self.set = namespace, set or ""
        self.output, self.dtype_backend = output, dtype_backend
        self.on_missing, self.on_type_error, self.with_meta = on_missing, on_type_error, with_meta
        self.chunk_size = chunk_size
        self.strings = strings_for(output)
        self.policy = resolve(self.client.batch_policy, policy, policy_overrides)
        transport = self.client.transport
        self.plan = transport.wire_plan(self.schema) if transport.columnar and transport.covers(self.policy) \
            else None
        self.kernel = self.plan is not None and kernel.plan_for(self.plan) is not None
        fields = list(self.schema.to_arrow(strings=self.strings))
        if with_meta:
            fields += [pa.field("generation", pa.uint32()), pa.field("ttl", pa.int64())]
        self._fields = fields
        self._out_schemas: dict[Any, pa.Schema] = {None: pa.schema(fields)}
        self._pools: Any = None  # aerodf.wire.aio.Pools, made by the first aread
        self._drains: Any = builtins.set()  # timeout_delay drains in flight (aread); `set` is the set name here
        self._numpy = self._numpy_plan()
        self._polars = self._polars_plan()
        self._mask_dtype = None if self._numpy is None else np.dtype([(k, bool) for k in self._numpy.names])
        self._all_nullable = all(f.nullable for f in self.schema)
        self._bools = [pa.types.is_boolean(f.type) for f in self._fields]
        if self.plan is not None:  # the request template, built now rather than on the first call
            wb.first_row_tail(namespace, self.set, tuple(self.plan.bins))

    @property
    def compiled(self) -> bool:
        return self.plan is not None

    def read(self, keys: Iterable[Any]) -> Any:
        """The records of ``keys`` (user keys of this reader's set), in key order.

        Returns what :func:`aerodf.read_batch` returns for the reader's ``output``:
        missing records and bins are masked (``numpy``) or null.

        Examples
        --------
        >>> arr = reader.read([17, 4, 99])  # doctest: +SKIP
        """
        keys, general = self._keys(keys)
        if general is not None:
            return self._general(general)
        client = self.client
        client.count_path("wire", len(keys))
        try:
            with client.limiter.slot():
                chunk = wb.read_keys(client.transport.cluster, self.namespace, self.set, keys, self.plan,
                                     self.policy)
        except AerospikeServerError as exc:
            raise self._named(exc, len(keys)) from None
        return self._finish(chunk, keys)

    async def aread(self, keys: Iterable[Any]) -> Any:
        """:meth:`read` from an asyncio event loop, natively: the requests and answers go over
        asyncio streams (connection pools of the reader's own, per node), so the loop is free
        while the cluster works. Use one event loop per reader.

        Examples
        --------
        >>> arr = await reader.aread([17, 4, 99])  # doctest: +SKIP
        """
        import asyncio

        from .wire import aio as wire_aio

        keys, general = self._keys(keys)
        if general is not None:
            return await asyncio.get_running_loop().run_in_executor(None, self._general, general)
        client = self.client
        client.count_path("wire", len(keys))
        if self._pools is None:
            self._pools = wire_aio.Pools(client.transport.cluster)
        try:
            async with client.limiter.aslot():
                chunk = await wire_aio.read_keys(client.transport.cluster, self._pools, self.namespace, self.set,
                                                 keys, self.plan, self.policy, self._drains)
        except AerospikeServerError as exc:
            raise self._named(exc, len(keys)) from None
        return self._finish(chunk, keys)

    def _keys(self, keys: Any) -> tuple[list, Any]:
        """The call's keys as a list, and what to hand :func:`aerodf.read_batch` when the
        compiled path does not take them (None when it does)."""
        given = keys
        if type(keys) is not list:
            if isinstance(keys, np.ndarray) and keys.ndim == 1 and keys.dtype.kind in "iu" and keys.dtype != np.uint64:
                keys = keys.tolist()
            else:
                keys = list(keys)
                if not (isinstance(given, np.ndarray) or hasattr(given, "to_list") or hasattr(given, "to_pylist")):
                    given = keys  # an iterator: read_batch gets what it held
        if self.plan is None or not 0 < len(keys) <= self.chunk_size or not set(map(type, keys)) <= _KEY_TYPES:
            return keys, given
        return keys, None

    @staticmethod
    def _named(exc: AerospikeServerError, n: int) -> AerospikeServerError:
        """The error :func:`aerodf.read_batch` raises for ``exc`` (keys not read named its way)."""
        if exc.keys and not isinstance(exc, RecordNotFoundError):
            return unread_error([Unread(exc, exc.keys)], n)
        return exc

    def _finish(self, chunk: Any, keys: list) -> Any:
        """The answer as the reader's output, by read_batch's rules (missing records, bad values)."""
        n = len(keys)
        if self._numpy is not None and not self.key_name and getattr(chunk, "raw", None) is not None:
            direct = self._numpy_direct(chunk, n)
            if direct is not None:
                return direct
        if self._polars is not None and getattr(chunk, "raw", None) is not None:
            direct = self._polars_direct(chunk, n)
            if direct is not None:
                return direct
        source = None
        if self.key_name:
            source = KeySource(keys, self.namespace, self.set)
            out_schema = self._with_key(source.key_type())
        else:
            out_schema = self._out_schemas[None]
        missing: list[Any] = []
        rules = ChunkRules(source, self.schema, out_schema, self.on_missing, self.on_type_error, self.strings,
                           self.key_name, self.with_meta, missing)
        arrays = decode_wire(rules, chunk, 0, n, keys)
        if missing:
            raise RecordNotFoundError(f"{len(missing)} of {n} records not found (or filtered out): "
                                      f"{describe_keys(missing)}", code=2, keys=missing)
        if self._numpy is not None and source is None:
            return self._to_numpy(arrays, n)
        return convert(pa.Table.from_arrays(arrays, schema=out_schema), self.output,
                       dtype_backend=self.dtype_backend)

    def _numpy_direct(self, chunk: Any, n: int) -> np.ndarray | None:
        """``output="numpy"`` straight from the kernel's buffers when read_batch's rules have
        nothing to do (every row decoded by the kernel; every record found, or missing ones
        null); else None (the general assembly, which raises or drops as read_batch does).
        The array is what :func:`aerodf.output.to_numpy` makes: masked where null, 0 / False
        underneath (the kernel writes zeros there)."""
        if not self._usable(chunk):
            return None
        found = chunk.codes == 0
        out = np.empty(n, dtype=self._numpy)
        masks = None
        names = self._numpy.names
        for i, col in enumerate(chunk.raw):
            values, valid, nulls, _bad = col
            name = names[i]
            if self._bools[i]:
                out[name] = np.unpackbits(np.frombuffer(values, dtype=np.uint8), count=n, bitorder="little")
            else:
                out[name] = np.frombuffer(values, dtype=out.dtype[i], count=n)
            if nulls:
                if masks is None:
                    masks = np.zeros(n, dtype=self._mask_dtype)
                masks[name] = np.unpackbits(np.frombuffer(valid, dtype=np.uint8), count=n, bitorder="little") == 0
        if self.with_meta:
            out["generation"] = chunk.generations
            out["ttl"] = chunk.ttls
            if not found.all():
                if masks is None:
                    masks = np.zeros(n, dtype=self._mask_dtype)
                masks["generation"] = masks["ttl"] = ~found
        return out if masks is None else np.ma.MaskedArray(out, mask=masks)

    def _usable(self, chunk: Any) -> bool:
        """Whether read_batch's rules leave the kernel's buffers as they are: every row
        decoded by the kernel, and every record found (or the missing ones null)."""
        if chunk.exact:
            return False
        codes = chunk.codes
        if not (codes == 0).all():
            return self.on_missing == "null" and self._all_nullable and bool(np.isin(codes, (0, 2, 27)).all())
        return True

    def _polars_direct(self, chunk: Any, n: int) -> Any:
        """``output="polars"`` from the kernel's buffers: a column without nulls becomes a
        Series straight from its values, the others from their Arrow form. Measured beside
        16 threads (a micro-benchmark), ``pl.from_arrow`` of a 100 x 10 table took 250 us a
        call and Series from NumPy 130 us. None: the general assembly."""
        if not self._usable(chunk):
            return None
        import polars as pl

        cols = []
        for i, col in enumerate(chunk.raw):
            values, valid, nulls, _bad = col
            name, dtype = self._polars[i]
            if nulls or dtype is None:
                arr = pa.Array.from_buffers(self._fields[i].type, n,
                                            [None if valid is None else pa.py_buffer(valid), pa.py_buffer(values)],
                                            null_count=nulls)
                cols.append(pl.Series(name, arr))
            else:
                cols.append(pl.Series(name, np.frombuffer(values, dtype=dtype, count=n)))
        return pl.DataFrame(cols)

    def _polars_plan(self) -> list[tuple[str, Any]] | None:
        """``(name, NumPy dtype or None for bools)`` of each column when ``output="polars"``
        reads only ints, floats and bools without key or metadata (:meth:`_polars_direct`)."""
        if self.output != "polars" or self.key_name or self.with_meta:
            return None
        out = []
        for f in self._fields:
            if pa.types.is_boolean(f.type):
                out.append((f.name, None))
            elif pa.types.is_integer(f.type) or pa.types.is_floating(f.type):
                out.append((f.name, np.dtype(f.type.to_pandas_dtype())))
            else:
                return None
        return out

    def _numpy_plan(self) -> np.dtype | None:
        """The structured dtype of ``output="numpy"`` when every column is an int, float or bool
        (then :meth:`_to_numpy` builds it from the buffers), else None (:func:`aerodf.output.to_numpy`)."""
        if self.output != "numpy":
            return None
        fields = self._out_schemas[None]
        if not all(pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type)
                   for f in fields):
            return None
        return np.dtype([(f.name, "?" if pa.types.is_boolean(f.type) else f.type.to_pandas_dtype()) for f in fields])

    def _to_numpy(self, arrays: list[pa.Array], n: int) -> np.ndarray:
        """What :func:`aerodf.output.to_numpy` makes of these arrays (a masked array when a value is
        null; nulls read 0 / False underneath), without its per-call type mapping."""
        out = np.empty(n, dtype=self._numpy)
        masks = None
        for i, (name, arr) in enumerate(zip(self._numpy.names, arrays)):
            nulls = arr.null_count
            if nulls:
                if masks is None:
                    masks = np.zeros(n, dtype=self._mask_dtype)
                masks[name] = mask = np.asarray(arr.is_null())
            if pa.types.is_boolean(arr.type) or arr.offset:
                filled = arr.fill_null(pa.scalar(False if pa.types.is_boolean(arr.type) else 0, arr.type)) \
                    if nulls else arr
                values = filled.to_numpy(zero_copy_only=False)
            else:
                values = np.frombuffer(arr.buffers()[1], dtype=out.dtype[i], count=n)
            out[name] = values
            if nulls:
                out[name][mask] = 0
        return out if masks is None else np.ma.MaskedArray(out, mask=masks)

    def _with_key(self, key_type: pa.DataType) -> pa.Schema:
        got = self._out_schemas.get(key_type)
        if got is None:
            got = self._out_schemas[key_type] = pa.schema(
                [pa.field(self.key_name, key_type, nullable=False), *self._fields])
        return got

    def _general(self, keys: list[Any]) -> Any:
        return read_batch(keys, self.schema, namespace=self.namespace, set=self.set, client=self.client,
                          chunk_size=self.chunk_size, on_missing=self.on_missing, on_type_error=self.on_type_error,
                          output=self.output, dtype_backend=self.dtype_backend, with_key=self.key_name or False,
                          with_meta=self.with_meta, progress=False, policy=self.policy)

    def close(self) -> None:
        """Close the reader's own client (a shared ``client`` stays open) and its asyncio connections."""
        if self._pools is not None:
            self._pools.close()
            self._pools = None
        if self._owns:
            self.client.close()

    async def aclose(self) -> None:
        """:meth:`close` from the event loop that ran :meth:`aread` (its connections close there)."""
        self.close()

    async def __aenter__(self) -> "ServingReader":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __enter__(self) -> "ServingReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<aerodf.serving.ServingReader {self.namespace}.{self.set} compiled={self.compiled} "
                f"kernel={self.kernel} fields={self.schema.names}>")
