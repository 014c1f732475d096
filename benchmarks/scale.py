"""Benchmark: scale-out reads, each engine with 1 and 2 workers, vs one process and the hand-written way.

    python benchmarks/scale.py [--hosts h:p] [--records 1000000] [--repeat 3] [--engines ray,dask,spark]

Same run, medians. ``N`` records x 10 numeric bins (5 int64, 5 float64) are
loaded once; then every case runs in a fresh process (so one engine's
start-up, caches and memory cannot leak into another's numbers), interleaved
over ``--repeat`` rounds. Each case reads every record and every bin:

- ``aerodf.iter_batches`` in one process (Arrow batches, nothing kept): the
  single-process baseline;
- ``aerodf.read_ray`` / ``read_dask`` / Spark ``format("aerospike")``, with 1
  and 2 workers (Ray ``num_cpus``, a Dask ``LocalCluster`` of N single-thread
  workers, Spark ``local[N]``), the column sums computed by the engine;
- the hand-written way in each engine: ``client.query().results()`` on the
  driver, then ``ray.data.from_items`` / ``dd.from_pandas`` /
  ``spark.createDataFrame`` and the same sums.

Records/s is N over the wall time of the read and the sums (engine start-up
excluded); peak memory is the growth of the resident memory of the whole
process tree (driver, engine daemons and workers) over the case, sampled every
20 ms. The test server runs in its own process on the same machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aerodf  # noqa: E402
from benchmarks._common import cluster, machine, save  # noqa: E402

NS = "test"
BINS = {f"i{k}": "int64" for k in range(5)} | {f"f{k}": "float64" for k in range(5)}


def load(hosts, set_name: str, n: int) -> None:
    import numpy as np
    import pyarrow as pa

    step = 200_000
    with aerodf.connect(hosts, max_in_flight=8) as c:
        for start in range(0, n, step):
            k = np.arange(start, min(n, start + step), dtype=np.int64)
            cols = {"key": k} | {f"i{j}": k * (j + 1) for j in range(5)} | {f"f{j}": k / (j + 2) for j in range(5)}
            report = aerodf.write_frame(pa.table(cols), NS, set_name, client=c, total_timeout=60_000,
                                        socket_timeout=60_000)
            assert report.ok, report


class TreeMemory:
    """Peak resident memory of this process and all its descendants, sampled in a thread."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.base = self.total()
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def total(self) -> int:
        import psutil

        procs = [self.me] + self.me.children(recursive=True)
        out = 0
        for p in procs:
            try:
                out += p.memory_info().rss
            except psutil.Error:
                pass
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.total())

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.total())
        return (self.peak - self.base) / 2**20


def _hand_records(hosts, set_name: str):
    import aerospike
    import pandas as pd

    c = aerospike.client({"hosts": hosts}).connect()
    try:
        recs = c.query(NS, set_name).results({"total_timeout": 0})
    finally:
        c.close()
    return pd.DataFrame([r[2] for r in recs], columns=list(BINS))


