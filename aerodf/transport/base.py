"""The interface every transport implements, in aerodf's own terms (and the
capabilities some add), so callers never depend on a client library."""

from __future__ import annotations

import abc
import re
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..policy import BatchPolicy, QueryPolicy, WritePolicy
from ..records import Key, RecordsChunk, WriteResult


def parse_sindex_list(raw: str, namespace: str, set_name: str | None) -> dict[str, str]:
    """``{bin: "numeric" | "string"}`` of the plain secondary indexes on a set,
    from an ``sindex-list:`` info answer (with or without the echoed command)."""
    body = raw.partition("\t")[2] if "\t" in raw else raw
    out: dict[str, str] = {}
    for item in body.strip().split(";"):
        kv = dict(p.split("=", 1) for p in item.split(":") if "=" in p)
        if kv.get("ns") != namespace or kv.get("indextype", "default").lower() not in ("default", "none"):
            continue
        if kv.get("set") not in (set_name, "NULL", "null", None) and set_name is not None:
            continue
        kind = kv.get("type", "").lower()
        if kind in ("numeric", "integer"):
            out[kv.get("bin", "")] = "numeric"
        elif kind == "string":
            out[kv.get("bin", "")] = "string"
    return out


def _stat(answer: str, name: str) -> str | None:
    """One ``name=value`` of an info answer (``;``- or ``:``-separated), None when absent."""
    m = re.search(r"(?:^|[;:])" + re.escape(name) + r"=([^;:]*)", answer)
    return m.group(1) if m else None


class SetSize(NamedTuple):
    """What the nodes say a set (or a namespace) holds, one copy counted: records and bytes
    (bytes None where the answer does not say)."""

    records: int
    bytes: int | None


