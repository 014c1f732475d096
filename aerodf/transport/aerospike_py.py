"""Transport over ``aerospike-py`` (the Rust-core client), optional.

It adds what the official client lacks: a native ``AsyncClient`` (used by
:mod:`aerodf.aio`), and Rust-side decoding of batch answers (``to_list``;
``to_numpy`` with a dtype that matches no bin gives result codes and metadata
without converting a bin). Its ``to_numpy(dtype)`` fast path for numeric
schemas was measured slower than the general path at every size and was
removed (issue 16). Policies and exceptions are translated here, and only
here, like in :mod:`aerodf.transport.official`.

Client options of its own are passed through ``config`` (for example
``max_concurrent_operations``, ``max_conns_per_node``); its runtime worker
threads are set by the ``AEROSPIKE_RUNTIME_WORKERS`` environment variable,
which the library reads when it is first imported.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

import aerospike_py as ap
import numpy as np
from aerospike_py import exception as aex

from ..protocol.constants import TTL_NEVER_EXPIRE as NEVER_EXPIRES
from .. import errors as E
from ..policy import (
    BatchPolicy,
    Exists,
    GenerationCheck,
    Policy,
    QueryPolicy,
    Replica,
    WritePolicy,
)
from ..protocol.digest import compute_digest
from ..records import Key, RecordsChunk, WriteResult
from .base import Transport, parse_sindex_list

log = logging.getLogger("aerodf")
# A dtype field no bin can match (bin names are at most 15 bytes): to_numpy with
# it yields the result codes and metadata without converting any bin.
CODES_ONLY = np.dtype([("__aerodf_codes_only__", "u1")])

_REPLICA = {  # aerospike-py knows master, sequence and prefer-rack
    Replica.MASTER: ap.POLICY_REPLICA_MASTER,
    Replica.ANY: ap.POLICY_REPLICA_SEQUENCE,
    Replica.SEQUENCE: ap.POLICY_REPLICA_SEQUENCE,
    Replica.PREFER_RACK: ap.POLICY_REPLICA_PREFER_RACK,
    Replica.RANDOM: ap.POLICY_REPLICA_SEQUENCE,
}
_EXISTS = {
    Exists.UPSERT: ap.POLICY_EXISTS_IGNORE,
    Exists.CREATE_ONLY: ap.POLICY_EXISTS_CREATE_ONLY,
    Exists.UPDATE_ONLY: ap.POLICY_EXISTS_UPDATE_ONLY,
    Exists.REPLACE: ap.POLICY_EXISTS_REPLACE,
    Exists.REPLACE_ONLY: ap.POLICY_EXISTS_REPLACE_ONLY,
}
_GEN = {GenerationCheck.NONE: ap.POLICY_GEN_IGNORE, GenerationCheck.EQ: ap.POLICY_GEN_EQ,
        GenerationCheck.GT: ap.POLICY_GEN_GT}


def base_policy(p: Policy) -> dict[str, Any]:
    d: dict[str, Any] = {
        "total_timeout": p.total_timeout,
        "socket_timeout": p.socket_ms(),
        "max_retries": p.max_retries,
        "sleep_between_retries": p.sleep_between_retries,
        "replica": _REPLICA[p.replica],
    }
    if p.timeout_delay:
        d["timeout_delay"] = p.timeout_delay
    if p.filter is not None:
        if not isinstance(p.filter, dict):
            raise E.ConfigError("with transport='aerospike-py' a policy filter is an aerospike_py.exp expression "
                                f"(a dict), not {type(p.filter).__name__}")
        d["filter_expression"] = p.filter
    return d


def batch_policy(p: BatchPolicy) -> dict[str, Any]:
    d = base_policy(p)
    d.update(allow_inline=p.allow_inline, respond_all_keys=p.respond_all_keys,
             concurrency=ap.BATCH_CONCURRENCY_PARALLEL if p.concurrent else ap.BATCH_CONCURRENCY_SEQUENTIAL)
    return d


def write_fields(p: WritePolicy) -> dict[str, Any]:
    d = {"key": ap.POLICY_KEY_SEND if p.send_key else ap.POLICY_KEY_DIGEST, "exists": _EXISTS[p.exists],
         "gen": _GEN[p.generation_check], "durable_delete": p.durable_delete}
    if p.ttl:
        d["ttl"] = p.ttl  # -1 never expire and -2 don't update mean the same here
    return d


_IN_DOUBT = re.compile(r"In Doubt: true", re.IGNORECASE)


# Every exception class of aerospike_py.exception, mapped once: to an aerodf class,
# or to None = "by the instance's result code" (errors.error_for_code). Its classes
# carry no code of their own, so each is listed; tests/test_error_mapping.py fails
# when the library adds one that is not.
BY_CLASS: dict[type, type | None] = {
    aex.RecordNotFound: E.RecordNotFoundError,
    aex.AerospikeTimeoutError: E.TimeoutError_,
    aex.ClusterError: E.ClusterConnectionError,
    aex.BackpressureError: E.OverloadError,  # max_concurrent_operations: the client shed the request
    aex.RecordGenerationError: E.GenerationError,
    aex.RecordTooBig: E.RecordTooBigError,
    aex.BinTypeError: E.IncompatibleBinError,
    aex.RustPanicError: E.AerospikeServerError,  # a bug in the library; its message says so
    aex.InvalidArgError: None, aex.RecordExistsError: None, aex.BinNameError: None, aex.BinExistsError: None, aex.BinNotFound: None,
    aex.FilteredOut: None, aex.IndexNotFound: None, aex.IndexFoundError: None, aex.AerospikeIndexError: None,
    aex.QueryAbortedError: None, aex.QueryError: None, aex.AdminError: None, aex.UDFError: None,
    aex.RecordError: None, aex.ServerError: None, aex.ClientError: None, aex.AerospikeError: None,
}


def map_error(exc: Exception, *, key: Any = None, keys: Sequence[Any] | None = None) -> E.AerodfError:
    """aerodf's exception for an aerospike-py exception (by :data:`BY_CLASS`, then result code)."""
    code = getattr(exc, "result_code", None)
    msg = str(exc)
    in_doubt = bool(_IN_DOUBT.search(msg))
    where = f" (key {key!r})" if key is not None else (f" (keys {E.describe_keys(list(keys))})" if keys else "")
    kw = dict(key=key, keys=keys, in_doubt=in_doubt)
    if not isinstance(exc, aex.AerospikeError):
        return E.AerospikeServerError(f"{type(exc).__name__}{where}: {exc}", code=code, **kw)
    if code == 9 or "timeout" in msg.lower():
        return E.TimeoutError_(f"timeout{where}: {msg}", code=9, **kw)
    target = next((BY_CLASS[c] for c in type(exc).__mro__ if c in BY_CLASS and BY_CLASS[c] is not None), None)
    if target is E.RecordNotFoundError:
        return E.RecordNotFoundError(f"record not found{where}", code=2, **kw)
    if target is E.TimeoutError_:
        return E.TimeoutError_(f"timeout{where}: {msg}", code=9, **kw)
    if target is not None and (code in (None, -1) or target is E.ClusterConnectionError):
        return target(f"Aerospike error {code}{where}: {msg}", code=code, **kw)
    if code in (None, -1) and "connect" in msg.lower():
        return E.ClusterConnectionError(f"connection failed{where}: {msg}", code=code, **kw)
    return E.error_for_code(code, f"Aerospike error {code}{where}: {msg}", **kw)


