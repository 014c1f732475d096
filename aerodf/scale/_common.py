"""What every engine adapter shares: the read options, the task count, and
per-partition writes whose reports merge into one :class:`~aerodf.WriteReport`.

Kept apart from the adapters so that each engine module stays a thin layer
over :mod:`aerodf.partitions` and :func:`aerodf.write_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import ConfigError
from ..partitions import ScanTask, plan_scan
from ..ranges import partition_span
from ..write import WriteReport


@dataclass(frozen=True)
class ReadSpec:
    """The arguments of a ``read_<engine>`` call, checked on the driver."""

    namespace: str
    set: str | None
    schema: Any
    hosts: Any
    where: Any = None
    columns: Sequence[str] | None = None
    with_key: bool | str = False
    tasks: int | None = None       # partitions=N
    span: Any = None               # partitions=range(...) / (begin, count)
    options: dict | None = None    # plan_scan's other keywords

    def plan(self, default_tasks: int, **extra: Any) -> list[ScanTask]:
        """The scan tasks: ``partitions=N`` if given, else the engine's parallelism."""
        opts = dict(self.options or {})
        opts.update(extra)
        return plan_scan(self.namespace, self.set, self.schema, hosts=self.hosts,
                         tasks=self.tasks or max(1, int(default_tasks)), where=self.where,
                         columns=self.columns, partitions=self.span, with_key=self.with_key, **opts)


def read_spec(namespace: str, set: str | None, schema: Any, *, hosts: Any, where: Any, columns: Any,
              with_key: bool | str, partitions: Any, options: dict) -> ReadSpec:
    """Check a read's arguments once, on the driver (a typo fails here, not in every task)."""
    from ..client import parse_hosts
    from ..schema import Schema

    schema = schema if isinstance(schema, Schema) else Schema(schema)
    tasks, span = None, None
    if isinstance(partitions, bool):
        raise ConfigError(f"partitions must be a number of tasks, a range or (begin, count), not {partitions!r}")
    if isinstance(partitions, int):
        if partitions < 1:
            raise ConfigError(f"partitions (the number of tasks) must be at least 1, not {partitions}")
        tasks = partitions
    elif partitions is not None:
        span = partition_span(partitions)
    seeds = parse_hosts(hosts)
    spec = ReadSpec(namespace, set, schema, seeds, where, list(columns) if columns is not None else None,
                    with_key, tasks, span, options)
    spec.plan(1, align=False)  # validates where=, columns=, policies without contacting the cluster
    return spec


def write_part(frame: Any, namespace: str, set: str, options: dict, part: int) -> tuple[int, int, list, list]:
    """Write one engine partition with :func:`~aerodf.write_frame` on a client of its own.

    Returns ``(partition, rows, failed, in_doubt)``. Failed and in-doubt rows
    are reported, never raised, so an engine does not re-run a partition
    whose rows may already have applied (in doubt stays in doubt); a
    partition that cannot start (no cluster) raises, and the engine may retry it.
    """
    from ..write import to_arrow_table, write_frame

    table = to_arrow_table(frame)
    if table.num_rows == 0:
        return part, 0, [], []
    report = write_frame(table, namespace, set, **options)
    return part, table.num_rows, list(report._failed), list(report._in_doubt)


def merge_reports(parts: Sequence[tuple[int, int, list, list]]) -> WriteReport:
    """One report over every partition; ``row`` becomes the row's position in the
    whole distributed frame (partitions in order), and each message names its partition."""
    out = WriteReport()
    offset = 0
    for part, rows, failed, in_doubt in sorted(parts, key=lambda p: p[0]):
        out.written += rows - len(failed) - len(in_doubt)
        out._failed.extend((offset + r, k, c, f"partition {part}: {m}") for r, k, c, m in failed)
        out._in_doubt.extend((offset + r, k, c, f"partition {part}: {m}") for r, k, c, m in in_doubt)
        offset += rows
    return out


def write_options(*, key: str, hosts: Any, options: dict) -> dict:
    """write_frame's keywords for every partition (``client=`` is refused: a task opens its own)."""
    from ..client import parse_hosts

    if "client" in options:
        raise ConfigError("engine writes open a client per task: pass hosts=, not client=")
    return dict(options, key=key, hosts=parse_hosts(hosts))
