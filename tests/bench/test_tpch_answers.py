"""TPC-H answers equal DuckDB running the official SQL text: SF 0.01 on every engine under test, SF 0.1
on the embedded engines (the benchmark run checks SF 1)."""

from __future__ import annotations

import pytest

from unistack.bench.tpch.answers import compare, duckdb_answer
from unistack.bench.tpch.data import ensure_data, tables
from unistack.bench.tpch.queries import QUERIES


@pytest.fixture(scope="module")
def sf001() -> str:
    return ensure_data(0.01)


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_tpch_sf001_matches_official_sql(engine: str, sf001: str, query: int) -> None:
    from unistack.backends.registry import get_engine

    frame = QUERIES[query](tables(sf001))
    missing = get_engine(engine).capabilities().missing(frame.plan)
    if missing:
        pytest.skip(f"{engine} declares unsupported: {', '.join(missing)}")
    actual = frame.collect(engine=engine)
    assert actual.schema.equals(frame.schema)
    problem = compare(actual, duckdb_answer(query, sf001))
    assert problem is None, problem


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_tpch_sf01_matches_official_sql_on_polars(query: int) -> None:
    directory = ensure_data(0.1)
    actual = QUERIES[query](tables(directory)).collect(engine="polars")
    problem = compare(actual, duckdb_answer(query, directory))
    assert problem is None, problem
