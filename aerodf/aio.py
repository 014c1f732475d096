"""asyncio feature fetch: ``await aerodf.aio.read_batch(...)`` and :class:`AsyncReader`.

For services that fetch 50-500 rows per request, thousands of times a second.
An :class:`AsyncReader` is opened once (at application start) and keeps its
connection, its compiled schema (dtype, server guard, output schema) and its
policy; each :meth:`AsyncReader.read` then only builds keys, awaits the
cluster and assembles columns.

Two transports:

``aerospike-py`` (the default when installed)
    Native async: the request runs on the Rust client's runtime and the
    event loop is free meanwhile.
``wire``
    aerodf's own reader (:class:`aerodf.serving.ServingReader`), natively
    async: requests and answers go over asyncio streams and the compiled
    kernel decodes them on the loop.
``official``
    The synchronous official client on a bounded thread pool (``workers``).

Either way the client's in-flight limiter (``max_in_flight``,
``queue_timeout``) bounds what reaches the cluster, and policies are the same
immutable :mod:`aerodf.policy` objects.

Examples
--------
>>> reader = await aerodf.aio.AsyncReader.open(  # doctest: +SKIP
...     {"clicks": "int32", "ctr": "float32"}, namespace="fs", set="users",
...     hosts="127.0.0.1:3000", output="numpy", max_in_flight=64)
>>> features = await reader.read(user_ids)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable

from .batch import Assembly, KeySource, check_read_options
from .client import Client, warn_fast_path_gone, parse_hosts, read_batch as sync_read
from .errors import ConfigError
from .limiter import Limiter
from .output import convert, strings_for
from .policy import BatchPolicy, resolve
from .schema import Schema
from .transport import resolve_name

__all__ = ["AsyncReader", "read_batch"]


class AsyncReader:
    """A long-lived async batch reader for one schema and one set.

    Create it with ``await AsyncReader.open(...)`` (or ``async with``); every
    option of :func:`aerodf.read_batch` that shapes the result is fixed here.

    Parameters
    ----------
    schema, namespace, set, output, dtype_backend, on_missing, on_type_error, with_key, with_meta, chunk_size
        As in :func:`aerodf.read_batch`.
    hosts
        Seed hosts (see :class:`aerodf.Client`).
    transport
        ``"auto"`` (aerospike-py when installed, else official), ``"aerospike-py"``,
        ``"official"`` or ``"wire"``.
    max_in_flight, queue_timeout
        The in-flight bound across all reads of this reader (0 = unbounded),
        and how long a read may wait for a slot before
        :class:`~aerodf.BackpressureError`.
    workers
        Threads for the official transport (default 8).
    fast_path
        Deprecated and ignored: the NumPy fast path was measured slower than
        the general path at every size and is gone (see :class:`aerodf.Client`).
    config
        Extra settings for the client library (e.g. aerospike-py's
        ``max_concurrent_operations``).
    policy, **policy_overrides
        A :class:`~aerodf.BatchPolicy`, or fields overriding the default.
    """

    def __init__(self, schema: Any, *, namespace: str, set: str | None = None, hosts: Any = None,
                 transport: str = "auto", output: str = "pandas", dtype_backend: str = "pyarrow",
                 on_missing: str = "null", on_type_error: str = "raise", with_key: bool | str = False,
                 with_meta: bool = False, chunk_size: int = 5000, max_in_flight: int = 0,
                 queue_timeout: float | None = None, workers: int = 8, fast_path: bool = False,
                 config: dict[str, Any] | None = None,
                 policy: BatchPolicy | None = None, **policy_overrides: Any) -> None:
        self.schema = schema if isinstance(schema, Schema) else Schema(schema)
        self.key_name = check_read_options(self.schema, output, dtype_backend, on_missing, on_type_error,
                                           chunk_size, with_key, with_meta)
        self.namespace, self.set = namespace, set
        self.output, self.dtype_backend = output, dtype_backend
        self.on_missing, self.on_type_error = on_missing, on_type_error
        self.with_meta = with_meta
        self.chunk_size = chunk_size
        self.strings = strings_for(output)
        self.policy = resolve(BatchPolicy(), policy, policy_overrides)
        self.hosts = parse_hosts(hosts)
        self.transport_name = resolve_name(transport)
        self.limiter = Limiter(max_in_flight, queue_timeout)
        self._workers, self._config = workers, config
        if fast_path:
            warn_fast_path_gone()
        self.fast_path = False
        self._transport: Any = None  # AsyncPyTransport
        self._client: Client | None = None  # official, on threads
        self._pool: ThreadPoolExecutor | None = None
        self._serving: Any = None  # aerodf.serving.ServingReader, on the wire transport

    @classmethod
    async def open(cls, schema: Any, **kwargs: Any) -> "AsyncReader":
        """A connected reader (see the class for the options)."""
        return await cls(schema, **kwargs).connect()

    async def connect(self) -> "AsyncReader":
        if self.transport_name == "aerospike-py":
            from .transport.aerospike_py import AsyncPyTransport

            self._transport = await AsyncPyTransport(self.hosts, config=self._config).connect()
        else:
            loop = asyncio.get_running_loop()
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="aerodf-aio")
            self._client = await loop.run_in_executor(self._pool, functools.partial(
                Client, self.hosts, transport=self.transport_name, batch_policy=self.policy, workers=1,
                config=self._config))
            if self.transport_name == "wire":  # compiled once: each read is keys -> arrays (aerodf.serving)
                from .serving import ServingReader

                self._serving = ServingReader(
                    self.schema, namespace=self.namespace, set=self.set, client=self._client, output=self.output,
                    dtype_backend=self.dtype_backend, on_missing=self.on_missing, on_type_error=self.on_type_error,
                    with_key=self.key_name or False, with_meta=self.with_meta, chunk_size=self.chunk_size,
                    policy=self.policy)
        return self

    @property
    def path(self) -> str:
        """Which path serves reads: ``wire`` or ``general``."""
        if self._client is not None and self._client.transport.columnar and \
                self._client.transport.wire_plan(self.schema) is not None:
            return "wire"
        return "general"

    async def read(self, keys: Iterable[Any]) -> Any:
        """The records of ``keys`` as a frame (or table / array), in key order."""
        if self._transport is None and self._client is None:
            raise ConfigError("AsyncReader is not connected: use `await AsyncReader.open(...)` or `async with`")
        if self._client is not None:
            async with self.limiter.aslot():
                if self._serving is not None:  # the wire transport: natively on this loop
                    return await self._serving.aread(keys)
                return await asyncio.get_running_loop().run_in_executor(self._pool, self._read_sync, keys)
        source = KeySource(keys, self.namespace, self.set)
        n = source.n
        bounds = [(s, min(s + self.chunk_size, n)) for s in range(0, n, self.chunk_size)]
        asm = Assembly(source, self.schema, None, on_missing=self.on_missing,
                       on_type_error=self.on_type_error, strings=self.strings, key_name=self.key_name,
                       with_meta=self.with_meta, chunks=len(bounds))
        if len(bounds) == 1:
            answers = [await self._fetch(source, *bounds[0])]
        else:
            answers = await asyncio.gather(*(self._fetch(source, s, e) for s, e in bounds))
        for (s, e), (chunk, user_keys) in zip(bounds, answers):
            asm.add(s, e, chunk, user_keys)
        return convert(asm.finish(), self.output, dtype_backend=self.dtype_backend)

    async def _fetch(self, source: KeySource, start: int, end: int):
        user_keys = source.user_keys(start, end)
        client_keys = source.client_keys(start, end, user_keys)
        async with self.limiter.aslot():
            chunk = await self._transport.batch_read(client_keys, self.schema.bins, self.policy)
        return chunk, user_keys

    def _read_sync(self, keys: Iterable[Any]) -> Any:

        return sync_read(keys, self.schema, namespace=self.namespace, set=self.set, client=self._client,
                         chunk_size=self.chunk_size, on_missing=self.on_missing, on_type_error=self.on_type_error,
                         output=self.output, dtype_backend=self.dtype_backend,
                         with_key=self.key_name or False, with_meta=self.with_meta, progress=False)

    async def close(self) -> None:
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        if self._serving is not None:
            await self._serving.aclose()  # its asyncio connections (the client is closed below)
            self._serving = None
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.get_running_loop().run_in_executor(self._pool, client.close)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    async def __aenter__(self) -> "AsyncReader":
        if self._transport is None and self._client is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (f"<aerodf.aio.AsyncReader {self.namespace}.{self.set} transport={self.transport_name} "
                f"path={self.path} fields={self.schema.names}>")


async def read_batch(keys: Iterable[Any], schema: Any, *, namespace: str, set: str | None = None,
                     hosts: Any = None, transport: str = "auto", **kwargs: Any) -> Any:
    """One-off ``await`` of :func:`aerodf.read_batch` (connects and closes).

    Services should keep an :class:`AsyncReader` instead: connecting costs a
    cluster tend, far more than a read.
    """
    async with AsyncReader(schema, namespace=namespace, set=set, hosts=hosts, transport=transport,
                           **kwargs) as reader:
        return await reader.read(keys)
