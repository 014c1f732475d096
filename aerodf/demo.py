"""``python -m aerodf demo``: load a feature set and read it back, with timings.

Without ``--hosts`` it starts aerodf's embedded test server; with
``--hosts host:port`` it runs against that cluster: it writes records with
the integer keys ``0 .. --records - 1`` to ``--namespace`` / ``--set``
(``test`` / ``demo_features``; records already under those keys are
overwritten) and deletes exactly those records at the end, unless ``--keep``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np

import aerodf

SCHEMA = aerodf.Schema({
    "age": "int32",
    "score": "float64",
    "country": "string",
    "active": "bool",
    "embedding": "vector<float32, 16>",
})


def make_rows(start: int, stop: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    n = stop - start
    ages = rng.integers(18, 90, n).tolist()
    scores = rng.normal(0.5, 0.2, n).round(4).tolist()
    countries = rng.choice(["DE", "FR", "US", "JP", "BR", "IN"], n).tolist()
    active = (rng.random(n) < 0.7).tolist()
    emb = rng.normal(0, 1, (n, 16)).astype(np.float32).astype(float).round(5).tolist()
    return [{"age": a, "score": s, "country": c, "active": b, "embedding": e}
            for a, s, c, b, e in zip(ages, scores, countries, active, emb)]


def load(client: aerodf.Client, namespace: str, set_name: str, n: int, chunk: int = 5000) -> float:
    rng = np.random.default_rng(42)
    policy = client.write_policy.replace(total_timeout=30_000, send_key=False)
    batch = client.batch_policy.replace(total_timeout=30_000)
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        keys = [(namespace, set_name, i) for i in range(start, stop)]
        results = client.transport.batch_write(keys, make_rows(start, stop, rng), policy, batch)
        failed = [k for k, r in zip(keys, results) if r.code != 0]
        if failed:
            raise SystemExit(f"loading failed for {len(failed)} records, e.g. {failed[0]}")
    return time.perf_counter() - t0


def remove(client: aerodf.Client, namespace: str, set_name: str, n: int, chunk: int = 5000) -> int:
    """Delete the records :func:`load` wrote (keys ``0 .. n-1``); returns how many existed."""
    from aerospike_helpers.batch import records as br

    transport = client.transport
    official = getattr(transport, "delegate", transport)  # the wire transport writes through it
    removed = 0
    for start in range(0, n, chunk):
        batch = br.BatchRecords([br.Remove((namespace, set_name, i)) for i in range(start, min(start + chunk, n))])
        official.client.batch_write(batch, {"total_timeout": 30_000})
        failed = [r for r in batch.batch_records if r.result not in (0, 2)]
        if failed:
            raise SystemExit(f"removing the demo records failed with result {failed[0].result} "
                             f"for key {failed[0].key[2]!r}")
        removed += sum(r.result == 0 for r in batch.batch_records)
    return removed


def _median_time(fn, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def run(hosts, namespace: str, set_name: str, n: int, repeat: int, out=sys.stdout, *,
        keep: bool = False) -> dict[str, float]:
    """Load ``n`` records, time the reads, print them; delete the records afterwards unless ``keep``."""
    p = lambda *a: print(*a, file=out, flush=True)  # noqa: E731
    with aerodf.connect(hosts, max_in_flight=8) as client:
        p(f"loading {n:,} feature records into {namespace}.{set_name} ...")
        try:
            p(f"  loaded in {load(client, namespace, set_name, n):.2f} s")
            return _measure(client, hosts, namespace, set_name, n, repeat, p)
        finally:
            if keep:
                p(f"\nkept the {n:,} demo records in {namespace}.{set_name} (keys 0 .. {n - 1})")
            else:
                p(f"\nremoved {remove(client, namespace, set_name, n):,} demo records from {namespace}.{set_name} "
                  f"(--keep keeps them)")


def _measure(client: aerodf.Client, hosts, namespace: str, set_name: str, n: int, repeat: int,
             p) -> dict[str, float]:
    """Time the reads of the loaded records and print the frames."""
    keys = np.arange(n)
    timings: dict[str, float] = {}
    kw = dict(namespace=namespace, set=set_name, client=client, chunk_size=5000, progress=False)

    raw = client.transport
    bins = SCHEMA.bins
    policy = client.batch_policy

    def bare():
        key_list = [(namespace, set_name, int(k)) for k in keys]
        for s in range(0, n, 5000):
            raw.batch_read(key_list[s : s + 5000], bins, policy)

    timings["client batch_read (no frame)"], _ = _median_time(bare, repeat)
    timings["aerodf.read_batch -> pandas"], pdf = _median_time(
        lambda: aerodf.read_batch(keys, SCHEMA, output="pandas", **kw), repeat)
    timings["aerodf.read_batch -> polars"], pldf = _median_time(
        lambda: aerodf.read_batch(keys, SCHEMA, output="polars", **kw), repeat)
    with aerodf.connect(hosts, transport="wire", max_in_flight=8) as wire:
        timings["aerodf wire transport -> polars"], wdf = _median_time(
            lambda: aerodf.read_batch(keys, SCHEMA, output="polars", **dict(kw, client=wire)), repeat)
    if not wdf.equals(pldf):  # the wire decoder must agree with the client library
        raise AssertionError("the wire transport read other values than the official client")

    p("\npandas:")
    p(pdf.head())
    p(pdf.dtypes.to_string())
    p("\npolars:")
    p(pldf.head())
    p(f"\nreading {n:,} records x {len(SCHEMA)} bins (median of {repeat}):")
    width = max(map(len, timings))
    for name, t in timings.items():
        p(f"  {name:<{width}}  {t:7.3f} s  {n / t:>12,.0f} rec/s")
    return timings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aerodf demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", help="host:port[,host:port]; default: start the embedded test server")
    ap.add_argument("--namespace", default="test")
    ap.add_argument("--set", default="demo_features", help="set to write the demo records to (default demo_features)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the demo records (keys 0 .. records-1) instead of deleting them at the end")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.hosts:
        run(args.hosts, args.namespace, args.set, args.records, args.repeat, keep=args.keep)
        return 0
    from aerodf.testing import TestServer

    with TestServer() as srv:
        print(f"started aerodf's test server at {srv.seed} (pass --hosts to use a real cluster)")
        run(srv.hosts, args.namespace, args.set, args.records, args.repeat, keep=args.keep)
    return 0