NO_RESPONSE = -15


def answered_codes(codes: np.ndarray, gens: np.ndarray) -> np.ndarray:
    """Result codes with the records the server never answered marked -15.

    When a node rejects a whole batch (one error frame, no rows), aerospike-py
    0.14 reports the error on the first record and result 0 with no record on
    the others (to_numpy zero-fills them). A stored record always has a
    generation of at least 1, so "0 with generation 0" means "no answer".
    """
    lost = (codes == 0) & (gens == 0)
    if lost.any():
        codes = codes.copy()
        codes[lost] = NO_RESPONSE
    return codes


def check_whole_batch(codes: np.ndarray, keys: Sequence[Key]) -> None:
    """Raise when the server rejected a batch (some rows never answered), with
    the batch's own error code when a row carries it, naming the keys."""
    if not len(codes) or not (codes == NO_RESPONSE).any():
        return
    errors = codes[(codes != 0) & (codes != 2) & (codes != 27) & (codes != NO_RESPONSE)]
    code = int(errors[0]) if len(errors) else NO_RESPONSE
    user = [k[2] for k in keys]
    raise E.error_for_code(code, f"batch read of {len(keys)} keys failed with result {code}; "
                           f"keys {E.describe_keys(user)}", keys=user)


class PyChunk(RecordsChunk):
    """A batch answer over a LazyBatchRecords: bins from ``to_list`` (one Rust
    pass), codes and metadata from a ``to_numpy`` that converts no bin."""

    def __init__(self, lazy: Any, keys: Sequence[Key]) -> None:
        meta = lazy.to_numpy(CODES_ONLY)
        if len(meta.result_codes) != len(keys):
            raise E.AerospikeServerError(f"batch answered {len(meta.result_codes)} of {len(keys)} keys")
        codes = answered_codes(meta.result_codes, meta.meta["gen"])
        check_whole_batch(codes, keys)
        self._meta = meta.meta
        self.codes = codes.tolist()
        self.bins = lazy.to_list()

    @property
    def generations(self) -> list[int]:  # type: ignore[override]
        return self._meta["gen"].tolist()

    @property
    def ttls(self) -> list[int]:  # type: ignore[override]
        return ttls_of(self._meta)


