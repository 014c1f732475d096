"""aerodf.aio: async reads equal sync reads, under the same limiter and policies."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

import aerodf
from aerodf import aio

NUMERIC = {"clicks": "int32", "ctr": "float32", "active": "bool"}
MIXED = {"clicks": "int32", "name": "string", "emb": "vector<float32, 4>"}


@pytest.fixture(scope="module")
def features(aerospike_server):
    with aerodf.connect(aerospike_server.hosts) as c:
        rows = [{"key": k, "clicks": k * 3, "ctr": k / 100, "active": k % 2 == 0, "name": f"u{k}",
                 "emb": [float(k), 1.0, 2.0, 3.0]} for k in range(200) if k % 17]
        aerodf.write_frame(pl.DataFrame(rows), "test", "aio_features", client=c)
    return "aio_features"


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("schema", [NUMERIC, MIXED], ids=["numeric", "mixed"])
def test_async_read_equals_sync_read(aerospike_server, features, transport, schema):
    keys = list(range(0, 200, 3))
    want = aerodf.read_batch(keys, schema, namespace="test", set=features, hosts=aerospike_server.hosts,
                             output="polars", with_key=True)

    async def main():
        async with aio.AsyncReader(schema, namespace="test", set=features, hosts=aerospike_server.hosts,
                                   transport=transport, output="polars", with_key=True, chunk_size=16) as r:
            assert r.transport_name == transport
            assert r.path == ("wire" if transport == "wire" else "general")
            return await r.read(keys), await r.read(keys[:5])

    got, small = run(main())
    assert got.equals(want)
    assert small.equals(want.head(5))
    assert got.filter(pl.col("key") == 51)["clicks"].to_list() == [None]  # 51 = 3 * 17 was never written


def test_one_off_read_batch_and_outputs(aerospike_server, features, transport):
    arr = run(aio.read_batch([1, 2, 17], NUMERIC, namespace="test", set=features, hosts=aerospike_server.hosts,
                             transport=transport, output="numpy"))
    assert arr["clicks"].tolist() == [3, 6, None]
    df = run(aio.read_batch([1, 2], NUMERIC, namespace="test", set=features, hosts=aerospike_server.hosts,
                            transport=transport))
    assert df["clicks"].tolist() == [3, 6]


def test_many_concurrent_reads_respect_max_in_flight(aerospike_server, features, transport):
    async def main():
        async with aio.AsyncReader(NUMERIC, namespace="test", set=features, hosts=aerospike_server.hosts,
                                   transport=transport, output="polars", max_in_flight=3) as r:
            frames = await asyncio.gather(*(r.read(range(i, i + 50)) for i in range(40)))
            return frames, r.limiter.stats()

    if aerospike_server.is_fake:
        aerospike_server.reset_stats()
    frames, stats = run(main())
    for i, df in enumerate(frames):
        assert df["clicks"].to_list() == [k * 3 if k % 17 else None for k in range(i, i + 50)]
    assert 1 <= stats.peak <= 3
    if aerospike_server.is_fake:
        assert aerospike_server.stats()["peak_in_flight"] <= 3


@pytest.mark.fake_only
def test_backpressure_and_timeouts(fake, features, transport):
    async def main():
        async with aio.AsyncReader(NUMERIC, namespace="test", set=features, hosts=fake.hosts, transport=transport,
                                   max_in_flight=1, queue_timeout=0.05, total_timeout=2000) as r:
            fake.add_fault("delay", command="batch", ms=300, count=1)
            results = await asyncio.gather(r.read([1, 2]), r.read([3, 4]), return_exceptions=True)
            assert sum(isinstance(x, aerodf.BackpressureError) for x in results) == 1
            fake.add_fault("delay", command="batch", ms=600, count=1)
        async with aio.AsyncReader(NUMERIC, namespace="test", set=features, hosts=fake.hosts, transport=transport,
                                   total_timeout=200, socket_timeout=200, max_retries=0) as r:
            fake.add_fault("delay", command="batch", ms=600, count=1)
            with pytest.raises(aerodf.TimeoutError):
                await r.read([1, 2])

    run(main())


def test_errors_are_clear(aerospike_server, features):
    async def main():
        r = aio.AsyncReader(NUMERIC, namespace="test", set=features, hosts=aerospike_server.hosts)
        with pytest.raises(aerodf.ConfigError, match="not connected"):
            await r.read([1])

    run(main())
    with pytest.raises(aerodf.ConfigError, match="on_missing"):
        aio.AsyncReader(NUMERIC, namespace="test", hosts=aerospike_server.hosts, on_missing="skip")
