"""Data-message handlers of the test server: single record, batch, query.

Each handler takes a parsed request and yields whole response frames, so a
large scan streams with bounded memory. Semantics follow the documented
server behaviour (exists actions, generation checks, TTL specials, result
codes); see ``shared/PROTOCOL.md`` for the wire details.
"""

from __future__ import annotations

import base64
import struct
import sys
import time
from dataclasses import dataclass
from typing import Iterator

from aerodf.protocol import resultcodes as RC
from aerodf.protocol.constants import (
    DIGEST_SIZE, FIELD_BATCH_INDEX, FIELD_BATCH_INDEX_WITH_SET, FIELD_DIGEST,
    FIELD_DIGEST_ARRAY, FIELD_FILTER_EXP, FIELD_INDEX_CONTEXT, FIELD_INDEX_EXPRESSION, FIELD_INDEX_NAME, FIELD_INDEX_RANGE,
    FIELD_INDEX_TYPE, FIELD_KEY, FIELD_MAX_RECORDS, FIELD_NAMESPACE, FIELD_PID_ARRAY,
    FIELD_SET, FIELD_TASK_ID, FIELD_UDF_ARGLIST, FIELD_UDF_FUNCTION, FIELD_UDF_OP, FIELD_UDF_PACKAGE, INFO1_GET_ALL, INFO1_NOBINDATA, INFO2_CREATE_ONLY,
    INFO2_DELETE, INFO2_GENERATION, INFO2_GENERATION_GT, INFO2_RESPOND_ALL_OPS,
    INFO2_WRITE, INFO3_CREATE_OR_REPLACE, INFO3_LAST, INFO3_REPLACE_ONLY, INFO3_UPDATE_ONLY, MAX_BIN_NAME, MSG_TYPE_DATA, N_PARTITIONS,
    OP_APPEND, OP_BIT_MODIFY, OP_BIT_READ, OP_CDT_MODIFY, OP_EXP_MODIFY, OP_EXP_READ, OP_HLL_MODIFY, OP_HLL_READ, OP_CDT_READ, OP_DELETE_ALL, OP_INCR, OP_PREPEND, OP_READ,
    OP_TOUCH, OP_WRITE, PT_BLOB, PT_FLOAT, PT_INTEGER, PT_NULL, PT_STRING,
    TTL_DONT_UPDATE, TTL_NEVER_EXPIRE, BATCH_MSG_GEN, BATCH_MSG_INFO, BATCH_MSG_INFO4,
    BATCH_MSG_REPEAT, BATCH_MSG_TTL,
)
from aerodf.protocol.digest import compute_digest, partition_id
from aerodf.protocol.framing import pack_header
from aerodf.protocol.message import FIELD_HEADER, OP_HEADER, Header, pack_answer_header, MessageError, Op, parse_fields, parse_ops
from aerodf.protocol.values import ValueCodecError, decode_particle

from . import cdt_ops
from .errors import RequestError
from .expr import Compiled, ExpError, ExpUnsupported, compile_filter
from .store import Bin, Namespace, Record, SIndex, Store, now_citrusleaf

MAX_RECORD_TTL = 10 * 365 * 24 * 3600
FRAME_TARGET = 128 * 1024  # flush a multi-record response at about this size


@dataclass(slots=True)
class Command:
    """One record command: a single-record request or one row of a batch."""

    namespace: str
    set_name: str
    digest: bytes
    key: tuple[int, bytes] | None
    info1: int
    info2: int
    info3: int
    generation: int
    ttl: int
    ops: list[Op]
    filter: Compiled | None


@dataclass(slots=True)
class Outcome:
    code: int
    generation: int = 0
    void_time: int = 0
    ops: bytes = b""
    n_ops: int = 0


msg = pack_answer_header  # the header of every answer (protocol.message packs it)


def frame(parts: list[bytes]) -> bytes:
    body = b"".join(parts)
    return pack_header(MSG_TYPE_DATA, len(body)) + body


def _filter(fields: dict[int, bytes], store: Store) -> Compiled | None:
    data = fields.get(FIELD_FILTER_EXP)
    if not data:
        return None
    store.last_filter = data  # the newest filter expression received (for encoder tests)
    try:
        return compile_filter(data)
    except ExpUnsupported as exc:
        raise RequestError(RC.UNSUPPORTED_FEATURE, str(exc)) from None
    except ExpError as exc:
        raise RequestError(RC.PARAMETER_ERROR, str(exc)) from None


