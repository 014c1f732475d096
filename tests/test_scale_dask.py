"""Dask: read_dask / write_dask on a LocalCluster of 2 worker processes.

The union of all partitions equals a full read_query, key by key; a task that
fails part-way is retried by Dask's scheduler and the result is still exact.
"""

from __future__ import annotations

import polars as pl
import pytest

import aerodf
from scale_data import ALL, N, SCHEMA, cluster, dataset, expected, frame, keys_of  # noqa: F401 - fixtures

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_class=distributed.Nanny) as lc, distributed.Client(lc) as c:
        yield c


def _keys(ddf) -> list[int]:
    return sorted(ddf["key"].compute().tolist())


def test_union_of_partitions_is_the_whole_set(dataset, dask_client):
    srv, ns, name = dataset
    ddf = aerodf.read_dask(ns, name, SCHEMA, hosts=srv.hosts, with_key=True)
    assert ddf.npartitions == 2, "one task per worker thread by default"
    assert list(ddf.columns) == ["key", "i", "g", "f", "s"]
    assert str(ddf.dtypes["i"]) == "int64[pyarrow]"
    got = ddf.compute()
    assert sorted(got["key"]) == keys_of(expected(srv.hosts, ns, name)) == list(range(N))
    rows = sorted(zip(got["key"].tolist(), got["i"].tolist(), got["g"].tolist()))
    assert rows == [(k, k, k % 7) for k in range(N)]


def test_filter_and_projection_are_pushed(dataset, dask_client):
    srv, ns, name = dataset
    where = (pl.col("g") == 2) | (pl.col("s") == "s5")
    ddf = aerodf.read_dask(ns, name, SCHEMA, hosts=srv.hosts, with_key=True, where=where, columns=["f"],
                           partitions=7)
    assert ddf.npartitions == 7 and list(ddf.columns) == ["key", "f"]
    want = keys_of(expected(srv.hosts, ns, name, where=where))
    assert want == [k for k in range(N) if k % 7 == 2 or k % 11 == 5]
    assert _keys(ddf) == want
    # Dask's own projection reaches the tasks: only "f" comes back from each
    only_f = ddf[["f"]].compute()
    assert list(only_f.columns) == ["f"] and len(only_f) == len(want)


@pytest.mark.fake_only
def test_pushdown_shows_in_the_records_the_server_sends(dataset, dask_client):
    srv, ns, name = dataset
    srv.reset_stats()
    ddf = aerodf.read_dask(ns, name, SCHEMA, hosts=srv.hosts, with_key=True, where=pl.col("g") == 4, partitions=4)
    n = len(ddf.compute())
    assert n == len([k for k in range(N) if k % 7 == 4])
    assert srv.stats()["records_sent"] == n, "the server sent only the matching records"


@pytest.mark.fake_only
def test_a_task_that_fails_mid_range_is_retried_by_dask(dataset, dask_client):
    srv, ns, name = dataset
    srv.clear_faults()
    # the 5th partition query anywhere fails once; no retry inside the task (max_retries=0), so
    # the task raises after yielding its other sub-ranges, and Dask re-runs it
    srv.add_fault("error", command="query", code=11, skip=4, count=1)
    try:
        ddf = aerodf.read_dask(ns, name, SCHEMA, hosts=srv.hosts, with_key=True, partitions=2, max_retries=0, where=ALL, transport="wire")
        got = ddf["key"].compute(retries=2).tolist()
        fired = srv.control("aerodf-fault-list")["aerodf-fault-list"]
    finally:
        srv.clear_faults()
    assert "fired=1" in fired, f"the fault did not fire: {fired}"
    assert len(got) == len(set(got)) == N and sorted(got) == list(range(N)), "exact after the retry"
    with pytest.raises(aerodf.AerospikeServerError, match=r"scan task \d \(partitions"):
        srv.add_fault("error", command="query", code=11, skip=4, count=1)
        try:
            aerodf.read_dask(ns, name, SCHEMA, hosts=srv.hosts, with_key=True, partitions=2,
                             max_retries=0, where=ALL, transport="wire").compute(retries=0)
        finally:
            srv.clear_faults()


def test_write_dask_writes_each_partition_and_reports_failed_rows(cluster, ns, dask_client):
    from helpers import unique_set

    name = unique_set("scw")
    pdf = frame(500).to_pandas()
    ddf = dd.from_pandas(pdf, npartitions=3)
    report = aerodf.write_dask(ddf, ns, name, key="key", hosts=cluster.hosts, send_key=True)
    assert report.ok and report.written == 500
    assert keys_of(expected(cluster.hosts, ns, name)) == list(range(500))
    # create_only on existing records: every row fails, named by key and by global row
    again = dd.from_pandas(pdf.iloc[490:], npartitions=2)
    report = aerodf.write_dask(again, ns, name, key="key", hosts=cluster.hosts, exists="create_only")
    assert report.written == 0
    assert sorted(report.failed_keys) == list(range(490, 500))
    assert sorted(report.failed["row"]) == list(range(10))
    assert set(report.failed["error"]) == {"KEY_EXISTS"}
    assert all(m.startswith("partition ") for m in report.failed["message"])
    with pytest.raises(aerodf.WriteError) as e:
        aerodf.write_dask(again, ns, name, key="key", hosts=cluster.hosts, exists="create_only",
                          raise_on_error=True)
    assert sorted(e.value.report.failed_keys) == list(range(490, 500))