def ttls_of(meta: np.ndarray) -> list[int]:
    t = meta["ttl"].astype(np.int64)
    t[t == NEVER_EXPIRES] = -1
    return t.tolist()


def _client_keys(keys: Sequence[Key]) -> list[Key]:
    """Keys hashed by aerodf's rule (:func:`aerodf.protocol.digest.key_bytes`, the
    official client's): ``bytes`` is a string key, ``bytearray`` a blob key.

    aerospike-py 0.14 hashes ``bytes`` keys as blobs, but with a digest no
    other client computes (not even the server's blob digest), so records
    written by any other client would be "not found". A ``bytes`` key that is
    UTF-8 goes as the equal str key; any other as the string digest; a
    ``bytearray`` key as the blob digest (with an explicit digest the client
    sends the key unchanged).
    """
    if not any(type(k[2]) in (bytes, bytearray) for k in keys):
        return keys if isinstance(keys, list) else list(keys)
    out = []
    for k in keys:
        u = k[2]
        if type(u) is bytes:
            try:
                out.append((k[0], k[1], u.decode()))
            except UnicodeDecodeError:
                out.append((k[0], k[1], u, compute_digest(k[1] or "", u)))
        elif type(u) is bytearray:
            out.append((k[0], k[1], bytes(u), compute_digest(k[1] or "", u)))
        else:
            out.append(k)
    return out


