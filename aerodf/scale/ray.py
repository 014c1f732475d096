"""Ray Data: a set as a ``ray.data.Dataset`` through a custom ``Datasource``, and back.

``get_read_tasks(parallelism)`` plans one :class:`~aerodf.partitions.ScanTask`
per read task; each streams its range as Arrow tables of ``batch_size`` rows
(bounded memory). Ray's optimizer pushes a column selection
(``apply_projection``), a filter (``apply_predicate``: Ray expressions are
translated to polars and then to the server filter of :mod:`aerodf.expr`; a
predicate aerodf cannot translate stays a Ray filter) and a limit
(``per_task_row_limit``) into the tasks. Ray retries a read task that raised
an :class:`~aerodf.AerospikeServerError`; a task's sub-ranges are read in
order, so a re-run yields the same blocks and Ray keeps the output exact.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Iterator

import pyarrow as pa
from ray.data import Datasink, Datasource, ReadTask
from ray.data.block import BlockMetadata

from ..errors import AerospikeServerError
from ..partitions import ScanTask, with_columns, with_limit, with_where
from ..write import WriteError, WriteReport
from ._common import ReadSpec, merge_reports, read_spec, write_options, write_part


def _run(task: ScanTask, select: list[str]) -> Iterator[pa.Table]:
    for batch in task.batches():
        table = pa.Table.from_batches([batch])
        yield table.select(select) if table.column_names != select else table


def _to_polars(expr: Any) -> Any:
    """A Ray Data expression as a polars one, or None where the meaning could differ
    (division: pyarrow divides integers as integers; UDFs; anything else)."""
    import polars as pl
    from ray.data.expressions import BinaryExpr, ColumnExpr, LiteralExpr, Operation, UnaryExpr

    binary = {
        Operation.GT: lambda a, b: a > b, Operation.GE: lambda a, b: a >= b,
        Operation.LT: lambda a, b: a < b, Operation.LE: lambda a, b: a <= b,
        Operation.EQ: lambda a, b: a == b, Operation.NE: lambda a, b: a != b,
        Operation.AND: lambda a, b: a & b, Operation.OR: lambda a, b: a | b,
        Operation.ADD: lambda a, b: a + b, Operation.SUB: lambda a, b: a - b,
        Operation.MUL: lambda a, b: a * b,
    }
    if isinstance(expr, ColumnExpr):
        return pl.col(expr.name)
    if isinstance(expr, LiteralExpr):
        v = expr.value
        return pl.lit(v) if isinstance(v, (bool, int, float, str, bytes)) or v is None else None
    if isinstance(expr, UnaryExpr):
        inner = _to_polars(expr.operand)
        if inner is None:
            return None
        ops = {Operation.NOT: lambda a: ~a, Operation.IS_NULL: lambda a: a.is_null(),
               Operation.IS_NOT_NULL: lambda a: a.is_not_null()}
        return ops[expr.op](inner) if expr.op in ops else None
    if isinstance(expr, BinaryExpr):
        left = _to_polars(expr.left)
        if left is None:
            return None
        if expr.op in (Operation.IN, Operation.NOT_IN):
            values = expr.right.value if isinstance(expr.right, LiteralExpr) else None
            if not isinstance(values, (list, tuple)) or any(v is None for v in values):
                return None  # pyarrow's is_in with nulls in the set differs from polars'
            out = left.is_in(list(values))
            return ~out if expr.op == Operation.NOT_IN else out
        right = _to_polars(expr.right)
        if right is None or expr.op not in binary:
            return None
        return binary[expr.op](left, right)
    return None


def _tasks(parallelism: int) -> int:
    """Ray's requested parallelism, capped at 4 tasks per CPU of the Ray cluster: Ray asks
    for at least 200 blocks when it cannot size a source, and each task opens a client of
    its own (``partitions=N`` sets the count exactly)."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1)) if ray.is_initialized() else 1
    return max(1, min(int(parallelism), 4 * max(1, cpus)))


