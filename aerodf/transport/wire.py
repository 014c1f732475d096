"""The ``wire`` transport: aerodf speaks the protocol itself on the read hot paths.

Covered on the wire: batch reads and partition scans of any schema (ints,
floats, bools, timestamps, strings, bytes, lists, maps, vectors; see
:mod:`aerodf.wire.columns`), scans with a pushed-down filter
and secondary-index queries (:mod:`aerodf.wire.expr` encodes both), with any
user-key type and compression. Not covered, and run through the official
client automatically: batch reads with a native filter expression, scans
with a native expression or a record cap, writes, TLS and authentication.
``client.read_paths`` counts the records each path served (``"wire"`` vs
``"general"``; scans count under ``"wire_scan"`` / ``"general_scan"``), and
``transport.delegate`` is the official transport doing the rest.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from ..errors import ClusterConnectionError, ConfigError
from ..policy import BatchPolicy, QueryPolicy
from ..wire import batch as wb
from ..wire.cluster import Cluster
from ..wire.columns import WirePlan, plan_of
from ..wire.expr import encode, index_range
from ..records import Key
from .base import ColumnarReads, Delegating


log = logging.getLogger("aerodf")


class WireTransport(ColumnarReads, Delegating):
    """Columnar batch reads over aerodf's own connections; the rest via the official client."""

    name = "wire"
    columnar = True
    writes_nul_strings = False  # writes go through the official client

    def __init__(self, hosts: Sequence[tuple[str, int]], *, config: dict[str, Any] | None = None) -> None:
        from .official import OfficialTransport

        cfg = dict(config or {})
        wire_opts = {k: cfg.pop(k) for k in ("connect_timeout", "tend_interval", "max_conns_per_node") if k in cfg}
        self.delegate = OfficialTransport(hosts, config=cfg or None)
        self.cluster: Cluster | None = None
        if any(k in cfg for k in ("user", "password", "tls", "auth_mode")):
            # no security handshake on the wire yet: the official client serves everything
            self.columnar = False
            log.info("wire transport: authentication/TLS configured, every read runs through the official client")
            return
        try:
            self.cluster = Cluster(hosts, connect_timeout=wire_opts.get("connect_timeout", 1000) / 1000,
                                   tend_interval=wire_opts.get("tend_interval", 1000) / 1000,
                                   max_conns_per_node=wire_opts.get("max_conns_per_node", 64))
        except BaseException:
            self.delegate.close()
            raise

    def covers(self, policy: BatchPolicy) -> bool:
        """Whether a batch read under ``policy`` can run on the wire."""
        return policy.filter is None

    def wire_plan(self, schema: Any) -> WirePlan | None:
        """The compiled plan of ``schema`` (None: the schema cannot be read on the wire)."""
        return plan_of(schema)

    def read_plan(self, keys: Sequence[Key], plan: WirePlan, policy: BatchPolicy) -> wb.WireChunk:
        return wb.read(self.cluster, keys, plan, policy)

    def read_plan_keys(self, namespace: str, set_name: str, user_keys: list, plan: WirePlan,
                       policy: BatchPolicy) -> wb.WireChunk:
        return wb.read_keys(self.cluster, namespace, set_name, user_keys, plan, policy)

    def covers_scan(self, plan_server: Any, native: Any, index: Any, max_records: Any, key_type: Any) -> bool:
        """Whether a scan or query can run on the wire: pushed and index filters the wire
        encodes (not a native expression), no record cap."""
        import pyarrow as pa

        if native is not None or max_records or key_type not in (pa.int64(), pa.string(), pa.binary()):
            return False
        try:
            if plan_server is not None:
                encode(plan_server)
            if index is not None:
                index_range(index)
        except ConfigError:
            return False
        return True

    def scan_range(self, namespace: str, set_name: str | None, plan: WirePlan, policy: QueryPolicy, *,
                   begin: int, count: int, out_schema: Any, key_name: str | None, with_meta: bool,
                   server_filter: tuple | None = None, index: tuple | None = None,
                   on_type_error: str, strings: str, batch_size: int, row_counter, emit, stop,
                   all_bins: bool = False) -> None:
        """Stream partitions ``begin .. begin+count-1`` as record batches to ``emit`` (see wire.scan);
        ``all_bins``: ask for whole records (the plan's bins are decoded, the rest skipped)."""
        from ..wire.scan import ScanReader

        ScanReader(self.cluster, namespace, set_name, plan, policy, out_schema, key_name=key_name,
                   with_meta=with_meta, on_type_error=on_type_error, strings=strings, batch_size=batch_size,
                   row_counter=row_counter, all_bins=all_bins,
                   filter_exp=encode(server_filter) if server_filter is not None else None,
                   index_range=index_range(index) if index is not None else None).run(begin, count, emit, stop)

    # everything else (batch reads with a native filter, queries through the official
    # client's scans, writes, sample, sindexes): the official client, via Delegating

    def info_all(self, command: str) -> list[str]:
        """Every node's answer, on aerodf's own connections (the official client's without them)."""
        if self.cluster is None:
            return self.delegate.info_all(command)
        try:
            return [node.info(command)[command] for node in self.cluster.map.nodes]
        except (OSError, ConnectionError, KeyError, ValueError) as exc:
            raise ClusterConnectionError(f"info {command!r}: {exc}", code=-10) from exc

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
        self.delegate.close()