def _key_field(fields: dict[int, bytes]) -> tuple[int, bytes] | None:
    k = fields.get(FIELD_KEY)
    if not k:
        return None
    return k[0], k[1:]


def _digest(fields: dict[int, bytes], set_name: str, key) -> bytes:
    d = fields.get(FIELD_DIGEST)
    if d is not None:
        if len(d) != DIGEST_SIZE:
            raise RequestError(RC.PARAMETER_ERROR, "digest must be 20 bytes")
        return d
    if key is None:
        raise RequestError(RC.PARAMETER_ERROR, "no digest and no key")
    ptype, data = key
    if ptype == PT_INTEGER:
        k = struct.unpack(">q", data)[0]
    elif ptype == PT_STRING:
        k = bytes(data)  # hashed as a string key, whatever its encoding
    else:
        k = bytearray(data)  # a blob key
    return compute_digest(set_name, k)


class _WriteState:
    """What one write's ops act on, op after op."""

    __slots__ = ("bins", "rec", "respond_all", "results", "delete_record")

    def __init__(self, bins: dict[str, Bin], rec: Record | None, respond_all: bool) -> None:
        self.bins, self.rec, self.respond_all = bins, rec, respond_all
        self.results: list[bytes] = []
        self.delete_record = False


def _op_write(st: _WriteState, op) -> None:
    if op.particle_type == PT_NULL:
        st.bins.pop(op.name, None)
    else:
        st.bins[op.name] = Bin(op.name.encode(), op.particle_type, op.value)


def _op_incr(st: _WriteState, op) -> None:
    st.bins[op.name] = _incr(st.bins.get(op.name), op)


def _op_concat(st: _WriteState, op) -> None:
    st.bins[op.name] = _concat(st.bins.get(op.name), op, op.op == OP_PREPEND)


def _op_touch(st: _WriteState, op) -> Outcome | None:
    return Outcome(RC.KEY_NOT_FOUND) if st.rec is None else None


def _op_delete_all(st: _WriteState, op) -> None:
    st.delete_record = True
    st.bins = {}


def _op_read(st: _WriteState, op) -> None:
    if not op.name:
        st.results.extend(b.op for b in st.bins.values())
    elif op.name in st.bins:
        st.results.append(st.bins[op.name].op)
    elif st.respond_all:
        st.results.append(_result_op(op.name, None))


def _op_cdt_read(st: _WriteState, op) -> None:
    value = cdt_ops.read(st.bins.get(op.name), op)
    if value is not cdt_ops.NO_RESULT or st.respond_all:
        st.results.append(_result_op(op.name, None if value is cdt_ops.NO_RESULT else value))


def _op_cdt_modify(st: _WriteState, op) -> None:
    new_bin, value = cdt_ops.modify(st.bins.get(op.name), op)
    if new_bin is None:
        st.bins.pop(op.name, None)
    else:
        st.bins[op.name] = new_bin
    if value is not cdt_ops.NO_RESULT or st.respond_all:
        st.results.append(_result_op(op.name, None if value is cdt_ops.NO_RESULT else value))


# the bin ops of a write, by op code (server write.c); the others are refused
_WRITE_OPS = {OP_WRITE: _op_write, OP_INCR: _op_incr, OP_APPEND: _op_concat, OP_PREPEND: _op_concat,
              OP_TOUCH: _op_touch, OP_DELETE_ALL: _op_delete_all, OP_READ: _op_read, OP_CDT_READ: _op_cdt_read,
              OP_CDT_MODIFY: _op_cdt_modify}
_NAMED_OPS = frozenset({OP_WRITE, OP_INCR, OP_APPEND, OP_PREPEND, OP_CDT_MODIFY})  # bin name checked
_OWN_RESULTS = frozenset({OP_READ, OP_CDT_READ, OP_CDT_MODIFY})  # answer for themselves


