"""Benchmark: aerodf.read_batch vs the bare client call and the hand-written way.

    python benchmarks/read_batch.py [--hosts h:p] [--records 100000] [--repeat 5]
    python benchmarks/read_batch.py --memory --records 1000000

Same run, same keys, interleaved repetitions, medians. The baseline is the
bare official-client ``batch_read`` over the same 5 000-key chunks (results
dropped as they come, the most favourable case for it); "hand-written" keeps
them and builds a DataFrame from the list of bin dicts, as people do. The test
server reports its own serving time so client cost can be told from server
cost. ``--memory`` runs read_batch in a fresh process and reports its peak
RSS growth against the size of the frame it returns.
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

import numpy as np  # noqa: E402

import aerodf  # noqa: E402
from aerodf.demo import SCHEMA, load  # noqa: E402
from benchmarks._common import cluster, interleaved, machine, rss_kb, save  # noqa: E402

NS, SET = "test", "bench_rb"
CHUNK = 5000


def speed(args) -> dict:
    import aerospike
    import pandas as pd
    import polars as pl

    with cluster(args.hosts) as srv:
        with aerodf.connect(srv.hosts, max_in_flight=8) as client:
            print(f"loading {args.records:,} records ...", flush=True)
            load(client, NS, SET, args.records)
        raw = aerospike.client({"hosts": srv.hosts, "policies": {"batch": {"total_timeout": 30000}}}).connect()
        keys = [(NS, SET, i) for i in range(args.records)]
        bins = SCHEMA.bins
        ids = np.arange(args.records)

        def bare():
            for s in range(0, len(keys), CHUNK):
                raw.batch_read(keys[s : s + CHUNK], bins)

        def bare_gc_off():
            gc.disable()
            try:
                bare()
            finally:
                gc.enable()

        def hand_rows():
            rows = []
            for s in range(0, len(keys), CHUNK):
                res = raw.batch_read(keys[s : s + CHUNK], bins)
                rows.extend(r.record[2] if r.record is not None else {} for r in res.batch_records)
            return rows

        def hand_pandas():
            return pd.DataFrame(hand_rows())

        def hand_polars():
            return pl.DataFrame(hand_rows())

        with aerodf.connect(srv.hosts) as client:
            kw = dict(namespace=NS, set=SET, client=client, chunk_size=CHUNK, progress=False)
            cases = {
                "bare client.batch_read": bare,
                "bare client.batch_read (GC paused)": bare_gc_off,
                "hand-written -> pandas": hand_pandas,
                "hand-written -> polars": hand_polars,
                "aerodf.read_batch -> pandas": lambda: aerodf.read_batch(ids, SCHEMA, output="pandas", **kw),
                "aerodf.read_batch -> polars": lambda: aerodf.read_batch(ids, SCHEMA, output="polars", **kw),
                "aerodf.read_batch -> arrow": lambda: aerodf.read_batch(ids, SCHEMA, output="arrow", **kw),
            }
            results = interleaved(cases, args.repeat, srv)
        raw.close()
    base = results["bare client.batch_read"]["median_s"]
    for r in results.values():
        r["vs_bare"] = r["median_s"] / base
    return {"records": args.records, "bins": len(SCHEMA), "chunk": CHUNK, "repeat": args.repeat,
            "hosts": args.hosts or "aerodf test server", "machine": machine(), "results": results}



def memory_child(hosts: str, records: int) -> None:
    """Runs in a fresh process: peak RSS growth of one read_batch vs the frame size."""
    import pyarrow as pa

    with aerodf.connect(hosts) as client:
        ids = np.arange(records)
        aerodf.read_batch(ids[:10], SCHEMA, namespace=NS, set=SET, client=client, output="arrow")
        gc.collect()
        before = rss_kb()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        table = aerodf.read_batch(ids, SCHEMA, namespace=NS, set=SET, client=client, output="arrow",
                                  chunk_size=CHUNK, progress=False)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        frame = table.nbytes
        print(json.dumps({"rss_before_kb": before, "peak_rss_kb": max(peak, peak_before),
                          "peak_extra_bytes": (max(peak, peak_before) - before) * 1024, "frame_bytes": frame,
                          "arrow_pool_max_bytes": pa.default_memory_pool().max_memory()}))


def memory(args) -> dict:
    with cluster(args.hosts) as srv:
        with aerodf.connect(srv.hosts, max_in_flight=8) as client:
            print(f"loading {args.records:,} records ...", flush=True)
            load(client, NS, SET, args.records)
        hosts = ",".join(f"{h}:{p}" for h, p in srv.hosts)
        out = subprocess.run([sys.executable, __file__, "--memory-child", hosts, "--records", str(args.records)],
                             capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["peak_extra_over_frame"] = res["peak_extra_bytes"] / res["frame_bytes"]
    return {"records": args.records, "machine": machine(), "memory": res}


def report(payload: dict) -> str:
    lines = [f"read_batch, {payload['records']:,} keys x {payload['bins']} bins "
             f"(int, float, str, bool, 16-float vector), chunks of {payload['chunk']}, "
             f"median of {payload['repeat']}, {payload['hosts']}:", "",
             "| path | median s | vs bare | server s | records/s |", "|---|---:|---:|---:|---:|"]
    for name, r in payload["results"].items():
        srv = f"{r['server_median_s']:.3f}" if r["server_median_s"] is not None else "n/a"
        lines.append(f"| {name} | {r['median_s']:.3f} | {r['vs_bare']:.2f}x | {srv} | "
                     f"{payload['records'] / r['median_s']:,.0f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--memory-child")
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.records)
        return 0
    if args.memory:
        payload = memory(args)
        path = save(f"read_batch_memory_{args.records}", payload)
        m = payload["memory"]
        print(f"peak extra RSS {m['peak_extra_bytes'] / 2**20:.0f} MiB for a frame of "
              f"{m['frame_bytes'] / 2**20:.0f} MiB: {m['peak_extra_over_frame']:.2f}x  ({path})")
        return 0
    payload = speed(args)
    path = save(f"read_batch_{args.records}", payload)
    table = report(payload)
    (path.with_suffix(".md")).write_text(table + "\n")
    print(table)
    print(f"\nraw results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
