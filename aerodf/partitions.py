"""One partition planner: the 4096 partitions -> N self-contained scan tasks.

Distributed engines (Ray, Dask, Spark; :mod:`aerodf.scale`) schedule, retry
and spill; aerodf only says what one task reads. A :class:`ScanTask` is a
picklable value: a contiguous partition range, the filter to push, the
projection, a record limit, and the hosts and policies to open a client of its
own, so it runs on any machine that reaches the cluster and never touches a
connection of the driver. It reads through :func:`aerodf.iter_batches`, so a
range that fails part-way is resumed from its partitions' last digests by the
transport (``max_retries``) exactly as a local scan is; a task whose error
still escapes is re-run whole by the engine, which discards the failed
attempt's output.

The same :func:`split` cuts the ranges of ``iter_batches`` itself. Where the
partition map has runs of partitions mastered by one node (a real cluster's
map often has), the cut points move to the nearest change of master within a
quarter of a task, so each task talks to as few nodes as the map allows.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import pyarrow as pa

from .errors import AerodfError, ConfigError
from .policy import QueryPolicy, resolve
from .ranges import split
from .schema import Schema

log = logging.getLogger("aerodf")


def master_map(hosts: Any, namespace: str, *, timeout: float = 1.0) -> tuple[list[str], list[int]] | None:
    """``(node names, master index of each partition)`` for ``namespace``, or None.

    Asked once on the driver through aerodf's own info protocol; None when the
    cluster cannot be asked that way (TLS, authentication, a namespace no node
    holds): planning then cuts even ranges, which are as correct, only less local.
    """
    from .client import parse_hosts
    from .wire.cluster import Cluster

    try:
        cluster = Cluster(parse_hosts(hosts), connect_timeout=timeout, tend_interval=3600)
    except Exception as exc:  # noqa: BLE001 - alignment is an optimisation
        log.debug("no partition map for %s (%s); cutting even ranges", namespace, exc)
        return None
    try:
        owners = cluster.map.owners.get(namespace)
        if owners is None:
            return None
        return [n.name for n in cluster.map.nodes], owners[0].tolist()
    finally:
        cluster.close()


@dataclass(frozen=True)
class ScanTask:
    """One engine task: a partition range read by a client of its own.

    Every field is a plain, picklable value (hosts, a :class:`~aerodf.Schema`,
    a polars expression, a frozen :class:`~aerodf.QueryPolicy`), so an engine
    can ship the task to another process or machine.

    Attributes
    ----------
    index
        The task's position in its plan (0 .. N-1).
    begin, count
        The partition range ``begin .. begin + count - 1``.
    node
        The node mastering most of the range when planned (a hint only: the
        task routes by the map it sees when it runs).
    max_records
        The task's own record limit (None: all).

    Examples
    --------
    >>> tasks = plan_scan("test", "users", {"age": "int64"}, hosts="127.0.0.1:3000", tasks=8)  # doctest: +SKIP
    >>> sum(t.table().num_rows for t in tasks)  # doctest: +SKIP
    """

    index: int
    begin: int
    count: int
    namespace: str
    set: str | None
    schema: Schema
    hosts: tuple[tuple[str, int], ...]
    where: Any = None
    columns: tuple[str, ...] | None = None
    with_key: bool | str = False
    key_type: str = "int64"
    with_meta: bool = False
    max_records: int | None = None
    batch_size: int = 10_000
    on_type_error: str = "raise"
    strings: str = "string"
    transport: str = "official"
    policy: QueryPolicy = field(default_factory=QueryPolicy)
    config: dict | None = None
    max_in_flight: int = 1
    node: str | None = None

    @property
    def partitions(self) -> range:
        """The partition ids this task reads."""
        return range(self.begin, self.begin + self.count)

    def output_schema(self) -> pa.Schema:
        """The Arrow schema of this task's batches (the same for every task of a plan)."""
        from .layout import RowLayout, key_type_of

        key_name = self.with_key if isinstance(self.with_key, str) else ("key" if self.with_key else None)
        cols = list(self.columns) if self.columns is not None else self.schema.names
        layout = RowLayout(key_name, self.with_meta)
        full = layout.arrow_schema(self.schema, key_type_of(self.key_type), strings=self.strings)
        return pa.schema([full.field(n) for n in layout.names(cols)])

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Open a client, stream this range as Arrow record batches, close the client.

        With ``max_in_flight=1`` (the default) the range's sub-ranges are read
        one after another, so a re-run of the task yields the same batches in
        the same order (Ray relies on that when it retries a streaming task).
        An error names the task and the partitions not read.
        """
        from .client import Client
        from .query import iter_batches

        try:
            with Client(list(self.hosts), transport=self.transport, query_policy=self.policy,
                        max_in_flight=self.max_in_flight, config=self.config) as client:
                yield from iter_batches(
                    self.namespace, self.set, self.schema, where=self.where,
                    columns=list(self.columns) if self.columns is not None else None, client=client,
                    max_records=self.max_records, partitions=(self.begin, self.count),
                    max_in_flight=self.max_in_flight, batch_size=self.batch_size, with_key=self.with_key,
                    key_type=self.key_type, with_meta=self.with_meta, on_type_error=self.on_type_error,
                    strings=self.strings)
        except AerodfError as exc:
            if exc.args and not str(exc.args[0]).startswith("scan task "):
                exc.args = (f"scan task {self.index} (partitions {self.begin}..{self.begin + self.count - 1} of "
                            f"{self.namespace}.{self.set}): {exc.args[0]}",) + exc.args[1:]
            raise

    def table(self) -> pa.Table:
        """This task's records as one Arrow table (what a non-streaming engine wants)."""
        batches = list(self.batches())
        return pa.Table.from_batches(batches, schema=self.output_schema())


