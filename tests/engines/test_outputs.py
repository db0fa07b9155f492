"""Outputs: collect, to_polars, to_pandas, to_batches and explain on the engine under test."""

from __future__ import annotations

import pyarrow as pa

import unistack as us


def _frame():
    return us.from_dict({"k": ["b", "a", "b"], "v": [1, 2, 3]}).group_by("k").agg(us.col("v").sum()).sort("k")


def test_collect_returns_arrow_table_with_plan_schema(engine):
    out = _frame().collect(engine=engine)
    assert isinstance(out, pa.Table)
    assert out.schema == pa.schema([("k", pa.large_string()), ("v", pa.int64())])
    assert out.to_pydict() == {"k": ["a", "b"], "v": [2, 4]}


def test_to_polars_and_to_pandas(engine):
    assert _frame().to_polars(engine=engine).to_dict(as_series=False) == {"k": ["a", "b"], "v": [2, 4]}
    assert _frame().to_pandas(engine=engine).to_dict(orient="list") == {"k": ["a", "b"], "v": [2, 4]}


def test_to_batches(engine):
    batches = list(_frame().to_batches(engine=engine))
    assert all(b.schema == _frame().schema for b in batches)
    assert pa.Table.from_batches(batches).to_pydict() == {"k": ["a", "b"], "v": [2, 4]}


def test_explain_names_the_engine(engine):
    e = _frame().explain(engine=engine)
    assert e.engine == engine
    assert "Aggregate by [k] [sum(v)]" in e.optimized_text
    assert e.to_dict()["engine"] == engine
