"""us.explain(frame) / frame.explain(): plans as text and as a dict, the chosen engine, the native plan."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

import unistack as us
from unistack.plan.text import plan_text
from unistack.planner.optimize import optimize

FRAME = (us.from_dict({"k": ["a", "b", "a"], "v": [1, 2, 3]})
         .filter(us.col("v") > 1).group_by("k").agg(total=us.col("v").sum()).sort("k"))


def test_explain_texts_and_engine() -> None:
    e = us.explain(FRAME, engine="polars")
    assert e.engine == "polars"
    assert "forced" in e.reason
    assert e.logical_text == plan_text(FRAME.plan)
    assert e.optimized_text == plan_text(optimize(FRAME.plan))
    # the optimizer pushed the filter into the scan
    assert e.optimized_text.splitlines()[-1].strip().endswith("filter v > 1")
    assert e.logical_text.splitlines()[0] == "Sort [k]"
    text = str(e)
    assert text.startswith("== Logical plan ==\nSort [k]\n")
    assert "chosen polars" in text
    assert "== polars plan ==" in text
    assert e.native


def test_explain_without_native_plan() -> None:
    e = us.explain(FRAME, engine="polars", native=False)
    assert e.native is None
    assert "== polars plan ==" not in str(e)


def test_explain_to_dict_is_json_serialisable() -> None:
    d = us.explain(FRAME, engine="polars").to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["engine"] == "polars"
    assert d["logical_plan"] == plan_text(FRAME.plan).splitlines()
    assert d["optimized_plan"][0] == "Sort [k]"
    assert isinstance(d["native_plan"], str)
    assert any(c["engine"] == "polars" for c in d["candidates"])


def test_frame_explain_equals_us_explain() -> None:
    assert FRAME.explain(engine="polars").optimized_text == us.explain(FRAME, engine="polars").optimized_text


def test_explain_does_not_run_the_query() -> None:
    calls: list[int] = []

    def fn(batch: pa.RecordBatch) -> pa.RecordBatch:
        calls.append(batch.num_rows)
        return batch

    frame = us.from_dict({"a": [1]}).map_batches(fn, {"a": "int64"}, name="spy")
    e = us.explain(frame, engine="polars")
    assert "MapBatches spy -> [a]" in e.optimized_text
    assert calls == []


def test_explain_with_engine_option() -> None:
    with us.config(engine="polars"):
        e = us.explain(FRAME)
    assert e.engine == "polars"
    assert e.reason == "forced by the 'engine' option"


def test_explain_errors() -> None:
    with pytest.raises(us.UnistackError, match=r"explain\(\) takes a LazyFrame, got int"):
        us.explain(3)
    with pytest.raises(us.EngineNotAvailableError, match=r"unknown engine 'nope'"):
        us.explain(FRAME, engine="nope")
