"""Runs TPC-H queries on one engine in this process and prints one JSON line per query.

The harness starts one worker per (scale factor, engine) so a timeout, crash or out-of-memory kill is
confined to that engine and reported as such. ``engine`` may be a unistack engine name, ``auto`` (the
planner chooses), ``native-polars`` (hand-written Polars) or ``native-duckdb`` (the official SQL).

Run: ``python -m unistack.bench.tpch.worker --sf 0.01 --engine polars --queries 1,6 --runs 3``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from unistack.bench.tpch.answers import compare, duckdb_answer, official_sql
from unistack.bench.tpch.data import TABLES, data_dir, tables
from unistack.bench.tpch.queries import QUERIES


def runner(engine: str, n: int, directory: str) -> Callable[[], pa.Table] | None:
    """A function running query ``n`` on ``engine`` from scratch (plan build included), or None if the
    engine has no version of that query."""
    if engine == "native-polars":
        from unistack.bench.tpch import native_polars

        if n not in native_polars.NATIVE:
            return None
        scans = native_polars.scans(directory)
        return lambda: native_polars.NATIVE[n](scans).collect().to_arrow()
    if engine == "native-duckdb":
        import os

        import duckdb

        con = duckdb.connect()
        for t in TABLES:
            path = os.path.join(directory, f"{t}.parquet").replace("'", "''")
            con.execute(f"create view {t} as select * from read_parquet('{path}')")
        sql = official_sql(n)
        return lambda: con.sql(sql).to_arrow_table()
    target = None if engine == "auto" else engine
    return lambda: QUERIES[n](tables(directory)).collect(engine=target)


def run_query(engine: str, n: int, sf: float, runs: int, check: bool) -> dict[str, Any]:
    directory = data_dir(sf)
    record: dict[str, Any] = {"sf": sf, "engine": engine, "query": n, "regime": "warm"}
    try:
        fn = runner(engine, n, directory)
        if fn is None:
            return {**record, "status": "n/a"}
        t0 = time.perf_counter()
        first = fn()  # warm-up (starts the engine's session if needed)
        record["first_s"] = time.perf_counter() - t0
        if engine == "auto":
            import unistack as us

            record["chosen"] = us.explain(QUERIES[n](tables(directory)), native=False).engine
        if check:
            problem = compare(first, duckdb_answer(n, directory))
            if problem is not None:
                return {**record, "status": "mismatch", "error": problem}
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        median = statistics.median(samples) if samples else record["first_s"]
        return {**record, "status": "ok", "median_s": median, "samples": samples}
    except Exception as e:
        kind = "unsupported" if type(e).__name__ == "UnsupportedOperationError" else "error"
        return {**record, "status": kind, "error": f"{type(e).__name__}: {e}".splitlines()[0][:300],
                "trace": traceback.format_exc()[-2000:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sf", type=float, required=True)
    parser.add_argument("--engine", required=True)
    parser.add_argument("--queries", default=",".join(map(str, QUERIES)))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--warm-session", action="store_true",
                        help="start the engine's session with a tiny query before the first measured one")
    args = parser.parse_args(argv)
    if args.warm_session and args.engine not in ("auto", "native-polars", "native-duckdb"):
        import unistack as us

        us.from_dict({"a": [1]}).collect(engine=args.engine)
    for q in (int(x) for x in args.queries.split(",")):
        print(json.dumps(run_query(args.engine, q, args.sf, args.runs, not args.no_check)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
