"""A dataset and a server shared by the scale-out tests (tests/test_scale_*.py).

On aerodf's test server the data lives on a three-node cluster (partition
``p`` mastered by node ``p % 3``); with ``AERODF_TEST_HOSTS`` on the real
cluster named there.
"""

from __future__ import annotations

import polars as pl
import pytest

import aerodf

N = 3000
# The fault tests turn the transport's own retries off (max_retries=0) so that an injected
# error escapes the task and the engine must re-run it. They read through the wire transport
# and filter on a bin every record holds: the test server sends no per-partition "done"
# markers, and without retries the official client's partition tracker then fails now and
# then with TIMEOUT (2 scans in 15 on a 3-node test server; invisible with its retries), and a
# scan naming bins with no filter makes a metadata-only pass that always goes through the
# official client.
ALL = pl.col("i") >= 0
SCHEMA = {"i": "int64", "g": "int64", "f": "float64", "s": "string"}


def frame(n: int = N) -> pl.DataFrame:
    return pl.DataFrame({"key": list(range(n)), "i": list(range(n)), "g": [k % 7 for k in range(n)],
                         "f": [k / 4 for k in range(n)], "s": [f"s{k % 11}" for k in range(n)]})


def load(hosts, namespace: str, set_name: str, n: int = N) -> None:
    report = aerodf.write_frame(frame(n), namespace, set_name, hosts=hosts, send_key=True)
    assert report.ok and report.written == n, report


def keys_of(table_or_frame) -> list[int]:
    """Every key of a result, duplicates kept (so a test can tell a duplicate from a loss)."""
    col = table_or_frame["key"]
    return sorted(col.to_pylist() if hasattr(col, "to_pylist") else list(col))


def expected(hosts, namespace: str, set_name: str, where=None, columns=None) -> pl.DataFrame:
    """The full single-process read the engines must match."""
    return aerodf.read_query(namespace, set_name, SCHEMA, where=where, columns=columns, hosts=hosts,
                             with_key=True, output="polars").sort("key")


@pytest.fixture(scope="module")
def cluster(request):
    """A multi-node test server, or the real cluster of AERODF_TEST_HOSTS."""
    from aerodf.testing.lifecycle import hosts_from_env

    if hosts_from_env() is not None:
        return request.getfixturevalue("aerospike_server")
    return request.getfixturevalue("aerospike_cluster")


@pytest.fixture(scope="module")
def dataset(cluster, ns):
    from helpers import unique_set

    name = unique_set("sc")
    load(cluster.hosts, ns, name)
    return cluster, ns, name
