"""Benchmark: scans and filtered queries, aerodf vs the hand-written way.

    python benchmarks/scan.py [--hosts h:p] [--records 100000] [--repeat 3]
    python benchmarks/scan.py --memory --records 1000000
    python benchmarks/scan.py --small [--hosts h:p] [--repeat 15]

Same run, medians. "hand-written" is ``client.query(ns, set).results()``
(with the same filter pushed as an aerospike_helpers expression for the
filtered case) and a pandas DataFrame from the bin dicts. ``--memory``
streams the whole set through ``aerodf.iter_batches(batch_size=10_000)`` in
a fresh process, keeping nothing, and reports the peak RSS growth, for the
given size and a fifth of it: the bound must not grow with the set.
``--small`` measures the fixed cost of a scan: a 20 000-record set read
whole and with a 1% filter pushed (``age > 88``), and a 10-record set, on the
official and the wire transport against the hand-written query of the same
run, p50 and p99 of ``--repeat`` interleaved runs; and the size lookup that
picks the number of partition ranges (one info round trip per node).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aerodf  # noqa: E402
from aerodf.demo import SCHEMA, load  # noqa: E402
from benchmarks._common import cluster, interleaved, machine, rss_kb, save  # noqa: E402

NS = "test"


def speed(args) -> str:
    import aerospike
    import pandas as pd
    import polars as pl
    from aerospike_helpers import expressions as exp

    n = args.records
    set_name = f"scan_{n}"
    with cluster(args.hosts) as srv:
        with aerodf.connect(srv.hosts, max_in_flight=8) as c:
            print(f"loading {n:,} records ...", flush=True)
            load(c, NS, set_name, n)
        raw = aerospike.client({"hosts": srv.hosts}).connect()
        flt = {"expressions": exp.GT(exp.IntBin("age"), 80).compile()}

        def hand(policy=None):
            recs = raw.query(NS, set_name).results(policy)
            return pd.DataFrame([r[2] for r in recs])

        with aerodf.connect(srv.hosts) as c:
            where = pl.col("age") > 80
            cases = {
                "hand-written query.results() -> pandas": hand,
                "aerodf.read_query -> pandas": lambda: aerodf.read_query(NS, set_name, SCHEMA, client=c),
                "aerodf.read_query -> polars": lambda: aerodf.read_query(NS, set_name, SCHEMA, client=c,
                                                                          output="polars"),
                "hand-written, filter age > 80 pushed": lambda: hand(flt),
                "aerodf.read_query(where=age > 80) -> polars": lambda: aerodf.read_query(
                    NS, set_name, SCHEMA, client=c, output="polars", where=where),
            }
            results = interleaved(cases, args.repeat, srv)
        raw.close()
    lines = [f"scan of {n:,} records x {len(SCHEMA)} bins, median of {args.repeat}, "
             f"{args.hosts or 'aerodf test server'} (filtered cases match ~11%):", "",
             "| path | median s | records/s scanned | server s |", "|---|---:|---:|---:|"]
    for name, r in results.items():
        srv_s = f"{r['server_median_s']:.3f}" if r["server_median_s"] is not None else "n/a"
        lines.append(f"| {name} | {r['median_s']:.3f} | {n / r['median_s']:,.0f} | {srv_s} |")
    table = "\n".join(lines)
    path = save(f"scan_{n}", {"records": n, "repeat": args.repeat, "machine": machine(), "results": results})
    path.with_suffix(".md").write_text(table + "\n")
    return table



def small(args) -> str:
    import statistics
    import time

    import aerospike
    import pandas as pd
    import polars as pl
    from aerospike_helpers import expressions as exp

    from aerodf.transport.base import estimate_records

    with cluster(args.hosts) as srv:
        with aerodf.connect(srv.hosts, max_in_flight=8) as c:
            print("loading 20,000 + 10 records ...", flush=True)
            load(c, NS, "scan_small_20000", 20_000)
            load(c, NS, "scan_small_10", 10)
        raw = aerospike.client({"hosts": srv.hosts}).connect()
        one_pct = {"expressions": exp.GT(exp.IntBin("age"), 88).compile()}

        def hand(set_name, policy=None):
            return pd.DataFrame([r[2] for r in raw.query(NS, set_name).results(policy)])

        clients = {t: aerodf.connect(srv.hosts, transport=t) for t in ("official", "wire")}
        cases: dict = {}
        for label, set_name, where, pol in (("20 000, 1% filter", "scan_small_20000", pl.col("age") > 88, one_pct),
                                            ("20 000, whole", "scan_small_20000", None, None),
                                            ("10 records", "scan_small_10", None, None)):
            cases[(label, "hand-written query.results() -> pandas")] = lambda s=set_name, p=pol: hand(s, p)
            for t, c in clients.items():
                cases[(label, f"aerodf.read_query -> polars, {t}")] = (
                    lambda s=set_name, w=where, c=c: aerodf.read_query(NS, s, SCHEMA, client=c, output="polars",
                                                                       where=w))
        cases[("size lookup", "estimate_records (wire)")] = lambda: estimate_records(
            clients["wire"].transport, NS, "scan_small_20000")
        times: dict = {k: [] for k in cases}
        for _ in range(args.repeat):
            for k, fn in cases.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        for c in clients.values():
            c.close()
        raw.close()

    def p99(v):
        return sorted(v)[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]

    lines = [f"small scans, {args.hosts or 'aerodf test server'}, p50 / p99 ms of {args.repeat} interleaved runs:",
             "", "| set | path | p50 ms | p99 ms |", "|---|---|---:|---:|"]
    results = {}
    for (label, path), v in times.items():
        results[f"{label} | {path}"] = {"p50_ms": statistics.median(v) * 1e3, "p99_ms": p99(v) * 1e3, "runs": v}
        lines.append(f"| {label} | {path} | {statistics.median(v) * 1e3:.1f} | {p99(v) * 1e3:.1f} |")
    table = "\n".join(lines)
    path = save("scan_small", {"repeat": args.repeat, "hosts": args.hosts, "machine": machine(), "results": results})
    path.with_suffix(".md").write_text(table + "\n")
    return table


def memory_child(hosts: str, set_name: str) -> None:
    with aerodf.connect(hosts) as c:
        gc.collect()
        before = rss_kb()
        rows = 0
        for batch in aerodf.iter_batches(NS, set_name, SCHEMA, client=c, batch_size=10_000):
            rows += batch.num_rows
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"rows": rows, "peak_extra_mb": (peak - before) / 1024}))


def memory(args) -> str:
    out = []
    with cluster(args.hosts) as srv:
        hosts = ",".join(f"{h}:{p}" for h, p in srv.hosts)
        for n in (args.records // 5, args.records):
            set_name = f"scanmem_{n}"
            with aerodf.connect(srv.hosts, max_in_flight=8) as c:
                print(f"loading {n:,} records ...", flush=True)
                load(c, NS, set_name, n)
            res = subprocess.run([sys.executable, __file__, "--memory-child", hosts, "--set", set_name],
                                 capture_output=True, text=True, check=True)
            out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    save(f"scan_memory_{args.records}", {"machine": machine(), "runs": out})
    return "\n".join(f"streamed {r['rows']:,} records in batches of 10,000: peak extra RSS {r['peak_extra_mb']:.0f} MiB"
                     for r in out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--small", action="store_true", help="the fixed cost of small scans (see above)")
    ap.add_argument("--memory-child")
    ap.add_argument("--set")
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.set)
        return 0
    if args.small:
        args.repeat = max(args.repeat, 15) if args.repeat == 3 else args.repeat
        print(small(args))
        return 0
    print(memory(args) if args.memory else speed(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
