"""Transport over the official ``aerospike`` client (C core).

aerodf policies are translated here, and only here, into the client's policy
dicts; the client's exceptions are mapped onto aerodf's tree here too, by
class, most specific first.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import aerospike
from aerospike import exception as aex

from ..protocol import resultcodes as RC
from ..protocol.constants import TTL_NEVER_EXPIRE as NEVER_EXPIRES
from .. import errors as E
from ..protocol.digest import compute_digest
from ..policy import BatchPolicy, Exists, GenerationCheck, Policy, QueryPolicy, WritePolicy
from ..records import Key, RecordsChunk, WriteResult, unread_message
from .base import Transport, parse_sindex_list

# scan failures worth resuming from the partitions' resume points: partition unavailable
# (a node left, migrations), timeouts, no response, no connection / invalid node, the C
# client's own max-retries-exceeded
_RESUMABLE = frozenset({11, 9, -7, -8, -10, -12, -15})

_EXISTS = {
    Exists.UPSERT: aerospike.POLICY_EXISTS_IGNORE,
    Exists.CREATE_ONLY: aerospike.POLICY_EXISTS_CREATE,
    Exists.UPDATE_ONLY: aerospike.POLICY_EXISTS_UPDATE,
    Exists.REPLACE: aerospike.POLICY_EXISTS_CREATE_OR_REPLACE,
    Exists.REPLACE_ONLY: aerospike.POLICY_EXISTS_REPLACE,
}
_GEN = {
    GenerationCheck.NONE: aerospike.POLICY_GEN_IGNORE,
    GenerationCheck.EQ: aerospike.POLICY_GEN_EQ,
    GenerationCheck.GT: aerospike.POLICY_GEN_GT,
}


def base_policy(p: Policy) -> dict[str, Any]:
    d: dict[str, Any] = {
        "total_timeout": p.total_timeout,
        "socket_timeout": p.socket_ms(),
        "max_retries": p.max_retries,
        "sleep_between_retries": p.sleep_between_retries,
        "compress": p.compress,
        "connect_timeout": p.connect_timeout,
    }
    # the C client accepts timeout_delay of 0 or >= 3000 ms only
    if p.timeout_delay:
        d["timeout_delay"] = max(p.timeout_delay, 3000)
    if p.filter is not None:
        d["expressions"] = p.filter
    return d


def batch_policy(p: BatchPolicy) -> dict[str, Any]:
    d = base_policy(p)
    d.update(replica=int(p.replica), concurrent=p.concurrent, allow_inline=p.allow_inline,
             respond_all_keys=p.respond_all_keys)
    return d


def write_policy(p: WritePolicy) -> dict[str, Any]:
    d = base_policy(p)
    d.update(
        key=aerospike.POLICY_KEY_SEND if p.send_key else aerospike.POLICY_KEY_DIGEST,
        exists=_EXISTS[p.exists],
        gen=_GEN[p.generation_check],
        durable_delete=p.durable_delete,
    )
    return d


# Exception classes of aerospike.exception mapped by class (most specific first). Every
# other class carries its result code as a class attribute and maps by code
# (errors.error_for_code); the classes with neither are listed here too.
# tests/test_error_mapping.py fails when the library adds a class of neither kind.
BY_CLASS: tuple[tuple[type, type], ...] = (
    (aex.RecordNotFound, E.RecordNotFoundError),
    (aex.TimeoutError, E.TimeoutError_),
    (aex.ClusterError, E.ClusterConnectionError),
    (aex.ConnectionError, E.ClusterConnectionError),
    (aex.RecordError, E.AerospikeServerError),  # no code of its own: raised with the record's code
    (aex.AdminError, E.AerospikeServerError),
    (aex.AerospikeError, E.AerospikeServerError),
)


def map_error(exc: Exception, *, key: Any = None, keys: Sequence[Any] | None = None) -> E.AerodfError:
    """aerodf's exception for a client-library exception: by class for the classes in
    :data:`BY_CLASS` that mean one thing whatever their code, else by result code."""
    code = getattr(exc, "code", None)
    msg = getattr(exc, "msg", None) or str(exc)
    in_doubt = bool(getattr(exc, "in_doubt", False))
    where = f" (key {key!r})" if key is not None else (f" (keys {E.describe_keys(list(keys))})" if keys else "")
    kw = dict(code=code, key=key, keys=keys, in_doubt=in_doubt)
    if isinstance(exc, aex.RecordNotFound):
        return E.RecordNotFoundError(f"record not found{where}", **kw)
    if isinstance(exc, aex.TimeoutError):
        return E.TimeoutError_(f"timeout{where}: {msg}", **kw)
    if isinstance(exc, (aex.ClusterError, aex.ConnectionError)):
        return E.ClusterConnectionError(f"connection failed{where}: {msg}", **kw)
    if isinstance(exc, aex.AerospikeError):
        kw.pop("code")
        return E.error_for_code(code, f"Aerospike error {code}{where}: {msg}", **kw)
    return E.AerospikeServerError(f"{type(exc).__name__}{where}: {exc}", **kw)


def _ttl(ttl: int) -> int:
    return {-1: aerospike.TTL_NEVER_EXPIRE, -2: aerospike.TTL_DONT_UPDATE}.get(ttl, ttl)


class OfficialChunk(RecordsChunk):
    """A batch answer over the client's BatchRecord objects; metadata is
    extracted only when asked for (most reads do not want it)."""

    def __init__(self, records: list) -> None:
        self._records = records
        self.codes = [r.result for r in records]
        # bins of found records; None for the others (their codes say why)
        self.bins = [rec[2] if (rec := r.record) is not None and len(rec) > 2 and rec[2] is not None
                     else (_EMPTY if rec is not None else None) for r in records]

    @property
    def generations(self) -> list[int]:  # type: ignore[override]
        return [r.record[1]["gen"] if r.record is not None else 0 for r in self._records]

    @property
    def ttls(self) -> list[int]:  # type: ignore[override]
        return [(-1 if (t := r.record[1]["ttl"]) == NEVER_EXPIRES else t) if r.record is not None else 0
                for r in self._records]


_EMPTY: dict[str, Any] = {}


def has_nul(value: Any) -> bool:
    """Whether a str or bytes value holds a NUL byte (this client cuts such strings there)."""
    t = type(value)
    return (t is str and "\x00" in value) or (t is bytes and b"\x00" in value)


def _check_stored_keys(keys: Sequence[Key], policy: WritePolicy) -> None:
    """A key sent with the record must arrive whole: refuse one this client would cut."""
    if policy.send_key:
        bad = next((k[2] for k in keys if type(k[2]) is not int and has_nul(k[2])), None)
        if bad is not None:
            raise E.DataError(f"key {bad!r} holds a NUL byte, which this client would store cut at the NUL; "
                              f"write it with send_key=False or through aerospike-py", key=bad, value=bad)


def _client_keys(keys: Sequence[Key]) -> list[Key]:
    """The keys as this client must get them.

    It hashes ``bytes`` as string keys and ``bytearray`` as blobs, aerodf's rule
    too (:func:`aerodf.protocol.digest.key_bytes`). A str or bytes key holding a
    NUL byte it would cut at the NUL (a C string): ``"x\\0y"`` would be record
    ``"x"``. Such keys go as the digest aerodf computes, exact for reads and
    digest-only writes (``write_frame`` refuses them with ``send_key``).
    """
    if any(type(k[2]) is not int and has_nul(k[2]) for k in keys):
        return [(k[0], k[1], None, bytearray(compute_digest(k[1] or "", k[2]))) if has_nul(k[2]) else k
                for k in keys]
    return list(keys)


class OfficialTransport(Transport):
    """The official client: complete, and the default."""

    name = "official"
    writes_nul_strings = False  # C strings: "a\x00b" would be stored as "a"

    def __init__(self, hosts: Sequence[tuple[str, int]], *, config: dict[str, Any] | None = None) -> None:
        cfg: dict[str, Any] = {"hosts": list(hosts)}
        if config:
            cfg.update(config)
        try:
            self.client = aerospike.client(cfg).connect()
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc

    def batch_read(self, keys: Sequence[Key], bins: list[str] | None, policy: BatchPolicy) -> RecordsChunk:
        try:
            res = self.client.batch_read(_client_keys(keys), bins, policy=batch_policy(policy))
        except aex.AerospikeError as exc:
            raise map_error(exc, keys=[k[2] for k in keys]) from exc
        records = res.batch_records
        # batch failures are returned, not raised, by this client
        if res.result != 0 or len(records) != len(keys):
            failed = [r for r in records if r.result not in RC.ANSWERED]
            code = res.result if res.result != 0 else (failed[0].result if failed else -1)
            # each record's own result says whether it was answered (-15: no response)
            unread = ([k[2] for k, r in zip(keys, records) if r.result not in RC.ANSWERED]
                      if len(records) == len(keys) else [])
            unread = unread or [k[2] for k in keys]
            raise E.error_for_code(
                code, f"batch read of {len(keys)} keys failed with result {code}"
                f" ({len(records)} answers); {len(unread)} keys not read: {E.describe_keys(unread)}",
                keys=unread,
            )
        return OfficialChunk(records)

    def sample(self, namespace: str, set_name: str | None, n: int, policy: QueryPolicy) -> list[dict[str, Any]]:
        q = self.client.query(namespace, set_name)
        q.max_records = n
        out: list[dict[str, Any]] = []

        def take(rec):
            out.append(rec[2])
            return len(out) < n

        try:
            q.foreach(take, policy=base_policy(policy))
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc
        return out[:n]

    def batch_write(self, keys: Sequence[Key], rows: Sequence[dict[str, Any]], policy: WritePolicy,
                    batch: BatchPolicy, metas: Sequence[dict[str, int] | None] | None = None) -> list[WriteResult]:
        """Write one record per key; per-record ``(code, in_doubt, message)``.

        ``metas`` gives per-row ``{"ttl": seconds}`` / ``{"gen": expected}``.
        A failure of the whole call raises (mapped), with ``in_doubt`` set when
        the client says the writes may have applied.
        """
        from aerospike_helpers.batch import records as br
        from aerospike_helpers.operations import operations as ops

        wp = write_policy(policy)
        for k in ("total_timeout", "socket_timeout", "max_retries", "sleep_between_retries", "connect_timeout",
                  "compress", "timeout_delay"):
            wp.pop(k, None)
        write = ops.write
        _check_stored_keys(keys, policy)
        ckeys = _client_keys(keys)
        if policy.ttl:
            wp["ttl"] = _ttl(policy.ttl)
        if metas is None:
            records = br.BatchRecords([
                br.Write(k, [write(name, v) for name, v in row.items()], policy=wp)
                for k, row in zip(ckeys, rows)
            ])
        else:
            # per-row TTLs go in per-record policies (meta["ttl"] is deprecated); generations in meta
            records = br.BatchRecords([
                br.Write(k, [write(name, v) for name, v in row.items()],
                         meta={"gen": m["gen"]} if m and "gen" in m else None,
                         policy={**wp, "ttl": _ttl(m["ttl"])} if m and "ttl" in m else wp)
                for k, row, m in zip(ckeys, rows, metas)
            ])
        bp = base_policy(batch.replace(max_retries=policy.max_retries))
        try:
            self.client.batch_write(records, bp)
        except aex.AerospikeError as exc:
            raise map_error(exc, keys=[k[2] for k in keys]) from exc
        # A whole-batch failure is reported at the batch level; rows that got no
        # answer of their own (NO_RESPONSE / BATCH_FAILED) carry that code instead.
        whole = records.result
        return [WriteResult(whole if (whole and r.result in (-15, -16)) else r.result, bool(r.in_doubt), "")
                for r in records.batch_records]

    def info_all(self, command: str) -> list[str]:
        try:
            answers = self.client.info_all(command)
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc
        out = []
        for node, (err, value) in answers.items():
            if err is not None:
                raise map_error(err) if isinstance(err, aex.AerospikeError) else E.AerospikeServerError(
                    f"node {node} did not answer {command!r}: {err}")
            value = value or ""
            out.append((value.partition("\t")[2] if "\t" in value else value).rstrip("\n"))
        return out

    def sindexes(self, namespace: str, set_name: str | None) -> dict[str, str]:
        """``{bin: "numeric" | "string"}`` of plain secondary indexes on the set."""
        try:
            raw = self.client.info_random_node("sindex-list:")
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc
        return parse_sindex_list(raw, namespace, set_name)

    def query_range(self, namespace: str, set_name: str | None, bins: list[str] | None, policy: QueryPolicy, *,
                    begin: int, count: int, server_filter: tuple | None, native_filter: Any,
                    index: tuple | None, max_records: int | None, on_record) -> None:
        """Stream the records of partitions ``begin .. begin+count-1`` to
        ``on_record(user_key, generation, ttl, bins)`` (ttl -1 = never expires)
        (return False to stop). After a failure the client library could not retry away
        (a node stalled or restarting, partitions migrating: codes 11, 9, -15, connection
        errors) the scan resumes from the partitions' resume points, up to
        ``min(max_retries, 3)`` times, 0.25 s x attempt apart and within total_timeout;
        then it raises naming the partitions left unread."""
        from aerospike import predicates

        from .official_exp import compile_filter

        def make_query():
            q = self.client.query(namespace, set_name or None)
            if bins:
                q.select(*bins)
            if index is not None:
                if index[0] == "eq":
                    q.where(predicates.equals(index[1], index[2]))
                else:
                    q.where(predicates.between(index[1], index[2], index[3]))
            if max_records:
                q.max_records = max_records
            return q

        pol = base_policy(policy)
        pol.pop("compress", None)
        flt = compile_filter(server_filter, native_filter)
        if flt is not None:
            pol["expressions"] = flt

        def callback(*args):
            # ((ns, set, user key, digest), {"gen", "ttl"}, bins), after the partition id
            key, meta, bins = args[-1]
            ttl = meta["ttl"]
            return on_record(key[2], meta["gen"], -1 if ttl == NEVER_EXPIRES else ttl, bins)

        q = make_query()
        pol["partition_filter"] = {"begin": begin, "count": count}
        attempts = 0
        resumes = min(policy.max_retries, 3)
        deadline = time.monotonic() + policy.total_timeout / 1000 if policy.total_timeout else None
        while True:
            try:
                q.foreach(callback, pol, {"nobins": True} if bins == [] else None)
                return
            except aex.AerospikeError as exc:
                attempts += 1
                try:
                    status = q.get_partitions_status()
                except aex.AerospikeError:
                    status = None
                # {pid: (pid, has_digest, retry, digest, bval), "done": bool, "retry": bool}:
                # retry is True for every partition not yet read to its end
                left = sorted(pid for pid, st in (status or {}).items()
                              if isinstance(pid, int) and begin <= pid < begin + count and st[2])
                if not left:  # no status says what is left: name the whole range
                    left = list(range(begin, begin + count))
                pause = max(policy.sleep_between_retries / 1000, 0.25 * attempts)
                late = deadline is not None and time.monotonic() + pause >= deadline
                if attempts > resumes or status is None or late or exc.code not in _RESUMABLE:
                    err = map_error(exc)
                    err.partitions = left
                    err.args = (unread_message(err.reason, left),)
                    raise err from exc
                time.sleep(pause)
                q = make_query()
                pol["partition_filter"] = {"begin": begin, "count": count, "partition_status": status}
                if deadline is not None:
                    pol["total_timeout"] = max(1, int((deadline - time.monotonic()) * 1000))

    def close(self) -> None:
        try:
            self.client.close()
        except aex.AerospikeError:  # pragma: no cover - closing a dead client
            pass