def estimate_set(transport: "Transport", namespace: str, set_name: str | None) -> SetSize | None:
    """About how many records, and bytes, a set (the namespace when ``set_name`` is None) holds.

    Each node counts its master and replica copies (``objects`` and
    ``data_used_bytes`` of the ``sets/<ns>/<set>`` or ``namespace/<ns>`` info
    answer), so the sums over the nodes are divided by the namespace's
    effective replication factor. It is an estimate for planning (how a scan
    is cut and whether a second pass is cheaper than reading whole records),
    never a row count: None when a node does not answer or the answer does
    not parse.

    Examples
    --------
    >>> estimate_set(client.transport, "test", "users")  # doctest: +SKIP
    SetSize(records=20000, bytes=5440000)
    """
    try:
        rf = _replication_factor(transport, namespace)
        if rf is None:
            return None
        sets = transport.info_all(f"sets/{namespace}/{set_name}" if set_name else f"namespace/{namespace}")
    except Exception:  # planning only: the scan itself reports a real cluster problem
        return None
    try:
        records = sum(int(_stat(a, "objects") or 0) for a in sets)
        have = [_stat(a, "data_used_bytes") for a in sets if a.strip()]
        size = (sum(int(b) for b in have) // rf if None not in have else None) if have else 0
    except ValueError:
        return None
    return SetSize(records // rf, size)


RF_SECONDS = 5.0  # how long a namespace's replication factor is taken as known (it moves with the nodes)
_RF: "weakref.WeakKeyDictionary[Any, dict[str, tuple[float, int]]]" = weakref.WeakKeyDictionary()


def _replication_factor(transport: "Transport", namespace: str) -> int | None:
    """The namespace's effective replication factor (the smallest any node reports), asked
    once per :data:`RF_SECONDS`: one info round trip per scan instead of two."""
    now = time.monotonic()
    seen = _RF.setdefault(transport, {})
    got = seen.get(namespace)
    if got is not None and now - got[0] < RF_SECONDS:
        return got[1]
    spaces = transport.info_all(f"namespace/{namespace}")
    if not spaces:
        return None
    try:
        rf = max(1, min(int(_stat(a, "effective_replication_factor") or _stat(a, "replication-factor") or "")
                        for a in spaces))
    except ValueError:
        return None
    seen[namespace] = (now, rf)
    return rf


def estimate_records(transport: "Transport", namespace: str, set_name: str | None) -> int | None:
    """:func:`estimate_set`'s record count (None when unknown)."""
    got = estimate_set(transport, namespace, set_name)
    return None if got is None else got.records


class Transport(abc.ABC):
    """A connection to one cluster: everything aerodf's readers and writers call.

    Each implementation maps its client library's exceptions onto
    :mod:`aerodf.errors` in its own module, once (``map_error``), so callers
    see only aerodf's error tree. Capabilities beyond the required methods
    are declared by class, never probed by ``hasattr``:

    * :class:`ColumnarReads`: batch reads and scans decoded straight into
      Arrow columns (the ``wire`` transport). ``columnar`` says whether they
      are usable on this connection (False, e.g., with TLS configured).
    * ``writes_nul_strings``: whether a string holding a NUL byte is written
      as given (the official client cuts it at the NUL).
    """

    name: str = "abstract"
    columnar: bool = False
    writes_nul_strings: bool = True

    @abc.abstractmethod
    def batch_read(self, keys: Sequence[Key], bins: list[str] | None, policy: BatchPolicy) -> RecordsChunk:
        """Read ``keys`` (``bins=None`` all bins, ``[]`` metadata only); raises an
        :class:`~aerodf.AerospikeServerError` naming the keys not read."""

    @abc.abstractmethod
    def batch_write(self, keys: Sequence[Key], rows: Sequence[dict[str, Any]], policy: WritePolicy,
                    batch: BatchPolicy, metas: Sequence[dict[str, int] | None] | None = None) -> list[WriteResult]:
        """Write one record per key (bins from ``rows``, per-row ``ttl`` / ``gen`` from ``metas``)."""

    @abc.abstractmethod
    def query_range(self, namespace: str, set_name: str | None, bins: list[str] | None, policy: QueryPolicy, *,
                    begin: int, count: int, server_filter: tuple | None, native_filter: Any,
                    index: tuple | None, max_records: int | None, on_record: Callable[..., bool]) -> None:
        """Stream the records of partitions ``begin .. begin+count-1`` to
        ``on_record(user_key, generation, ttl, bins)`` (return False to stop); raises
        naming the partitions not read."""

    @abc.abstractmethod
    def sindexes(self, namespace: str, set_name: str | None) -> dict[str, str]:
        """``{bin: "numeric" | "string"}`` of the plain secondary indexes on a set."""

    @abc.abstractmethod
    def sample(self, namespace: str, set_name: str | None, n: int, policy: QueryPolicy) -> list[dict[str, Any]]:
        """Up to ``n`` records' bins from a scan (for schema inference)."""

    @abc.abstractmethod
    def info_all(self, command: str) -> list[str]:
        """Every node's answer to one info command (the value, without the echoed name).

        Not abstract, so a transport without it still works: planning that
        uses it (:func:`estimate_records`) falls back to its defaults."""
        raise NotImplementedError(f"{type(self).__name__} does not send info commands")

    def close(self) -> None:
        """Release connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ColumnarReads(abc.ABC):
    """The capability of reading straight into Arrow columns from a compiled plan."""

    columnar: bool = True

    @abc.abstractmethod
    def wire_plan(self, schema: Any) -> Any:
        """The compiled plan of ``schema``, or None when this schema cannot be read so."""

    @abc.abstractmethod
    def covers(self, policy: BatchPolicy) -> bool:
        """Whether a batch read under ``policy`` can run columnar."""

    @abc.abstractmethod
    def read_plan(self, keys: Sequence[Key], plan: Any, policy: BatchPolicy) -> Any:
        """One batch read decoded into columns (a chunk :mod:`aerodf.batch` assembles)."""

    @abc.abstractmethod
    def read_plan_keys(self, namespace: str, set_name: str, user_keys: list, plan: Any,
                       policy: BatchPolicy) -> Any:
        """:meth:`read_plan` for user keys of one namespace and set (no key tuples to build)."""

    @abc.abstractmethod
    def covers_scan(self, plan_server: Any, native: Any, index: Any, max_records: Any, key_type: Any) -> bool:
        """Whether a scan or query with these filters can run columnar."""

    @abc.abstractmethod
    def scan_range(self, namespace: str, set_name: str | None, plan: Any, policy: QueryPolicy, *,
                   begin: int, count: int, out_schema: Any, key_name: str | None, with_meta: bool,
                   server_filter: tuple | None = None, index: tuple | None = None,
                   on_type_error: str, strings: str, batch_size: int, row_counter: Any,
                   emit: Callable[..., Any], stop: Any, all_bins: bool = False) -> None:
        """Stream partitions ``begin .. begin+count-1`` as record batches to ``emit``
        (``all_bins``: whole records asked for, the plan's bins kept)."""


class Delegating(Transport):
    """A transport serving what it covers itself and the rest through ``delegate``
    (another, complete transport): one place forwards, not each subclass."""

    delegate: Transport

    def batch_read(self, keys: Sequence[Key], bins: list[str] | None, policy: BatchPolicy) -> RecordsChunk:
        return self.delegate.batch_read(keys, bins, policy)

    def batch_write(self, keys: Sequence[Key], rows: Sequence[dict[str, Any]], policy: WritePolicy,
                    batch: BatchPolicy, metas: Sequence[dict[str, int] | None] | None = None) -> list[WriteResult]:
        return self.delegate.batch_write(keys, rows, policy, batch, metas)

    def query_range(self, namespace: str, set_name: str | None, bins: list[str] | None, policy: QueryPolicy,
                    **kw: Any) -> None:
        return self.delegate.query_range(namespace, set_name, bins, policy, **kw)

    def sindexes(self, namespace: str, set_name: str | None) -> dict[str, str]:
        return self.delegate.sindexes(namespace, set_name)

    def sample(self, namespace: str, set_name: str | None, n: int, policy: QueryPolicy) -> list[dict[str, Any]]:
        return self.delegate.sample(namespace, set_name, n, policy)

    def info_all(self, command: str) -> list[str]:
        return self.delegate.info_all(command)

    def close(self) -> None:
        self.delegate.close()