def child(engine: str, mode: str, workers: int, hosts: str, set_name: str) -> dict:
    """One case in this (fresh) process: set the engine up, then time the read and the sums."""
    from aerodf.client import parse_hosts

    seeds = parse_hosts(hosts)
    cols = list(BINS)
    teardown = None
    if engine == "ray":
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        teardown = ray.shutdown
    elif engine == "dask":
        import distributed

        lc = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None)
        dc = distributed.Client(lc)
        teardown = lambda: (dc.close(), lc.close())  # noqa: E731
    elif engine == "spark":
        from pyspark.sql import SparkSession

        # local[N, 4]: a failed task is retried, as spark.task.maxFailures=4 does on a cluster
        spark = (SparkSession.builder.master(f"local[{workers}, 4]").config("spark.ui.enabled", "false")
                 .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        from aerodf.spark import register

        register(spark)
        teardown = spark.stop
    mem = TreeMemory()
    t0 = time.perf_counter()
    if engine == "local":
        rows = 0
        for b in aerodf.iter_batches(NS, set_name, BINS, hosts=seeds, batch_size=10_000):
            rows += b.num_rows
    elif engine == "ray":
        import ray

        if mode == "aerodf":
            ds = aerodf.read_ray(NS, set_name, BINS, hosts=seeds)
        else:
            ds = ray.data.from_items(_hand_records(seeds, set_name).to_dict("records"))
        sums = ds.sum(cols)
        rows = ds.count() if mode == "hand" else None
    elif engine == "dask":
        import dask.dataframe as dd

        if mode == "aerodf":
            ddf = aerodf.read_dask(NS, set_name, BINS, hosts=seeds)
        else:
            ddf = dd.from_pandas(_hand_records(seeds, set_name), npartitions=workers)
        import dask

        _, counts = dask.compute(ddf.sum(), ddf.count())
        rows = int(counts.iloc[0])
    else:
        from pyspark.sql import functions as F

        if mode == "aerodf":
            df = (spark.read.format("aerospike").option("hosts", hosts).option("namespace", NS)
                  .option("set", set_name).schema(", ".join(f"{c} {'long' if c[0] == 'i' else 'double'}"
                                                            for c in cols)).load())
        else:
            df = spark.createDataFrame(_hand_records(seeds, set_name))
        out = df.agg(F.count("*").alias("n"), *[F.sum(c) for c in cols]).collect()[0]
        rows = out["n"]
    seconds = time.perf_counter() - t0
    peak = mem.stop()
    if teardown is not None:
        teardown()
    return {"seconds": seconds, "rows": rows, "peak_extra_mb": peak}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default="ray,dask,spark")
    ap.add_argument("--child", nargs=5, metavar=("ENGINE", "MODE", "WORKERS", "HOSTS", "SET"))
    args = ap.parse_args()
    if args.child:
        e, m, w, h, s = args.child
        print(json.dumps(child(e, m, int(w), h, s)))
        return 0
    n = args.records
    cases = [("local", "aerodf", 1)]
    for e in args.engines.split(","):
        cases += [(e, mode, w) for mode in ("aerodf", "hand") for w in (1, 2)]
    runs: dict[str, list[dict]] = {f"{e} {m} x{w}": [] for e, m, w in cases}
    failed: dict[str, list[str]] = {}
    with cluster(args.hosts) as srv:
        hosts = ",".join(f"{h}:{p}" for h, p in srv.hosts)
        set_name = f"scale_{n}"
        print(f"loading {n:,} records x {len(BINS)} bins ...", flush=True)
        load(srv.hosts, set_name, n)
        for r in range(args.repeat):
            for e, m, w in cases:
                res = subprocess.run([sys.executable, __file__, "--child", e, m, str(w), hosts, set_name],
                                     capture_output=True, text=True)
                if res.returncode:  # recorded and reported, the other cases go on
                    print(f"round {r + 1}: {e} {m} x{w} FAILED:\n{res.stderr[-1500:]}", file=sys.stderr, flush=True)
                    failed.setdefault(f"{e} {m} x{w}", []).append(res.stderr[-300:])
                    continue
                one = json.loads(res.stdout.strip().splitlines()[-1])
                if one["rows"] is not None and one["rows"] != n:
                    raise SystemExit(f"case {e} {m} x{w} read {one['rows']} rows, not {n}")
                runs[f"{e} {m} x{w}"].append(one)
                print(f"round {r + 1}: {e} {m} x{w}: {one['seconds']:.2f} s, {one['peak_extra_mb']:.0f} MiB", flush=True)
    names = {"local aerodf x1": "aerodf.iter_batches, one process",
             **{f"{e} aerodf x{w}": f"{e}: aerodf, {w} worker{'s' * (w > 1)}" for e in ("ray", "dask", "spark")
                for w in (1, 2)},
             **{f"{e} hand x{w}": f"{e}: hand-written, {w} worker{'s' * (w > 1)}" for e in ("ray", "dask", "spark")
                for w in (1, 2)}}
    lines = [f"scale-out read of {n:,} records x {len(BINS)} numeric bins, median of {args.repeat}, "
             f"{args.hosts or 'aerodf test server (1 node)'}, {machine()['cpus']} cores:", "",
             "| case | median s | records/s | peak memory +MiB |", "|---|---:|---:|---:|"]
    summary = {}
    for key, rs in runs.items():
        if not rs:
            lines.append(f"| {names.get(key, key)} | failed | | |")
            continue
        med = statistics.median(r["seconds"] for r in rs)
        mem = statistics.median(r["peak_extra_mb"] for r in rs)
        summary[key] = {"median_s": med, "peak_extra_mb": mem, "runs": rs}
        note = f" ({len(rs)} runs; {len(failed[key])} failed)" if key in failed else ""
        lines.append(f"| {names.get(key, key)}{note} | {med:.2f} | {n / med:,.0f} | {mem:,.0f} |")
    table = "\n".join(lines)
    path = save(f"scale_{n}", {"records": n, "repeat": args.repeat, "machine": machine(), "results": summary,
                               "failed": failed})
    path.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
