"""Ray Data: read_ray / write_ray on a local Ray (2 CPUs).

The union of all read tasks equals a full read_query, key by key; Ray's
projection, predicate and limit pushdown reach the tasks; a task that fails
part-way is re-run by Ray and the result is still exact. Ray takes seconds
to start, so the long form (marked slow) is skipped on CI.
"""

from __future__ import annotations

import polars as pl
import pytest

import aerodf
from scale_data import ALL, N, SCHEMA, cluster, dataset, expected, frame, keys_of  # noqa: F401 - fixtures

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


def _frame(ds) -> pl.DataFrame:
    """Every row of every block, duplicates kept (empty blocks carry no columns)."""
    tables = [t for t in ray.get(ds.to_arrow_refs()) if t.num_columns]
    return pl.concat([pl.from_arrow(t) for t in tables])


def _keys(ds) -> list[int]:
    return keys_of(_frame(ds))


def test_union_of_read_tasks_is_the_whole_set(dataset, local_ray):
    srv, ns, name = dataset
    ds = aerodf.read_ray(ns, name, SCHEMA, hosts=srv.hosts, with_key=True, partitions=6)
    assert ds.schema().names == ["key", "i", "g", "f", "s"]
    got = _frame(ds)
    assert keys_of(got) == keys_of(expected(srv.hosts, ns, name)) == list(range(N))
    assert got.sort("key")["g"].to_list() == [k % 7 for k in range(N)]


@pytest.mark.slow
def test_filter_and_projection_given_and_pushed_by_ray(dataset, local_ray):
    srv, ns, name = dataset
    where = pl.col("g").is_in([1, 2]) & (pl.col("f") >= 100)
    ds = aerodf.read_ray(ns, name, SCHEMA, hosts=srv.hosts, with_key=True, where=where, columns=["s"])
    want = keys_of(expected(srv.hosts, ns, name, where=where))
    assert want == [k for k in range(N) if k % 7 in (1, 2) and k >= 400]
    assert ds.schema().names == ["key", "s"]
    assert _keys(ds) == want
    # Ray's own hooks: select_columns and filter(expr=) reach the datasource
    from ray.data.expressions import col

    ds2 = aerodf.read_ray(ns, name, SCHEMA, hosts=srv.hosts, with_key=True)
    ds2 = ds2.filter(expr=(col("g") == 3) & (col("i") < 1000)).select_columns(["key", "f"])
    plan = ds2._logical_plan  # the optimized plan has no Filter left above the read
    from ray.data._internal.logical.optimizers import LogicalOptimizer

    optimized = LogicalOptimizer().optimize(plan)
    assert "Filter" not in optimized.dag.dag_str, optimized.dag.dag_str
    got = _keys(ds2)
    assert got == [k for k in range(1000) if k % 7 == 3]
    assert ds2.schema().names == ["key", "f"]
    assert aerodf.read_ray(ns, name, SCHEMA, hosts=srv.hosts).limit(7).count() == 7


@pytest.mark.fake_only
def test_pushdown_shows_in_the_records_the_server_sends(dataset, local_ray):
    from ray.data.expressions import col

    srv, ns, name = dataset
    srv.reset_stats()
    n = aerodf.read_ray(ns, name, SCHEMA, hosts=srv.hosts, partitions=4).filter(expr=col("g") == 5).count()
    assert n == len([k for k in range(N) if k % 7 == 5])
    assert srv.stats()["records_sent"] == n


@pytest.mark.fake_only
def test_a_task_that_fails_mid_range_is_retried_by_ray(dataset, local_ray):
    srv, ns, name = dataset
    srv.clear_faults()
    srv.add_fault("error", command="query", code=11, skip=4, count=1)
    try:
        ds = aerodf.read_ray(ns, name, SCHEMA, hosts=srv.hosts, with_key=True, partitions=2, max_retries=0, where=ALL, transport="wire",
                             batch_size=100)
        got = _keys(ds)
        fired = srv.control("aerodf-fault-list")["aerodf-fault-list"]
    finally:
        srv.clear_faults()
    assert "fired=1" in fired, fired
    assert len(got) == len(set(got)) == N and sorted(got) == list(range(N)), "exact after Ray's retry"


@pytest.mark.slow
def test_write_ray_writes_each_block_and_reports_failed_rows(cluster, ns, local_ray):
    from helpers import unique_set

    name = unique_set("scr")
    ds = ray.data.from_arrow(frame(400).to_arrow()).repartition(3)
    report = aerodf.write_ray(ds, ns, name, key="key", hosts=cluster.hosts, send_key=True)
    assert report.ok and report.written == 400
    assert keys_of(expected(cluster.hosts, ns, name)) == list(range(400))
    again = ray.data.from_arrow(frame(400).to_arrow().slice(395))
    report = aerodf.write_ray(again, ns, name, key="key", hosts=cluster.hosts, exists="create_only")
    assert report.written == 0 and sorted(report.failed_keys) == list(range(395, 400))
    assert set(report.failed["error"]) == {"KEY_EXISTS"}
