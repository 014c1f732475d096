"""What a transport answers, in aerodf's terms: batch answers, write outcomes,
and the names of partitions a read could not finish.

Every transport (:mod:`aerodf.transport`) and the wire codec (:mod:`aerodf.wire`)
speak these, so neither package needs the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

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