class AerospikePyTransport(Transport):
    """aerospike-py: native async and Rust-side decoding."""

    name = "aerospike-py"

    def __init__(self, hosts: Sequence[tuple[str, int]], *, config: dict[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = {"hosts": list(hosts)}
        if config:
            self.config.update(config)
        self._lock = threading.Lock()
        self._query_transport = None
        try:
            self.client = ap.client(dict(self.config)).connect()
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc

    # ------------------------------------------------------------------ reads
    def batch_read(self, keys: Sequence[Key], bins: list[str] | None, policy: BatchPolicy) -> RecordsChunk:
        ck = _client_keys(keys)
        try:
            lazy = self.client.batch_read(ck, bins, batch_policy(policy))
            return PyChunk(lazy, keys)
        except aex.AerospikeError as exc:
            raise map_error(exc, keys=[k[2] for k in keys]) from exc

    def sample(self, namespace: str, set_name: str | None, n: int, policy: QueryPolicy) -> list[dict[str, Any]]:
        q = self.client.query(namespace, set_name or "")
        out: list[dict[str, Any]] = []

        def take(rec):
            out.append(rec.bins)
            return len(out) < n

        try:
            q.foreach(take, {**base_policy(policy), "max_records": n})
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc
        return out[:n]

    def info_all(self, command: str) -> list[str]:
        try:
            answers = self.client.info_all(command)
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc
        bad = [a for a in answers if a.error_code]
        if bad:
            raise E.error_for_code(bad[0].error_code, f"node {bad[0].node_name} did not answer {command!r}")
        return [(a.response or "").rstrip("\n") for a in answers]

    def sindexes(self, namespace: str, set_name: str | None) -> dict[str, str]:
        try:
            raw = self.client.info_random_node("sindex-list:")
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc
        return parse_sindex_list(raw, namespace, set_name)

    def query_range(self, namespace: str, set_name: str | None, bins: list[str] | None, policy: QueryPolicy,
                    **kw: Any) -> None:
        """Scans and queries run through the official client (``self.query_via``).

        aerospike-py 0.14 ends a query without an error, and without the
        records, when a node answers PARTITION_UNAVAILABLE (11) on every
        attempt (tests/test_transport_aerospike_py.py pins this), and it keeps
        partition resume points to itself; aerodf's scans need both.
        """
        return self._official().query_range(namespace, set_name, bins, policy, **kw)

    query_via = "official"

    def _official(self):
        with self._lock:
            if self._query_transport is None:
                from .official import OfficialTransport

                log.info("aerospike-py transport: queries and scans run through the official client")
                self._query_transport = OfficialTransport(self.config["hosts"])
            return self._query_transport

    # ------------------------------------------------------------------ writes
    def batch_write(self, keys: Sequence[Key], rows: Sequence[dict[str, Any]], policy: WritePolicy,
                    batch: BatchPolicy, metas: Sequence[dict[str, int] | None] | None = None) -> list[WriteResult]:
        pol = {**base_policy(batch.replace(max_retries=policy.max_retries)), **write_fields(policy)}
        pol.pop("replica", None)
        ck = _client_keys(keys)
        if metas is None:
            records = list(zip(ck, rows))
        else:
            records = [(k, row, m) if m else (k, row) for k, row, m in zip(ck, rows, metas)]
        try:
            res = self.client.batch_write(records, pol)
        except aex.AerospikeError as exc:
            raise map_error(exc, keys=[k[2] for k in keys]) from exc
        rows_out = res.batch_records
        # a rejected batch: the error on the first row, "0" with no record on the rest (never written)
        unanswered = [r.result == 0 and r.record is None for r in rows_out]
        if any(unanswered):
            errs = [r.result for r in rows_out if r.result != 0]
            code = errs[0] if errs else NO_RESPONSE
            return [WriteResult(code if lost else r.result, bool(r.in_doubt) or code == NO_RESPONSE, "")
                    for r, lost in zip(rows_out, unanswered)]
        return [WriteResult(r.result, bool(r.in_doubt), "") for r in rows_out]

    def close(self) -> None:
        if self._query_transport is not None:
            self._query_transport.close()
        try:
            self.client.close()
        except aex.AerospikeError:  # pragma: no cover - closing a dead client
            pass


class AsyncPyTransport:
    """aerospike-py's native ``AsyncClient``: the batch reads of :mod:`aerodf.aio`.

    The same translations as :class:`AerospikePyTransport`; the Rust client's
    futures resolve on its own runtime, so awaiting them costs the event loop
    nothing while the request is on the wire.
    """

    name = "aerospike-py"

    def __init__(self, hosts: Sequence[tuple[str, int]], *, config: dict[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = {"hosts": list(hosts), **(config or {})}
        self.client: Any = None

    async def connect(self) -> "AsyncPyTransport":
        try:
            self.client = await ap.AsyncClient(dict(self.config)).connect()
        except aex.AerospikeError as exc:
            raise map_error(exc) from exc
        return self

    async def batch_read(self, keys: Sequence[Key], bins: list[str] | None, policy: BatchPolicy) -> RecordsChunk:
        try:
            lazy = await self.client.batch_read(_client_keys(keys), bins, batch_policy(policy))
            return PyChunk(lazy, keys)
        except aex.AerospikeError as exc:
            raise map_error(exc, keys=[k[2] for k in keys]) from exc

    async def close(self) -> None:
        if self.client is not None:
            try:
                await self.client.close()
            except aex.AerospikeError:  # pragma: no cover - closing a dead client
                pass
            self.client = None
