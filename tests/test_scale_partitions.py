"""The partition planner: exact cover, node alignment, and tasks that read on their own."""

from __future__ import annotations

import pickle
from collections import Counter

import polars as pl
import pytest

import aerodf
from aerodf.partitions import master_map, plan_scan, split, with_columns, with_limit
from scale_data import N, SCHEMA, cluster, dataset, expected, keys_of  # noqa: F401 - fixtures


@pytest.mark.parametrize("pieces", [1, 2, 3, 7, 64, 4096, 5000])
def test_split_covers_every_partition_once(pieces):
    ranges = split(None, pieces)
    assert len(ranges) == min(pieces, 4096)
    covered = [p for b, c in ranges for p in range(b, b + c)]
    assert covered == list(range(4096))
    sizes = {c for _, c in ranges}
    assert max(sizes) - min(sizes) <= 1


def test_split_of_a_span():
    assert split(range(100, 110), 3) == [(100, 4), (104, 3), (107, 3)]
    assert split((4000, 96), 96)[-1] == (4095, 1)
    with pytest.raises(aerodf.ConfigError, match="outside 0..4095"):
        split((4000, 97), 2)


def test_split_aligns_cuts_to_changes_of_master_where_the_map_allows():
    # node 0 masters 0..1199, node 1 1200..2999, node 2 3000..4095
    masters = [0] * 1200 + [1] * 1800 + [2] * 1096
    ranges = split(None, 4, masters=masters)
    cuts = [b for b, _ in ranges[1:]]
    assert 1200 in cuts and 3000 in cuts, ranges
    assert [p for b, c in ranges for p in range(b, b + c)] == list(range(4096))
    # interleaved masters (the test server's p % 3): every cut is a change, the split stays even
    even = split(None, 4, masters=[p % 3 for p in range(4096)])
    assert even == split(None, 4)


def test_master_map_of_the_cluster(dataset):
    srv, ns, _ = dataset
    got = master_map(srv.hosts, ns)
    assert got is not None
    names, masters = got
    assert len(masters) == 4096 and set(masters) <= set(range(len(names)))
    if srv.is_fake:
        assert len(names) == 3
        assert len(set(masters[p] for p in range(0, 4096, 3))) == 1  # p % 3 mastered by one node
    assert master_map([("127.0.0.1", 1)], ns) is None  # nobody there: plan even ranges


def test_tasks_are_picklable_and_their_union_is_the_whole_set(dataset):
    srv, ns, name = dataset
    tasks = plan_scan(ns, name, SCHEMA, hosts=srv.hosts, tasks=5, with_key=True)
    assert [(t.begin, t.count) for t in tasks] == split(None, 5)
    assert all(t.node for t in tasks), "each task knows the node mastering most of its range"
    tasks = [pickle.loads(pickle.dumps(t)) for t in tasks]
    keys = [k for t in tasks for k in keys_of(t.table())]
    assert len(keys) == len(set(keys)), "a record read by two tasks"
    assert sorted(keys) == keys_of(expected(srv.hosts, ns, name)) == list(range(N))


def test_tasks_push_filter_and_projection(dataset):
    srv, ns, name = dataset
    where = (pl.col("g") == 3) & (pl.col("f") < 500)
    tasks = plan_scan(ns, name, SCHEMA, hosts=srv.hosts, tasks=3, with_key=True, where=where, columns=["s"])
    tables = [t.table() for t in tasks]
    assert all(t.column_names == ["key", "s"] for t in tables)
    keys = sorted(k for t in tables for k in t["key"].to_pylist())
    assert keys == [k for k in range(N) if k % 7 == 3 and k / 4 < 500]
    assert keys == keys_of(expected(srv.hosts, ns, name, where=where, columns=["s"]))
    # the engines' pushdown hooks: a narrower projection, a per-task limit
    (narrow,) = with_columns(tasks[:1], ["i"])
    assert narrow.table().column_names == ["key", "i"]
    limited = with_limit(tasks, 5)
    assert all(t.table().num_rows <= 5 for t in limited)


def test_a_task_error_names_the_task_and_its_partitions(dataset):
    srv, ns, name = dataset
    (task,) = plan_scan(ns, name, {"s": "int64"}, hosts=srv.hosts, tasks=1, partitions=(10, 20))
    with pytest.raises(aerodf.BinTypeError, match=r"scan task 0 \(partitions 10..29 of"):
        task.table()


def test_planning_checks_arguments_on_the_driver():
    with pytest.raises(aerodf.ConfigError, match="positive integer"):
        plan_scan("test", "x", SCHEMA, hosts="127.0.0.1:1", tasks=0)
    with pytest.raises(aerodf.ConfigError, match=r"\['nope'\]"):
        plan_scan("test", "x", SCHEMA, hosts="127.0.0.1:1", tasks=2, columns=["nope"], align=False)
    with pytest.raises(aerodf.ConfigError, match="where= takes"):
        plan_scan("test", "x", SCHEMA, hosts="127.0.0.1:1", tasks=2, where="g > 1", align=False)
    with pytest.raises(aerodf.ConfigError):
        plan_scan("test", "x", SCHEMA, hosts="127.0.0.1:1", tasks=2, total_timout=5, align=False)


def test_iter_batches_cuts_its_ranges_with_the_same_planner(dataset, monkeypatch):
    import aerodf.partitions as P
    import aerodf.query as Q

    srv, ns, name = dataset
    assert Q.split is P.split  # one cut (aerodf.ranges), for the engines' tasks and for iter_batches
    seen = Counter()
    real = P.split

    def spy(partitions, pieces, **kw):
        seen["calls"] += 1
        return real(partitions, pieces, **kw)

    monkeypatch.setattr(Q, "split", spy)
    got = sum(b.num_rows for b in aerodf.iter_batches(ns, name, SCHEMA, hosts=srv.hosts))
    assert got == N and seen["calls"] == 1
