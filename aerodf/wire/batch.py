"""Batch-index reads on the wire, decoded straight into Arrow columns.

Request: keys are hashed (RIPEMD-160), routed by partition to their node
(master first; the next replica on each retry with ``replica="sequence"``),
and each node gets one batch-index message whose rows after the first are
``REPEAT`` rows (index, digest, flag), packed by NumPy in one go. All nodes'
requests are sent before any answer is read, so nodes work in parallel
without threads.

Answer: one message per key (its row in the transaction-ttl slot), then a
``LAST`` header. The messages are found by :func:`aerodf.wire.walk.locate`
(vectorized; no Python step per record), each schema bin's op is matched by
name (:func:`aerodf.wire.columns.assign`), and every field is decoded over
all rows at once (:func:`aerodf.wire.columns.decode`). Rows a decoder will
not vouch for (a bin of another type, an int too wide for its field, a
nested list element ...) are decoded exactly, op by op, and go through the
general column builders, so the answer -- values, nulls, errors -- equals
the general path's.

With the compiled kernel (:mod:`aerodf.wire.kernel`, schemas of scalar
fields) the digests, the request, the sockets of an attempt and the decoding
into column buffers run in C instead, one GIL hand-off per attempt; rows it
will not vouch for take the same exact path. The policy loop
(:func:`attempts`) is written once, without I/O, for the blocking driver here
and the asyncio one in :mod:`aerodf.wire.aio`.
"""

from __future__ import annotations

import functools
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import errors as E
from ..policy import BatchPolicy, Replica
from ..protocol.constants import (
    BATCH_MSG_REPEAT,
    FIELD_BATCH_INDEX,
    FIELD_NAMESPACE,
    FIELD_SET,
    INFO1_BATCH,
    INFO1_COMPRESS_RESPONSE,
    INFO1_READ,
    MSG_TYPE_DATA,
    OP_READ,
)
from ..protocol.digest import key_bytes, prefixed_hasher, ripemd160
from ..protocol.framing import MAX_FRAME_SIZE, FrameError, FrameReader, compress_frame, frame
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
from ..records import RecordsChunk
from . import kernel
from .cluster import Cluster, Node
from .columns import Column, WirePlan, assign, decode
from .walk import Located, be, locate, looks_last, padded, walk_exact

_ROW = np.dtype([("index", ">u4"), ("digest", "V20"), ("flags", "u1")])
_U32 = struct.Struct(">I")
CITRUSLEAF_EPOCH = 1262304000
RETRYABLE = {11, 14, 18, 9}  # partition unavailable, key busy, device overload, server timeout


def digests(keys: Sequence[tuple]) -> np.ndarray:
    """``(n, 20)`` uint8 digests of ``(namespace, set, user key)`` tuples (the compiled
    kernel's when it is built and the keys share a set)."""
    if kernel.AVAILABLE and keys:
        first = keys[0][1]
        if all(k[1] == first for k in keys):
            got = kernel.digests((first or "").encode(), [k[2] for k in keys])
            if got is not None:
                return got
    return _digests_py(keys)


def _digests_py(keys: Sequence[tuple]) -> np.ndarray:
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
        t, b = key_bytes(key)
        out[pos:pos + 20] = ripemd160((k[1] or "").encode() + bytes((t,)) + b)
        pos += 20
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(len(keys), 20)


def request(namespace: str, set_name: str, bins: list[str], rows: np.ndarray, digest: np.ndarray,
            policy: BatchPolicy, socket_timeout_ms: int) -> bytes:
    """One batch-index message for ``rows`` (request indices) of one namespace and set."""
    flags = 0x08 | (0x01 if policy.allow_inline else 0) | (0x04 if policy.respond_all_keys else 0)
    info1 = INFO1_READ | INFO1_BATCH | (INFO1_COMPRESS_RESPONSE if policy.compress else 0)
    if kernel.AVAILABLE and not policy.compress:
        return kernel.encode(first_row_tail(namespace, set_name, tuple(bins)), digest, rows, flags, info1,
                             socket_timeout_ms)
    # a full row (info1, fields, ops), then REPEAT rows
    first = _U32.pack(int(rows[0])) + digest[rows[0]].tobytes() + b"\x00" \
        + first_row_tail(namespace, set_name, tuple(bins))
    rest = np.empty(len(rows) - 1, dtype=_ROW)
    if len(rest):
        rest["index"] = rows[1:]
        rest["digest"] = digest[rows[1:]].view("V20").ravel()
        rest["flags"] = BATCH_MSG_REPEAT
    body = _U32.pack(len(rows)) + bytes((flags,)) + first + rest.tobytes()
    msg = pack_message_header(info1=info1, transaction_ttl=socket_timeout_ms, n_fields=1) \
        + pack_field(FIELD_BATCH_INDEX, body)
    return framed(msg, policy.compress)


