"""Benchmark: scans and filtered queries, aerodf vs the hand-written way.

    python benchmarks/scan.py [--hosts h:p] [--records 100000] [--repeat 3]
    python benchmarks/scan.py --memory --records 1000000

Same run, medians. "hand-written" is ``client.query(ns, set).results()``
(with the same filter pushed as an aerospike_helpers expression for the
filtered case) and a pandas DataFrame from the bin dicts. ``--memory``
streams the whole set through ``aerodf.iter_batches(batch_size=10_000)`` in
a fresh process, keeping nothing, and reports the peak RSS growth, for the
given size and a fifth of it: the bound must not grow with the set.
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
    ap.add_argument("--memory-child")
    ap.add_argument("--set")
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.set)
        return 0
    print(memory(args) if args.memory else speed(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
