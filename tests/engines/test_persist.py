"""persist(): a result kept inside the engine, read in place there and exported as Arrow to other engines."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import unistack as us
from unistack.backends.persist import PersistingEngine
from unistack.backends.registry import get_engine


def _persist(frame: us.LazyFrame, engine: str) -> us.LazyFrame:
    if not isinstance(get_engine(engine), PersistingEngine):
        with pytest.raises(us.UnsupportedOperationError, match="persist"):
            frame.persist(engine=engine)
        pytest.skip(f"{engine} declares it cannot keep results")
    return frame.persist(engine=engine)


def _orders() -> us.LazyFrame:
    return us.from_arrow(pa.table({
        "k": ["a", "b", "a", None, "é"],
        "v": [1, 2, None, 4, 5],
        "x": [0.5, float("nan"), 2.0, None, -1.0],
        "d": [dt.date(2024, 1, 1), None, dt.date(2024, 3, 1), dt.date(2024, 1, 2), dt.date(2023, 12, 31)],
    }))


def test_persisted_result_reads_back_with_its_schema(engine, check):
    frame = _orders().filter(us.col("v").is_not_null()).with_columns(w=us.col("v") * 2)
    kept = _persist(frame, engine)
    try:
        src = kept.plan.source
        assert (src.engine, src.rows) == (engine, 4)
        assert kept.schema == frame.schema
        check(kept, frame.collect(engine="polars"))
        # a query over it, in place
        check(kept.group_by("k").agg(us.col("w").sum()), {"k": ["a", "b", None, "é"], "w": [2, 4, 8, 10]})
        check(kept.filter(us.col("d") > dt.date(2024, 1, 1)).select("v"), {"v": [4]})
    finally:
        kept.unpersist()


def test_persisted_result_is_exported_to_another_engine(engine):
    kept = _persist(_orders().select("k", "v"), engine)
    try:
        other = "duckdb" if engine != "duckdb" else "polars"
        out = kept.sort("v", nulls_last=True).collect(engine=other)
        assert out.column("v").to_pylist() == [1, 2, 4, 5, None]
        # a join of the persisted result with a local table, on any engine
        names = us.from_dict({"k": ["a", "b"], "name": ["Ann", "Bo"]})
        joined = kept.join(names, on="k").select("name", "v").sort("v").collect(engine=other)
        assert joined.to_pydict() == {"name": ["Ann", "Bo", "Ann"], "v": [1, 2, None]}
    finally:
        kept.unpersist()


def test_global_aggregate_persisted_over_no_rows(engine, check):
    frame = _orders().filter(us.col("v") > 100).select(us.count().alias("n"), us.col("v").sum().alias("s"))
    kept = _persist(frame, engine)
    try:
        check(kept, {"n": [0], "s": [None]})
    finally:
        kept.unpersist()


def test_unpersisted_result_gives_a_clear_error(engine):
    kept = _persist(_orders().select("k"), engine)
    kept.unpersist()
    with pytest.raises(us.DataSourceError, match=r"no longer held.*persist"):
        kept.collect(engine=engine)
