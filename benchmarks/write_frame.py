"""Benchmark: aerodf.write_frame vs the hand-written ways of writing a frame.

    python benchmarks/write_frame.py [--hosts h:p] [--records 100000] [--repeat 3]

Writes the demo's 5-bin feature frame (int, float, str, bool, 16-float
vector) three ways, same run, medians: a loop of ``client.put`` over row
dicts, the client's own ``batch_write`` fed from row dicts in chunks of
5 000, and ``aerodf.write_frame`` from a polars frame (validation included).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

import aerodf  # noqa: E402
from aerodf.demo import make_rows  # noqa: E402
from benchmarks._common import cluster, interleaved, machine, save  # noqa: E402

NS, CHUNK = "test", 5000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import aerospike
    from aerospike_helpers.batch import records as br
    from aerospike_helpers.operations import operations as ops

    n = args.records
    rows = make_rows(0, n, np.random.default_rng(1))
    frame = pl.DataFrame(rows, schema={"age": pl.Int32, "score": pl.Float64, "country": pl.String,
                                       "active": pl.Boolean, "embedding": pl.Array(pl.Float32, 16)})
    frame = frame.with_columns(pl.Series("key", np.arange(n)))
    with cluster(args.hosts) as srv:
        raw = aerospike.client({"hosts": srv.hosts, "policies": {
            "batch_write": {"total_timeout": 60000}, "batch": {"total_timeout": 60000}}}).connect()

        def put_loop():
            for i, row in enumerate(rows):
                raw.put((NS, "w_put", i), row, policy={"key": aerospike.POLICY_KEY_SEND})

        def batch_write():
            for s in range(0, n, CHUNK):
                recs = br.BatchRecords([
                    br.Write((NS, "w_batch", i), [ops.write(k, v) for k, v in rows[i].items()],
                             policy={"key": aerospike.POLICY_KEY_SEND})
                    for i in range(s, min(s + CHUNK, n))])
                raw.batch_write(recs, {"total_timeout": 60000})

        with aerodf.connect(srv.hosts) as client:
            def aerodf_write():
                report = aerodf.write_frame(frame, NS, "w_aerodf", client=client, total_timeout=60000,
                                            chunk_size=CHUNK, progress=False)
                assert report.ok, report

            results = interleaved({"loop of client.put": put_loop, "client.batch_write from row dicts": batch_write,
                                   "aerodf.write_frame (polars)": aerodf_write}, args.repeat, srv)
        raw.close()
    base = results["loop of client.put"]["median_s"]
    lines = [f"write {n:,} rows x 5 bins, median of {args.repeat}, {args.hosts or 'aerodf test server'}:", "",
             "| path | median s | vs put loop | server s | rows/s |", "|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        srv_s = f"{r['server_median_s']:.3f}" if r["server_median_s"] is not None else "n/a"
        lines.append(f"| {name} | {r['median_s']:.3f} | {r['median_s'] / base:.2f}x | {srv_s} | "
                     f"{n / r['median_s']:,.0f} |")
    table = "\n".join(lines)
    path = save(f"write_frame_{n}", {"records": n, "repeat": args.repeat, "machine": machine(), "results": results})
    path.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
