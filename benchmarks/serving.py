"""Feature-fetch serving benchmark: latency, throughput and GIL share.

Each request reads 100 random keys x 10 numeric bins. Paths, side by side in
one run (rounds interleaved, samples pooled, p50 = median):

* hand-written: the official client's ``batch_read`` (records), aerospike-py's
  ``batch_read(...).to_list()`` and ``.to_numpy(dtype)`` (sync and async);
* aerodf: ``read_batch`` through each transport, and ``aerodf.aio.AsyncReader``
  through each transport, into NumPy (masked) and polars;
* aerodf.serving: ``ServingReader.read`` (compiled once, wire transport, the C
  kernel when built: ``aerodf.wire.kernel.AVAILABLE``), into NumPy and polars.

Sync paths run ``c`` threads; async paths run ``c`` tasks on one event loop.

GIL share: serving processes run model code beside the fetch. A thread runs
a CPU-bound pure-Python loop while 64 fetches are kept in flight, and its
rate is compared with its rate alone; ``slowdown`` is alone / beside (1.0 =
no harm). A faster path does more fetches in the same seconds, so each path
is also run paced (:data:`PACED_RATE` requests/s for all): the harm per
request. On a 2-core machine the test server's process competes for the
cores too, for every path alike.

``python benchmarks/serving.py [--hosts h:p] [--quick]`` (also part of
``python -m benchmarks``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import aerodf  # noqa: E402
from aerodf import aio  # noqa: E402
from benchmarks._common import cluster, machine, save  # noqa: E402

NS, SET = "test", "bench_serving"
SCHEMA = aerodf.Schema({f"n{i}": ("int64" if i % 2 else "float64") for i in range(10)})
DTYPE = np.dtype([(f.bin_name, "<i8" if f.type == aerodf.schema.Int(64) else "<f8") for f in SCHEMA])
KEYS_PER_REQUEST = 100


def load(hosts, n: int) -> None:
    import polars as pl

    rng = np.random.default_rng(7)
    cols: dict[str, Any] = {"key": np.arange(n)}
    for f in SCHEMA:
        cols[f.name] = rng.integers(0, 1_000_000, n) if f.type == aerodf.schema.Int(64) else rng.random(n)
    with aerodf.connect(hosts, max_in_flight=8) as c:
        report = aerodf.write_frame(pl.DataFrame(cols), NS, SET, client=c, total_timeout=60_000, progress=False)
        if not report.ok:
            raise SystemExit(f"loading failed: {report}")


class Paths:
    """Every path as a sync ``fn(ids)`` or an async ``afn(ids)``; clients opened once."""

    def __init__(self, hosts, set_name: str = SET) -> None:
        import aerospike
        import aerospike_py

        self.hosts, self.set = hosts, set_name
        self.raw = aerospike.client({"hosts": hosts}).connect()
        self.pyc = aerospike_py.client({"hosts": hosts}).connect()
        self.off = aerodf.connect(hosts, transport="official", max_in_flight=0, workers=2)
        self.fast = aerodf.connect(hosts, transport="aerospike-py", max_in_flight=0, workers=2)
        self.wire = aerodf.connect(hosts, transport="wire", max_in_flight=0, workers=2)
        from aerodf.serving import ServingReader

        self.serving = {out: ServingReader(SCHEMA, namespace=NS, set=set_name, client=self.wire, output=out)
                        for out in ("numpy", "polars")}
        self.bins = SCHEMA.bins
        self.async_ready: dict[str, Any] = {}

    def sync(self) -> dict[str, Callable[[list[int]], Any]]:
        raw, pyc, bins, st = self.raw, self.pyc, self.bins, self.set

        def official_hand(ids):
            res = raw.batch_read([(NS, st, i) for i in ids], bins)
            return [r.record[2] if r.record is not None else None for r in res.batch_records]

        def py_list(ids):
            return pyc.batch_read([(NS, st, i) for i in ids], bins).to_list()

        def py_numpy(ids):
            return pyc.batch_read([(NS, st, i) for i in ids], bins).to_numpy(DTYPE)

        def aerodf_read(client, output):
            return lambda ids: aerodf.read_batch(ids, SCHEMA, namespace=NS, set=st, client=client, output=output,
                                                 progress=False)

        return {
            "hand: official batch_read (records)": official_hand,
            "hand: aerospike-py to_list (dicts)": py_list,
            "hand: aerospike-py to_numpy (raw array)": py_numpy,
            "aerodf official -> numpy": aerodf_read(self.off, "numpy"),
            "aerodf aerospike-py -> numpy": aerodf_read(self.fast, "numpy"),
            "aerodf aerospike-py -> polars": aerodf_read(self.fast, "polars"),
            "aerodf wire -> numpy": aerodf_read(self.wire, "numpy"),
            "aerodf.serving ServingReader -> numpy": self.serving["numpy"].read,
            "aerodf.serving ServingReader -> polars": self.serving["polars"].read,
        }

    async def open_async(self) -> dict[str, Callable[[list[int]], Any]]:
        import aerospike_py

        ac = await aerospike_py.AsyncClient({"hosts": self.hosts}).connect()
        st = self.set
        readers = {
            name: await aio.AsyncReader.open(SCHEMA, namespace=NS, set=st, hosts=self.hosts, transport=t,
                                             output=out, workers=16)
            for name, t, out in (("aerodf.aio aerospike-py -> numpy", "aerospike-py", "numpy"),
                                 ("aerodf.aio aerospike-py -> polars", "aerospike-py", "polars"),
                                 ("aerodf.aio official -> numpy", "official", "numpy"),
                                 ("aerodf.aio wire -> numpy", "wire", "numpy"))
        }
        bins, st = self.bins, self.set

        async def py_async_numpy(ids):
            return (await ac.batch_read([(NS, st, i) for i in ids], bins)).to_numpy(DTYPE)

        self._async_close = [ac.close(), *(r.close() for r in readers.values())]
        paths = {"hand: aerospike-py async to_numpy (raw array)": py_async_numpy}
        paths.update({name: r.read for name, r in readers.items()})
        return paths

    async def close_async(self) -> None:
        for c in self._async_close:
            await c

    def close(self) -> None:
        self.raw.close()
        self.pyc.close()
        self.off.close()
        self.fast.close()
        self.wire.close()


def _requests(rng: random.Random, n_keys: int, count: int) -> list[list[int]]:
    return [[rng.randrange(n_keys) for _ in range(KEYS_PER_REQUEST)] for _ in range(count)]


def run_sync(fn, level: int, per_worker: int, n_keys: int, seed: int) -> tuple[list[float], float]:
    """``level`` threads, each sending ``per_worker`` requests back to back. The threads
    start together (a barrier): otherwise a path whose threads finish their few requests
    quickly runs at less than ``level`` in flight while later threads are still being
    started, and its p50 looks better than the concurrency it claims."""
    lat: list[float] = []
    lock = threading.Lock()
    work = [_requests(random.Random(seed + w), n_keys, per_worker) for w in range(level)]
    gate = threading.Barrier(level + 1)
    span: list[float] = []

    def worker(reqs):
        mine = []
        gate.wait()
        for ids in reqs:
            t0 = time.perf_counter()
            fn(ids)
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)
            span.append(time.perf_counter())

    threads = [threading.Thread(target=worker, args=(w,)) for w in work]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    gate.wait()
    for t in threads:
        t.join()
    return lat, max(span) - t0


async def run_async(afn, level: int, per_worker: int, n_keys: int, seed: int) -> tuple[list[float], float]:
    lat: list[float] = []
    work = [_requests(random.Random(seed + w), n_keys, per_worker) for w in range(level)]

    async def worker(reqs):
        for ids in reqs:
            t0 = time.perf_counter()
            await afn(ids)
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in work))
    return lat, time.perf_counter() - t0


class Model(threading.Thread):
    """A CPU-bound pure-Python 'inference' loop counting its iterations."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        while not self.stop.is_set():
            acc = 0
            for i in range(2000):
                acc += i * i
            self.count += 1

    def rate_during(self, block: Callable[[], Any]) -> float:
        self.start()
        t0, c0 = time.perf_counter(), self.count
        block()
        t1, c1 = time.perf_counter(), self.count
        self.stop.set()
        self.join()
        return (c1 - c0) / (t1 - t0)


