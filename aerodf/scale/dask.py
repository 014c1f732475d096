"""Dask: a set as a ``dask.dataframe.DataFrame`` through ``dd.from_map``, and back.

Each Dask partition is one :class:`~aerodf.partitions.ScanTask` (a partition
range with the pushed filter, opening its own client on whichever worker runs
it). The meta comes from the schema, so nothing is read to plan; Dask's
optimizer pushes a column selection into the tasks (``from_map`` sees the
``columns`` keyword); Dask's scheduler retries a failed task
(``compute(retries=...)``) and discards its partial output.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..partitions import ScanTask, with_columns
from ..write import WriteError, WriteReport
from ._common import ReadSpec, merge_reports, read_spec, write_options, write_part


def _to_pandas(table: pa.Table, dtype_backend: str):
    from ..output import convert

    return convert(table, "pandas", dtype_backend=dtype_backend)


def _read_task(task: ScanTask, columns: list[str] | None = None, *, dtype_backend: str = "pyarrow"):
    """One Dask partition: the task's records as pandas (``columns``: Dask's projection)."""
    if columns is not None:
        task = _project(task, columns)
        return _to_pandas(task.table().select(list(columns)), dtype_backend)
    return _to_pandas(task.table(), dtype_backend)


def _project(task: ScanTask, columns: list[str]) -> ScanTask:
    from dataclasses import replace

    key = task.with_key if isinstance(task.with_key, str) else ("key" if task.with_key else None)
    (task,) = with_columns([task], [c for c in columns if c in task.schema])
    if key is not None and key not in columns:
        task = replace(task, with_key=False)
    if task.with_meta and "generation" not in columns and "ttl" not in columns:
        task = replace(task, with_meta=False)
    return task


def _default_tasks() -> int:
    """The Dask parallelism: threads of the current distributed client, else local cores."""
    import os

    try:
        from distributed import get_client

        return max(1, sum(get_client().nthreads().values()))
    except (ImportError, ValueError):
        return os.cpu_count() or 1


def read_dask(namespace: str, set: str | None, schema: Any, *, hosts: Any = None, where: Any = None,
              columns: list[str] | None = None, with_key: bool | str = False, partitions: Any = None,
              dtype_backend: str = "pyarrow", **options: Any):
    """See :func:`aerodf.read_dask`."""
    import dask.dataframe as dd

    spec: ReadSpec = read_spec(namespace, set, schema, hosts=hosts, where=where, columns=columns,
                               with_key=with_key, partitions=partitions, options=options)
    tasks = spec.plan(_default_tasks())
    meta = _to_pandas(tasks[0].output_schema().empty_table(), dtype_backend)
    return dd.from_map(_read_task, tasks, meta=meta, label=f"aerospike-{namespace}-{set}",
                       enforce_metadata=False, dtype_backend=dtype_backend)


def write_dask(ddf: Any, namespace: str, set: str, *, key: str = "key", hosts: Any = None,
               raise_on_error: bool = False, **options: Any) -> WriteReport:
    """See :func:`aerodf.write_dask`."""
    import dask

    opts = write_options(key=key, hosts=hosts, options=options)
    parts = [dask.delayed(write_part, pure=False)(p, namespace, set, opts, i)
             for i, p in enumerate(ddf.to_delayed())]
    report = merge_reports(dask.compute(*parts))
    if raise_on_error and not report.ok:
        raise WriteError(f"write_dask to {namespace}.{set}: {len(report.failed_keys)} rows failed, "
                         f"{len(report.in_doubt_keys)} in doubt", report)
    return report
