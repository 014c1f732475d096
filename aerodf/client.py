"""The aerodf client: one connection to a cluster, its default policies and
its in-flight limiter, shared by every call (and thread) that uses it.

The module-level API functions take ``client=`` or ``hosts=``; with hosts they
open a client for the one call (:func:`session`), as httpx's top-level
functions do. :func:`read_batch` lives here, beside the class whose method it
is, so that the read engine (:mod:`aerodf.batch`) never imports the client.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from . import gcpause
from .batch import KeySource, check_read_options, read_chunks
from .errors import ClientClosedError, ConfigError
from .limiter import Limiter, LimiterStats
from .output import convert, strings_for
from .policy import BatchPolicy, QueryPolicy, ReadPolicy, WritePolicy, resolve
from .progress import want_progress
from .schema import Schema
from .transport import open_transport

ENV_HOSTS = "AERODF_HOSTS"


def warn_fast_path_gone() -> None:
    """``fast_path=True`` still works, with this warning: the path it chose is gone."""
    warnings.warn("fast_path is deprecated and has no effect: the NumPy fast path was measured slower than the "
                  "general path at every size and was removed; the general path returns the same frame",
                  DeprecationWarning, stacklevel=3)


def parse_hosts(hosts: Any) -> list[tuple[str, int]]:
    """``"a:3000,b:3000"``, ``["a:3000"]`` or ``[("a", 3000)]`` -> ``[("a", 3000), ...]``."""
    if hosts is None:
        hosts = os.environ.get(ENV_HOSTS)
        if not hosts:
            raise ConfigError(f"no hosts given: pass hosts=['host:port'] or a client=, or set {ENV_HOSTS}")
    if isinstance(hosts, str):
        hosts = [h for h in hosts.split(",") if h.strip()]
    elif isinstance(hosts, tuple) and len(hosts) == 2 and isinstance(hosts[0], str):
        hosts = [hosts]
    elif not isinstance(hosts, (list, tuple)):
        raise ConfigError(f"hosts must be 'host:port', a list of them or of (host, port), not {hosts!r}")
    out = []
    for h in hosts:
        if isinstance(h, (tuple, list)) and len(h) == 2:
            out.append((str(h[0]), int(h[1])))
        elif isinstance(h, str):
            host, sep, port = h.strip().rpartition(":")
            if not sep:
                host, port = port, "3000"
            try:
                out.append((host, int(port)))
            except ValueError:
                raise ConfigError(f"bad host {h!r}: expected host:port") from None
        else:
            raise ConfigError(f"bad host {h!r}: expected 'host:port' or (host, port)")
    if not out:
        raise ConfigError("hosts is empty")
    return out


class Client:
    """A connection to an Aerospike cluster.

    Parameters
    ----------
    hosts
        Seed nodes: ``"host:port[,host:port]"``, a list of such strings, or of
        ``(host, port)`` tuples.
    transport
        ``"official"`` (the official ``aerospike`` client; default),
        ``"aerospike-py"`` (the Rust-core client: NumPy fast path for numeric
        schemas, native async in :mod:`aerodf.aio`) or ``"auto"`` (aerospike-py
        when installed), or ``"wire"`` (aerodf's own protocol client: batch
        reads, scans and index queries decoded straight into columns, the rest
        -- writes, native filter expressions, TLS/auth -- through the official
        client). ``client.transport_name`` says which one runs.
    read_policy, batch_policy, write_policy, query_policy
        Client-wide defaults (immutable; see :mod:`aerodf.policy`). Each call
        starts from these and applies its own overrides to a copy.
    max_in_flight
        Bound on operations in flight across all threads using this client
        (0 = unbounded). A batch chunk or a partition range counts as one.
    queue_timeout
        Seconds a call may wait for an in-flight slot before
        :class:`~aerodf.BackpressureError` (None = wait forever).
    workers
        Threads that issue requests concurrently (default 2, or
        ``max_in_flight`` if smaller). Through the official client, building
        records holds the GIL, so two threads (one waiting on the network
        while the other builds) were fastest on 2 cores, and each chunk in
        flight holds ~9 MB of record objects per 5 000 keys; raise it for
        clusters with high network latency.
    pause_gc
        Pause Python's cyclic garbage collector while a read builds objects
        (see :mod:`aerodf.gcpause`: it halves the time of large reads through
        the official client). The caller's setting is restored afterwards.
    fast_path
        Deprecated and ignored (a :class:`DeprecationWarning`): aerospike-py's
        ``to_numpy`` fast path was exact but measured slower than the general
        path at every size (10 000 to 1 000 000 keys), so it was removed; the
        general path runs and returns the same frame.
    config
        Extra settings passed to the transport's client library.

    Attributes
    ----------
    read_paths
        Records read per decoding path: ``"wire"`` (decoded straight into
        columns by the wire transport) or ``"general"``.

    Examples
    --------
    >>> with aerodf.connect("127.0.0.1:3000", max_in_flight=16) as client:  # doctest: +SKIP
    ...     df = client.read_batch(keys, schema, namespace="test", set="users")
    """

    def __init__(self, hosts: Any = None, *, transport: str = "official",
                 read_policy: ReadPolicy | None = None, batch_policy: BatchPolicy | None = None,
                 write_policy: WritePolicy | None = None, query_policy: QueryPolicy | None = None,
                 max_in_flight: int = 0, queue_timeout: float | None = None, workers: int | None = None,
                 pause_gc: bool = True, fast_path: bool = False, config: dict[str, Any] | None = None) -> None:
        self.hosts = parse_hosts(hosts)
        self.read_policy = read_policy or ReadPolicy()
        self.batch_policy = batch_policy or BatchPolicy()
        self.write_policy = write_policy or WritePolicy()
        self.query_policy = query_policy or QueryPolicy()
        for name, cls in (("read_policy", ReadPolicy), ("batch_policy", BatchPolicy),
                          ("write_policy", WritePolicy), ("query_policy", QueryPolicy)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"{name} must be a {cls.__name__}")
        self.limiter = Limiter(max_in_flight, queue_timeout)
        if workers is None:
            workers = min(max_in_flight, 2) if max_in_flight else 2
        if workers < 1:
            raise ConfigError("workers must be at least 1")
        self.workers = workers
        self.pause_gc = bool(pause_gc)
        self._closed = False
        self._transport = open_transport(transport, self.hosts, config=config)
        if fast_path:
            warn_fast_path_gone()
        self.fast_path = False
        self._executor: ThreadPoolExecutor | None = None
        self._detached: list[Any] = []
        self._lock = threading.Lock()
        self.read_paths: Counter[str] = Counter()

    def count_path(self, path: str, records: int) -> None:
        """Record which decoding path served a read (see :attr:`read_paths`)."""
        with self._lock:
            self.read_paths[path] += records

    @property
    def transport(self):
        """The open :class:`~aerodf.transport.base.Transport`; every call reaches the
        cluster through it, so after :meth:`close` it raises :class:`~aerodf.errors.ClientClosedError`
        (before anything is sent) instead of a client library's connection error."""
        if self._closed:
            hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
            raise ClientClosedError(f"this aerodf client ({hosts}) is closed (close() or the end of its `with` "
                                    f"block); nothing was sent: use an open client or aerodf.connect() again")
        return self._transport

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def transport_name(self) -> str:
        """Which transport serves this client's reads (``official`` ...)."""
        return self._transport.name

    def executor(self) -> ThreadPoolExecutor:
        """The client's request threads (created on first use, shared by calls)."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="aerodf")
            return self._executor

    def metrics(self) -> LimiterStats:
        """In flight now, waiting now, total waits, total rejections, peak."""
        return self.limiter.stats()

    def read_batch(self, keys: Iterable[Any], schema: Any, **kwargs: Any):
        """:func:`aerodf.read_batch` with this client; see there."""
        return read_batch(keys, schema, client=self, **kwargs)

    def detach(self, pool: Any) -> None:
        """Keep a worker pool that a call left running (after Ctrl-C) until :meth:`close`:
        its threads end on their own, and the client library must outlive them."""
        with self._lock:
            self._detached.append(pool)

    def close(self) -> None:
        """Release the connections; closing twice is harmless, any later call raises
        :class:`~aerodf.errors.ClientClosedError`."""
        with self._lock:
            ex, self._executor = self._executor, None
            detached, self._detached = self._detached, []
            closed, self._closed = self._closed, True
        if ex is not None:
            ex.shutdown(wait=True)
        for pool in detached:
            pool.shutdown(wait=True)
        if not closed:
            self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
        return f"<aerodf.Client {hosts} transport={self.transport_name} max_in_flight={self.limiter.max_in_flight}>"


def connect(hosts: Any = None, **kwargs: Any) -> Client:
    """Connect to a cluster; see :class:`Client` for the options."""
    return Client(hosts, **kwargs)


@contextmanager
def session(client: Client | None, hosts: Any = None, **kwargs: Any) -> Iterator[Client]:
    """``client`` itself, or a client on ``hosts`` opened for one call and closed after it
    (``kwargs``: its options)."""
    if client is not None:
        yield client
        return
    c = Client(hosts, **kwargs)
    try:
        yield c
    finally:
        c.close()


def read_batch(
    keys: Iterable[Any],
    schema: Any,
    *,
    namespace: str | None = None,
    set: str | None = None,
    client: Client | None = None,
    hosts: Any = None,
    chunk_size: int = 5000,
    max_in_flight: int | None = None,
    on_missing: str = "null",
    on_type_error: str = "raise",
    output: str = "pandas",
    dtype_backend: str = "pyarrow",
    with_key: bool | str = False,
    with_meta: bool = False,
    progress: bool | None = None,
    policy: BatchPolicy | None = None,
    **policy_overrides: Any,
):
    """Read records by key into a typed frame, in key order.

    Parameters
    ----------
    keys
        User keys (a list, NumPy array, pandas / polars Series or Arrow array
        of int, str or bytes) with ``namespace`` and ``set``, or full
        ``(namespace, set, key)`` tuples.
    schema
        A :class:`~aerodf.Schema` or anything it accepts (``{"age": "int32"}``,
        a pyarrow schema, a NumPy dtype ...). Only its bins are requested.
    namespace, set
        Where plain user keys live.
    client, hosts
        An open :class:`~aerodf.Client`, or seed hosts to connect to for this
        call only.
    chunk_size
        Keys per batch request.
    max_in_flight
        With ``hosts``: the temporary client's in-flight bound. With
        ``client``: at most this many of this call's chunks at once (the
        client's own bound still applies).
    on_missing
        A record that does not exist (or that the policy's ``filter``
        expression rejects) becomes a row of nulls (``"null"``), is left out
        (``"drop"``), or raises :class:`~aerodf.RecordNotFoundError` listing
        every missing key (``"raise"``).
    on_type_error
        A bin of the wrong type or an integer too wide for its field raises
        (``"raise"``, naming key and bin) or becomes null (``"null"``).
    output
        ``"pandas"``, ``"polars"``, ``"arrow"`` (a ``pyarrow.Table``) or
        ``"numpy"`` (a structured array; masked where values are null).
    dtype_backend
        For pandas: ``"pyarrow"`` (zero-copy ``ArrowDtype`` columns),
        ``"numpy_nullable"`` (masked dtypes; a stored NaN stays NaN, distinct
        from ``<NA>``) or ``"numpy"`` (an integer column with nulls becomes
        ``object``: exact ints and ``None``, never a lossy float64).
    with_key
        Add the user key as a first column (named ``"key"``, or the string given).
    with_meta
        Add ``generation`` and ``ttl`` (seconds; -1 = never expires) columns.
    progress
        Show a tqdm progress bar (default: only on an interactive terminal).
    policy, **policy_overrides
        A :class:`~aerodf.BatchPolicy`, or fields to override on the client's
        default (``total_timeout=500``, ``max_retries=0`` ...).

    Returns
    -------
    pandas.DataFrame | polars.DataFrame | pyarrow.Table | numpy.ndarray

    Examples
    --------
    >>> df = aerodf.read_batch(range(1000), {"age": "int32", "name": "string"},
    ...                        namespace="test", set="users", hosts="127.0.0.1:3000")  # doctest: +SKIP
    """
    schema = schema if isinstance(schema, Schema) else Schema(schema)
    key_name = check_read_options(schema, output, dtype_backend, on_missing, on_type_error, chunk_size,
                                  with_key, with_meta)
    source = KeySource(keys, namespace, set)
    with session(client, hosts, max_in_flight=max_in_flight or 0) as c:
        pol = resolve(c.batch_policy, policy, policy_overrides)
        per_call = max_in_flight if (max_in_flight and c is client) else c.workers
        with gcpause.paused(c.pause_gc):
            table = read_chunks(c, source, schema, pol, chunk_size=chunk_size,
                                concurrency=max(1, min(per_call, c.workers)), on_missing=on_missing,
                                on_type_error=on_type_error, strings=strings_for(output), key_name=key_name,
                                with_meta=with_meta, progress=want_progress(progress))
    return convert(table, output, dtype_backend=dtype_backend)
