"""unistack-on-DuckDB vs the same TPC-H queries written by hand in DuckDB SQL, side by side in one run.

Both sides run in the same DuckDB database (same threads and memory settings) over the same Parquet
files. unistack's time covers building the frame, optimizing, generating SQL, running it and returning
Arrow (``frame.collect(engine="duckdb")``); the native time covers running the official SQL text
(``sql/qN.sql``) over views of the files and returning Arrow. Each query: one warm-up of each, then N
timed runs alternating the two, median reported. Answers are checked against each other.

Run: ``python -m benchmarks.bench_duckdb_tpch --sf 1 --runs 5``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

import unistack as us
from unistack.backends.duckdb import DuckDBEngine
from unistack.backends.duckdb.compile import compile_plan
from unistack.backends.duckdb.engine import _Run
from unistack.backends.duckdb.sql import quote_ident, quote_string
from unistack.backends.registry import get_engine
from unistack.bench.tpch.answers import compare, official_sql
from unistack.bench.tpch.data import TABLES, ensure_data, tables
from unistack.bench.tpch.queries import QUERIES
from unistack.planner.optimize import optimize

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TARGET = 1.05


def native_connection(directory: str) -> duckdb.DuckDBPyConnection:
    """A cursor on the engine's own database with one view per TPC-H table over its Parquet file."""
    engine = get_engine("duckdb")
    con = engine.connection.cursor()  # type: ignore[attr-defined]
    for t in TABLES:
        path = os.path.join(directory, f"{t}.parquet")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(t)} AS SELECT * FROM read_parquet({quote_string(path)})")
    return con


def time_alternating(fns: list[Callable[[], object]], runs: int) -> list[list[float]]:
    """Run each function once to warm up, then ``runs`` rounds calling each in turn; seconds per call."""
    for fn in fns:
        fn()
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, times in zip(fns, out):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return out


def generated_sql_runner(frame: us.LazyFrame) -> Callable[[], pa.Table]:
    """Run the SQL unistack generates for ``frame`` directly (no planning): isolates the translator."""
    engine = get_engine("duckdb")
    assert isinstance(engine, DuckDBEngine)
    plan = optimize(frame.plan)

    def go() -> pa.Table:
        run = _Run(engine, engine.connection)
        try:
            return engine.connection.sql(compile_plan(plan, run)).to_arrow_table()
        finally:
            run.close()

    return go


@dataclass(frozen=True)
class Row:
    query: int
    unistack: float  # seconds, median
    native: float
    sql_only: float  # the generated SQL alone, without building/planning
    answer: str

    @property
    def ratio(self) -> float:
        return self.unistack / self.native


def run(sf: float, runs: int, queries: list[int]) -> tuple[list[Row], dict[str, str]]:
    load_start = os.getloadavg()[0]
    directory = ensure_data(sf)
    con = native_connection(directory)
    rows: list[Row] = []
    for n in queries:
        sql = official_sql(n)

        def unistack_side(n: int = n) -> pa.Table:
            return QUERIES[n](tables(directory)).collect(engine="duckdb")

        def native_side(sql: str = sql) -> pa.Table:
            return con.sql(sql).to_arrow_table()

        sql_side = generated_sql_runner(QUERIES[n](tables(directory)))
        problem = compare(unistack_side(), native_side())
        tu, tn, ts = time_alternating([unistack_side, native_side, sql_side], runs)
        row = Row(n, statistics.median(tu), statistics.median(tn), statistics.median(ts), problem or "same")
        rows.append(row)
        print(f"Q{n:<3} unistack {row.unistack * 1000:9.1f} ms   native {row.native * 1000:9.1f} ms   "
              f"ratio {row.ratio:5.2f}   generated SQL alone {row.sql_only * 1000:9.1f} ms   "
              f"{problem or 'same answer'}", flush=True)
    setting = con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchall()[0]
    env = {
        "duckdb": duckdb.__version__, "unistack": us.__version__, "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "threads": str(setting[0]),
        "memory_limit": str(setting[1]), "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average at start/end": f"{load_start:.1f}/{os.getloadavg()[0]:.1f}",
    }
    return rows, env


def report(rows: list[Row], env: dict[str, str], sf: float, runs: int) -> str:
    total_u = sum(r.unistack for r in rows)
    total_n = sum(r.native for r in rows)
    total_s = sum(r.sql_only for r in rows)
    geo = statistics.geometric_mean([r.ratio for r in rows]) if rows else float("nan")
    over = [f"Q{r.query}" for r in rows if r.ratio > TARGET]
    lines = [
        f"# unistack-on-DuckDB vs hand-written DuckDB SQL, TPC-H SF {sf:g}",
        "",
        f"Median of {runs} alternating runs after one warm-up each. unistack time includes building the "
        "frame, optimizing, SQL generation and the Arrow result; native time is the official SQL text over "
        "views of the same Parquet files, in the same DuckDB database (same settings).",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        "The last column runs the SQL unistack generates, without building or planning the frame: it "
        "separates the translator's SQL from the fixed planning cost of the API.",
        "",
        "| query | unistack (ms) | native SQL (ms) | ratio | answers | generated SQL alone (ms) | ratio |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| Q{r.query} | {r.unistack * 1000:.1f} | {r.native * 1000:.1f} | {r.ratio:.3f} | {r.answer} "
                     f"| {r.sql_only * 1000:.1f} | {r.sql_only / r.native:.3f} |")
    lines += [
        f"| **total** | {total_u * 1000:.1f} | {total_n * 1000:.1f} | {total_u / total_n:.3f} | "
        f"| {total_s * 1000:.1f} | {total_s / total_n:.3f} |",
        "",
        f"Geometric mean of the ratios: {geo:.3f}. Target: at most {TARGET:.2f}. "
        + (f"Above target: {', '.join(over)}." if over else "Every query is within the target."),
        "",
        "Command: `python -m benchmarks.bench_duckdb_tpch " + " ".join(sys.argv[1:]) + "`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--queries", default=",".join(str(q) for q in QUERIES))
    parser.add_argument("--output", default=os.path.join(RESULTS, "duckdb_vs_native.md"))
    args = parser.parse_args(argv)
    queries = [int(q) for q in args.queries.split(",")]
    rows, env = run(args.sf, args.runs, queries)
    text = report(rows, env, args.sf, args.runs)
    print()
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
