"""Batch-index reads on the wire, decoded straight into a NumPy structured array.

Request: keys are hashed (RIPEMD-160), routed by partition to their node
(master first; the next replica on each retry with ``replica="sequence"``),
and each node gets one batch-index message whose rows after the first are
``REPEAT`` rows (index, digest, flag), packed by NumPy in one go. All nodes'
requests are sent before any answer is read, so nodes work in parallel
without threads.

Answer: one message per key (its index in the transaction-ttl slot), then a
``LAST`` header. A record holding exactly the requested bins, in order, with
the schema's particle types, has a fixed length; the decoder walks message
headers only (one ``unpack_from`` per record) and takes the rest with NumPy:
the op headers and bin names of every regular record are compared with a
template in one vectorized check, and the values are gathered as big-endian
int64 / float64 / uint8 columns. Nothing per record becomes a Python object.
A record that is not regular (a bin missing or of another type, extra bins,
fields) is decoded op by op into a dict and handed to the general path, as
the NumPy fast path does with the rows its guard rejects
(:mod:`aerodf.fastpath`), so the answer equals the general path's.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import errors as E
from ..fastpath import FastChunk, FastPlan, as_dicts, out_of_range
from ..policy import BatchPolicy, Replica
from ..protocol.constants import (
    BATCH_MSG_REPEAT,
    FIELD_BATCH_INDEX,
    FIELD_NAMESPACE,
    FIELD_SET,
    INFO1_BATCH,
    INFO1_READ,
    INFO3_LAST,
    MSG_TYPE_DATA,
    OP_READ,
)
from ..protocol.digest import key_bytes, prefixed_hasher, ripemd160
from ..protocol.framing import FrameError, recv_frame
from ..protocol.message import (
    HEADER,
    MessageError,
    pack_field,
    pack_message_header,
    pack_op,
    parse_fields,
    parse_ops,
)
from ..protocol.values import ValueCodecError, decode_particle
from ..transport.base import RecordsChunk
from .cluster import Cluster, Node

_PT = {"<i8": 1, "<f8": 2, "u1": 17}  # wire dtype -> particle type
_WIDTH = {"<i8": 8, "<f8": 8, "u1": 1}
_BE = {"<i8": ">i8", "<f8": ">f8", "u1": "u1"}
_ROW = np.dtype([("index", ">u4"), ("digest", "V20"), ("flags", "u1")])
_U32 = struct.Struct(">I")
CITRUSLEAF_EPOCH = 1262304000
RETRYABLE = {11, 14, 18, 9}  # partition unavailable, key busy, device overload, server timeout


@dataclass(frozen=True)
class Layout:
    """The byte layout of a regular record for one plan."""

    body: int  # bytes after the 22-byte header
    template: np.ndarray  # byte values that must match ...
    template_at: np.ndarray  # ... at these offsets from the body start
    value_at: tuple[int, ...]  # offset of each field's value from the body start
    names: tuple[bytes, ...]


def layout(plan: FastPlan) -> Layout:
    off, tmpl, at, vals = 0, [], [], []
    for name in plan.bins:
        dt = plan.dtype[name].str if plan.dtype[name].str != "|u1" else "u1"
        bname = name.encode()
        w = _WIDTH[dt]
        head = _U32.pack(4 + len(bname) + w) + bytes((OP_READ, _PT[dt], 0, len(bname))) + bname
        tmpl.extend(head)
        at.extend(range(off, off + len(head)))
        vals.append(off + len(head))
        off += len(head) + w
    # the op code byte of a read answer is READ (1) on every server we know; keep it in the check
    return Layout(off, np.frombuffer(bytes(tmpl), dtype=np.uint8), np.asarray(at, dtype=np.int64), tuple(vals),
                  tuple(n.encode() for n in plan.bins))


def digests(keys: Sequence[tuple]) -> np.ndarray:
    """``(n, 20)`` uint8 digests of ``(namespace, set, user key)`` tuples."""
    out = bytearray(20 * len(keys))
    hashers: dict[Any, Any] = {}
    pos = 0
    for k in keys:
        key = k[2]
        if type(key) is int:
            h = hashers.get(k[1])
            if h is None:
                h = hashers[k[1]] = prefixed_hasher((k[1] or "").encode() + b"\x01") or False
            if h:
                c = h.copy()
                c.update(key.to_bytes(8, "big", signed=True))
                out[pos:pos + 20] = c.digest()
                pos += 20
                continue
        t, b = key_bytes(bytes(key) if type(key) is bytearray else key)
        out[pos:pos + 20] = ripemd160((k[1] or "").encode() + bytes((t,)) + b)
        pos += 20
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(len(keys), 20)


def request(namespace: str, set_name: str, bins: list[str], rows: np.ndarray, digest: np.ndarray,
            policy: BatchPolicy, socket_timeout_ms: int) -> bytes:
    """One batch-index message for ``rows`` (request indices) of one namespace and set."""
    first = b"".join((
        _U32.pack(int(rows[0])), digest[rows[0]].tobytes(), b"\x00",  # a full row: info1, fields, ops
        bytes((INFO1_READ,)), struct.pack(">HH", 2, len(bins)),
        pack_field(FIELD_NAMESPACE, namespace.encode()), pack_field(FIELD_SET, set_name.encode()),
        *(pack_op(OP_READ, 0, b, b"") for b in bins),
    ))
    rest = np.empty(len(rows) - 1, dtype=_ROW)
    if len(rest):
        rest["index"] = rows[1:]
        rest["digest"] = digest[rows[1:]].view("V20").ravel()
        rest["flags"] = BATCH_MSG_REPEAT
    flags = 0x08 | (0x01 if policy.allow_inline else 0) | (0x04 if policy.respond_all_keys else 0)
    body = _U32.pack(len(rows)) + bytes((flags,)) + first + rest.tobytes()
    msg = pack_message_header(info1=INFO1_READ | INFO1_BATCH, transaction_ttl=socket_timeout_ms, n_fields=1) \
        + pack_field(FIELD_BATCH_INDEX, body)
    return struct.pack(">Q", (2 << 56) | (MSG_TYPE_DATA << 48) | len(msg)) + msg


class Answer:
    """What one node answered for one request (positions, then decoded in bulk)."""

    def __init__(self) -> None:
        self.regular_payloads: list[tuple[bytes, list[int]]] = []  # (payload, header offsets of regular recs)
        self.irregular: list[tuple[int, int, int, int, dict | None]] = []  # (index, code, gen, vt, bins)
        self.error: int = 0


def read_answer(sock: socket.socket, lay: Layout, n_ops: int) -> Answer:
    """Read frames until LAST; regular records are only located, not decoded."""
    ans = Answer()
    while True:
        msg_type, payload = recv_frame(sock)
        if msg_type != MSG_TYPE_DATA:
            raise ConnectionError(f"batch answered with frame type {msg_type}")
        try:
            last = _locate(payload, lay, n_ops, ans)
        except _Misaligned:
            # a record guessed regular had another length: walk this payload op by op
            last = _walk(payload, ans)
        if last:
            return ans


class _Misaligned(Exception):
    pass


def _locate(payload: bytes, lay: Layout, n_ops: int, ans: Answer) -> bool:
    """Find the records of one frame, guessing that found records with the right op
    count are regular, then verifying the guess for the whole frame at once; True
    after the LAST header. A wrong guess raises ``_Misaligned`` before ``ans`` changes."""
    hsize = HEADER.size
    body = lay.body
    unpack = HEADER.unpack_from
    end = len(payload)
    pos = 0
    regular: list[int] = []
    irregular = []
    last = False
    try:
        while pos < end:
            hsz, _i1, _i2, i3, _i4, rc, gen, vt, idx, nf, nops = unpack(payload, pos)
            if hsz != hsize:
                raise _Misaligned
            if i3 & INFO3_LAST:
                ans.error, last = rc, True
                break
            if rc == 0 and nf == 0 and nops == n_ops and pos + hsize + body <= end:
                regular.append(pos)
                pos += hsize + body
                continue
            pos, bins = _decode_record(payload, pos + hsize, end, nf, nops)
            irregular.append((idx, rc, gen, vt, bins if rc == 0 else None))
    except (struct.error, MessageError, IndexError, ValueCodecError):
        raise _Misaligned from None
    if pos > end:
        raise _Misaligned
    if regular:
        arr = np.frombuffer(payload, dtype=np.uint8)
        if not _check_regular(arr, np.asarray(regular, dtype=np.int64) + hsize, lay):
            raise _Misaligned  # a value of another width or type in a regular-looking record
        ans.regular_payloads.append((payload, regular))
    ans.irregular.extend(irregular)
    return last


def _walk(payload: bytes, ans: Answer) -> bool:
    """Every record of one frame decoded op by op (no regular guess)."""
    pos, end = 0, len(payload)
    while pos < end:
        hsz, _i1, _i2, i3, _i4, rc, gen, vt, idx, nf, nops = HEADER.unpack_from(payload, pos)
        if hsz != HEADER.size:
            raise ConnectionError(f"bad message header size {hsz}")
        if i3 & INFO3_LAST:
            ans.error = rc
            return True
        pos, bins = _decode_record(payload, pos + hsz, end, nf, nops)
        ans.irregular.append((idx, rc, gen, vt, bins if rc == 0 else None))
    return False


def _decode_record(payload: bytes, pos: int, end: int, nf: int, nops: int) -> tuple[int, dict]:
    if nf:
        _, pos = parse_fields(payload, pos, nf, end)
    ops, pos = parse_ops(payload, pos, nops, end)
    return pos, {op.name: decode_particle(op.particle_type, op.value) for op in ops}


def _check_regular(arr: np.ndarray, starts: np.ndarray, lay: Layout) -> bool:
    got = arr[starts[:, None] + lay.template_at[None, :]]
    return bool((got == lay.template[None, :]).all())


def fill(answer: Answer, lay: Layout, plan: FastPlan, data: np.ndarray, codes: np.ndarray, gens: np.ndarray,
         vts: np.ndarray) -> list[tuple[int, int, int, int, dict | None]]:
    """Decode the (verified) regular records into the arrays; returns the irregular ones."""
    hsize = HEADER.size
    for payload, offs in answer.regular_payloads:
        arr = np.frombuffer(payload, dtype=np.uint8)
        heads = np.asarray(offs, dtype=np.int64)
        starts = heads + hsize
        idx = _gather_be(arr, heads + 14, 4, ">u4").astype(np.int64)
        if len(idx) and int(idx.max()) >= len(codes):
            raise E.AerospikeServerError(f"a batch answer names row {int(idx.max())} of {len(codes)}")
        codes[idx] = 0
        gens[idx] = _gather_be(arr, heads + 6, 4, ">u4")
        vts[idx] = _gather_be(arr, heads + 10, 4, ">u4")
        for name, at in zip(plan.bins, lay.value_at):
            dt = plan.dtype[name].str if plan.dtype[name].str != "|u1" else "u1"
            data[name][idx] = _gather_be(arr, starts + at, _WIDTH[dt], _BE[dt])
    return answer.irregular


def _gather_be(arr: np.ndarray, at: np.ndarray, width: int, dtype: str) -> np.ndarray:
    raw = arr[at[:, None] + np.arange(width)[None, :]]
    return np.ascontiguousarray(raw).view(dtype).ravel().astype(dtype.replace(">", "="), copy=False)


def ttl_of(void_times: np.ndarray) -> np.ndarray:
    """Server void times (seconds since 2010, 0 = never) as client TTLs (0xFFFFFFFF = never)."""
    now = int(time.time()) - CITRUSLEAF_EPOCH
    ttl = np.where(void_times > now, void_times.astype(np.int64) - now, 1)
    return np.where(void_times == 0, 0xFFFFFFFF, ttl).astype(np.uint32)


def read(cluster: Cluster, keys: Sequence[tuple], plan: FastPlan, lay: Layout, policy: BatchPolicy) -> FastChunk:
    """Read ``keys`` for ``plan`` under ``policy`` (timeouts, retries, replicas); see the module doc."""
    n = len(keys)
    data = np.zeros(n, dtype=plan.dtype)
    codes = np.full(n, -15, dtype=np.int64)  # NO_RESPONSE until answered
    gens = np.zeros(n, dtype=np.uint32)
    vts = np.zeros(n, dtype=np.uint32)
    general: dict[int, tuple[int, int, int, dict | None]] = {}
    if n == 0:
        return FastChunk(data, codes, _meta(gens, vts), np.zeros(0, dtype=np.int64), None)
    dig = digests(keys)
    pids = (dig[:, 0].astype(np.int64) | (dig[:, 1].astype(np.int64) << 8)) & 4095
    groups_ns = _by_namespace_and_set(keys)
    start = time.monotonic()
    pending = np.arange(n)
    attempt = 0
    last_error: Exception | None = None
    while True:
        remaining = None
        if policy.total_timeout:
            remaining = policy.total_timeout - int((time.monotonic() - start) * 1000)
            if remaining <= 0:
                break
        sock_ms = policy.attempt_socket_timeout(remaining) if policy.total_timeout else policy.socket_timeout
        failed: list[np.ndarray] = []
        sent: list[tuple[Node, socket.socket, np.ndarray]] = []
        replica = 0 if policy.replica == Replica.MASTER else attempt
        for (ns, set_name), rows in groups_ns.items():
            rows = np.intersect1d(rows, pending, assume_unique=True)
            if not len(rows):
                continue
            try:
                owners = cluster.owners(ns)
            except E.ClusterConnectionError as exc:
                last_error = exc
                failed.append(rows)
                continue
            node_of = owners[replica % owners.shape[0], pids[rows]]
            nodes = cluster.map.nodes
            for ni in np.unique(node_of):
                mine = rows[node_of == ni]
                if ni < 0 or ni >= len(nodes):
                    failed.append(mine)
                    continue
                node = nodes[ni]
                try:
                    sock = node.acquire(sock_ms / 1000 if sock_ms else None)
                except E.ClusterConnectionError as exc:
                    last_error = exc
                    failed.append(mine)
                    continue
                try:
                    sock.settimeout(sock_ms / 1000 if sock_ms else None)
                    sock.sendall(request(ns, set_name, plan.bins, mine, dig, policy, sock_ms))
                    sent.append((node, sock, mine))
                except OSError as exc:
                    node.release(sock, healthy=False)
                    last_error = E.ClusterConnectionError(f"node {node.name}: {exc}", code=-10)
                    failed.append(mine)
        for node, sock, mine in sent:
            try:
                ans = read_answer(sock, lay, len(plan.bins))
            except socket.timeout:
                node.release(sock, healthy=False)
                last_error = E.TimeoutError_(f"node {node.name} did not answer within {sock_ms} ms", code=9)
                failed.append(mine)
                continue
            except (OSError, ConnectionError, FrameError, MessageError, ValueCodecError) as exc:
                node.release(sock, healthy=False)
                last_error = E.ClusterConnectionError(f"node {node.name}: {exc}", code=-10)
                failed.append(mine)
                continue
            node.release(sock, healthy=True)
            if ans.error:
                if ans.error in RETRYABLE:
                    last_error = E.error_for_code(ans.error, f"node {node.name} answered {ans.error}")
                    failed.append(mine)
                    continue
                user = [keys[i][2] for i in mine]
                raise E.error_for_code(ans.error, f"batch read of {len(mine)} keys failed with result {ans.error} "
                                       f"on node {node.name}; keys {E.describe_keys(user)}", keys=user)
            for idx, rc, gen, vt, bins in fill(ans, lay, plan, data, codes, gens, vts):
                if not 0 <= idx < n:
                    raise E.AerospikeServerError(f"node {node.name} answered for row {idx} of a {n}-key batch")
                codes[idx] = rc
                gens[idx] = gen
                vts[idx] = vt
                if rc == 0:
                    general[idx] = (rc, gen, vt, bins)
        pending = np.sort(np.concatenate(failed)) if failed else pending[:0]
        if not len(pending):
            break
        if isinstance(last_error, E.ClusterConnectionError):
            cluster.refresh()
        attempt += 1
        if attempt > policy.max_retries:
            break
        if policy.sleep_between_retries:
            time.sleep(policy.sleep_between_retries / 1000)
    if len(pending):
        user = [keys[i][2] for i in pending]
        err = last_error or E.TimeoutError_("total timeout", code=9)
        cls = type(err) if isinstance(err, E.AerospikeServerError) else E.TimeoutError_
        raise cls(f"{err.args[0] if err.args else err}; {len(pending)} of {n} keys not read "
                  f"after {attempt} attempt(s): {E.describe_keys(user)}", code=getattr(err, "code", 9), keys=user)
    _out_of_range(plan, data, codes, gens, vts, general)
    redo = np.asarray(sorted(general), dtype=np.int64)
    gen_chunk = None
    if len(redo):
        rows = [general[i] for i in redo.tolist()]
        gen_chunk = RecordsChunk(codes=[r[0] for r in rows], bins=[r[3] for r in rows],
                                 generations=[r[1] for r in rows],
                                 ttls=[(-1 if t == 0xFFFFFFFF else int(t)) for t in ttl_of(
                                     np.asarray([r[2] for r in rows], dtype=np.uint32)).tolist()])
    return FastChunk(data, codes, _meta(gens, vts), redo, gen_chunk)


def _out_of_range(plan: FastPlan, data: np.ndarray, codes: np.ndarray, gens: np.ndarray, vts: np.ndarray,
                  general: dict) -> None:
    """Regular records with an int too wide for its field go to the general path."""
    if not plan.ranges:
        return
    idx = [i for i in np.flatnonzero(out_of_range(plan, data, codes == 0)).tolist() if i not in general]
    for i, bins in zip(idx, as_dicts(plan, data, idx)):
        general[i] = (0, int(gens[i]), int(vts[i]), bins)


def _meta(gens: np.ndarray, vts: np.ndarray) -> np.ndarray:
    meta = np.empty(len(gens), dtype=[("gen", "<u4"), ("ttl", "<u4")])
    meta["gen"] = gens
    meta["ttl"] = ttl_of(vts)
    return meta


def _by_namespace_and_set(keys: Sequence[tuple]) -> dict[tuple[str, str], np.ndarray]:
    first = (keys[0][0], keys[0][1] or "")
    if all(k[0] == first[0] and (k[1] or "") == first[1] for k in keys):
        return {first: np.arange(len(keys))}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault((k[0], k[1] or ""), []).append(i)
    return {g: np.asarray(v) for g, v in groups.items()}