class AerospikeDatasource(Datasource):
    """A Ray Data source over an Aerospike set (see :func:`aerodf.read_ray`)."""

    def __init__(self, spec: ReadSpec) -> None:
        super().__init__()
        self._spec = spec
        self._projection_map = None

    def get_name(self) -> str:
        return f"Aerospike({self._spec.namespace}.{self._spec.set})"

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def supports_projection_pushdown(self) -> bool:
        return True

    def supports_predicate_pushdown(self) -> bool:
        return True

    def apply_predicate(self, predicate_expr: Any) -> "AerospikeDatasource":
        translated = _to_polars(predicate_expr)
        if translated is None:
            return self  # Ray keeps its own filter above the read
        try:
            from ..polars_expr import from_polars

            from_polars(translated)  # columns the schema lacks, or unknown nodes, stay Ray's
        except Exception:  # noqa: BLE001
            return self
        clone = copy.copy(self)
        clone._predicate_expr = predicate_expr if self._predicate_expr is None else self._predicate_expr & predicate_expr
        clone._pushed = translated if getattr(self, "_pushed", None) is None else self._pushed & translated
        return clone

    def _select(self, task: ScanTask) -> tuple[ScanTask, list[str]]:
        names = task.output_schema().names
        wanted = self._get_data_columns()
        if wanted is None:
            return task, names
        if not wanted:
            # no column wanted (ds.count()): Ray counts a zero-column block as empty, so one
            # column is read to carry the rows
            wanted = names[:1]
        unknown = [c for c in wanted if c not in names]
        if unknown:
            from ..errors import ConfigError

            raise ConfigError(f"column(s) {unknown} are not read from {task.namespace}.{task.set}")
        (task,) = with_columns([task], [c for c in wanted if c in task.schema])
        from dataclasses import replace

        key = task.with_key if isinstance(task.with_key, str) else ("key" if task.with_key else None)
        if key is not None and key not in wanted:
            task = replace(task, with_key=False)
        if task.with_meta and not {"generation", "ttl"} & set(wanted):
            task = replace(task, with_meta=False)
        return task, [c for c in names if c in wanted]

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                       data_context: Any = None) -> list[ReadTask]:
        plan = self._spec.plan(_tasks(parallelism))
        pushed = getattr(self, "_pushed", None)
        if pushed is not None:
            plan = with_where(plan, pushed)
        plan = with_limit(plan, per_task_row_limit)
        out = []
        for task in plan:
            task, select = self._select(task)
            schema = task.output_schema()
            schema = pa.schema([schema.field(c) for c in select])
            meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None)
            out.append(ReadTask(functools.partial(_run, task, select), meta, schema=schema,
                                per_task_row_limit=per_task_row_limit))
        return out


def read_ray(namespace: str, set: str | None, schema: Any, *, hosts: Any = None, where: Any = None,
             columns: list[str] | None = None, with_key: bool | str = False, partitions: Any = None,
             retries: int = 3, ray_remote_args: dict | None = None, **options: Any):
    """See :func:`aerodf.read_ray`."""
    import ray.data

    spec = read_spec(namespace, set, schema, hosts=hosts, where=where, columns=columns, with_key=with_key,
                     partitions=partitions, options=options)
    remote = {"max_retries": retries, "retry_exceptions": [AerospikeServerError]} if retries else {}
    remote.update(ray_remote_args or {})
    import warnings

    with warnings.catch_warnings():
        # Ray 2.60 deprecates ray_remote_args but has no named parameter for retries yet
        warnings.simplefilter("ignore", DeprecationWarning)
        return ray.data.read_datasource(AerospikeDatasource(spec), override_num_blocks=spec.tasks,
                                        ray_remote_args=remote)


class AerospikeDatasink(Datasink):
    """Writes each block with :func:`~aerodf.write_frame`; the merged report is ``.report``."""

    def __init__(self, namespace: str, set: str, options: dict) -> None:
        self.namespace, self.set, self.options = namespace, set, options
        self.report: WriteReport | None = None

    def get_name(self) -> str:
        return f"Aerospike({self.namespace}.{self.set})"

    def write(self, blocks: Any, ctx: Any) -> list:
        out = []
        for i, block in enumerate(blocks):
            # a block's place is (task, block within the task): the report orders by it
            part = ctx.task_idx * 1_000_000 + i
            out.append(write_part(block, self.namespace, self.set, self.options, part))
        return out

    def on_write_complete(self, write_result: Any) -> None:
        parts = [p for returns in write_result.write_returns for p in returns]
        self.report = merge_reports(parts)


def write_ray(ds: Any, namespace: str, set: str, *, key: str = "key", hosts: Any = None,
              raise_on_error: bool = False, ray_remote_args: dict | None = None, **options: Any) -> WriteReport:
    """See :func:`aerodf.write_ray`."""
    sink = AerospikeDatasink(namespace, set, write_options(key=key, hosts=hosts, options=options))
    ds.write_datasink(sink, ray_remote_args=ray_remote_args)
    report = sink.report or WriteReport()
    if raise_on_error and not report.ok:
        raise WriteError(f"write_ray to {namespace}.{set}: {len(report.failed_keys)} rows failed, "
                         f"{len(report.in_doubt_keys)} in doubt", report)
    return report