class Handlers:
    """Executes commands against a :class:`Store`; one instance serves all nodes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records_sent = 0
        self.records_examined = 0
        self.jobs: dict[int, str] = {}  # background query id -> its ``query-show`` line

    def _ns(self, name: str) -> Namespace:
        ns = self.store.namespaces.get(name)
        if ns is None:
            raise RequestError(RC.INVALID_NAMESPACE, f"namespace {name} not found")
        return ns

    # ------------------------------------------------------------ dispatch

    def kind(self, header: Header, fields: dict[int, bytes]) -> str:
        """``read | write | batch | query | udf`` (used by fault rules and stats)."""
        if FIELD_BATCH_INDEX in fields or FIELD_BATCH_INDEX_WITH_SET in fields:
            return "batch"
        if FIELD_UDF_PACKAGE in fields:
            return "udf"
        if FIELD_DIGEST not in fields and FIELD_KEY not in fields:
            return "query"
        return "write" if header.info2 & INFO2_WRITE else "read"

    def handle(self, kind: str, header: Header, fields: dict[int, bytes], payload: bytes, pos: int) -> Iterator[bytes]:
        try:
            if kind == "batch":
                yield from self.batch(header, fields)
            elif kind == "query":
                yield from self.query(header, fields, payload, pos)
            elif kind == "udf":
                yield self.udf(header, fields)
            else:
                yield self.single(header, fields, payload, pos)
        except RequestError as exc:
            # a real server refuses a scan/query (bad filter, unknown index, ...) with one
            # plain reply, no LAST flag (as_transaction_error -> as_msg_send_reply)
            yield frame([msg(exc.code, info3=0 if kind == "query" else INFO3_LAST)])
        except Exception as exc:  # a request this server mishandles still gets an answer
            print(f"aerodf test server: {kind} request failed: {exc!r}", file=sys.stderr, flush=True)
            yield frame([msg(RC.PARAMETER_ERROR, info3=0 if kind == "query" else INFO3_LAST)])

    # ------------------------------------------------------------ single record

    def single(self, header: Header, fields: dict[int, bytes], payload: bytes, pos: int) -> bytes:
        try:
            ops, _ = parse_ops(payload, pos, header.n_ops, len(payload))
        except MessageError as exc:
            raise RequestError(RC.PARAMETER_ERROR, str(exc)) from None
        ns = fields.get(FIELD_NAMESPACE, b"").decode("utf-8", "replace")
        set_name = fields.get(FIELD_SET, b"").decode("utf-8", "replace")
        key = _key_field(fields)
        cmd = Command(ns, set_name, _digest(fields, set_name, key), key, header.info1, header.info2,
                      header.info3, header.generation, header.record_ttl, ops, _filter(fields, self.store))
        out = self.execute(cmd)
        return frame([msg(out.code, out.generation, out.void_time, 0, 0, out.n_ops), out.ops])

    def execute(self, cmd: Command) -> Outcome:
        try:
            ns = self._ns(cmd.namespace)
            now = now_citrusleaf()
            rec = ns.get(cmd.digest, now)
            if cmd.info2 & INFO2_WRITE:
                return self._write(ns, cmd, rec, now)
            return self._read(cmd, rec)
        except RequestError as exc:
            return Outcome(exc.code)

    def _read(self, cmd: Command, rec: Record | None) -> Outcome:
        if rec is None:
            return Outcome(RC.KEY_NOT_FOUND)
        if cmd.filter is not None and not cmd.filter.matches(rec):
            return Outcome(RC.FILTERED_OUT)
        out = Outcome(RC.OK, rec.gen, rec.void_time)
        if cmd.info1 & INFO1_NOBINDATA:
            return out
        if cmd.info1 & INFO1_GET_ALL:
            out.ops, out.n_ops = rec.all_ops(), len(rec.bins)
            return out
        if not cmd.ops:  # neither all bins nor any op (server read.c: bin op(s) expected)
            return Outcome(RC.PARAMETER_ERROR)
        parts = []
        for op in cmd.ops:
            if op.op == OP_READ:
                if not op.name:
                    parts.append(rec.all_ops())
                    out.n_ops += len(rec.bins)
                    continue
                b = rec.bins.get(op.name)
                if b is not None:
                    parts.append(b.op)
                    out.n_ops += 1
            elif op.op == OP_CDT_READ:
                value = cdt_ops.read(rec.bins.get(op.name), op)
                if value is not cdt_ops.NO_RESULT:
                    parts.append(_result_op(op.name, value))
                    out.n_ops += 1
            elif op.op in _KNOWN_OPS:
                raise RequestError(RC.UNSUPPORTED_FEATURE, f"op {op.op} not implemented by the test server")
            else:
                raise RequestError(RC.PARAMETER_ERROR, f"op {op.op} in a read")
        out.ops = b"".join(parts)
        return out

    def _write(self, ns: Namespace, cmd: Command, rec: Record | None, now: int) -> Outcome:
        info2, info3 = cmd.info2, cmd.info3
        if rec is not None and cmd.filter is not None and not cmd.filter.matches(rec):
            return Outcome(RC.FILTERED_OUT)
        if rec is not None and info2 & INFO2_GENERATION and cmd.generation != rec.gen:
            return Outcome(RC.GENERATION_ERROR)
        if rec is not None and info2 & INFO2_GENERATION_GT and cmd.generation <= rec.gen:
            return Outcome(RC.GENERATION_ERROR)
        if info2 & INFO2_DELETE:
            if rec is None:
                return Outcome(RC.KEY_NOT_FOUND)
            ns.delete(cmd.digest)
            return Outcome(RC.OK)
        if not cmd.ops:  # server write.c: bin op(s) expected
            return Outcome(RC.PARAMETER_ERROR)
        if rec is not None and info2 & INFO2_CREATE_ONLY:
            return Outcome(RC.KEY_EXISTS)
        if rec is None and info3 & (INFO3_UPDATE_ONLY | INFO3_REPLACE_ONLY):
            return Outcome(RC.KEY_NOT_FOUND)
        replace = info3 & (INFO3_CREATE_OR_REPLACE | INFO3_REPLACE_ONLY)
        bins: dict[str, Bin] = {} if (rec is None or replace) else dict(rec.bins)
        st = _WriteState(bins, rec, bool(info2 & INFO2_RESPOND_ALL_OPS))
        for op in cmd.ops:
            if op.op in _NAMED_OPS and len(op.name.encode()) > MAX_BIN_NAME:
                return Outcome(RC.BIN_NAME_TOO_LONG)
            fn = _WRITE_OPS.get(op.op)
            if fn is None:  # bit, HLL, expression ops: not here; anything else: server write.c refuses
                return Outcome(RC.UNSUPPORTED_FEATURE if op.op in _KNOWN_OPS else RC.PARAMETER_ERROR)
            failed = fn(st, op)
            if failed is not None:
                return failed
            if st.respond_all and op.op not in _OWN_RESULTS:
                st.results.append(_result_op(op.name, None))
        bins, results, delete_record = st.bins, st.results, st.delete_record
        if delete_record or not bins:
            if rec is not None:
                ns.delete(cmd.digest)
            elif delete_record:
                return Outcome(RC.KEY_NOT_FOUND)  # deleting a record that does not exist
            elif not delete_record and cmd.ops and all(o.op == OP_WRITE for o in cmd.ops):
                # writing only nulls to a record that does not exist
                return Outcome(RC.OK)
            return Outcome(RC.OK, 0, 0, b"".join(results), len(results))
        new = Record(cmd.digest, cmd.set_name or (rec.set_name if rec else ""))
        new.bins = bins
        if new.size() > ns.max_record_size:
            return Outcome(RC.RECORD_TOO_BIG)
        new.gen = ((rec.gen if rec else 0) % 0xFFFF) + 1
        ttl = cmd.ttl
        if ttl == TTL_DONT_UPDATE and rec is not None:
            new.void_time = rec.void_time
        elif ttl == TTL_NEVER_EXPIRE:
            new.void_time = 0
        elif ttl == 0 or ttl == TTL_DONT_UPDATE:
            new.void_time = now + ns.default_ttl if ns.default_ttl else 0
        elif ttl > MAX_RECORD_TTL:  # the server's hard limit (ten years), specials aside
            return Outcome(RC.PARAMETER_ERROR)
        else:
            new.void_time = now + ttl
        new.key = cmd.key if cmd.key is not None else (rec.key if rec else None)
        new.last_update_ns = time.time_ns()
        ns.put(new)
        return Outcome(RC.OK, new.gen, new.void_time, b"".join(results), len(results))

    # ------------------------------------------------------------ UDF

    def udf(self, header: Header, fields: dict[int, bytes]) -> bytes:
        """A record UDF (apply) or a UDF query. This server runs no Lua: it answers as a
        real server does for a module it cannot run (server transaction/udf.c, query.c)."""
        ns = self._ns(fields.get(FIELD_NAMESPACE, b"").decode("utf-8", "replace"))
        package, function = fields.get(FIELD_UDF_PACKAGE), fields.get(FIELD_UDF_FUNCTION)
        if not package or function is None or FIELD_UDF_ARGLIST not in fields:
            raise RequestError(RC.PARAMETER_ERROR, "UDF call without a module, function or arguments")
        registered = package.decode("utf-8", "replace") + ".lua" in self.store.udfs
        if FIELD_DIGEST in fields or FIELD_KEY in fields:
            # the module (or its function) fails to load: UDF_ERROR with the error in a FAILURE bin
            return frame([msg(RC.UDF_ERROR, n_ops=1, info3=INFO3_LAST), _result_op("FAILURE", _UDF_FAILED)])
        op = fields.get(FIELD_UDF_OP, b"\x00")[:1]
        if op != bytes((UDF_OP_BACKGROUND,)):
            raise RequestError(RC.UNSUPPORTED_FEATURE, "aggregation queries need Lua")
        set_name = fields.get(FIELD_SET, b"").decode("utf-8", "replace")
        if set_name and set_name not in ns.by_set:
            raise RequestError(RC.KEY_NOT_FOUND, f"no set {set_name}")
        if registered:
            raise RequestError(RC.UNSUPPORTED_FEATURE, "the test server runs no Lua")
        # a background job of an unknown module starts, fails on every record and changes nothing
        trid = int.from_bytes(fields.get(FIELD_TASK_ID, b"")[:8].rjust(8, b"\x00"), "big")
        if trid:
            n = ns.count(set_name) if set_name else ns.count()
            self.jobs[trid] = (
                f"trid={trid}:ns={ns.name}" + (f":set={set_name}" if set_name else "")
                + f":rps=0:active-threads=0:status=done(ok):job-progress=100.00:run-time=0:time-since-done=0"
                f":recs-throttled=0:recs-filtered-meta=0:recs-filtered-bins=0:recs-succeeded=0:recs-failed={n}"
                f":from=127.0.0.1+0:job-type=background-udf:net-io-bytes=30:socket-timeout=10000"
                f":udf-filename={package.decode('utf-8', 'replace')}:udf-function={function.decode('utf-8', 'replace')}"
                ":udf-active=0"
            )
            while len(self.jobs) > 100:  # the server keeps the newest finished jobs
                del self.jobs[next(iter(self.jobs))]
        return frame([msg(info3=INFO3_LAST)])

    # ------------------------------------------------------------ batch

    def batch(self, header: Header, fields: dict[int, bytes]) -> Iterator[bytes]:
        data = fields.get(FIELD_BATCH_INDEX)
        if data is None:
            raise RequestError(RC.UNSUPPORTED_FEATURE, "old batch-with-set format")
        parent_filter = _filter(fields, self.store)
        end = len(data)
        if end < 5:
            raise RequestError(RC.PARAMETER_ERROR, "short batch field")
        (n,) = struct.unpack_from(">I", data, 0)
        pos = 5
        parts: list[bytes] = []
        size = 0
        prev: Command | None = None
        fast = None  # (ns, nobindata, getall, names, filter) for repeated plain reads
        now = now_citrusleaf()
        unpack_row = struct.Struct(">I20sB").unpack_from
        for _ in range(n):
            if pos + 25 > end:
                raise RequestError(RC.PARAMETER_ERROR, "batch row overruns field")
            index, digest, flags = unpack_row(data, pos)
            pos += 25
            if flags & BATCH_MSG_REPEAT:
                if prev is None:
                    raise RequestError(RC.PARAMETER_ERROR, "repeat without a previous row")
                cmd = prev
                cmd_digest = digest
            else:
                cmd, pos = self._batch_row(data, pos, end, flags, digest, parent_filter)
                cmd_digest = digest
                prev = cmd
                fast = self._fast_read(cmd)
            if fast is not None:
                piece = self._fast_row(fast, cmd_digest, index, now)
            else:
                cmd.digest = cmd_digest
                out = self.execute(cmd)
                piece = msg(out.code, out.generation, out.void_time, index, 0, out.n_ops) + out.ops
            parts.append(piece)
            size += len(piece)
            if size >= FRAME_TARGET:
                yield frame(parts)
                parts, size = [], 0
        self.records_sent += n
        parts.append(msg(info3=INFO3_LAST))
        yield frame(parts)

    def _batch_row(self, data, pos, end, flags, digest, parent_filter) -> tuple[Command, int]:
        try:
            if flags & BATCH_MSG_INFO:
                info1, info2, info3 = data[pos], data[pos + 1], data[pos + 2]
                pos += 3
            else:
                info1, info2, info3 = data[pos], 0, 0
                pos += 1
            if flags & BATCH_MSG_INFO4:
                pos += 1
            gen = ttl = 0
            if flags & BATCH_MSG_GEN:
                (gen,) = struct.unpack_from(">H", data, pos)
                pos += 2
            if flags & BATCH_MSG_TTL:
                (ttl,) = struct.unpack_from(">I", data, pos)
                pos += 4
            n_fields, n_ops = struct.unpack_from(">HH", data, pos)
            pos += 4
            fields, pos = parse_fields(data, pos, n_fields, end)
            ops, pos = parse_ops(data, pos, n_ops, end)
        except (struct.error, IndexError, MessageError) as exc:
            raise RequestError(RC.PARAMETER_ERROR, f"bad batch row: {exc}") from None
        filt = _filter(fields, self.store) if FIELD_FILTER_EXP in fields else parent_filter
        cmd = Command(
            fields.get(FIELD_NAMESPACE, b"").decode("utf-8", "replace"),
            fields.get(FIELD_SET, b"").decode("utf-8", "replace"),
            digest, _key_field(fields), info1, info2, info3, gen, ttl, ops, filt,
        )
        return cmd, pos

    def _fast_read(self, cmd: Command):
        if cmd.info2 & INFO2_WRITE:
            return None
        if any(op.op != OP_READ or not op.name for op in cmd.ops):
            return None
        ns = self.store.namespaces.get(cmd.namespace)
        if ns is None:
            return None
        getall = bool(cmd.info1 & INFO1_GET_ALL)
        if not getall and not cmd.ops and not cmd.info1 & INFO1_NOBINDATA:
            return None  # no ops to read: the slow path answers PARAMETER_ERROR
        names = [op.name for op in cmd.ops]
        return ns, bool(cmd.info1 & INFO1_NOBINDATA), getall, names, cmd.filter, frozenset(names)

    @staticmethod
    def _fast_row(fast, digest: bytes, index: int, now: int) -> bytes:
        ns, nobindata, getall, names, filt, names_set = fast
        rec = ns.partitions[(digest[0] | (digest[1] << 8)) & 4095].get(digest)
        if rec is not None and rec.void_time and rec.void_time <= now:
            rec = ns.get(digest, now)
        if rec is None:
            return msg(RC.KEY_NOT_FOUND, index=index)
        if filt is not None and not filt.matches(rec):
            return msg(RC.FILTERED_OUT, index=index)
        if nobindata:
            return msg(0, rec.gen, rec.void_time, index)
        if getall:
            return msg(0, rec.gen, rec.void_time, index, 0, len(rec.bins)) + rec.all_ops()
        bins = rec.bins
        if len(bins) == len(names) and bins.keys() == names_set:  # every bin asked for: the cached ops
            return msg(0, rec.gen, rec.void_time, index, 0, len(bins)) + rec.all_ops()
        sel = [bins[n].op for n in names if n in bins]
        return msg(0, rec.gen, rec.void_time, index, 0, len(sel)) + b"".join(sel)

    # ------------------------------------------------------------ query / scan

    def query(self, header: Header, fields: dict[int, bytes], payload: bytes, pos: int) -> Iterator[bytes]:
        try:
            ops, _ = parse_ops(payload, pos, header.n_ops, len(payload))
        except MessageError as exc:
            raise RequestError(RC.PARAMETER_ERROR, str(exc)) from None
        ns = self._ns(fields.get(FIELD_NAMESPACE, b"").decode("utf-8", "replace"))
        set_name = fields.get(FIELD_SET, b"").decode("utf-8", "replace") or None
        filt = _filter(fields, self.store)
        index_match = self._index_filter(ns, set_name, fields)
        max_records = None
        if FIELD_MAX_RECORDS in fields:
            (max_records,) = struct.unpack(">Q", fields[FIELD_MAX_RECORDS])
            max_records = max_records or None
        plan = _partition_plan(fields)
        nobindata = bool(header.info1 & INFO1_NOBINDATA)
        names = [op.name for op in ops if op.op == OP_READ and op.name]
        names_set = frozenset(names)
        ns_field = FIELD_HEADER.pack(len(ns.name) + 1, FIELD_NAMESPACE) + ns.name.encode()
        now = now_citrusleaf()
        parts: list[bytes] = []
        size = 0
        sent = 0
        done = False
        for pid, after in plan:
            part = ns.set_partition(set_name, pid) if set_name is not None else ns.partitions[pid]
            if not part:
                continue
            for digest in sorted(part):
                if after is not None and digest <= after:
                    continue
                rec = part.get(digest)
                if rec is None or (rec.void_time and rec.void_time <= now):
                    continue
                if set_name is not None and rec.set_name != set_name:
                    continue
                self.records_examined += 1
                if index_match is not None and not index_match(rec):
                    continue
                if filt is not None and not filt.matches(rec):
                    continue
                piece = self._query_row(ns_field, rec, nobindata, names, names_set)
                if piece is None:  # named bins, none of them held: a real server sends nothing
                    continue
                parts.append(piece)
                size += len(piece)
                sent += 1
                if size >= FRAME_TARGET:
                    yield frame(parts)
                    parts, size = [], 0
                if max_records is not None and sent >= max_records:
                    done = True
                    break
            if done:
                break
        self.records_sent += sent
        parts.append(msg(info3=INFO3_LAST))
        yield frame(parts)

    @staticmethod
    def _query_row(ns_field: bytes, rec: Record, nobindata: bool, names: list[str],
                   names_set: frozenset) -> bytes | None:
        """A record's scan answer; None for a record holding none of the named bins
        (the server's "don't return an empty record")."""
        f = [ns_field, FIELD_HEADER.pack(DIGEST_SIZE + 1, FIELD_DIGEST) + rec.digest]
        if rec.set_name:
            s = rec.set_name.encode()
            f.append(FIELD_HEADER.pack(len(s) + 1, FIELD_SET) + s)
        if rec.key is not None:
            kt, kb = rec.key
            f.append(FIELD_HEADER.pack(len(kb) + 2, FIELD_KEY) + bytes((kt,)) + kb)
        info1 = 0
        if nobindata:
            ops, n_ops, info1 = b"", 0, INFO1_NOBINDATA
        elif names and not (len(rec.bins) == len(names) and rec.bins.keys() == names_set):
            sel = [rec.bins[n].op for n in names if n in rec.bins]
            if not sel:
                return None
            ops, n_ops = b"".join(sel), len(sel)
        else:
            ops, n_ops = rec.all_ops(), len(rec.bins)
        return msg(0, rec.gen, rec.void_time, 0, len(f), n_ops, info1=info1) + b"".join(f) + ops

    def _index_filter(self, ns: Namespace, set_name: str | None, fields: dict[int, bytes]):
        rng = fields.get(FIELD_INDEX_RANGE)
        if rng is None:
            return None
        try:
            count = rng[0]
            if count != 1:
                raise RequestError(RC.PARAMETER_ERROR, "one index range per query")
            nlen = rng[1]
            bin_name = rng[2 : 2 + nlen].decode()
            p = 2 + nlen
            ptype = rng[p]
            (blen,) = struct.unpack_from(">I", rng, p + 1)
            begin = rng[p + 5 : p + 5 + blen]
            p = p + 5 + blen
            (elen,) = struct.unpack_from(">I", rng, p)
            end = rng[p + 4 : p + 4 + elen]
        except (IndexError, struct.error, UnicodeDecodeError):
            raise RequestError(RC.PARAMETER_ERROR, "bad index range") from None
        itype_code = fields.get(FIELD_INDEX_TYPE, b"\x00")[0]
        itype = {0: "DEFAULT", 1: "LIST", 2: "MAPKEYS", 3: "MAPVALUES"}.get(itype_code, "DEFAULT")
        want = {PT_STRING: ("STRING",), PT_BLOB: ("BLOB",)}.get(ptype, ("NUMERIC", "INTEGER"))
        wanted_name = fields.get(FIELD_INDEX_NAME, b"").decode() or None
        exp = fields.get(FIELD_INDEX_EXPRESSION)
        exp_b64 = base64.b64encode(exp).decode() if exp else None
        ctx = fields.get(FIELD_INDEX_CONTEXT)
        ctx_b64 = base64.b64encode(ctx).decode() if ctx else None
        idx: SIndex | None = None
        if wanted_name:  # by name (server query.c find_sindex): the index named, whatever its bin
            idx = ns.sindexes.get(wanted_name)
        else:
            for s in ns.sindexes.values():
                if (s.exp == exp_b64 and s.ctx == ctx_b64 and (exp_b64 is not None or s.bin == bin_name)
                        and s.itype == itype
                        and s.ktype in want and (s.set_name is None or s.set_name == set_name)):
                    idx = s
                    break
        if idx is None:
            raise RequestError(RC.INDEX_NOT_FOUND, f"no index on {bin_name or wanted_name or 'the expression'}")
        if ptype == PT_INTEGER:
            lo = struct.unpack(">q", begin)[0]
            hi = struct.unpack(">q", end)[0]

            def match(rec):
                return any(lo <= v <= hi for v in idx.values_of(rec))
        else:
            target = begin.decode() if ptype == PT_STRING else bytes(begin)

            def match(rec):
                return target in idx.values_of(rec)
        return match


def _partition_plan(fields: dict[int, bytes]) -> list[tuple[int, bytes | None]]:
    """``[(partition id, resume-after digest or None)]`` in request order."""
    plan: list[tuple[int, bytes | None]] = []
    pids = fields.get(FIELD_PID_ARRAY)
    digests = fields.get(FIELD_DIGEST_ARRAY)
    if pids is None and digests is None:
        return [(p, None) for p in range(N_PARTITIONS)]
    if pids:
        if len(pids) % 2:
            raise RequestError(RC.PARAMETER_ERROR, "odd partition id array")
        for (pid,) in struct.iter_unpack("<H", pids):
            if pid >= N_PARTITIONS:
                raise RequestError(RC.PARAMETER_ERROR, f"partition {pid}")
            plan.append((pid, None))
    if digests:
        if len(digests) % DIGEST_SIZE:
            raise RequestError(RC.PARAMETER_ERROR, "ragged digest array")
        for i in range(0, len(digests), DIGEST_SIZE):
            d = digests[i : i + DIGEST_SIZE]
            plan.append((partition_id(d), d))
    return plan


_KNOWN_OPS = frozenset((OP_EXP_READ, OP_EXP_MODIFY, OP_BIT_READ, OP_BIT_MODIFY, OP_HLL_READ, OP_HLL_MODIFY))
UDF_OP_BACKGROUND = 2  # FIELD_UDF_OP: 1 aggregate, 2 background, 3 background with a filter...
_UDF_FAILED = "UDF: Execution Error 1"


def _result_op(name: str, value) -> bytes:
    from aerodf.protocol.values import encode_particle

    ptype, data = encode_particle(value)
    bname = name.encode()
    return OP_HEADER.pack(4 + len(bname) + len(data), OP_READ, ptype, 0, len(bname)) + bname + data


def _modify_check(existing: Bin | None, op: Op, types: tuple[int, ...], what: str) -> bool:
    """The rules INCR, APPEND and PREPEND share: a nil value is PARAMETER_ERROR; a missing
    bin is created with the op's value (True); otherwise the bin must be of the op's type,
    one of ``types``, else BIN_TYPE_ERROR."""
    if op.particle_type == PT_NULL:
        raise RequestError(RC.PARAMETER_ERROR, "modify op with a nil value")
    if existing is None:
        return True
    if existing.ptype != op.particle_type or existing.ptype not in types:
        raise RequestError(RC.BIN_TYPE_ERROR, f"{what} a bin of another type")
    return False


def _incr(existing: Bin | None, op: Op) -> Bin:
    """INCR (server particle.c as_bin_particle_modify_from_client): on a missing bin
    the op's value is written whatever its type; an integer bin takes integers only and
    a float bin floats only; anything else is BIN_TYPE_ERROR (incompatible type)."""
    if _modify_check(existing, op, (PT_INTEGER, PT_FLOAT), "increment of"):
        return Bin(op.name.encode(), op.particle_type, op.value)
    try:
        delta = decode_particle(op.particle_type, op.value)
    except ValueCodecError:
        raise RequestError(RC.PARAMETER_ERROR) from None
    v = existing.value() + delta
    if op.particle_type == PT_INTEGER:
        v = ((v + (1 << 63)) % (1 << 64)) - (1 << 63)
        return Bin(op.name.encode(), PT_INTEGER, struct.pack(">q", v))
    return Bin(op.name.encode(), PT_FLOAT, struct.pack(">d", v))


def _concat(existing: Bin | None, op: Op, prepend: bool) -> Bin:
    """APPEND / PREPEND: like INCR, a create on a missing bin; a string bin takes
    strings and a blob bin blobs, anything else is BIN_TYPE_ERROR."""
    if _modify_check(existing, op, (PT_STRING, PT_BLOB), "append/prepend to"):
        return Bin(op.name.encode(), op.particle_type, op.value)
    data = op.value + existing.data if prepend else existing.data + op.value
    return Bin(op.name.encode(), op.particle_type, data)