def summarize(lat: list[float], wall: float, level: int) -> dict[str, Any]:
    lat = sorted(lat)
    return {"concurrency": level, "requests": len(lat), "p50_ms": 1000 * lat[len(lat) // 2],
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], "requests_per_s": len(lat) / wall}


def suite(hosts, n_keys: int, levels: list[int], requests: int, rounds: int, gil_seconds: float,
          set_name: str = SET, server_pid: int | None = None) -> dict[str, Any]:
    """Run every path; ``set_name`` holds ``n_keys`` records of :data:`SCHEMA` (keys 0..n-1).
    ``server_pid``: a real server on this machine, whose CPU per request is reported."""
    from benchmarks.run import server_cpu

    paths = Paths(hosts, set_name)
    loop = asyncio.new_event_loop()
    try:
        sync_paths = paths.sync()
        async_paths = loop.run_until_complete(paths.open_async())
        names = list(sync_paths) + list(async_paths)
        for fn in sync_paths.values():  # warm every path once
            fn(list(range(KEYS_PER_REQUEST)))
        for afn in async_paths.values():
            loop.run_until_complete(afn(list(range(KEYS_PER_REQUEST))))
        pooled: dict[tuple[str, int], tuple[list[float], float]] = {}
        server_s: dict[tuple[str, int], float] = {}
        for r in range(rounds):
            for level in levels:
                per_worker = max(3, requests // level)
                for name in names:
                    s0 = server_cpu(server_pid)
                    if name in sync_paths:
                        lat, wall = run_sync(sync_paths[name], level, per_worker, n_keys, seed=r * 1000 + level)
                    else:
                        lat, wall = loop.run_until_complete(
                            run_async(async_paths[name], level, per_worker, n_keys, seed=r * 1000 + level))
                    if s0 is not None:
                        server_s[(name, level)] = server_s.get((name, level), 0.0) + server_cpu(server_pid) - s0
                    acc = pooled.setdefault((name, level), ([], 0.0))
                    pooled[(name, level)] = (acc[0] + lat, acc[1] + wall)
            print(f"  serving round {r + 1}/{rounds} done", flush=True)
        latency = {f"{name} @ {level}": {"path": name, **summarize(lat, wall, level),
                                         **({"server_cpu_ms_per_request": 1000 * server_s[(name, level)] / len(lat)}
                                            if (name, level) in server_s else {})}
                   for (name, level), (lat, wall) in sorted(pooled.items(), key=lambda kv: (kv[0][1], kv[0][0]))}

        # GIL share: model rate alone, then beside 64 fetches in flight
        def alone():
            time.sleep(gil_seconds)

        base = Model().rate_during(alone)
        gil: dict[str, Any] = {}
        for name in names:
            load = _Load(name, sync_paths.get(name), async_paths.get(name), loop, n_keys, gil_seconds)
            rate = Model().rate_during(load)
            # the same at one paced rate for every path: the harm per request, rate for rate
            paced = _Load(name, sync_paths.get(name), async_paths.get(name), loop, n_keys, gil_seconds,
                          rate=PACED_RATE)
            rate_paced = Model().rate_during(paced)
            gil[name] = {"model_rate_alone": base, "model_rate_beside": rate,
                         "slowdown": base / rate if rate else float("inf"),
                         "fetch_requests_per_s": load.requests / load.wall,
                         "paced_rate": PACED_RATE, "slowdown_paced": base / rate_paced if rate_paced else float("inf"),
                         "paced_requests_per_s": paced.requests / paced.wall}
        print("  GIL share done", flush=True)
        loop.run_until_complete(paths.close_async())
        return {"latency": latency, "gil": gil, "keys_per_request": KEYS_PER_REQUEST, "bins": len(SCHEMA)}
    finally:
        loop.close()
        paths.close()


PACED_RATE = 100  # requests/s every path reaches beside the model (hand-written async: ~130)


class _Load:
    """64 fetches kept in flight for ``seconds`` (threads or tasks), counting requests.
    With ``rate``, request k of the run starts no earlier than k / rate seconds in (at
    most 64 in flight), so every path does the same work and only its cost per request
    shows."""

    def __init__(self, name, fn, afn, loop, n_keys: int, seconds: float, rate: float | None = None) -> None:
        self.name, self.fn, self.afn, self.loop = name, fn, afn, loop
        self.n_keys, self.seconds, self.rate = n_keys, seconds, rate
        self.requests, self.wall = 0, 0.0

    def __call__(self) -> None:
        t0 = time.perf_counter()
        deadline = t0 + self.seconds
        counts = [0] * 64
        tickets = iter(range(10**9))  # next() on a range iterator is atomic under the GIL
        rate = self.rate

        def wait_for() -> float:
            return 0.0 if rate is None else t0 + next(tickets) / rate - time.perf_counter()

        if self.fn is not None:
            def worker(i):
                rng = random.Random(i)
                while time.perf_counter() < deadline:
                    pause = wait_for()
                    if pause > 0:
                        time.sleep(pause)
                        if time.perf_counter() >= deadline:
                            break
                    self.fn([rng.randrange(self.n_keys) for _ in range(KEYS_PER_REQUEST)])
                    counts[i] += 1

            ts = [threading.Thread(target=worker, args=(i,)) for i in range(64)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        else:
            async def worker(i):
                rng = random.Random(i)
                while time.perf_counter() < deadline:
                    pause = wait_for()
                    if pause > 0:
                        await asyncio.sleep(pause)
                        if time.perf_counter() >= deadline:
                            break
                    await self.afn([rng.randrange(self.n_keys) for _ in range(KEYS_PER_REQUEST)])
                    counts[i] += 1

            async def everyone():
                await asyncio.gather(*(worker(i) for i in range(64)))

            self.loop.run_until_complete(everyone())
        self.wall = time.perf_counter() - t0
        self.requests = sum(counts)


def markdown(res: dict[str, Any]) -> str:
    lines = [f"### feature fetch: {res['keys_per_request']} keys x {res['bins']} numeric bins per request", "",
             "| path @ concurrency | p50 ms | p99 ms | requests/s |", "|---|---:|---:|---:|"]
    for name, r in res["latency"].items():
        lines.append(f"| {name} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['requests_per_s']:,.0f} |")
    lines += ["", "### GIL share: a pure-Python model thread beside 64 concurrent fetches", "",
              "Unpaced: 64 fetches back to back; paced: the same 64, started at one rate for every path.", "",
              "| path | model slowdown (alone / beside) | fetch requests/s meanwhile | slowdown, paced | "
              "requests/s, paced |", "|---|---:|---:|---:|---:|"]
    for name, r in res["gil"].items():
        paced = (f"{r['slowdown_paced']:.2f}x | {r['paced_requests_per_s']:,.0f}" if "slowdown_paced" in r
                 else "- | -")
        lines.append(f"| {name} | {r['slowdown']:.2f}x | {r['fetch_requests_per_s']:,.0f} | {paced} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--server-pid", type=int, help="pid of a real server on this machine (with --hosts): "
                    "its CPU per request is reported")
    args = ap.parse_args(argv)
    levels, requests, rounds, gil_s = ([1, 4], 20, 1, 0.3) if args.quick else ([1, 10, 64], 600, 3, 2.0)
    n_keys = 5_000 if args.quick else args.keys
    with cluster(args.hosts) as srv:
        load(srv.hosts, n_keys)
        res = suite(srv.hosts, n_keys, levels, requests, rounds, gil_s, server_pid=args.server_pid)
    from aerodf.wire import kernel

    res.update(machine=machine(), hosts=args.hosts or "aerodf test server", quick=args.quick,
               kernel=kernel.AVAILABLE)
    print(markdown(res))
    save("serving", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
