"""Partition scans on the wire, decoded straight into Arrow record batches.

Each node gets one partition query for the partitions it owns (a pid array,
plus a digest array for partitions resumed after a failure). Records stream
back as messages with fields (namespace, set, digest, user key) and bin ops.
With the compiled kernel (:mod:`aerodf.wire.kernel`) each frame is walked
and decoded in C into one batch (``Batch.scan``: records in order, the
"partition done" markers and each partition's last digest reported apart).
Without it, or for a frame the kernel passes on (not a run of whole
messages), each frame is walked by :func:`aerodf.wire.walk.locate`
(vectorized) and its records are decoded field by field over all rows at
once by :mod:`aerodf.wire.columns`, exactly as batch reads are. Either way,
rows the decoders refuse go through the general column builders. A node that fails mid-stream, or a partition answered
"unavailable", is resumed from the last digest seen in each partition, up to
``max_retries`` times; then the error lists the partitions not read.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from .. import errors as E
from ..arrow import ChunkContext, build_key
from ..policy import QueryPolicy, Replica
from ..protocol.constants import FIELD_FILTER_EXP, FIELD_INDEX_RANGE, INFO1_COMPRESS_RESPONSE, INFO1_GET_ALL, INFO1_READ, MSG_TYPE_DATA, N_PARTITIONS, OP_READ
from ..protocol.framing import FrameError, FrameReader
from ..protocol.message import MessageError, pack_field, pack_message_header, pack_op
from ..protocol.values import ValueCodecError, decode_particle
from ..records import partition_ranges
from . import kernel
from .batch import KernelChunk, framed, record_bins, ttl_of
from .cluster import Cluster
from .columns import WirePlan, assign, decode, decode_key, scatter, with_exact
from .walk import Located, be, locate, padded, walk_exact

INFO3_PARTITION_DONE = 4
F_NS, F_SET, F_KEY, F_DIGEST, F_TASK, F_TIMEOUT, F_PIDS, F_DIGESTS = 0, 1, 2, 4, 7, 9, 11, 12
MAX_FIELDS = 8
ALL_BINS_OPS = 64  # bins per record the vectorized walk takes when whole records are read
GROUP_ROWS = 16_384  # records decoded together (fewer with a smaller batch_size)
_U32 = struct.Struct(">I")


def request(namespace: str, set_name: str | None, bins: list[str], fresh: list[int], resume: list[bytes],
            socket_timeout_ms: int, records_per_second: int, filter_exp: bytes | None = None,
            compress: bool = False, index_range: bytes | None = None) -> bytes:
    fields = [pack_field(F_NS, namespace.encode())]
    if set_name:
        fields.append(pack_field(F_SET, set_name.encode()))
    fields.append(pack_field(F_TASK, struct.pack(">Q", int.from_bytes(os.urandom(8), "big") >> 1)))
    fields.append(pack_field(F_TIMEOUT, _U32.pack(socket_timeout_ms)))
    if records_per_second:
        fields.append(pack_field(10, _U32.pack(records_per_second)))
    if index_range:
        fields.append(pack_field(FIELD_INDEX_RANGE, index_range))
    if filter_exp:
        fields.append(pack_field(FIELD_FILTER_EXP, filter_exp))
    if fresh:
        fields.append(pack_field(F_PIDS, np.asarray(fresh, dtype="<u2").tobytes()))
    if resume:
        fields.append(pack_field(F_DIGESTS, b"".join(resume)))
    ops = [pack_op(OP_READ, 0, b, b"") for b in bins]
    info1 = INFO1_READ | (0 if bins else INFO1_GET_ALL) | (INFO1_COMPRESS_RESPONSE if compress else 0)
    msg = pack_message_header(info1=info1, info3=INFO3_PARTITION_DONE, n_fields=len(fields),
                              n_ops=len(ops)) + b"".join(fields) + b"".join(ops)
    return framed(msg, compress)


class ScanReader:
    """Reads one partition range for one plan and emits Arrow record batches."""

    def __init__(self, cluster: Cluster, namespace: str, set_name: str | None, plan: WirePlan,
                 policy: QueryPolicy, out_schema: pa.Schema, *, key_name: str | None, with_meta: bool,
                 on_type_error: str, strings: str, batch_size: int, row_counter: Callable[[int], int],
                 filter_exp: bytes | None = None, index_range: bytes | None = None, all_bins: bool = False) -> None:
        self.cluster, self.ns, self.set = cluster, namespace, set_name
        # whole records: no read ops sent (every bin comes back), the plan's bins decoded
        self.ask = [] if all_bins else plan.bins
        self.max_ops = max(ALL_BINS_OPS, len(plan.bins)) if all_bins else len(plan.bins)
        self.filter_exp = filter_exp  # field 43 (aerodf.wire.expr), sent with every partition query
        self.index_range = index_range  # field 22: a secondary-index query instead of a scan
        self.plan, self.policy, self.out_schema = plan, policy, out_schema
        self.key_name, self.with_meta = key_name, with_meta
        self.on_type_error, self.strings, self.batch_size = on_type_error, strings, batch_size
        self.rows = row_counter
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.kplan = kernel.plan_for(plan)  # frames decoded by the compiled kernel (None: NumPy)

    # ------------------------------------------------------------------ frames
    def _frame(self, payload: bytes):
        """(the frame's records as ``(buf, Located)`` or None, partitions answered unavailable,
        LAST seen, its code). Records are decoded later, several frames at once."""
        buf = padded(payload)
        loc = locate(buf, len(payload), MAX_FIELDS, self.max_ops, INFO3_PARTITION_DONE)
        if loc is None:
            try:
                loc = walk_exact(payload, INFO3_PARTITION_DONE)
            except ValueError as exc:
                raise MessageError(str(exc)) from None
        m = loc.markers
        unavailable = be(buf, m[buf[m + 5] != 0] + 6, 4).tolist() if len(m) else []
        codes = buf[loc.heads + 5]
        keep = codes == 0  # NOT_FOUND / FILTERED_OUT inside a scan: not a record
        if not keep.all():
            # any other code is the node's answer to the whole request (a filter it cannot
            # build, ...): a real server sends it without the LAST flag, then nothing more
            refused = codes[(codes != 2) & (codes != 27) & ~keep]
            if len(refused):
                raise self._refused(int(refused[0]))
            loc = Located(loc.heads[keep], loc.fields[:, keep], loc.ops[:, keep], loc.markers, loc.last,
                          loc.last_code, loc.uniform)
        return ((buf, loc) if len(loc.heads) else None), unavailable, loc.last, loc.last_code

    def _kernel_frame(self, payload: bytes, last_digest: dict[int, bytes]):
        """One frame through the compiled kernel: (its records as a record batch or None,
        partitions answered unavailable, LAST seen, its code); None when the kernel leaves
        the frame to the NumPy walk (not a run of whole messages: that walk reports it)."""
        n = kernel.scan_rows(payload)
        if n < 0:
            return None
        batch = self.kplan.batch(n)
        try:
            rows, last, code, refused, unav, resume, key_at = batch.scan(payload)
        except (ValueError, IndexError):
            return None
        if refused:
            raise self._refused(refused)
        unavailable = np.frombuffer(unav, dtype=">u4").tolist()
        if not rows:
            return None, unavailable, last, code
        last_digest.update(resume)
        chunk = KernelChunk(self.kplan, batch, rows)
        # the padded copy of the frame: only keys and exactly decoded rows read it
        buf = chunk.buf if self.key_name or chunk.exact else None
        out = self._assemble(buf, rows, np.frombuffer(key_at, dtype=np.int64), chunk.columns, chunk.exact.__getitem__,
                             chunk.generations, chunk.ttls)
        return out, unavailable, last, code

    @staticmethod
    def _refused(code: int) -> Exception:
        return E.error_for_code(code, f"scan refused by the server with result code {code}"
                                + (" (PARAMETER_ERROR: e.g. a filter expression it cannot build)" if code == 4 else ""))

    def _decode(self, parts: list[tuple[np.ndarray, Located]], last_digest: dict[int, bytes]) -> pa.RecordBatch:
        """One record batch of the records of several frames (one buffer, offsets moved)."""
        if len(parts) == 1:
            buf, loc = parts[0]
            return self._batch(buf, loc.heads, loc.fields, assign(buf, loc.ops, self.plan, loc.uniform),
                               last_digest)
        width = max(loc.fields.shape[0] for _, loc in parts)
        shift = 0
        heads, fields, ats = [], [], []
        for buf, loc in parts:
            heads.append(loc.heads + shift)
            f = np.full((width, len(loc.heads)), -1, dtype=np.int64)
            f[:loc.fields.shape[0]] = np.where(loc.fields >= 0, loc.fields + shift, -1)
            fields.append(f)
            at = assign(buf, loc.ops, self.plan, loc.uniform)
            ats.append(np.where(at >= 0, at + shift, -1))
            shift += len(buf)
        return self._batch(np.concatenate([b for b, _ in parts]), np.concatenate(heads),
                           np.concatenate(fields, axis=1), np.concatenate(ats, axis=1), last_digest)

    def _batch(self, buf: np.ndarray, heads: np.ndarray, fields: np.ndarray, at: np.ndarray,
               last_digest: dict[int, bytes]) -> pa.RecordBatch:
        n = len(heads)
        digest_at = np.full(n, -1, dtype=np.int64)
        key_at = np.full(n, -1, dtype=np.int64)
        for j in range(fields.shape[0]):
            p = fields[j]
            has = np.flatnonzero(p >= 0)
            ftype = buf[p[has] + 4]
            size = be(buf, p[has], 4)
            d = (ftype == F_DIGEST) & (size == 21)
            digest_at[has[d]] = p[has[d]] + 5
            k = (ftype == F_KEY) & (size >= 2)
            key_at[has[k]] = p[has[k]]
        self._resume_points(buf, digest_at, last_digest)
        columns = decode(buf, at, self.plan, np.ones(n, dtype=bool))
        meta = (be(buf, heads + 6, 4).astype(np.uint32), ttl_of(be(buf, heads + 10, 4))) if self.with_meta else (None, None)
        return self._assemble(buf, n, key_at, columns, lambda r: record_bins(buf, int(heads[r])), *meta)

    def _assemble(self, buf: np.ndarray | None, n: int, key_at: np.ndarray, columns: list, bins_of: Callable[[int], dict],
                  generations: np.ndarray | None, ttls: np.ndarray | None) -> pa.RecordBatch:
        """The record batch of ``n`` decoded records: the key column, the columns with their
        bad rows decoded exactly (``bins_of(row)``: that record's bins), and the metadata.
        ``buf`` (the frame) is read for keys and bad rows only (None when there are neither)."""
        offset = self.rows(n)
        bad = np.zeros(n, dtype=bool)
        for c in columns:
            bad |= c.bad
        key_arr = key_bad = None
        if self.key_name:
            key_arr, key_bad = decode_key(buf, key_at, self.out_schema.field(self.key_name).type)
        exact_rows = np.flatnonzero(bad | key_bad if key_bad is not None else bad).tolist()
        key_of = {r: self._exact_key(buf, int(key_at[r])) for r in exact_rows}
        arrays: list[pa.Array] = []
        if self.key_name:
            kr = [r for r in exact_rows if key_bad[r]]
            if kr:  # a key of another type: built as the general path builds it (and fails as it fails)
                kctx = ChunkContext([key_of[r] for r in kr], offset, self.on_type_error, rows=[offset + r for r in kr])
                key_arr = scatter(key_arr, kr, build_key([key_of[r] for r in kr], key_arr.type, kctx))
            arrays.append(key_arr)
        rows_bad = [r for r in exact_rows if bad[r]]
        ctx = ChunkContext([key_of[r] for r in rows_bad], offset, self.on_type_error, self.strings,
                           rows=[offset + r for r in rows_bad])
        arrays.extend(with_exact(columns, self.plan.schema, rows_bad, [bins_of(r) for r in rows_bad], ctx,
                                 strings=self.strings))
        if self.with_meta:
            arrays.append(pa.array(generations, type=pa.uint32()))
            arrays.append(pa.array(ttls, type=pa.int64()))
        return pa.RecordBatch.from_arrays(arrays, schema=self.out_schema)

    @staticmethod
    def _exact_key(buf: np.ndarray, at: int) -> Any:
        if at < 0:
            return None
        size = int(be(buf, np.asarray([at]), 4)[0])
        data = buf[at + 5:at + 4 + size].tobytes()
        try:
            return decode_particle(data[0], data[1:])
        except (ValueCodecError, UnicodeDecodeError):
            return data[1:]

    @staticmethod
    def _resume_points(buf: np.ndarray, digest_at: np.ndarray, last_digest: dict[int, bytes]) -> None:
        """The last record of each partition in this frame is where a retry resumes."""
        at = digest_at[digest_at >= 0]
        if not len(at):
            return
        dig = buf[at[:, None] + np.arange(20)[None, :]]
        pids = (dig[:, 0].astype(np.int64) | (dig[:, 1].astype(np.int64) << 8)) & (N_PARTITIONS - 1)
        rev = pids[::-1]
        uniq, first = np.unique(rev, return_index=True)
        for pid, i in zip(uniq.tolist(), (len(pids) - 1 - first).tolist()):
            last_digest[pid] = dig[i].tobytes()

    # ------------------------------------------------------------------ driving
    def run(self, begin: int, count: int, emit: Callable[[pa.RecordBatch], bool], stop: threading.Event) -> None:
        # partitions not yet read, and where a partition resumes (its last digest delivered);
        # a set and a dict, not a loop per partition: a scan has up to 4096 of them
        todo: set[int] = set(range(begin, begin + count))
        resume: dict[int, bytes] = {}
        attempt = 0
        last_error: Exception | None = None
        policy = self.policy
        deadline = time.monotonic() + policy.total_timeout / 1000 if policy.total_timeout else None
        while todo and not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                last_error = E.TimeoutError_(f"total_timeout of {policy.total_timeout} ms spent", code=9)
                break
            owners = self.cluster.owners(self.ns)
            replica = 0 if policy.replica == Replica.MASTER else attempt % owners.shape[0]
            want = np.fromiter(sorted(todo), dtype=np.int64, count=len(todo))
            node_of = owners[replica, want]
            by_node = {int(ni): want[node_of == ni].tolist() for ni in np.unique(node_of)}
            nodes = self.cluster.map.nodes
            if deadline is not None:  # each attempt: the socket timeout, clipped to what is left
                timeout = policy.attempt_socket_timeout(max(1, int((deadline - time.monotonic()) * 1000))) / 1000
            else:
                timeout = policy.socket_ms() / 1000 if policy.socket_ms() else None
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
                    sock.sendall(request(self.ns, self.set, self.ask,
                                         [p for p in pids if p not in resume] if resume else pids,
                                         [resume[p] for p in pids if p in resume] if resume else [],
                                         policy.socket_timeout, policy.records_per_second, self.filter_exp,
                                         policy.compress, self.index_range))
                    streams.append((node, sock, pids))
                except OSError as exc:
                    node.release(sock, healthy=False)
                    last_error = E.ClusterConnectionError(f"node {node.name}: {exc}", code=-10)
            for node, sock, pids in streams:
                last_digest: dict[int, bytes] = {}
                healthy = False
                reader = FrameReader(sock)
                try:
                    healthy = self._stream(reader, last_digest, emit, stop, pids, todo)
                except socket.timeout:
                    last_error = E.TimeoutError_(f"node {node.name} scan timed out", code=9)
                    if policy.timeout_delay:  # drain the rest of the stream, keep the connection
                        node.drain(sock, reader, policy.timeout_delay)
                        sock = None
                except (OSError, ConnectionError, FrameError, MessageError, ValueCodecError) as exc:
                    last_error = E.ClusterConnectionError(f"node {node.name}: {exc}", code=-10)
                except E.AerospikeServerError as exc:
                    last_error = exc
                finally:
                    if sock is not None:
                        node.release(sock, healthy=healthy)
                    for pid, d in last_digest.items():
                        if pid in todo:
                            resume[pid] = d
                if healthy and not todo.isdisjoint(pids):
                    # the node finished the stream but answered some partitions unavailable
                    # (11): they moved or are migrating; the next attempt asks a fresh map
                    left = sorted(p for p in pids if p in todo)
                    last_error = E.error_for_code(
                        11, f"node {node.name} answered partitions {partition_ranges(left)} unavailable")
                    self.cluster.refresh()
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
            reason = getattr(err, "reason", None) or (err.args[0] if err.args else str(err))
            raise cls(f"{reason}; partitions not read: {partition_ranges(left)}",
                      code=getattr(err, "code", None), partitions=left, reason=reason)

    def _stream(self, reader: FrameReader, last_digest: dict[int, bytes], emit, stop, pids: list[int],
                todo: set[int]) -> bool:
        """Read one node's stream to its end; drop finished partitions from ``todo``.

        Frames are walked as they arrive and decoded in groups of about
        ``GROUP_ROWS`` records (per-frame NumPy overhead was most of a scan's
        client CPU); a group's resume points count only once it is decoded, so a
        failure re-reads the frames not yet decoded."""
        unavailable: set[int] = set()
        parts: list[tuple[np.ndarray, Located]] = []
        part_rows = 0
        while True:
            msg_type, payload = reader.frame()
            if msg_type != MSG_TYPE_DATA:
                raise ConnectionError(f"scan answered with frame type {msg_type}")
            # the kernel decodes a frame at once (no per-frame NumPy overhead to spread over a group)
            done = self._kernel_frame(payload, last_digest) if self.kplan is not None and not parts else None
            if done is not None:
                batch, unav, last, code = done
            else:
                batch = None
                part, unav, last, code = self._frame(payload)
                if part is not None:
                    parts.append(part)
                    part_rows += len(part[1].heads)
                if parts and (last or part_rows >= min(GROUP_ROWS, self.batch_size)):
                    batch = self._decode(parts, last_digest)
                    parts, part_rows = [], 0
            unavailable.update(unav)
            if batch is not None:
                self.pending.append(batch)
                self.pending_rows += batch.num_rows
                if self.pending_rows >= self.batch_size:
                    if not self._flush(emit, whole=False):
                        stop.set()
                        return False
            if last:
                if code not in (0, 2):
                    raise E.error_for_code(code, f"scan answered {code}")
                todo.difference_update(set(pids) - unavailable if unavailable else pids)
                return True
            if stop.is_set():
                return False

    def _flush(self, emit, whole: bool = True) -> bool:
        """Emit the pending rows in batches of ``batch_size`` (a frame may hold more
        records than that); ``whole=False`` keeps a last, partial batch pending."""
        if not self.pending:
            return True
        batches, self.pending, self.pending_rows = self.pending, [], 0
        out = batches[0] if len(batches) == 1 else pa.concat_batches(batches)
        size, at = self.batch_size, 0
        while out.num_rows - at >= size or (whole and at < out.num_rows):
            if not emit(out.slice(at, size)):
                return False
            at += size
        if at < out.num_rows:
            self.pending, self.pending_rows = [out.slice(at)], out.num_rows - at
        return True
