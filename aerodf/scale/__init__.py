"""Scale-out: read and write Aerospike from Ray, Dask and Spark.

The engines schedule, retry and spill; aerodf only plans what each task reads
(:mod:`aerodf.partitions`: partition ranges with the pushed filter, the
projection and a limit, each task opening its own client) and writes each
engine partition with :func:`~aerodf.write_frame`. These wrappers import an
engine only when called (``pip install "aerodf[ray]"``, ``[dask]``, ``[spark]``);
Spark's data source is registered with :func:`aerodf.spark.register`.
"""

from __future__ import annotations

from typing import Any

from ..write import WriteReport

_READ_PARAMS = """
    Parameters
    ----------
    namespace, set
        What to read (``set=None``: the whole namespace).
    schema
        The columns (any :class:`~aerodf.Schema` spelling); the frame's types come from it.
    hosts
        Seed nodes every task connects to (``"host:port,..."``): a task opens a
        client of its own on whichever worker runs it.
    where
        A polars predicate, as in :func:`aerodf.read_query`: what the server
        can run is pushed into every task's scan; the whole predicate is
        re-applied to every batch unless the server's filter is exact.
    columns
        Only these columns (bins the predicate needs are read, not returned).
    with_key
        Add the stored user key as a column (``True``: ``"key"``, or a name).
    partitions
        An int: that many tasks; ``range(b, e)`` or ``(begin, count)``: only
        those of the 4096 partitions, in the engine's parallelism; None: all
        4096 in the engine's parallelism.
    **options
        :func:`aerodf.partitions.plan_scan`'s other keywords: ``key_type``,
        ``with_meta``, ``max_records`` (per task), ``batch_size`` (rows per
        Arrow batch, the memory bound of a task), ``transport``, ``policy``,
        ``config``, ``on_type_error``, ``max_in_flight`` (sub-ranges a task
        reads at once) and policy overrides (``total_timeout=...``).
"""


def read_ray(namespace: str, set: str | None, schema: Any, *, hosts: Any = None, where: Any = None,
             columns: list[str] | None = None, with_key: bool | str = False, partitions: Any = None,
             retries: int = 3, ray_remote_args: dict | None = None, **options: Any):
    from .ray import read_ray as impl

    return impl(namespace, set, schema, hosts=hosts, where=where, columns=columns, with_key=with_key,
                partitions=partitions, retries=retries, ray_remote_args=ray_remote_args, **options)


read_ray.__doc__ = """Read a set as a ``ray.data.Dataset`` (Arrow blocks, streamed per task).

The Dataset's read tasks are partition ranges (:class:`aerodf.scale.ray.AerospikeDatasource`);
Ray pushes ``ds.select_columns``, ``ds.filter(expr=...)`` and ``ds.limit`` into
them where it can.
""" + _READ_PARAMS + """    retries
        Times Ray re-runs a read task that raised an
        :class:`~aerodf.AerospikeServerError` (the re-run replaces its output).
    ray_remote_args
        Passed to Ray for the read tasks (``num_cpus``, ...).

    Examples
    --------
    >>> ds = aerodf.read_ray("test", "events", {"user": "int64", "amount": "float64"},
    ...                      hosts="127.0.0.1:3000", where=pl.col("amount") > 10)  # doctest: +SKIP
    >>> ds.sum("amount")  # doctest: +SKIP
"""


def read_dask(namespace: str, set: str | None, schema: Any, *, hosts: Any = None, where: Any = None,
              columns: list[str] | None = None, with_key: bool | str = False, partitions: Any = None,
              dtype_backend: str = "pyarrow", **options: Any):
    from .dask import read_dask as impl

    return impl(namespace, set, schema, hosts=hosts, where=where, columns=columns, with_key=with_key,
                partitions=partitions, dtype_backend=dtype_backend, **options)


read_dask.__doc__ = """Read a set as a ``dask.dataframe.DataFrame`` (one partition per task).

Built with ``dd.from_map``; the meta comes from the schema, Dask's optimizer
pushes column selections into the tasks, and a task retried by the scheduler
(``compute(retries=2)``) reads its range again from the start.
""" + _READ_PARAMS + """    dtype_backend
        ``"pyarrow"`` (zero-copy ``ArrowDtype`` columns) or ``"numpy_nullable"``.

    Examples
    --------
    >>> ddf = aerodf.read_dask("test", "events", {"user": "int64", "amount": "float64"},
    ...                        hosts="127.0.0.1:3000", partitions=64)  # doctest: +SKIP
    >>> ddf.groupby("user").amount.sum().compute()  # doctest: +SKIP
"""

_WRITE_PARAMS = """
    Parameters
    ----------
    namespace, set
        Where to write.
    key
        The key column.
    hosts
        Seed nodes every task connects to.
    raise_on_error
        Raise :class:`~aerodf.WriteError` (carrying the report) at the end if
        any row failed or is in doubt.
    **options
        :func:`aerodf.write_frame`'s keywords (``ttl``, ``exists``, ``schema``,
        ``send_key``, policy overrides ...), applied to every partition.

    Returns
    -------
    WriteReport
        Over the whole frame: ``row`` counts across the engine's partitions in
        order, and each failed or in-doubt row's message names its partition.
        A row in doubt (a timed-out write) is reported, never retried by the engine.
"""


def write_ray(ds: Any, namespace: str, set: str, *, key: str = "key", hosts: Any = None,
              raise_on_error: bool = False, ray_remote_args: dict | None = None, **options: Any) -> WriteReport:
    from .ray import write_ray as impl

    return impl(ds, namespace, set, key=key, hosts=hosts, raise_on_error=raise_on_error,
                ray_remote_args=ray_remote_args, **options)


write_ray.__doc__ = """Write a ``ray.data.Dataset``: each block with :func:`~aerodf.write_frame` in a Ray task.

Uses Ray's own write hook (``Dataset.write_datasink``).
""" + _WRITE_PARAMS + """
    Examples
    --------
    >>> report = aerodf.write_ray(ds, "test", "events", key="id", hosts="127.0.0.1:3000")  # doctest: +SKIP
    >>> report.written, report.failed  # doctest: +SKIP
"""


def write_dask(ddf: Any, namespace: str, set: str, *, key: str = "key", hosts: Any = None,
               raise_on_error: bool = False, **options: Any) -> WriteReport:
    from .dask import write_dask as impl

    return impl(ddf, namespace, set, key=key, hosts=hosts, raise_on_error=raise_on_error, **options)


write_dask.__doc__ = """Write a ``dask.dataframe.DataFrame``: each partition with :func:`~aerodf.write_frame` in a Dask task.
""" + _WRITE_PARAMS + """
    Examples
    --------
    >>> report = aerodf.write_dask(ddf, "test", "events", key="id", hosts="127.0.0.1:3000")  # doctest: +SKIP
"""

__all__ = ["read_ray", "read_dask", "write_ray", "write_dask"]