@functools.lru_cache(maxsize=1024)
def first_row_tail(namespace: str, set_name: str, bins: tuple[str, ...]) -> bytes:
    """The first row's bytes after its index, digest and flags: info1, field and op counts,
    namespace and set fields, one READ op per bin (the request template, built once)."""
    return b"".join((bytes((INFO1_READ,)), struct.pack(">HH", 2, len(bins)),
                     pack_field(FIELD_NAMESPACE, namespace.encode()), pack_field(FIELD_SET, set_name.encode()),
                     *(pack_op(OP_READ, 0, b, b"") for b in bins)))


COMPRESS_THRESHOLD = 128  # bytes: smaller requests go plain, as the C client sends them


def framed(msg: bytes, compress: bool) -> bytes:
    """A data frame of ``msg``; zlib-compressed (type 4) with ``compress`` when worth it.
    The answer to a request with info1 COMPRESS_RESPONSE arrives compressed;
    ``recv_frame`` unwraps it."""
    whole = frame(MSG_TYPE_DATA, msg)
    return compress_frame(whole) if compress and len(whole) > COMPRESS_THRESHOLD else whole


class Answer:
    """One node's answer: padded buffers and the records located in each."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, Located]] = []
        self.error: int = 0


def _walk_group(ans: Answer, group: list[bytes], msg_type: int, payload: bytes, n_ops: int) -> int | None:
    """One more frame of an answer into ``group``; the group is walked when its frame looks
    like the end (a group ends with a frame that looks like it ends in LAST, or at
    :data:`GROUP_BYTES`, so the vectorized walk sees many records at once); the LAST
    header's result code once found (also in ``ans.error``), else None."""
    if msg_type != MSG_TYPE_DATA:
        raise ConnectionError(f"batch answered with frame type {msg_type}")
    group.append(payload)
    if not looks_last(payload) and sum(map(len, group)) < GROUP_BYTES:
        return None
    data = group[0] if len(group) == 1 else b"".join(group)
    group.clear()
    buf = padded(data)
    loc = locate(buf, len(data), 0, n_ops)
    if loc is None:  # more fields or ops than asked for, or an odd header: walk exactly
        try:
            loc = walk_exact(data)
        except ValueError as exc:
            raise MessageError(str(exc)) from None
    if len(loc.heads):
        ans.parts.append((buf, loc))
    if loc.last:
        ans.error = loc.last_code
        return ans.error
    return None


GROUP_BYTES = 8 << 20  # walk at least every 8 MB of frames (bounded buffering)


