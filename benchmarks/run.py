"""One command for every benchmark: ``python -m benchmarks`` (or ``python benchmarks/run.py``).

Starts aerodf's test server in its own process (or uses ``--hosts``), loads
the data once with ``aerodf.write_frame``, and measures side by side, in one
run, with interleaved repetitions: medians, min and max, the server's own
serving seconds (test server only) and the peak RSS growth of each case
(sampled every 5 ms on a thread, so it costs the case nothing).

Suites: read_batch at several sizes for a numeric (10 numeric bins) and a
mixed (int, float, str, bool, 16-float vector) schema against the bare
``client.batch_read`` and the hand-written DataFrame way, on the official and
the wire transport (and aerospike-py's ``to_numpy`` on 10 and 3 numeric
bins); scans with and without a pushed filter, official and wire; write_frame against ``client.batch_write`` from row
dicts; serving (``benchmarks/serving.py``): feature-fetch latency (100 keys x
10 numeric bins) for every path at several concurrencies, p50 and p99, and
the GIL share of each path.

Writes ``results/latest.json`` (raw), ``results/latest.md`` (tables) and
``results/latest.png`` (chart). ``--quick`` runs tiny sizes in well under a
minute: it checks the harness, not the speed (CI runs it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import aerodf  # noqa: E402
from aerodf.demo import SCHEMA as MIXED, make_rows  # noqa: E402
from benchmarks import serving  # noqa: E402
from benchmarks._common import cluster, machine, rss_kb  # noqa: E402

NS = "test"
NUMERIC = aerodf.Schema({f"n{i}": ("int64" if i % 2 else "float64") for i in range(10)})
CHUNK = 5000


class RssSampler:
    """Peak RSS growth during a block, sampled on a background thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> "RssSampler":
        self.base = rss_kb()
        self.peak = self.base
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_kb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_kb())

    @property
    def grew_mb(self) -> float:
        return (self.peak - self.base) / 1024


SERVER_PID: list[int | None] = [None]  # --server-pid: a local real server whose CPU time to read


