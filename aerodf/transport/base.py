"""The interface every transport implements, in aerodf's own terms."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

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


class Transport(abc.ABC):
    """A connection to one cluster."""

    name: str = "abstract"

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
