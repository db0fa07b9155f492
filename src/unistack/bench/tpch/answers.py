"""Check unistack's TPC-H answers against DuckDB running the official SQL text.

Run: ``python -m unistack.bench.tpch.answers --sf 0.01 --engines polars,duckdb``
"""

from __future__ import annotations

import argparse
import decimal
import math
import os
import sys
from typing import Any

import pyarrow as pa

from unistack.bench.tpch.data import TABLES, ensure_data, tables
from unistack.bench.tpch.queries import QUERIES

SQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql")
REL_TOL = 1e-6  # floats (and a decimal against a float) compare within this; decimals compare exactly


def official_sql(n: int) -> str:
    with open(os.path.join(SQL_DIR, f"q{n}.sql")) as fh:
        return fh.read()


def duckdb_answer(n: int, directory: str) -> pa.Table:
    """The answer of DuckDB running the official SQL text over the same Parquet files."""
    import duckdb

    con = duckdb.connect()
    for t in TABLES:
        path = os.path.join(directory, f"{t}.parquet").replace("'", "''")
        con.execute(f"create view {t} as select * from read_parquet('{path}')")
    return con.sql(official_sql(n)).to_arrow_table()


def _norm(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def compare(actual: pa.Table, expected: pa.Table) -> str | None:
    """Difference between two answers (same columns and order; numbers within a relative 1e-6)."""
    if actual.column_names != expected.column_names:
        return f"columns {actual.column_names} != {expected.column_names}"
    if actual.num_rows != expected.num_rows:
        return f"{actual.num_rows} rows != {expected.num_rows}"
    a_rows = list(zip(*[c.to_pylist() for c in actual.columns]))
    e_rows = list(zip(*[c.to_pylist() for c in expected.columns]))
    for i, (ra, re_) in enumerate(zip(a_rows, e_rows)):
        for name, x, y in zip(actual.column_names, ra, re_):
            if isinstance(x, decimal.Decimal) and isinstance(y, decimal.Decimal):
                if x != y:  # exact decimals must be exact (docs/semantics.md S-DECIMAL)
                    return f"row {i} column {name}: {x!r} != {y!r}"
                continue
            x, y = _norm(x), _norm(y)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
                if not math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-9):
                    return f"row {i} column {name}: {x!r} != {y!r}"
            elif x != y:
                return f"row {i} column {name}: {x!r} != {y!r}"
    return None


def check(sf: float, engines: list[str], queries: list[int]) -> int:
    directory = ensure_data(sf)
    frames = tables(directory)
    failures = 0
    for n in queries:
        expected = duckdb_answer(n, directory)
        for engine in engines:
            try:
                actual = QUERIES[n](frames).collect(engine=engine)
                problem = compare(actual, expected)
            except Exception as e:  # report, keep going
                problem = f"{type(e).__name__}: {e}"
            status = "ok" if problem is None else f"MISMATCH {problem}"
            failures += problem is not None
            print(f"SF {sf:g} Q{n:<2} {engine:8} {status}", flush=True)
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sf", type=float, default=0.01)
    parser.add_argument("--engines", default="polars")
    parser.add_argument("--queries", default=",".join(str(q) for q in QUERIES))
    args = parser.parse_args(argv)
    failures = check(args.sf, args.engines.split(","), [int(q) for q in args.queries.split(",")])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
