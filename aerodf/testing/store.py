"""The test server's data: namespaces of 4096 partitions of records.

Records keep their bins in the encoded wire form (each bin as a ready READ op),
so serving a read is mostly joining bytes: the server must be fast enough that
benchmarks measure the client, not the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aerodf.protocol.constants import CITRUSLEAF_EPOCH, N_PARTITIONS, OP_READ
from aerodf.protocol.digest import partition_id
from aerodf.protocol.message import OP_HEADER
from aerodf.protocol.values import decode_particle

from .cdt_order import resolve_context


def now_citrusleaf() -> int:
    """Seconds since 2010-01-01, the server's clock for void times."""
    return int(time.time()) - CITRUSLEAF_EPOCH


class Bin:
    """One bin: its particle type and bytes, and its READ op as sent to clients."""

    __slots__ = ("ptype", "data", "op")

    def __init__(self, name: bytes, ptype: int, data: bytes) -> None:
        self.ptype = ptype
        self.data = data
        self.op = OP_HEADER.pack(4 + len(name) + len(data), OP_READ, ptype, 0, len(name)) + name + data

    def value(self):
        return decode_particle(self.ptype, self.data)


class Record:
    """A stored record. ``bins`` maps bin name to :class:`Bin`, in write order."""

    __slots__ = ("digest", "set_name", "key", "bins", "gen", "void_time", "last_update_ns", "_all_ops")

    def __init__(self, digest: bytes, set_name: str) -> None:
        self.digest = digest
        self.set_name = set_name
        self.key: tuple[int, bytes] | None = None  # (particle type, bytes) when sent
        self.bins: dict[str, Bin] = {}
        self.gen = 0
        self.void_time = 0
        self.last_update_ns = 0
        self._all_ops: bytes | None = None

    def all_ops(self) -> bytes:
        ops = self._all_ops
        if ops is None:
            ops = self._all_ops = b"".join(b.op for b in self.bins.values())
        return ops

    def size(self) -> int:
        """An estimate of the stored size, for record-too-big and record_size()."""
        return 40 + sum(len(n) + len(b.data) + 3 for n, b in self.bins.items()) + (
            len(self.key[1]) if self.key else 0
        )

    def ttl(self, now: int | None = None) -> int:
        if self.void_time == 0:
            return -1
        return max(self.void_time - (now if now is not None else now_citrusleaf()), 0)


@dataclass
class SIndex:
    """A secondary index definition. Queries evaluate it by filtering, which
    gives the same answers as a real index (indexes change speed, not results)."""

    name: str
    namespace: str
    set_name: str | None
    bin: str
    ktype: str  # NUMERIC | STRING | BLOB | GEO2DSPHERE
    itype: str = "DEFAULT"  # DEFAULT | LIST | MAPKEYS | MAPVALUES
    exp: str | None = None  # an expression index (8.1): its base64 expression instead of a bin
    exp_fn: object = field(default=None, compare=False, repr=False)  # (record, env) -> value
    ctx: str | None = None  # a CDT context (base64): index an element nested in the bin

    def values_of(self, rec: Record) -> list:
        """The indexable values of a record (several for list/map indexes)."""
        py = _KTYPE_PY.get(self.ktype)
        if self.exp_fn is not None:
            v = self.exp_fn(rec, {})
        else:
            b = rec.bins.get(self.bin)
            if b is None:
                return []
            v = b.value()
        if self.ctx is not None:
            v = _context_value(self.ctx, v)
        if self.itype == "DEFAULT":
            return [v] if type(v) is py else []
        if self.itype == "LIST" and isinstance(v, list):
            items = v
        elif self.itype == "MAPKEYS" and isinstance(v, dict):
            items = list(v.keys())
        elif self.itype == "MAPVALUES" and isinstance(v, dict):
            items = list(v.values())
        else:
            return []
        return [x for x in items if type(x) is py]


def _context_value(ctx_b64: str, value):
    import base64

    from aerodf.protocol.values import from_raw, unpack_raw

    return resolve_context(from_raw(unpack_raw(base64.b64decode(ctx_b64))), value)


_KTYPE_PY = {"NUMERIC": int, "INTEGER": int, "STRING": str, "BLOB": bytes}


@dataclass
class Namespace:
    name: str
    default_ttl: int = 0
    max_record_size: int = 1024 * 1024
    partitions: list[dict[bytes, Record]] = field(default_factory=lambda: [{} for _ in range(N_PARTITIONS)])
    # the same records indexed by set, so a set scan costs the set's size, not the namespace's
    by_set: dict[str, list[dict[bytes, Record]]] = field(default_factory=dict)
    sindexes: dict[str, SIndex] = field(default_factory=dict)

    def set_partition(self, set_name: str, pid: int) -> dict[bytes, Record]:
        parts = self.by_set.get(set_name)
        return parts[pid] if parts is not None else {}

    def get(self, digest: bytes, now: int | None = None) -> Record | None:
        rec = self.partitions[partition_id(digest)].get(digest)
        if rec is not None and rec.void_time and rec.void_time <= (now if now is not None else now_citrusleaf()):
            self.delete(digest)  # expired: gone, as the server's nsup would make it
            return None
        return rec

    def put(self, rec: Record) -> None:
        pid = partition_id(rec.digest)
        self.partitions[pid][rec.digest] = rec
        parts = self.by_set.get(rec.set_name)
        if parts is None:
            parts = self.by_set[rec.set_name] = [{} for _ in range(N_PARTITIONS)]
        parts[pid][rec.digest] = rec

    def delete(self, digest: bytes) -> bool:
        pid = partition_id(digest)
        rec = self.partitions[pid].pop(digest, None)
        if rec is None:
            return False
        self.by_set[rec.set_name][pid].pop(digest, None)
        return True

    def truncate(self, set_name: str | None, before_ns: int | None = None) -> int:
        """Delete records of a set (all sets when None) last updated before ``before_ns``."""
        sets = list(self.by_set) if set_name is None else [set_name]
        n = 0
        for s in sets:
            for part in self.by_set.get(s, ()):
                doomed = [d for d, r in part.items() if before_ns is None or r.last_update_ns <= before_ns]
                for d in doomed:
                    self.delete(d)
                n += len(doomed)
        return n

    def count(self, set_name: str | None = None, pids: Any = None) -> int:
        """Records of a set (the namespace when None), of the partitions ``pids`` (all when None)."""
        parts = self.partitions if set_name is None else self.by_set.get(set_name)
        if not parts:
            return 0
        if pids is None:
            return sum(len(p) for p in parts)
        return sum(len(parts[p]) for p in pids)

    def set_names(self) -> dict[str, int]:
        out = {s: sum(len(p) for p in parts) for s, parts in self.by_set.items() if s}
        return {s: n for s, n in out.items() if n}


class Store:
    """All namespaces of the (possibly multi-node) test cluster."""

    def __init__(self, namespaces=("test",), *, default_ttl: int = 0, max_record_size: int = 1024 * 1024):
        self.namespaces = {
            n: Namespace(n, default_ttl=default_ttl, max_record_size=max_record_size) for n in namespaces
        }
        self.udfs: dict[str, str] = {}  # registered UDF modules: file name -> base64 content
        self.last_filter = b""  # the newest filter expression a request carried (info "last-filter")