def plan_scan(
    namespace: str,
    set: str | None,
    schema: Any,
    *,
    hosts: Any,
    tasks: int,
    where: Any = None,
    columns: Sequence[str] | None = None,
    partitions: Any = None,
    with_key: bool | str = False,
    key_type: str = "int64",
    with_meta: bool = False,
    max_records: int | None = None,
    batch_size: int = 10_000,
    on_type_error: str = "raise",
    strings: str = "string",
    transport: str = "official",
    policy: QueryPolicy | None = None,
    config: dict | None = None,
    max_in_flight: int = 1,
    align: bool = True,
    **policy_overrides: Any,
) -> list[ScanTask]:
    """Plan a scan as ``tasks`` independent :class:`ScanTask` values.

    Parameters
    ----------
    namespace, set, schema, where, columns, with_key, key_type, with_meta, batch_size, on_type_error
        As in :func:`aerodf.iter_batches` (``where`` a polars expression; the
        pushable part runs on the server in every task, the whole predicate is
        re-applied to every batch unless the server's filter is exact).
    hosts
        Seed nodes each task connects to (a task opens its own client).
    tasks
        How many tasks (the engine's parallelism); at most one per partition.
    partitions
        ``None`` (all 4096), ``range(begin, end)`` or ``(begin, count)``.
    max_records
        Each task's own limit (the engine takes the overall head).
    transport, policy, config, **policy_overrides
        The client each task opens: transport name, a
        :class:`~aerodf.QueryPolicy` (or overrides such as ``total_timeout=``)
        and client-library settings.
    max_in_flight
        Sub-ranges a task reads at once (1: the engine's tasks are the
        parallelism, and a task's output order is reproducible).
    align
        Move the cuts to changes of master node where the partition map allows.

    Returns
    -------
    list of ScanTask
        Disjoint ranges covering ``partitions`` exactly once.

    Examples
    --------
    >>> tasks = plan_scan("test", "users", {"age": "int64"}, hosts="127.0.0.1:3000", tasks=4,
    ...                   where=pl.col("age") > 30, columns=["age"])  # doctest: +SKIP
    >>> [(t.begin, t.count) for t in tasks]  # doctest: +SKIP
    [(0, 1024), (1024, 1024), (2048, 1024), (3072, 1024)]
    """
    from .client import parse_hosts
    from .layout import key_type_of
    from .polars_expr import parse_where

    schema = schema if isinstance(schema, Schema) else Schema(schema)
    if not schema.fields:
        raise ConfigError("the schema has no fields: name the bins to read")
    if not isinstance(tasks, int) or isinstance(tasks, bool) or tasks < 1:
        raise ConfigError(f"the number of tasks must be a positive integer, not {tasks!r}")
    if max_records is not None and (not isinstance(max_records, int) or max_records < 1):
        raise ConfigError(f"max_records must be a positive integer, not {max_records!r}")
    parse_where(where)  # a where= that is no expression fails on the driver, not in every task
    key_type_of(key_type)
    if columns is not None:
        unknown = [c for c in columns if c not in schema and c not in ("key", "generation", "ttl")]
        if unknown:
            raise ConfigError(f"column(s) {unknown} are not in the schema")
    pol = resolve(QueryPolicy(), policy, policy_overrides)
    seeds = tuple(parse_hosts(hosts))
    names, masters = (master_map(seeds, namespace) or (None, None)) if align else (None, None)
    ranges = split(partitions, tasks, masters=masters)
    base = ScanTask(0, 0, 1, namespace, set, schema, seeds, where=where,
                    columns=tuple(columns) if columns is not None else None, with_key=with_key,
                    key_type=key_type, with_meta=with_meta, max_records=max_records, batch_size=batch_size,
                    on_type_error=on_type_error, strings=strings, transport=transport, policy=pol,
                    config=dict(config) if config else None, max_in_flight=max_in_flight)
    out = []
    for i, (b, c) in enumerate(ranges):
        node = None
        if masters is not None and names:
            idx, _ = Counter(masters[b:b + c]).most_common(1)[0]
            node = names[idx] if 0 <= idx < len(names) else None
        out.append(replace(base, index=i, begin=b, count=c, node=node))
    return out


def with_columns(tasks: Sequence[ScanTask], columns: Sequence[str] | None) -> list[ScanTask]:
    """The same plan reading only ``columns`` (an engine's projection pushdown)."""
    return [replace(t, columns=tuple(columns) if columns is not None else None) for t in tasks]


def with_where(tasks: Sequence[ScanTask], where: Any) -> list[ScanTask]:
    """The same plan with ``where`` and'ed to each task's filter (an engine's predicate pushdown)."""
    out = []
    for t in tasks:
        combined = where if t.where is None else (t.where & where)
        out.append(replace(t, where=combined))
    return out


def with_limit(tasks: Sequence[ScanTask], limit: int | None) -> list[ScanTask]:
    """The same plan with each task stopping at ``limit`` records (an engine's limit pushdown)."""
    if limit is None:
        return list(tasks)
    return [replace(t, max_records=limit if t.max_records is None else min(limit, t.max_records)) for t in tasks]
