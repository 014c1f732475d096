"""The interface every transport implements, in aerodf's own terms."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..policy import BatchPolicy, QueryPolicy, WritePolicy

Key = tuple  # (namespace, set, user key)


@dataclass
class RecordsChunk:
    """The answer to one batch read, in request order.

    ``codes[i]`` is the per-record result code (0 found, 2 not found, 27
    filtered out ...), ``bins[i]`` the record's bins (None unless found),
    ``generations[i]`` / ``ttls[i]`` its metadata (ttl -1 = never expires).
    """

    codes: list[int]
    bins: list[dict[str, Any] | None]
    generations: list[int]
    ttls: list[int]


class WriteResult(NamedTuple):
    """Outcome of one record of a batch write."""

    code: int
    in_doubt: bool
    message: str


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


def partition_ranges(pids: list[int]) -> str:
    """``0-9, 12`` for error messages."""
    out, start = [], None
    for i, p in enumerate(pids):
        if start is None:
            start = p
        if i + 1 == len(pids) or pids[i + 1] != p + 1:
            out.append(f"{start}-{p}" if p != start else f"{p}")
            start = None
    return ", ".join(out) or "none"


def unread_message(message: str, partitions: list[int]) -> str:
    return f"{message}; partitions not read: {partition_ranges(partitions)}"


class Transport(abc.ABC):
    """A connection to one cluster."""

    name: str = "abstract"
    numpy_batches: bool = False  # has batch_read_numpy (aerodf.fastpath)
    columnar: bool = False  # has wire_plan + read_plan: schemas decoded straight into columns (wire)
    # writes a string holding a NUL byte as given (the official client cuts it at the NUL)
    writes_nul_strings: bool = True

    @abc.abstractmethod
    def batch_read(self, keys: Sequence[Key], bins: list[str] | None, policy: BatchPolicy) -> RecordsChunk:
        """Read ``keys`` (``bins=None`` all bins, ``[]`` metadata only)."""

    @abc.abstractmethod
    def sample(self, namespace: str, set_name: str | None, n: int, policy: QueryPolicy) -> list[dict[str, Any]]:
        """Up to ``n`` records' bins from a scan (for schema inference)."""

    @abc.abstractmethod
    def batch_write(self, keys: Sequence[Key], rows: Sequence[dict[str, Any]], policy: WritePolicy,
                    batch: BatchPolicy, metas: Sequence[dict[str, int] | None] | None = None) -> list[WriteResult]:
        """Write one record per key (bins from ``rows``, per-row ``ttl`` / ``gen`` from ``metas``)."""

    @abc.abstractmethod
    def put(self, key: Key, bins: dict[str, Any], policy: WritePolicy) -> None:
        """Write one record."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
