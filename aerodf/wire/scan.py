"""Partition scans on the wire, decoded straight into Arrow record batches.

Each node gets one partition query for the partitions it owns (a pid array,
plus a digest array for partitions resumed after a failure). Records stream
back as messages with fields (namespace, digest, set, user key) and bin ops.
The first record that holds exactly the plan's bins with the plan's types
and an integer (or no) user key fixes a byte layout; every later record
with the same header shape is assumed to share it, verified in bulk
(:func:`aerodf.wire.batch` does the same for batch reads), and decoded by
NumPy gathers. Other records are decoded op by op and go through the general
column builders. A node that fails mid-stream, or a partition answered
"unavailable", is resumed from the last digest seen in each partition, up to
``max_retries`` times; then the error lists the partitions not read.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from .. import errors as E
from ..fastpath import FastChunk, FastPlan, as_dicts, columns, out_of_range
from ..policy import QueryPolicy, Replica
from ..protocol.constants import INFO1_READ, INFO3_LAST, MSG_TYPE_DATA, N_PARTITIONS, OP_READ
from ..protocol.framing import FrameError, recv_frame
from ..protocol.message import FIELD_HEADER, HEADER, MessageError, pack_field, pack_message_header, pack_op
from ..protocol.values import ValueCodecError, decode_particle
from ..transport.base import RecordsChunk, partition_ranges
from .batch import _BE, _PT, _WIDTH, _gather_be, ttl_of
from .cluster import Cluster

INFO3_PARTITION_DONE = 4
F_NS, F_SET, F_KEY, F_DIGEST, F_TASK, F_TIMEOUT, F_PIDS, F_DIGESTS = 0, 1, 2, 4, 7, 9, 11, 12
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class ScanLayout:
    body: int
    template: np.ndarray
    template_at: np.ndarray
    value_at: tuple[int, ...]
    digest_at: int
    key_at: int | None  # offset of the 8-byte int key, None: no key field
    n_fields: int


def _wire_dtype(plan: FastPlan, name: str) -> str:
    s = plan.dtype[name].str
    return "u1" if s == "|u1" else s


def derive(payload: bytes, start: int, nf: int, nops: int, plan: FastPlan) -> ScanLayout | None:
    """The layout of the record whose body starts at ``start``, if it can be a regular one."""
    pos = start
    fixed: list[int] = []
    digest_at = key_at = None
    try:
        for _ in range(nf):
            size, ftype = FIELD_HEADER.unpack_from(payload, pos)
            fixed.extend(range(pos - start, pos - start + 5))
            data_at = pos + 5
            n = size - 1
            if ftype == F_DIGEST and n == 20:
                digest_at = data_at - start
            elif ftype == F_KEY and n == 9 and payload[data_at] == 1:
                fixed.append(data_at - start)
                key_at = data_at + 1 - start
            elif ftype in (F_NS, F_SET):
                fixed.extend(range(data_at - start, data_at - start + n))
            else:
                return None
            pos = data_at + n
        if nops != len(plan.bins) or digest_at is None:
            return None
        values = []
        for name in plan.bins:
            size, op, ptype, _ver, nlen = struct.unpack_from(">IBBBB", payload, pos)
            dt = _wire_dtype(plan, name)
            bname = payload[pos + 8:pos + 8 + nlen]
            if op != OP_READ or ptype != _PT[dt] or bname != name.encode() or size != 4 + nlen + _WIDTH[dt]:
                return None
            fixed.extend(range(pos - start, pos - start + 8 + nlen))
            values.append(pos + 8 + nlen - start)
            pos += 4 + size
    except (struct.error, IndexError):
        return None
    body = pos - start
    at = np.asarray(fixed, dtype=np.int64)
    tmpl = np.frombuffer(payload, dtype=np.uint8)[start + at]
    return ScanLayout(body, tmpl.copy(), at, tuple(values), digest_at, key_at, nf)


def request(namespace: str, set_name: str | None, bins: list[str], fresh: list[int], resume: list[bytes],
            socket_timeout_ms: int, records_per_second: int) -> bytes:
    fields = [pack_field(F_NS, namespace.encode())]
    if set_name:
        fields.append(pack_field(F_SET, set_name.encode()))
    fields.append(pack_field(F_TASK, struct.pack(">Q", int.from_bytes(os.urandom(8), "big") >> 1)))
    fields.append(pack_field(F_TIMEOUT, _U32.pack(socket_timeout_ms)))
    if records_per_second:
        fields.append(pack_field(10, _U32.pack(records_per_second)))
    if fresh:
        fields.append(pack_field(F_PIDS, np.asarray(fresh, dtype="<u2").tobytes()))
    if resume:
        fields.append(pack_field(F_DIGESTS, b"".join(resume)))
    ops = [pack_op(OP_READ, 0, b, b"") for b in bins]
    msg = pack_message_header(info1=INFO1_READ, info3=INFO3_PARTITION_DONE, n_fields=len(fields),
                              n_ops=len(ops)) + b"".join(fields) + b"".join(ops)
    return struct.pack(">Q", (2 << 56) | (MSG_TYPE_DATA << 48) | len(msg)) + msg


class _Misaligned(Exception):
    pass


def _parse_exact(payload: bytes, pos: int, end: int, nf: int, nops: int):
    """(next pos, digest, user key, bins) of one record, op by op."""
    digest = key = None
    for _ in range(nf):
        size, ftype = FIELD_HEADER.unpack_from(payload, pos)
        data = payload[pos + 5:pos + 4 + size]
        if ftype == F_DIGEST:
            digest = data
        elif ftype == F_KEY and data:
            key = decode_particle(data[0], data[1:])
        pos += 4 + size
    bins = {}
    for _ in range(nops):
        size, _op, ptype, _ver, nlen = struct.unpack_from(">IBBBB", payload, pos)
        name = payload[pos + 8:pos + 8 + nlen].decode("utf-8", "replace")
        bins[name] = decode_particle(ptype, payload[pos + 8 + nlen:pos + 4 + size])
        pos += 4 + size
    if pos > end:
        raise _Misaligned
    return pos, digest, key, bins


class _Frame:
    """The records of one frame: regular offsets and irregular decoded records."""

    def __init__(self) -> None:
        self.regular: list[int] = []
        self.irregular: list[tuple[int, int, bytes | None, Any, dict]] = []  # gen, vt, digest, key, bins
        self.unavailable: list[int] = []
        self.last = False
        self.error = 0
        self.layout: ScanLayout | None = None


class ScanReader:
    """Reads one partition range for one plan and emits Arrow record batches."""

    def __init__(self, cluster: Cluster, namespace: str, set_name: str | None, plan: FastPlan,
                 policy: QueryPolicy, out_schema: pa.Schema, *, key_name: str | None, with_meta: bool,
                 on_type_error: str, strings: str, batch_size: int, row_counter: Callable[[int], int],
                 layouts: dict, lock: threading.Lock) -> None:
        self.cluster, self.ns, self.set = cluster, namespace, set_name
        self.plan, self.policy, self.out_schema = plan, policy, out_schema
        self.key_name, self.with_meta = key_name, with_meta
        self.on_type_error, self.strings, self.batch_size = on_type_error, strings, batch_size
        self.rows = row_counter
        self._layouts, self._lock = layouts, lock
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0

    # ------------------------------------------------------------------ frames
    def _layout(self) -> ScanLayout | None:
        return self._layouts.get((self.ns, self.set, self.plan.dtype))

    def _frame(self, payload: bytes) -> _Frame:
        fr = _Frame()
        lay = self._layout()
        end = len(payload)
        pos = 0
        unpack = HEADER.unpack_from
        hsize = HEADER.size
        n_ops = len(self.plan.bins)
        try:
            while pos < end:
                hsz, _i1, _i2, i3, _i4, rc, gen, vt, _ttl, nf, nops = unpack(payload, pos)
                if hsz != hsize:
                    raise _Misaligned
                if i3 & INFO3_LAST:
                    fr.last, fr.error = True, rc
                    break
                if i3 & INFO3_PARTITION_DONE:
                    if rc != 0:
                        fr.unavailable.append(gen)
                    pos += hsize
                    continue
                if (lay is not None and rc == 0 and nf == lay.n_fields and nops == n_ops
                        and pos + hsize + lay.body <= end):
                    fr.regular.append(pos)
                    pos += hsize + lay.body
                    continue
                if lay is None and rc == 0:
                    lay = derive(payload, pos + hsize, nf, nops, self.plan)
                    if lay is not None:
                        with self._lock:  # the first layout any thread found wins
                            lay = self._layouts.setdefault((self.ns, self.set, self.plan.dtype), lay)
                        continue  # this record is the first regular one (verified below)
                nxt, digest, key, bins = _parse_exact(payload, pos + hsize, end, nf, nops)
                pos = nxt
                if rc == 0:  # NOT_FOUND / FILTERED_OUT inside a scan: not a record
                    fr.irregular.append((gen, vt, digest, key, bins))
        except (struct.error, MessageError, IndexError, ValueCodecError, _Misaligned):
            return self._walk(payload)
        if fr.regular and lay is not None:
            arr = np.frombuffer(payload, dtype=np.uint8)
            starts = np.asarray(fr.regular, dtype=np.int64) + hsize
            if not (arr[starts[:, None] + lay.template_at[None, :]] == lay.template[None, :]).all():
                return self._walk(payload)
        fr.layout = lay
        return fr

    def _walk(self, payload: bytes) -> _Frame:
        fr = _Frame()
        pos, end = 0, len(payload)
        while pos < end:
            hsz, _i1, _i2, i3, _i4, rc, gen, vt, _ttl, nf, nops = HEADER.unpack_from(payload, pos)
            if hsz != HEADER.size:
                raise ConnectionError(f"bad message header size {hsz}")
            if i3 & INFO3_LAST:
                fr.last, fr.error = True, rc
                break
            if i3 & INFO3_PARTITION_DONE:
                if rc != 0:
                    fr.unavailable.append(gen)
                pos += hsz
                continue
            pos, digest, key, bins = _parse_exact(payload, pos + hsz, end, nf, nops)
            if rc == 0:
                fr.irregular.append((gen, vt, digest, key, bins))
        return fr

    # ------------------------------------------------------------------ batches
    def _batch(self, payload: bytes, fr: _Frame, last_digest: dict[int, bytes]) -> pa.RecordBatch | None:
        lay = fr.layout if fr.regular else None
        n_reg = len(fr.regular) if lay is not None else 0
        n = n_reg + len(fr.irregular)
        if n == 0:
            return None
        plan = self.plan
        data = np.zeros(n, dtype=plan.dtype)
        gens = np.zeros(n, dtype=np.uint32)
        vts = np.zeros(n, dtype=np.uint32)
        keys_reg = None
        if n_reg:
            arr = np.frombuffer(payload, dtype=np.uint8)
            heads = np.asarray(fr.regular, dtype=np.int64)
            starts = heads + HEADER.size
            gens[:n_reg] = _gather_be(arr, heads + 6, 4, ">u4")
            vts[:n_reg] = _gather_be(arr, heads + 10, 4, ">u4")
            for name, at in zip(plan.bins, lay.value_at):
                dt = _wire_dtype(plan, name)
                data[name][:n_reg] = _gather_be(arr, starts + at, _WIDTH[dt], _BE[dt])
            dig = arr[(starts + lay.digest_at)[:, None] + np.arange(20)[None, :]]
            pids = (dig[:, 0].astype(np.int64) | (dig[:, 1].astype(np.int64) << 8)) & (N_PARTITIONS - 1)
            # the last record of each partition in this frame is its resume point
            rev = pids[::-1]
            uniq, first = np.unique(rev, return_index=True)
            for pid, i in zip(uniq.tolist(), (len(pids) - 1 - first).tolist()):
                last_digest[pid] = dig[i].tobytes()
            if lay.key_at is not None:
                keys_reg = _gather_be(arr, starts + lay.key_at, 8, ">i8")
        irregular = fr.irregular
        for j, (gen, vt, digest, _key, _bins) in enumerate(irregular):
            gens[n_reg + j], vts[n_reg + j] = gen, vt
            if digest is not None:
                last_digest[(digest[0] | (digest[1] << 8)) & (N_PARTITIONS - 1)] = digest
        offset = self.rows(n)
        keys: list[Any] = [None] * n
        for j, rec in enumerate(irregular):
            keys[n_reg + j] = rec[3]
        redo = np.arange(n_reg, n, dtype=np.int64)
        general = RecordsChunk(codes=[0] * len(irregular), bins=[r[4] for r in irregular],
                               generations=[r[0] for r in irregular], ttls=[])
        chunk = FastChunk(data, np.zeros(n, dtype=np.int64), np.empty(0), redo, general if len(redo) else None)
        if plan.ranges and n_reg:
            self._ranges_to_general(chunk, n_reg)
        arrays: list[pa.Array] = []
        if self.key_name:
            arrays.append(self._key_array(keys_reg, n_reg, keys))
        arrays.extend(columns(chunk, plan, _Keys(keys_reg, keys), offset, None, self.on_type_error, self.strings))
        if self.with_meta:
            ttl = ttl_of(vts).astype(np.int64)
            ttl[ttl == 0xFFFFFFFF] = -1
            arrays.append(pa.array(gens, type=pa.uint32()))
            arrays.append(pa.array(ttl, type=pa.int64()))
        return pa.RecordBatch.from_arrays(arrays, schema=self.out_schema)

    def _ranges_to_general(self, chunk: FastChunk, n_reg: int) -> None:
        """Ints too wide for their field: rebuilt as dicts for the general builders."""
        data = chunk.data
        regular = np.zeros(len(data), dtype=bool)
        regular[:n_reg] = True
        idx = np.flatnonzero(out_of_range(self.plan, data, regular))
        if not len(idx):
            return
        extra = as_dicts(self.plan, data, idx)
        old = chunk.general
        chunk.redo = np.concatenate([idx, chunk.redo])
        chunk.general = RecordsChunk(codes=[0] * len(chunk.redo), bins=extra + (old.bins if old else []),
                                     generations=[], ttls=[])

    def _key_array(self, keys_reg, n_reg: int, keys: list) -> pa.Array:
        t = self.out_schema.field(self.key_name).type
        if keys_reg is not None and n_reg == len(keys):
            return pa.array(keys_reg, type=t)
        rest = pa.array(keys[n_reg:], type=t)
        if n_reg == 0:
            return rest
        head = pa.array(keys_reg, type=t) if keys_reg is not None else pa.nulls(n_reg, type=t)
        return pa.concat_arrays([head, rest])

    # ------------------------------------------------------------------ driving
    def run(self, begin: int, count: int, emit: Callable[[pa.RecordBatch], bool], stop: threading.Event) -> None:
        todo: dict[int, bytes | None] = {pid: None for pid in range(begin, begin + count)}
        attempt = 0
        last_error: Exception | None = None
        policy = self.policy
        while todo and not stop.is_set():
            owners = self.cluster.owners(self.ns)
            replica = 0 if policy.replica == Replica.MASTER else attempt % owners.shape[0]
            by_node: dict[int, list[int]] = {}
            for pid in todo:
                by_node.setdefault(int(owners[replica, pid]), []).append(pid)
            nodes = self.cluster.map.nodes
            timeout = policy.socket_timeout / 1000 if policy.socket_timeout else None
            streams = []
            for ni, pids in by_node.items():
                if ni < 0 or ni >= len(nodes):
                    last_error = E.ClusterConnectionError("no node holds partitions "
                                                          + partition_ranges(sorted(pids)), code=11)
                    continue
                node = nodes[ni]
                try:
                    sock = node.acquire(timeout)
                except E.ClusterConnectionError as exc:
                    last_error = exc
                    continue
                try:
                    sock.settimeout(timeout)
                    sock.sendall(request(self.ns, self.set, self.plan.bins, [p for p in pids if todo[p] is None],
                                         [todo[p] for p in pids if todo[p] is not None],
                                         policy.socket_timeout, policy.records_per_second))
                    streams.append((node, sock, pids))
                except OSError as exc:
                    node.release(sock, healthy=False)
                    last_error = E.ClusterConnectionError(f"node {node.name}: {exc}", code=-10)
            for node, sock, pids in streams:
                last_digest: dict[int, bytes] = {}
                healthy = False
                try:
                    healthy = self._stream(sock, last_digest, emit, stop, pids, todo)
                except socket.timeout:
                    last_error = E.TimeoutError_(f"node {node.name} scan timed out", code=9)
                except (OSError, ConnectionError, FrameError, MessageError, ValueCodecError) as exc:
                    last_error = E.ClusterConnectionError(f"node {node.name}: {exc}", code=-10)
                except E.AerospikeServerError as exc:
                    last_error = exc
                finally:
                    node.release(sock, healthy=healthy)
                    for pid, d in last_digest.items():
                        if pid in todo:
                            todo[pid] = d
                if stop.is_set():
                    return
            self._flush(emit)
            if not todo:
                return
            attempt += 1
            if attempt > policy.max_retries:
                break
            if isinstance(last_error, E.ClusterConnectionError):
                self.cluster.refresh()
            if policy.sleep_between_retries:
                time.sleep(policy.sleep_between_retries / 1000)
        if todo and not stop.is_set():
            left = sorted(todo)
            err = last_error or E.AerospikeServerError("scan incomplete")
            cls = type(err) if isinstance(err, E.AerospikeServerError) else E.AerospikeServerError
            raise cls(f"{err.args[0] if err.args else err}; partitions not read: {partition_ranges(left)}",
                      code=getattr(err, "code", None), partitions=left)

    def _stream(self, sock, last_digest: dict[int, bytes], emit, stop, pids: list[int],
                todo: dict[int, bytes | None]) -> bool:
        """Read one node's stream to its end; drop finished partitions from ``todo``."""
        unavailable: set[int] = set()
        while True:
            msg_type, payload = recv_frame(sock)
            if msg_type != MSG_TYPE_DATA:
                raise ConnectionError(f"scan answered with frame type {msg_type}")
            fr = self._frame(payload)
            unavailable.update(fr.unavailable)
            batch = self._batch(payload, fr, last_digest)
            if batch is not None:
                self.pending.append(batch)
                self.pending_rows += batch.num_rows
                if self.pending_rows >= self.batch_size:
                    if not self._flush(emit):
                        stop.set()
                        return False
            if fr.last:
                if fr.error not in (0, 2):
                    raise E.error_for_code(fr.error, f"scan answered {fr.error}")
                for pid in pids:
                    if pid not in unavailable:
                        todo.pop(pid, None)
                return True
            if stop.is_set():
                return False

    def _flush(self, emit) -> bool:
        if not self.pending:
            return True
        batches, self.pending, self.pending_rows = self.pending, [], 0
        out = batches[0] if len(batches) == 1 else pa.concat_batches(batches)
        return emit(out)


class _Keys:
    """Row -> user key for error messages (regular keys from the array)."""

    def __init__(self, regular, keys: list) -> None:
        self.regular, self.keys = regular, keys

    def __getitem__(self, i: int):
        if self.regular is not None and i < len(self.regular):
            return int(self.regular[i])
        return self.keys[i]