def server_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) a process has used so far, from /proc; None without a pid."""
    if not pid:
        return None
    import os

    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_cases(cases: dict[str, Callable[[], Any]], repeat: int, srv, records: int) -> dict[str, dict]:
    import gc

    walls: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    served: dict[str, list[float]] = {k: [] for k in cases}
    mem: dict[str, float] = {}
    for _ in range(repeat):
        for name, fn in cases.items():
            gc.collect()
            if srv.is_fake:
                srv.reset_stats()
            s0 = server_cpu(SERVER_PID[0])
            with RssSampler() as rs:
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                walls[name].append(time.perf_counter() - t0)
                cpus[name].append(time.process_time() - c0)
            mem[name] = max(mem.get(name, 0.0), rs.grew_mb)
            if srv.is_fake:
                served[name].append(srv.stats()["serve_seconds"])
            elif s0 is not None:  # a real server on this machine: its CPU seconds from /proc
                served[name].append(server_cpu(SERVER_PID[0]) - s0)
    return {name: {"median_s": statistics.median(w), "min_s": min(w), "max_s": max(w), "runs": w,
                   "client_cpu_s": statistics.median(cpus[name]),
                   "server_s": statistics.median(served[name]) if served[name] else None,
                   "peak_rss_mb": mem[name], "records": records, "records_per_s": records / statistics.median(w)}
            for name, w in walls.items()}


def numeric_frame(n: int):
    import polars as pl

    rng = np.random.default_rng(7)
    cols = {"key": np.arange(n)}
    for i, f in enumerate(NUMERIC):
        cols[f.name] = rng.integers(0, 10**6, n) if i % 2 else rng.normal(size=n).round(6)
    return pl.DataFrame(cols)


def mixed_frame(n: int):
    import polars as pl

    rows = make_rows(0, n, np.random.default_rng(42))
    df = pl.DataFrame(rows, schema={"age": pl.Int32, "score": pl.Float64, "country": pl.String,
                                    "active": pl.Boolean, "embedding": pl.Array(pl.Float32, 16)})
    return df.with_columns(pl.Series("key", np.arange(n)))


def suite_read_batch(client, raw, srv, sizes, repeat, pyc=None, py_general=None,
                     wire=None) -> dict:
    import pandas as pd
    import polars as pl

    out = {}
    for schema_name, schema, set_name in (("numeric", NUMERIC, "bench_num"), ("mixed", MIXED, "bench_mix")):
        bins = schema.bins
        for n in sizes:
            keys = [(NS, set_name, i) for i in range(n)]
            ids = np.arange(n)

            def bare():
                for s in range(0, n, CHUNK):
                    raw.batch_read(keys[s : s + CHUNK], bins)

            def hand_rows():
                rows = []
                for s in range(0, n, CHUNK):
                    res = raw.batch_read(keys[s : s + CHUNK], bins)
                    rows.extend(r.record[2] if r.record is not None else {} for r in res.batch_records)
                return rows

            kw = dict(namespace=NS, set=set_name, client=client, chunk_size=CHUNK, progress=False)
            cases = {
                "bare client.batch_read": bare,
                "hand-written -> pandas": lambda: pd.DataFrame(hand_rows()),
                "hand-written -> polars": lambda: pl.DataFrame(hand_rows()),
                "aerodf.read_batch -> pandas": lambda: aerodf.read_batch(ids, schema, output="pandas", **kw),
                "aerodf.read_batch -> polars": lambda: aerodf.read_batch(ids, schema, output="polars", **kw),
            }
            if wire is not None:
                cases.update({
                    "aerodf wire -> pandas": lambda: aerodf.read_batch(ids, schema, output="pandas",
                                                                       **dict(kw, client=wire)),
                    "aerodf wire -> polars": lambda: aerodf.read_batch(ids, schema, output="polars",
                                                                       **dict(kw, client=wire)),
                })
            if pyc is not None and schema_name == "numeric":
                dtype = np.dtype([(f.bin_name, "<i8" if str(f.type) == "int64" else "<f8") for f in schema])
                three = aerodf.Schema({f.name: f.type for f in list(schema)[:3]})
                dtype3 = np.dtype(dtype.descr[:3])

                def py_numpy():
                    for s in range(0, n, CHUNK):
                        pyc.batch_read(keys[s : s + CHUNK], bins).to_numpy(dtype)

                def py_numpy3():
                    for s in range(0, n, CHUNK):
                        pyc.batch_read(keys[s : s + CHUNK], three.bins).to_numpy(dtype3)

                kw_py = dict(kw, client=py_general)
                cases.update({
                    "3 bins: bare aerospike-py to_numpy": py_numpy3,
                    "3 bins: aerodf wire -> polars": lambda: aerodf.read_batch(ids, three, output="polars",
                                                                               **dict(kw, client=wire)),
                    "bare aerospike-py to_numpy (raw array)": py_numpy,
                    "aerodf aerospike-py general -> polars": lambda: aerodf.read_batch(ids, schema, output="polars",
                                                                                     **kw_py),
                })
            print(f"  read_batch {schema_name} {n:,} ...", flush=True)
            out[f"{schema_name}/{n}"] = run_cases(cases, repeat, srv, n)
    return out


def suite_scan(client, raw, srv, n, repeat, wire=None) -> dict:
    import pandas as pd
    import polars as pl
    from aerospike_helpers import expressions as exp

    flt = {"expressions": exp.GT(exp.IntBin("age"), 80).compile()}

    # a set of exactly n records: a scan reads the whole set
    report = aerodf.write_frame(mixed_frame(n), NS, "bench_scan", client=client, total_timeout=60_000, progress=False)
    if not report.ok:
        raise SystemExit(f"loading bench_scan failed: {report}")

    def hand(policy=None):
        return pd.DataFrame([r[2] for r in raw.query(NS, "bench_scan").results(policy)])

    cases = {
        "hand-written query.results() -> pandas": hand,
        "aerodf.read_query -> pandas": lambda: aerodf.read_query(NS, "bench_scan", MIXED, client=client),
        "aerodf.read_query -> polars": lambda: aerodf.read_query(NS, "bench_scan", MIXED, client=client,
                                                                  output="polars"),
        "hand-written, age > 80 pushed": lambda: hand(flt),
        "aerodf.read_query(where=age > 80)": lambda: aerodf.read_query(NS, "bench_scan", MIXED, client=client,
                                                                        output="polars", where=pl.col("age") > 80),
    }
    if wire is not None:
        cases.update({
            "aerodf wire read_query -> pandas": lambda: aerodf.read_query(NS, "bench_scan", MIXED, client=wire),
            "aerodf wire read_query -> polars": lambda: aerodf.read_query(NS, "bench_scan", MIXED, client=wire,
                                                                           output="polars"),
            "aerodf wire read_query(where=age > 80)": lambda: aerodf.read_query(
                NS, "bench_scan", MIXED, client=wire, output="polars", where=pl.col("age") > 80),
        })
    print(f"  scan {n:,} ...", flush=True)
    return run_cases(cases, repeat, srv, n)


def suite_scan_numeric(client, raw, srv, n, repeat, wire) -> dict:
    """A full scan of the numeric set (n records): the wire transport streams it."""
    import pandas as pd

    def hand():
        return pd.DataFrame([r[2] for r in raw.query(NS, "bench_num").results()])

    def stream(c):
        return sum(b.num_rows for b in aerodf.iter_batches(NS, "bench_num", NUMERIC, client=c, batch_size=50_000))

    cases = {
        "hand-written query.results() -> pandas": hand,
        "aerodf official iter_batches (Arrow, streamed)": lambda: stream(client),
        "aerodf wire iter_batches (Arrow, streamed)": lambda: stream(wire),
        "aerodf wire read_query -> polars": lambda: aerodf.read_query(NS, "bench_num", NUMERIC, client=wire,
                                                                       output="polars"),
    }
    print(f"  numeric scan {n:,} ...", flush=True)
    return run_cases(cases, repeat, srv, n)


def suite_write(client, raw, srv, n, repeat) -> dict:
    from aerospike_helpers.batch import records as br
    from aerospike_helpers.operations import operations as ops

    frame = mixed_frame(n)
    rows = frame.drop("key").to_dicts()

    def batch_write():
        for s in range(0, n, CHUNK):
            recs = br.BatchRecords([br.Write((NS, "bench_w1", i), [ops.write(k, v) for k, v in rows[i].items()])
                                    for i in range(s, min(s + CHUNK, n))])
            raw.batch_write(recs, {"total_timeout": 60_000})

    def write_frame():
        report = aerodf.write_frame(frame, NS, "bench_w2", client=client, total_timeout=60_000, progress=False)
        assert report.ok, report

    print(f"  write {n:,} ...", flush=True)
    return run_cases({"client.batch_write from row dicts": batch_write, "aerodf.write_frame (polars)": write_frame},
                     repeat, srv, n)


def markdown(payload: dict) -> str:
    m = payload["machine"]
    lines = [f"Run {payload['when']} on {m['cpus']} cores, Python {m['python']}, {payload['hosts']}; "
             f"medians of {payload['repeat']}.", ""]

    def table(title: str, rows: dict, base: str | None = None) -> None:
        lines.extend([f"### {title}", "", "| case | median s | records/s | client CPU s | server s | peak RSS +MB |"
                      + (" vs bare |" if base else ""), "|---|---:|---:|---:|---:|---:|" + ("---:|" if base else "")])
        b = rows[base]["median_s"] if base else None
        for name, r in rows.items():
            srv_s = f"{r['server_s']:.3f}" if r["server_s"] is not None else "n/a"
            extra = f" {r['median_s'] / b:.2f}x |" if b else ""
            lines.append(f"| {name} | {r['median_s']:.3f} | {r['records_per_s']:,.0f} | {r['client_cpu_s']:.3f} | {srv_s} | "
                         f"{r['peak_rss_mb']:.0f} |{extra}")
        lines.append("")

    for key, rows in payload["read_batch"].items():
        schema_name, n = key.split("/")
        table(f"read_batch, {int(n):,} keys, {schema_name} schema", rows, "bare client.batch_read")
    table(f"scan, {payload['scan_records']:,} records", payload["scan"])
    table(f"full scan, {payload['scan_numeric_records']:,} records x 10 numeric bins", payload["scan_numeric"])
    table(f"write, {payload['write_records']:,} rows x 5 bins", payload["write"])
    lines.append(serving.markdown(payload["serving"]))
    return "\n".join(lines) + "\n"


def chart(payload: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    biggest = max(payload["read_batch"], key=lambda k: (k.split("/")[0] == "mixed", int(k.split("/")[1])))
    panels = [(f"read_batch ({biggest.replace('/', ', ')} keys)", payload["read_batch"][biggest], "records_per_s"),
              ("scan", payload["scan"], "records_per_s"), ("write", payload["write"], "records_per_s")]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    for ax, (title, rows, metric) in zip(axes.flat, panels):
        names = list(rows)
        vals = [rows[n][metric] for n in names]
        colors = ["#2a7ab9" if n.startswith("aerodf") else "#b0b0b0" for n in names]
        ax.barh(names, vals, color=colors)
        ax.set_title(title)
        ax.set_xlabel("records / s (higher is better)")
        ax.invert_yaxis()
    ax = axes.flat[3]
    lat = {k: v for k, v in payload["serving"]["latency"].items() if v["concurrency"] == 1}
    names = list(lat)
    ax.barh(names, [lat[n]["p99_ms"] for n in names], color="#f0a040", label="p99")
    ax.barh(names, [lat[n]["p50_ms"] for n in names], color="#2a7ab9", label="p50")
    ax.set_title("feature fetch latency, one request at a time (lower is better)")
    ax.set_xlabel("ms per request of 100 keys")
    ax.invert_yaxis()
    ax.legend()
    fig.suptitle(f"aerodf benchmarks ({payload['hosts']}, {payload['machine']['cpus']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    import json

    import aerospike

    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", help="host:port of a real cluster (default: aerodf's test server)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: checks the harness")
    ap.add_argument("--server-pid", type=int, help="pid of a real server on this machine (with --hosts): "
                    "its CPU seconds per case are read from /proc and reported as the server column")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="read_batch sizes, comma-separated (the largest also sizes the numeric scan)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args(argv)
    SERVER_PID[0] = args.server_pid
    if args.quick:
        sizes, repeat, levels, requests, rounds, gil_s = [2_000], 1, [1, 4], 20, 1, 0.3
    else:
        sizes = sorted(int(x) for x in args.sizes.split(",") if x.strip())
        repeat, levels, requests, rounds, gil_s = args.repeat, [1, 10, 64], 600, 3, 2.0
    biggest = max(sizes)
    scan_n = min(biggest, 100_000)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    with cluster(args.hosts) as srv:
        with aerodf.connect(srv.hosts, max_in_flight=8) as loader:
            print(f"loading {biggest:,} numeric and {biggest:,} mixed records ...", flush=True)
            for frame, set_name in ((numeric_frame(biggest), "bench_num"), (mixed_frame(biggest), "bench_mix")):
                report = aerodf.write_frame(frame, NS, set_name, client=loader, total_timeout=60_000,
                                            progress=False)
                if not report.ok:
                    raise SystemExit(f"loading {set_name} failed: {report}")
        raw = aerospike.client({"hosts": srv.hosts, "policies": {
            "batch": {"total_timeout": 60_000}, "batch_write": {"total_timeout": 60_000}}}).connect()
        import aerospike_py

        pyc = aerospike_py.client({"hosts": srv.hosts, "timeout": 60_000}).connect()
        py_general = aerodf.connect(srv.hosts, transport="aerospike-py", max_in_flight=64, workers=2)
        wire = aerodf.connect(srv.hosts, transport="wire", max_in_flight=64, workers=2)
        with aerodf.connect(srv.hosts, max_in_flight=64, workers=2) as client:
            payload = {
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                "hosts": args.hosts or "aerodf test server", "repeat": repeat, "quick": args.quick,
                "read_batch": suite_read_batch(client, raw, srv, sizes, repeat, pyc, py_general, wire),
                "scan_records": scan_n, "scan": suite_scan(client, raw, srv, scan_n, repeat, wire),
                "scan_numeric_records": biggest,
                "scan_numeric": suite_scan_numeric(client, raw, srv, biggest, repeat, wire),
                "write_records": min(biggest, 100_000),
                "write": suite_write(client, raw, srv, min(biggest, 100_000), repeat),
            }
        payload["serving"] = serving.suite(srv.hosts, biggest, levels, requests, rounds, gil_s, set_name="bench_num")
        print("  serving done", flush=True)
        raw.close()
        pyc.close()
        py_general.close()
        wire.close()
    payload["seconds"] = time.perf_counter() - t_start
    (out_dir / "latest.json").write_text(json.dumps(payload, indent=2, default=str))
    (out_dir / "latest.md").write_text(markdown(payload))
    chart(payload, out_dir / "latest.png")
    print(markdown(payload))
    print(f"results in {out_dir} ({payload['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
