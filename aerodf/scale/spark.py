"""Spark 4: ``spark.read.format("aerospike")`` / ``df.write.format("aerospike")`` as a
PySpark Python data source (``pyspark.sql.datasource``).

Spark partitions are the planner's tasks (:mod:`aerodf.partitions`), each
read as Arrow record batches by a client of its own; Spark's filters arrive
through ``pushFilters`` (enabled by :func:`register`) and become the polars
predicate of :func:`aerodf.iter_batches` (pushed to the server where it can
be, re-applied unless the server's filter is exact). Spark 4.3's Python data sources have no column-pruning
hook, so the bins read are the columns of the schema given (``.schema(...)``)
or ``option("columns", "a,b")``. A Spark task that fails is re-run by Spark
(``spark.task.maxFailures``), which discards the failed attempt's rows.

The writer writes each Spark partition's Arrow batches with
:func:`~aerodf.write_frame`; failed and in-doubt rows travel back in the
commit messages and the job's commit raises :class:`~aerodf.WriteError`
naming them (``option("raise_on_error", "false")`` logs them instead): a row
in doubt is reported, not re-written by a task retry.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import pyarrow as pa
from pyspark.sql.datasource import (
    DataSource, DataSourceArrowWriter, DataSourceReader, EqualTo, GreaterThan, GreaterThanOrEqual, In,
    InputPartition, IsNotNull, IsNull, LessThan, LessThanOrEqual, Not, StringContains, StringEndsWith,
    StringStartsWith, WriterCommitMessage,
)
from pyspark.sql.types import StructType

from ..errors import ConfigError
from ..partitions import ScanTask, plan_scan
from ..schema import Schema
from ..write import WriteError
from ._common import merge_reports, write_part

log = logging.getLogger("aerodf")

FORMAT = "aerospike"
_INT_OPTIONS = ("partitions", "batch_size", "max_records", "max_in_flight", "total_timeout", "socket_timeout",
                "max_retries", "sleep_between_retries", "records_per_second", "ttl", "chunk_size")
_QUERY_POLICY = ("total_timeout", "socket_timeout", "max_retries", "sleep_between_retries", "records_per_second")


def _arrow_of(spark_schema: StructType) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(spark_schema)


def _sparkable(t: pa.DataType) -> pa.DataType:
    """The Arrow type Spark can take for an aerodf column: unsigned integers widen to
    the next signed width (uint64 to decimal(20, 0)), vectors become lists."""
    unsigned = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64(),
                pa.uint64(): pa.decimal128(20, 0)}
    if t in unsigned:
        return unsigned[t]
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(_sparkable(t.value_type))
    if pa.types.is_map(t):
        return pa.map_(_sparkable(t.key_type), _sparkable(t.item_type))
    return t


def _spark_of(arrow_schema: pa.Schema) -> StructType:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(pa.schema([f.with_type(_sparkable(f.type)) for f in arrow_schema]))


class _Options:
    """The ``option(...)`` strings of one read or write, typed and checked."""

    def __init__(self, options: Any) -> None:
        self.raw = {k.lower(): v for k, v in dict(options).items()}

    def get(self, name: str, default: Any = None) -> Any:
        value = self.raw.get(name.lower())
        if value is None:
            return default
        if name in _INT_OPTIONS:
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"option {name!r} must be an integer, not {value!r}") from None
        return value

    def need(self, name: str) -> str:
        value = self.raw.get(name.lower())
        if not value:
            raise ConfigError(f'format("aerospike") needs option("{name}", ...)')
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw.get(name.lower())
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise ConfigError(f"option {name!r} must be 'true' or 'false', not {value!r}")
        return value.lower() == "true"

    def types(self) -> dict[str, str]:
        """``option("types", '{"emb": "vector<float32, 16>"}')``: aerodf spellings by column."""
        raw = self.raw.get("types")
        if not raw:
            return {}
        try:
            types = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f'option("types") must be a JSON object of column -> aerodf type: {exc}') from None
        if not isinstance(types, dict) or not all(isinstance(v, str) for v in types.values()):
            raise ConfigError('option("types") must be a JSON object of column -> aerodf type, e.g. '
                              '{"emb": "vector<float32, 16>"}')
        return types

    def key_name(self) -> str | None:
        value = self.raw.get("with_key")
        if value is None or value.lower() == "false":
            return None
        return "key" if value.lower() == "true" else value

    def policy(self) -> dict[str, int]:
        return {k: self.get(k) for k in _QUERY_POLICY if self.get(k) is not None}


def _aerodf_schema(spark_schema: StructType | None, opts: _Options, key_name: str | None) -> Schema:
    """The aerodf schema of a read: the Spark schema's columns (less the key column), typed by
    Spark's types mapped through Arrow, with ``option("types")`` spellings taking precedence."""
    types = opts.types()
    fields: dict[str, Any] = {}
    if spark_schema is not None:
        arrow = _arrow_of(spark_schema)
        for f in arrow:
            if f.name == key_name:
                continue
            fields[f.name] = types.get(f.name) or pa.schema([f])
        unknown = [c for c in types if c not in fields and c != key_name]
        if unknown:
            raise ConfigError(f'option("types") names column(s) {unknown} that the schema does not have')
    else:
        fields = dict(types)
    out = {}
    for name, t in fields.items():
        out[name] = t if isinstance(t, str) else Schema(t)[name].type
    if not out:
        raise ConfigError('format("aerospike") needs a schema: .schema("i long, g double") or '
                          'option("types", \'{"i": "int64"}\')')
    return Schema(out)