def joined(parts: list[tuple[np.ndarray, Located]], plan: WirePlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One buffer of all parts, their record heads moved into it, and each plan bin's
    op offset per record (:func:`aerodf.wire.columns.assign`, part by part)."""
    if len(parts) == 1:
        buf, loc = parts[0]
        return buf, loc.heads, assign(buf, loc.ops, plan, loc.uniform)
    shift = 0
    heads, ats = [], []
    for buf, loc in parts:
        heads.append(loc.heads + shift)
        at = assign(buf, loc.ops, plan, loc.uniform)
        ats.append(np.where(at >= 0, at + shift, -1))
        shift += len(buf)
    return np.concatenate([b for b, _ in parts]), np.concatenate(heads), np.concatenate(ats, axis=1)


def record_bins(buf: np.ndarray, head: int) -> dict[str, Any]:
    """One record's bins as Python values (the exact path for rows the columns refused)."""
    data = buf.data
    nf = int.from_bytes(data[head + 18:head + 20], "big")
    nops = int.from_bytes(data[head + 20:head + 22], "big")
    pos = head + HEADER.size
    if nf:
        _, pos = parse_fields(data, pos, nf, len(buf))
    ops, _ = parse_ops(data, pos, nops, len(buf))
    out = {}
    for op in ops:
        try:
            out[op.name] = decode_particle(op.particle_type, op.value)
        except UnicodeDecodeError:  # not UTF-8: the builders report it as bytes in a string field
            out[op.name] = bytes(op.value)
    return out


@dataclass
class WireChunk:
    """One batch on the wire: per-row codes and metadata, the columns decoded in
    bulk, and the rows decoded exactly (``exact``: row -> bins)."""

    codes: np.ndarray
    generations: np.ndarray  # uint32
    ttls: np.ndarray  # int64, -1 = never expires
    columns: list[Column]
    exact: dict[int, dict[str, Any]]
    buf: np.ndarray  # the answer, kept for :meth:`as_records`
    heads: np.ndarray  # per row: its record's header offset in ``buf``, -1 without a found record

    def as_records(self) -> RecordsChunk:
        """Every row decoded exactly, as the general path's chunk (for its error messages:
        which bad value a builder reports first depends on the whole chunk)."""
        bins = [record_bins(self.buf, h) if h >= 0 else None for h in self.heads.tolist()]
        return RecordsChunk(codes=self.codes.tolist(), bins=bins, generations=self.generations.tolist(),
                            ttls=self.ttls.tolist())


def ttl_of(void_times: np.ndarray) -> np.ndarray:
    """Server void times (seconds since 2010, 0 = never) as client TTLs: int64 seconds
    left, -1 = never expires (what every other path reports)."""
    now = int(time.time()) - CITRUSLEAF_EPOCH
    vt = void_times.astype(np.int64)
    return np.where(vt == 0, -1, np.where(vt > now, vt - now, 1))


def read(cluster: Cluster, keys: Sequence[tuple], plan: WirePlan, policy: BatchPolicy) -> WireChunk:
    """Read ``keys`` for ``plan`` under ``policy`` (timeouts, retries, replicas); see the module doc."""
    n = len(keys)
    if n == 0:
        return make_chunk(plan, np.full(0, -15, dtype=np.int64), [], 0)
    return _run(cluster, _by_namespace_and_set(keys), digests(keys), plan, policy, lambda i: keys[i][2], n)


def read_keys(cluster: Cluster, namespace: str, set_name: str, user_keys: list, plan: WirePlan,
              policy: BatchPolicy) -> WireChunk:
    """:func:`read` for user keys of one namespace and set (no key tuples built)."""
    n = len(user_keys)
    if n == 0:
        return make_chunk(plan, np.full(0, -15, dtype=np.int64), [], 0)
    return _run(cluster, {(namespace, set_name): all_rows(n)}, set_digests(set_name, user_keys), plan, policy,
                user_keys.__getitem__, n)


def set_digests(set_name: str, user_keys: list) -> np.ndarray:
    """Digests of user keys of one set (the kernel's, else Python's)."""
    dig = kernel.digests(set_name.encode(), user_keys)
    return dig if dig is not None else _digests_py([("", set_name, k) for k in user_keys])


@functools.lru_cache(maxsize=64)
def all_rows(n: int) -> np.ndarray:
    rows = np.arange(n)
    rows.flags.writeable = False
    return rows


class _Answers:
    """An attempt's answers, read frame by frame (:meth:`start`, then :meth:`frame` until it
    returns the LAST header's result code)."""

    def receive(self, reader: FrameReader) -> int:
        """Read one whole answer from ``reader``; its result code."""
        self.start()
        while True:
            code = self.frame(*reader.frame())
            if code is not None:
                return code

    def start(self) -> None:
        raise NotImplementedError

    def frame(self, msg_type: int, payload: bytes) -> int | None:
        raise NotImplementedError


class _PureAnswers(_Answers):
    """The NumPy path's answers: located parts, kept for :func:`make_chunk` once an answer is
    whole and accepted. Answers are accepted (or rejected) in the order they were read."""

    def __init__(self, plan: WirePlan, n: int) -> None:
        self.plan, self.n = plan, n
        self.codes = np.full(n, -15, dtype=np.int64)  # NO_RESPONSE until answered
        self.parts: list[tuple[np.ndarray, Located]] = []
        self.received: list[Answer] = []

    def start(self) -> None:
        """A new answer begins (:meth:`frame` is the frame-at-a-time form of :meth:`receive`)."""
        self.group: list[bytes] = []
        self.ans = Answer()

    def frame(self, msg_type: int, payload: bytes) -> int | None:
        """Take one frame; the answer's result code once its LAST header came, else None."""
        code = _walk_group(self.ans, self.group, msg_type, payload, len(self.plan.bins))
        if code is not None:
            self.received.append(self.ans)
        return code

    def forget(self, rows: np.ndarray) -> None:
        """An answer that broke off (nothing was kept of it)."""

    def reject(self, rows: np.ndarray) -> None:
        """The next whole answer failed (a result code in its LAST header): drop it."""
        self.received.pop(0)

    def accept(self, node: Node) -> None:
        """Keep the next whole answer."""
        ans = self.received.pop(0)
        for buf, loc in ans.parts:
            idx = be(buf, loc.heads + 14, 4)
            if len(idx) and int(idx.max()) >= self.n:
                raise E.AerospikeServerError(f"node {node.name} answered for row {int(idx.max())} "
                                             f"of a {self.n}-key batch")
            self.codes[idx] = buf[loc.heads + 5]
        self.parts.extend(ans.parts)

    def chunk(self) -> WireChunk:
        return make_chunk(self.plan, self.codes, self.parts, self.n)


class _KernelAnswers(_Answers):
    """The compiled kernel's answers: every frame decoded into the call's column buffers
    as it arrives (:mod:`aerodf.wire.kernel`); :meth:`exchange` does a whole attempt's
    sockets in C, without the GIL."""

    def __init__(self, kplan: kernel.KernelPlan, n: int) -> None:
        self.kplan, self.n = kplan, n
        self.batch = kplan.batch(n)
        self.row_error: int | None = None

    def start(self) -> None:
        """A new answer begins (:meth:`frame` is the frame-at-a-time form of :meth:`receive`)."""
        self.batch.start()

    def frame(self, msg_type: int, payload: bytes) -> int | None:
        """Decode one frame; the answer's result code once its LAST header came, else None."""
        if msg_type != MSG_TYPE_DATA:
            raise ConnectionError(f"batch answered with frame type {msg_type}")
        try:
            done, code = self.batch.feed(payload)
        except ValueError as exc:
            raise MessageError(str(exc)) from None
        except IndexError as exc:  # an answer for a row the request did not have
            self.row_error = int(str(exc))
            raise MessageError(f"row {exc}") from None
        return code if done else None

    def exchange(self, sock_ms: int, todo: list, policy: BatchPolicy) -> list[tuple[str, Any]]:
        """:func:`_exchange` with the sending, waiting, reading and decoding in one C call that
        holds no GIL (one hand-off per attempt instead of one per socket call)."""
        out: list[tuple[str, Any]] = [("", None)] * len(todo)
        timeout = sock_ms / 1000 if sock_ms else None
        socks = []
        for i, (node, _mine, req) in enumerate(todo):
            try:
                sock = node.acquire(timeout)
            except E.ClusterConnectionError as exc:
                out[i] = ("acquire", exc)
                continue
            sock.settimeout(timeout)  # non-blocking under a timeout: the kernel polls with sock_ms
            socks.append((i, node, sock, req))
        if not socks:
            return out
        results = self.batch.exchange([s.fileno() for _, _, s, _ in socks], [r for *_, r in socks], sock_ms)
        for (i, node, sock, _), res in zip(socks, results):
            kind = res[0]
            if kind == 0:
                node.release(sock, healthy=True)
                out[i] = ("done", res[1])
            elif kind == 1:
                if policy.timeout_delay:  # drain the late answer, keep the connection
                    reader = FrameReader(sock)
                    reader.buf = bytearray(res[1])  # the part of a frame already read
                    node.drain(sock, reader, policy.timeout_delay)
                else:
                    node.release(sock, healthy=False)
                out[i] = ("timeout", None)
            elif kind == 3:
                node.release(sock, healthy=False)
                out[i] = ("send", OSError(res[1], os.strerror(res[1])) if res[1] >= 0 else socket.timeout("timed out"))
            else:
                node.release(sock, healthy=False)
                out[i] = ("io", self._io_error(res[1], res[2]))
        return out

    def _io_error(self, what: int, detail: int) -> Exception:
        """The exception the Python reader raises for what the kernel's reader met."""
        if what == -7:  # an answer for a row the request did not have
            self.row_error = detail
            return MessageError(f"row {detail}")
        return {1: lambda: ConnectionError("connection closed by peer"),
                2: lambda: OSError(detail, os.strerror(detail)),
                3: lambda: FrameError(f"unsupported proto version {detail}"),
                4: lambda: FrameError(f"unknown message type {detail}"),
                5: lambda: FrameError(f"frame of {detail} bytes exceeds {MAX_FRAME_SIZE}"),
                6: lambda: ConnectionError(f"batch answered with frame type {detail}"),
                7: lambda: MessageError(f"bad message at byte {detail}"),
                8: lambda: ConnectionError("bytes after the answer on the connection")}[what]()

    def forget(self, rows: np.ndarray) -> None:
        """Rows of an answer that broke off or failed go back to "not answered"."""
        self.batch.forget(np.ascontiguousarray(rows, dtype=np.int64))

    reject = forget

    def accept(self, node: Node) -> None:
        """The answer's rows are already in place."""

    def chunk(self) -> "KernelChunk":
        return KernelChunk(self.kplan, self.batch, self.n)


class KernelChunk:
    """A :class:`WireChunk` from the kernel's buffers: the same attributes, with the Arrow
    columns and the padded answer buffer built when first asked for (``raw``: the
    kernel's column buffers, for a reader that builds its output from them directly)."""

    as_records = WireChunk.as_records

    def __init__(self, kplan: kernel.KernelPlan, batch: Any, n: int) -> None:
        self.kplan, self.batch, self.n = kplan, batch, n
        codes, gens, ttls, heads, any_bad, self.raw = batch.finish(kernel.now())
        self.codes = np.frombuffer(codes, dtype=np.int64)
        self.generations = np.frombuffer(gens, dtype=np.uint32)
        self.ttls = np.frombuffer(ttls, dtype=np.int64)
        self.heads = np.frombuffer(heads, dtype=np.int64)
        self._columns: list[Column] | None = None
        self._buf: np.ndarray | None = None
        self.exact: dict[int, dict[str, Any]] = {}
        if any_bad or kplan.has_raw:  # raw fields: their NumPy decoders say which rows are bad
            rows = np.zeros(n, dtype=bool)
            for c in self.columns:
                rows |= c.bad
            self.exact = {int(r): record_bins(self.buf, int(self.heads[r])) for r in np.flatnonzero(rows)}

    @property
    def columns(self) -> list[Column]:
        if self._columns is None:
            none = np.zeros(self.n, dtype=bool)
            self._columns = [Column(arr, none if bad is None else bad)
                             for arr, bad in self.kplan.arrays(self.raw, self.n, lambda: self.buf)]
        return self._columns

    @property
    def buf(self) -> np.ndarray:
        if self._buf is None:
            self._buf = padded(self.batch.joined())
        return self._buf


def new_answers(plan: WirePlan, n: int) -> Any:
    kplan = kernel.plan_for(plan)
    return _KernelAnswers(kplan, n) if kplan is not None else _PureAnswers(plan, n)


def _run(cluster: Cluster, groups_ns: dict[tuple[str, str], np.ndarray], dig: np.ndarray, plan: WirePlan,
         policy: BatchPolicy, user_key: Any, n: int) -> WireChunk:
    """The request loop (:func:`attempts`) on blocking sockets from the nodes' pools."""
    answers = new_answers(plan, n)
    steps = attempts(cluster, groups_ns, dig, plan, policy, user_key, n, answers)
    try:
        step = next(steps)
        while True:
            if step[0] == "wait":
                _, refresh, sleep_s = step
                if refresh:
                    cluster.refresh()
                if sleep_s:
                    time.sleep(sleep_s)
                step = steps.send(None)
            else:
                step = steps.send(_exchange(step[1], step[2], answers, policy))
    except StopIteration as done:
        return done.value


def _exchange(sock_ms: int, todo: list[tuple[Node, np.ndarray, bytes]], answers: Any,
              policy: BatchPolicy) -> list[tuple[str, Any]]:
    """Send every request (all nodes before any answer is read), then read every answer into
    ``answers``; one outcome per request (see :func:`attempts`)."""
    if isinstance(answers, _KernelAnswers) and not policy.compress:
        return answers.exchange(sock_ms, todo, policy)
    out: list[tuple[str, Any]] = [("", None)] * len(todo)
    timeout = sock_ms / 1000 if sock_ms else None
    sent = []
    for i, (node, _mine, req) in enumerate(todo):
        try:
            sock = node.acquire(timeout)
        except E.ClusterConnectionError as exc:
            out[i] = ("acquire", exc)
            continue
        try:
            sock.settimeout(timeout)
            sock.sendall(req)
            sent.append((i, node, sock))
        except OSError as exc:
            node.release(sock, healthy=False)
            out[i] = ("send", exc)
    for i, node, sock in sent:
        reader = FrameReader(sock)
        try:
            code = answers.receive(reader)
        except socket.timeout:
            if policy.timeout_delay:  # drain the late answer, keep the connection
                node.drain(sock, reader, policy.timeout_delay)
            else:
                node.release(sock, healthy=False)
            out[i] = ("timeout", None)
            continue
        except (OSError, ConnectionError, FrameError, MessageError, ValueCodecError) as exc:
            node.release(sock, healthy=False)
            out[i] = ("io", exc)
            continue
        node.release(sock, healthy=True)
        out[i] = ("done", code)
    return out


def attempts(cluster: Cluster, groups_ns: dict[tuple[str, str], np.ndarray], dig: np.ndarray, plan: WirePlan,
             policy: BatchPolicy, user_key: Any, n: int, answers: Any):
    """The batch read's policy, without I/O: a generator that a driver (blocking sockets,
    :func:`_run`; asyncio, :mod:`aerodf.wire.aio`) runs to the chunk it returns.

    It yields ``("send", socket_timeout_ms, [(node, rows, request), ...])`` per attempt
    and is sent back one outcome per request: ``("acquire", exc)`` (no connection),
    ``("send", exc)``, ``("timeout", None)``, ``("io", exc)`` (the answer broke; the
    driver closed the connection) or ``("done", result code)`` (the answer, read into
    ``answers``). Between attempts it yields ``("wait", refresh_map, sleep_seconds)``.
    Timeouts (total and per attempt), retries, the replica sequence and the errors
    naming the keys not read follow ``policy`` (``user_key(i)``: row i's key).
    """
    pids = (dig[:, 0].astype(np.int64) | (dig[:, 1].astype(np.int64) << 8)) & 4095
    start = time.monotonic()
    pending = None  # None: every row (the first attempt)
    attempt = 0
    last_error: Exception | None = None
    done = False
    while True:
        remaining = None
        if policy.total_timeout:
            remaining = policy.total_timeout - int((time.monotonic() - start) * 1000)
            if remaining <= 0:
                break
        sock_ms = policy.attempt_socket_timeout(remaining) if policy.total_timeout else policy.socket_ms()
        failed: list[np.ndarray] = []
        todo: list[tuple[Node, np.ndarray, bytes]] = []
        replica = 0 if policy.replica == Replica.MASTER else attempt
        for (ns, set_name), rows in groups_ns.items():
            if pending is not None:
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
            first = node_of[0]
            per_node = [(first, rows)] if (node_of == first).all() else \
                [(ni, rows[node_of == ni]) for ni in np.unique(node_of)]
            for ni, mine in per_node:
                if ni < 0 or ni >= len(nodes):
                    failed.append(mine)
                    continue
                todo.append((nodes[ni], mine, request(ns, set_name, plan.bins, mine, dig, policy, sock_ms)))
        outcomes = (yield "send", sock_ms, todo) if todo else []
        for (node, mine, _), (kind, value) in zip(todo, outcomes):  # sending, as it happened
            if kind == "acquire":
                last_error = value
                failed.append(mine)
            elif kind == "send":
                last_error = E.ClusterConnectionError(f"node {node.name}: {value}", code=-10)
                failed.append(mine)
        for (node, mine, _), (kind, value) in zip(todo, outcomes):  # then the answers
            if kind == "timeout":
                answers.forget(mine)
                last_error = E.TimeoutError_(f"node {node.name} did not answer within {sock_ms} ms", code=9)
                failed.append(mine)
            elif kind == "io":
                answers.forget(mine)
                row = getattr(answers, "row_error", None)
                if row is not None:
                    raise E.AerospikeServerError(f"node {node.name} answered for row {row} of a {n}-key batch")
                last_error = E.ClusterConnectionError(f"node {node.name}: {value}", code=-10)
                failed.append(mine)
            elif kind == "done":
                if value:
                    answers.reject(mine)
                    if value in RETRYABLE:
                        last_error = E.error_for_code(value, f"node {node.name} answered {value}")
                        failed.append(mine)
                        continue
                    user = [user_key(i) for i in mine]
                    raise E.error_for_code(value, f"batch read of {len(mine)} keys failed with result {value} "
                                           f"on node {node.name}; keys {E.describe_keys(user)}", keys=user)
                answers.accept(node)
        if not failed:
            done = True
            break
        pending = np.sort(np.concatenate(failed))
        refresh = isinstance(last_error, E.ClusterConnectionError)
        attempt += 1
        if attempt > policy.max_retries:
            if refresh:
                yield "wait", True, 0
            break
        yield "wait", refresh, policy.sleep_between_retries / 1000
    if not done:
        pending = np.arange(n) if pending is None else pending
        user = [user_key(i) for i in pending]
        err = last_error or E.TimeoutError_("total timeout", code=9)
        cls = type(err) if isinstance(err, E.AerospikeServerError) else E.TimeoutError_
        raise cls(f"{err.args[0] if err.args else err}; {len(pending)} of {n} keys not read "
                  f"after {attempt} attempt(s): {E.describe_keys(user)}", code=getattr(err, "code", 9), keys=user)
    return answers.chunk()


def make_chunk(plan: WirePlan, codes: np.ndarray, parts: list[tuple[np.ndarray, Located]], n: int) -> WireChunk:
    """Decode the located records of every answer into row-ordered columns."""
    gens = np.zeros(n, dtype=np.uint32)
    ttls = np.zeros(n, dtype=np.int64)
    if not parts:
        buf, heads, at_rec = padded(b""), np.zeros(0, np.int64), np.zeros((len(plan.bins), 0), np.int64)
    else:
        buf, heads, at_rec = joined(parts, plan)
    rec_of_row = np.full(n, -1, dtype=np.int64)
    rec_of_row[be(buf, heads + 14, 4)] = np.arange(len(heads))  # a later answer for a row wins
    found = codes == 0
    rows = np.flatnonzero(found)
    rec = rec_of_row[rows]
    h = heads[rec]
    gens[rows] = be(buf, h + 6, 4)
    ttls[rows] = ttl_of(be(buf, h + 10, 4))
    at = np.full((len(plan.bins), n), -1, dtype=np.int64)
    at[:, rows] = at_rec[:, rec]
    columns = decode(buf, at, plan, found)
    bad = np.zeros(n, dtype=bool)
    for c in columns:
        bad |= c.bad
    exact = {int(r): record_bins(buf, int(heads[rec_of_row[r]])) for r in np.flatnonzero(bad)}
    row_heads = np.full(n, -1, dtype=np.int64)
    row_heads[rows] = h
    return WireChunk(codes, gens, ttls, columns, exact, buf, row_heads)


def _by_namespace_and_set(keys: Sequence[tuple]) -> dict[tuple[str, str], np.ndarray]:
    first = (keys[0][0], keys[0][1] or "")
    if all(k[0] == first[0] and (k[1] or "") == first[1] for k in keys):
        return {first: np.arange(len(keys))}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault((k[0], k[1] or ""), []).append(i)
    return {g: np.asarray(v) for g, v in groups.items()}
