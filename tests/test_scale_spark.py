"""Spark 4: format("aerospike") reads and writes on a local SparkSession.

Skipped without ``java`` (CI machines have none) or pyspark; marked slow.
The union of all Spark partitions equals a full read_query, key by key;
Spark's filters are pushed (pushFilters) and show in the server's records
sent; a task that fails part-way is re-run by Spark (local[2, 3]: three
attempts) and the result is still exact.
"""

from __future__ import annotations

import shutil

import polars as pl
import pytest

import aerodf
from scale_data import ALL, N, SCHEMA, cluster, dataset, expected, frame, keys_of  # noqa: F401 - fixtures

if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime (`java` is not on PATH)", allow_module_level=True)
pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

DDL = "key long, i long, g long, f double, s string"


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2, 3]").appName("aerodf-tests")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
         .config("spark.python.worker.reuse", "true").getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    import aerodf.spark

    aerodf.spark.register(s)
    yield s
    s.stop()


def _reader(spark, srv, ns, name, **options):
    r = (spark.read.format("aerospike").option("hosts", ",".join(f"{h}:{p}" for h, p in srv.hosts))
         .option("namespace", ns).option("set", name).option("with_key", "true"))
    for k, v in options.items():
        r = r.option(k, str(v))
    return r


def _keys(df) -> list[int]:
    return sorted(r["key"] for r in df.select("key").collect())


def test_union_of_spark_partitions_is_the_whole_set(dataset, spark):
    srv, ns, name = dataset
    df = _reader(spark, srv, ns, name, partitions=5).schema(DDL).load()
    assert df.rdd.getNumPartitions() == 5
    rows = df.collect()
    assert sorted(r["key"] for r in rows) == keys_of(expected(srv.hosts, ns, name)) == list(range(N))
    assert sorted((r["key"], r["g"], r["s"]) for r in rows) == [(k, k % 7, f"s{k % 11}") for k in range(N)]
    # the default number of partitions is the session's parallelism
    assert _reader(spark, srv, ns, name).schema(DDL).load().rdd.getNumPartitions() == 2


def test_filters_are_pushed_and_columns_pruned(dataset, spark):
    srv, ns, name = dataset
    df = _reader(spark, srv, ns, name).schema("key long, g long, s string").load()
    got = df.where("g = 3 and s like 's1%' and key < 2000")
    want = [k for k in range(2000) if k % 7 == 3 and f"s{k % 11}".startswith("s1")]
    assert _keys(got) == want
    # a schema naming fewer bins reads only those (Spark 4.3 has no pruning hook for Python sources)
    assert df.columns == ["key", "g", "s"]
    # aerodf type spellings: option("types"), alone or over a Spark schema
    typed = _reader(spark, srv, ns, name, types='{"g": "uint8", "f": "float32"}').load()
    assert typed.columns == ["key", "g", "f"] and dict(typed.dtypes)["f"] == "float"
    assert sorted(r["g"] for r in typed.where("key < 7").collect()) == list(range(7))
    with pytest.raises(Exception, match="does not have"):
        _reader(spark, srv, ns, name, types='{"zz": "int8"}').schema(DDL).load().collect()


@pytest.mark.fake_only
def test_pushdown_shows_in_the_records_the_server_sends(dataset, spark):
    srv, ns, name = dataset
    srv.reset_stats()
    n = _reader(spark, srv, ns, name).schema(DDL).load().where("g = 6").count()
    assert n == len([k for k in range(N) if k % 7 == 6])
    assert srv.stats()["records_sent"] == n


@pytest.mark.fake_only
def test_a_task_that_fails_mid_range_is_retried_by_spark(dataset, spark):
    srv, ns, name = dataset
    srv.clear_faults()
    srv.add_fault("error", command="query", code=11, skip=4, count=1)
    try:
        df = _reader(spark, srv, ns, name, partitions=2, max_retries=0, batch_size=100, transport="wire").schema(DDL).load().where("i >= 0")
        got = [r["key"] for r in df.select("key").collect()]
        fired = srv.control("aerodf-fault-list")["aerodf-fault-list"]
    finally:
        srv.clear_faults()
    assert "fired=1" in fired, fired
    assert len(got) == len(set(got)) == N and sorted(got) == list(range(N)), "exact after Spark's retry"


def test_writer_writes_each_partition_and_reports_failed_rows(cluster, ns, spark):
    from helpers import unique_set

    name = unique_set("scs")
    hosts = ",".join(f"{h}:{p}" for h, p in cluster.hosts)
    sdf = spark.createDataFrame(frame(300).to_pandas()).repartition(3)

    def writer(df):
        return (df.write.format("aerospike").option("hosts", hosts).option("namespace", ns)
                .option("set", name).option("key", "key").mode("append"))

    writer(sdf).option("send_key", "true").save()
    assert keys_of(expected(cluster.hosts, ns, name)) == list(range(300))
    again = spark.createDataFrame(frame(300).to_pandas().iloc[295:])
    with pytest.raises(Exception, match=r"0 rows written, 5 failed, 0 in doubt; failed keys \[29[5-9]"):
        writer(again).option("exists", "create_only").save()
    writer(again).option("exists", "create_only").option("raise_on_error", "false").save()  # logged only
    with pytest.raises(Exception, match="does not do"):
        again.write.format("aerospike").option("hosts", hosts).option("namespace", ns).option("set", name) \
            .mode("overwrite").save()