class AerospikeDataSource(DataSource):
    """``format("aerospike")``: options ``hosts``, ``namespace``, ``set``, and optionally
    ``partitions``, ``with_key``, ``key_type``, ``types``, ``columns``, ``transport``,
    ``batch_size``, ``max_records``, ``max_in_flight`` and policy fields
    (``total_timeout``, ``socket_timeout``, ``max_retries``); writes also take ``key``,
    ``exists``, ``ttl``, ``send_key``, ``raise_on_error``."""

    default_partitions = 8  # register() replaces it with the session's default parallelism

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> StructType:
        opts = _Options(self.options)
        key_name = opts.key_name()
        schema = _aerodf_schema(None, opts, key_name)
        arrow = schema.to_arrow()
        if key_name:
            key_type = {"int64": pa.int64(), "string": pa.string(), "bytes": pa.binary()}[opts.get("key_type", "int64")]
            arrow = arrow.insert(0, pa.field(key_name, key_type))
        return _spark_of(arrow)

    def reader(self, schema: StructType) -> "AerospikeReader":
        return AerospikeReader(self.options, schema, type(self).default_partitions)

    def writer(self, schema: StructType, overwrite: bool) -> "AerospikeWriter":
        if overwrite:
            raise ConfigError('mode("overwrite") would mean emptying the set first, which aerodf does not do: '
                              'use mode("append") (upsert), with option("exists", "replace") to replace records whole')
        return AerospikeWriter(self.options)


class _Partition(InputPartition):
    """One Spark partition: a planned scan task (its ``value`` is the task's index)."""

    def __init__(self, task: ScanTask) -> None:
        super().__init__(task.index)
        self.task = task


def _filter_to_polars(f: Any) -> Any:
    """A Spark filter as a polars predicate, or None to leave it to Spark."""
    import polars as pl

    if isinstance(f, Not):
        inner = _filter_to_polars(f.child)
        return None if inner is None else ~inner
    attr = getattr(f, "attribute", None)
    if not isinstance(attr, tuple) or len(attr) != 1:
        return None  # nested fields
    col = pl.col(attr[0])
    value = getattr(f, "value", None)
    scalar = isinstance(value, (bool, int, float, str, bytes))
    if isinstance(f, IsNull):
        return col.is_null()
    if isinstance(f, IsNotNull):
        return col.is_not_null()
    if isinstance(f, In):
        if not all(isinstance(v, (bool, int, float, str, bytes)) for v in value):
            return None
        return col.is_in(list(value))
    if not scalar:
        return None
    ops = {EqualTo: lambda: col == value, GreaterThan: lambda: col > value, GreaterThanOrEqual: lambda: col >= value,
           LessThan: lambda: col < value, LessThanOrEqual: lambda: col <= value}
    if type(f) in ops:
        return ops[type(f)]()
    if isinstance(value, str):
        strs = {StringStartsWith: lambda: col.str.starts_with(value), StringEndsWith: lambda: col.str.ends_with(value),
                StringContains: lambda: col.str.contains(value, literal=True)}
        if type(f) in strs:
            return strs[type(f)]()
    return None


class AerospikeReader(DataSourceReader):
    """Plans the scan once (on the driver) and reads one partition range per Spark task."""

    def __init__(self, options: Any, schema: StructType, default_partitions: int) -> None:
        self.opts = _Options(options)
        self.spark_schema = schema
        self.arrow_schema = _arrow_of(schema)
        self.key_name = self.opts.key_name()
        self.schema = _aerodf_schema(schema, self.opts, self.key_name)
        self.default_partitions = default_partitions
        self.where: Any = None
        self.pushed: list[Any] = []

    def pushFilters(self, filters: list) -> Iterator:
        for f in filters:
            p = _filter_to_polars(f)
            if p is None or any(c not in self.schema for c in p.meta.root_names()):
                yield f  # Spark evaluates it after the scan
                continue
            self.pushed.append(f)
            self.where = p if self.where is None else (self.where & p)

    def partitions(self) -> Sequence[InputPartition]:
        o = self.opts
        cols = o.get("columns")
        columns = [c.strip() for c in cols.split(",") if c.strip()] if cols else None
        tasks = plan_scan(o.need("namespace"), o.get("set"), self.schema, hosts=o.need("hosts"),
                          tasks=o.get("partitions") or self.default_partitions, where=self.where,
                          columns=columns, with_key=self.key_name or False, key_type=o.get("key_type", "int64"),
                          max_records=o.get("max_records"), batch_size=o.get("batch_size", 10_000),
                          transport=o.get("transport", "official"), max_in_flight=o.get("max_in_flight", 1),
                          on_type_error=o.get("on_type_error", "raise"), **o.policy())
        return [_Partition(t) for t in tasks]

    def read(self, partition: _Partition) -> Iterator[pa.RecordBatch]:
        target = self.arrow_schema
        for batch in partition.task.batches():
            table = pa.Table.from_batches([batch])
            # Spark's columns in Spark's order and Arrow types (a vector is a list to Spark);
            # a column pruned by option("columns") stays null
            cols = [table.column(f.name).cast(f.type) if f.name in table.column_names
                    else pa.nulls(table.num_rows, f.type) for f in target]
            yield from pa.Table.from_arrays(cols, schema=target).to_batches()


