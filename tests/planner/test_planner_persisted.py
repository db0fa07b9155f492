"""The planner and persisted results: exact statistics without moving the data, no transfer for the engine
holding the data, export plus transfer for every other engine, and the choice that follows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import unistack as us
from unistack.planner.cost import EngineContext, engine_cost, export_seconds, features
from unistack.planner.profile import load_profile
from unistack.planner.stats import distinct_count, source_stats


@pytest.fixture(scope="module")
def kept() -> us.LazyFrame:
    n = 50_000
    rng = np.random.default_rng(7)
    table = pa.table({"k": rng.integers(0, 200, n), "s": [f"name{i % 997}" for i in range(n)],
                      "v": rng.random(n)})
    frame = us.from_arrow(table).persist(engine="duckdb")
    yield frame
    frame.unpersist()


def _ctx(name: str, resident: frozenset[str] = frozenset()) -> EngineContext:
    prof = load_profile()
    return EngineContext(name, prof.engine(name), True, 2, None, resident=resident, others=prof)


def test_statistics_come_from_the_engine_and_its_sample(kept):
    src = kept.plan.source
    stats = source_stats(src)
    assert (stats.rows, stats.source, stats.exact) == (50_000, "engine", True)
    assert 0.0 <= stats.columns["v"].min <= stats.columns["v"].max <= 1.0
    d = distinct_count(src, "k", 50_000)
    assert d is not None and 150 <= d.point <= 260


def test_only_other_engines_pay_to_move_persisted_data(kept):
    src = kept.plan.source
    pf = features(kept.group_by("k").agg(us.col("v").sum()).plan)
    moved = pf.persisted["point"]["duckdb"]
    assert moved == pytest.approx(pf.values["point"]["arrow_in_byte"]) and moved > 50_000 * 8
    holder = engine_cost(pf, _ctx("duckdb", frozenset({src.key})))
    other = engine_cost(pf, _ctx("polars"))
    assert holder.features["arrow_in_byte"] == 0
    assert other.features["arrow_in_byte"] == pytest.approx(moved)
    assert export_seconds(pf.persisted["point"], _ctx("polars")) > 0
    assert export_seconds(pf.persisted["point"], _ctx("duckdb")) == 0
    assert other.transfer > holder.transfer
    assert "holds the persisted input" in holder.note and "persisted in duckdb" in other.note


def test_explain_and_choice_prefer_the_engine_holding_the_data(kept):
    query = kept.group_by("k").agg(us.col("v").sum())
    with us.config(engines=["polars", "duckdb"], history_correction=False):
        explained = us.explain(query)
    text = str(explained)
    assert "Scan persisted in duckdb" in text and "engine" in text
    costs = {c["engine"]: c for c in explained.to_dict()["candidates"]}
    assert costs["polars"]["transfer"] > costs["duckdb"]["transfer"]
    assert explained.engine == "duckdb"


def test_persist_on_an_engine_that_cannot_keep_results_is_refused():
    from unistack.backends import registry
    from unistack.backends.persist import PersistingEngine
    from unistack.backends.registry import get_engine

    class Plain:
        name = "plain_engine"

        def capabilities(self):
            return get_engine("polars").capabilities()

        def status(self):
            return get_engine("polars").status()

        def execute(self, plan):
            return get_engine("polars").execute(plan)

        def explain_native(self, plan):
            return ""

    registry.register(Plain())  # type: ignore[arg-type]
    try:
        assert not isinstance(get_engine("plain_engine"), PersistingEngine)
        with pytest.raises(us.UnsupportedOperationError, match=r"plain_engine.*persist.*polars, duckdb"):
            us.from_dict({"a": [1]}).persist(engine="plain_engine")
    finally:
        registry._instances.pop("plain_engine", None)


def test_persist_without_an_engine_picks_one_that_can_keep_it():
    kept = us.from_dict({"a": [1, 2, 3]}).filter(us.col("a") > 1).persist()
    try:
        assert kept.plan.source.engine in ("polars", "duckdb", "dask", "spark", "ray")
        assert kept.collect().to_pydict() == {"a": [2, 3]}
    finally:
        kept.unpersist()
