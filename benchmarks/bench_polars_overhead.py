"""unistack-on-Polars vs the same TPC-H queries written directly in Polars, side by side in one run;
plus planning time (build + optimize) of a 20-node plan.

Each query: one warm-up, then N timed runs alternating unistack and native, median reported. Both sides
open the tables once and build the query anew in every run; unistack's time includes building the query,
optimizing it, choosing the engine, translating and collecting to Arrow; native Polars' time is building the
query and ``LazyFrame.collect()``. The native queries compute the same exact decimal answers as unistack
(see :mod:`unistack.bench.tpch.native_polars`); the benchmark checks that the answers agree.

Run: ``python -m benchmarks.bench_polars_overhead --sf 1 --runs 7``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time

import polars as pl

import unistack as us
from unistack.bench.tpch import native_polars
from unistack.bench.tpch.answers import compare
from unistack.bench.tpch.data import ensure_data, tables
from unistack.bench.tpch.queries import QUERIES
from unistack.planner.optimize import optimize

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def twenty_node_plan() -> us.LazyFrame:
    """A 20-node plan over in-memory data (scan, joins, filters, projections, aggregate, window, sort)."""
    a = us.from_dict({"k": [1, 2, 3], "x": [1.0, 2.0, 3.0], "s": ["a", "b", "c"]})
    b = us.from_dict({"k": [1, 2], "y": [10, 20]})
    f = a.filter(us.col("x") > 0).with_columns(z=us.col("x") * 2).join(b, on="k", how="left")
    f = f.filter(us.col("y").is_not_null() | (us.col("z") > 1)).with_columns(w=us.col("z").sum().over("s"))
    f = f.select("k", "s", "w", "y").rename({"w": "total"}).filter(us.col("total") < 100)
    g = f.group_by("s").agg(us.col("total").max(), n=us.count()).with_columns(r=us.col("n") * 2)
    g = g.filter(us.col("r") > 0).sort("s").drop("r").with_columns(t=us.col("total") + 1).limit(10)
    return g.select("s", "t", "n").filter(us.col("n") > 0).with_columns(u=us.col("t") * 2).drop("u")


def count_nodes(frame: us.LazyFrame) -> int:
    return sum(1 for _ in frame.plan.walk())


def planning_ms(runs: int = 300) -> tuple[float, int]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        frame = twenty_node_plan()
        optimize(frame.plan)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), count_nodes(twenty_node_plan())


def time_it(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--queries", default="", help="comma-separated query numbers (default: all)")
    args = parser.parse_args(argv)
    wanted = {int(q) for q in args.queries.split(",") if q}
    directory = ensure_data(args.sf)
    # Both sides open their tables once and build each query anew per run.
    native_tables = native_polars.scans(directory)
    us_tables = tables(directory)
    rows = []
    for n, native in native_polars.NATIVE.items():
        if wanted and n not in wanted:
            continue
        def run_unistack(n: int = n) -> object:
            return QUERIES[n](us_tables).collect(engine="polars")

        def run_native(native=native) -> object:  # type: ignore[no-untyped-def]
            return native(native_tables).collect()

        problem = compare(run_unistack(), run_native().to_arrow())
        if problem:
            print(f"Q{n}: answers differ: {problem}", file=sys.stderr)
        run_unistack(), run_native()  # warm-up
        u_times, n_times = [], []
        for _ in range(args.runs):  # alternate so drift hits both sides alike
            u_times += time_it(run_unistack, 1)
            n_times += time_it(run_native, 1)
        u, nat = statistics.median(u_times), statistics.median(n_times)
        rows.append((n, nat, u, u / nat))
        print(f"Q{n:<2} native {nat * 1000:8.1f} ms   unistack {u * 1000:8.1f} ms   ratio {u / nat:5.3f}", flush=True)
    plan_ms, nodes = planning_ms()
    geo = statistics.geometric_mean(r[3] for r in rows)
    lines = [
        f"# unistack on Polars vs native Polars (TPC-H SF {args.sf:g})",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"polars {pl.__version__}, unistack {us.__version__}; {dt.date.today().isoformat()}.",
        f"Median of {args.runs} runs after one warm-up, unistack and native alternating.",
        f"Command: `python -m benchmarks.bench_polars_overhead --sf {args.sf:g} --runs {args.runs}`",
        "",
        "| query | native Polars (ms) | unistack (ms) | ratio |",
        "|---|---:|---:|---:|",
        *[f"| Q{n} | {nat * 1000:.1f} | {u * 1000:.1f} | {r:.3f} |" for n, nat, u, r in rows],
        f"| geometric mean | | | {geo:.3f} |",
        "",
        f"Planning (build + optimize) of a {nodes}-node plan: median {plan_ms:.3f} ms over 300 runs.",
    ]
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"polars_overhead_sf{args.sf:g}.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines[-3:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