@dataclass
class _Written(WriterCommitMessage):
    part: int
    rows: int
    failed: list = field(default_factory=list)
    in_doubt: list = field(default_factory=list)


class AerospikeWriter(DataSourceArrowWriter):
    """Each Spark task writes its Arrow batches; the driver's commit reports what did not apply."""

    def __init__(self, options: Any) -> None:
        self.opts = _Options(options)
        o = self.opts
        self.namespace, self.set = o.need("namespace"), o.need("set")
        self.raise_on_error = o.flag("raise_on_error", True)
        self.write_options: dict[str, Any] = {"key": o.get("key", "key"), "hosts": o.need("hosts")}
        for name in ("exists", "ttl", "chunk_size", "total_timeout", "socket_timeout", "max_retries"):
            if o.get(name) is not None:
                self.write_options[name] = o.get(name)
        for name in ("send_key", "remove_nulls", "blob_keys"):
            if o.raw.get(name) is not None:
                self.write_options[name] = o.flag(name, False)
        if o.get("types"):
            self.write_options["schema"] = o.types()

    def write(self, iterator: Iterator[pa.RecordBatch]) -> _Written:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        part = ctx.partitionId() if ctx is not None else 0
        rows, failed, in_doubt = 0, [], []
        for batch in iterator:
            _, n, f, d = write_part(batch, self.namespace, self.set, self.write_options, part)
            failed += [(rows + r, k, c, m) for r, k, c, m in f]
            in_doubt += [(rows + r, k, c, m) for r, k, c, m in d]
            rows += n
        return _Written(part, rows, failed, in_doubt)

    def commit(self, messages: list) -> None:
        report = merge_reports([(m.part, m.rows, m.failed, m.in_doubt) for m in messages if m is not None])
        if report.ok:
            return
        msg = (f"write to {self.namespace}.{self.set}: {report.written} rows written, "
               f"{len(report.failed_keys)} failed, {len(report.in_doubt_keys)} in doubt; "
               f"failed keys {report.failed_keys[:20]}, in doubt {report.in_doubt_keys[:20]}; first: "
               + "; ".join(f"key {k!r}: {m}" for _, k, _, m in (report._failed + report._in_doubt)[:5]))
        if self.raise_on_error:
            raise WriteError(msg, report)
        log.warning("%s", msg)


def register(spark: Any, *, partitions: int | None = None) -> type:
    """Register ``format("aerospike")`` with a SparkSession (Spark 4.0+; filter pushdown 4.1+).

    Parameters
    ----------
    spark
        The SparkSession.
    partitions
        Default number of Spark partitions (tasks) of a read; default the
        session's ``defaultParallelism``. ``option("partitions", N)`` overrides it per read.

    Returns
    -------
    type
        The registered data source class.

    Notes
    -----
    Sets ``spark.sql.python.filterPushdown.enabled`` so that Spark hands its
    filters to the source. A Spark DDL schema maps to aerodf types through Arrow
    (``long`` -> int64, ``int`` -> int32, ``double`` -> float64, ``string``,
    ``boolean``, ``binary``, ``array<...>``, ``map<...>``); aerodf spellings
    (``vector<float32, 16>``, ``timestamp[ms]``, ``uint8``) are given per column
    with ``option("types", '{"emb": "vector<float32, 16>"}')``, which alone
    (without ``.schema``) also defines the frame's schema.

    Examples
    --------
    >>> aerodf.spark.register(spark)  # doctest: +SKIP
    >>> df = (spark.read.format("aerospike").option("hosts", "127.0.0.1:3000")
    ...       .option("namespace", "test").option("set", "events")
    ...       .schema("user long, amount double").load())  # doctest: +SKIP
    >>> df.where("amount > 10").groupBy("user").sum("amount").show()  # doctest: +SKIP
    >>> df.write.format("aerospike").option("hosts", "127.0.0.1:3000").option("namespace", "test") \\
    ...     .option("set", "copy").option("key", "user").mode("append").save()  # doctest: +SKIP
    """
    n = partitions or spark.sparkContext.defaultParallelism
    # a subclass carrying the default, pickled by value with the registration
    cls = type("AerospikeDataSourceRegistered", (AerospikeDataSource,), {"default_partitions": int(n)})
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    spark.dataSource.register(cls)
    return cls
