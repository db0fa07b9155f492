"""Routing stream plans among the stream engines: feasibility reasons, the cost arithmetic, forced and
restricted choices, and what explain shows. Nothing here starts an engine."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

import unistack as us
from unistack.stream import route
from unistack.stream.route import STREAM_PROFILE, choose_stream_engine, estimate


def counts(frame: us.StreamFrame, ts: str = "event_time") -> us.StreamFrame:
    return frame.with_event_time(ts).window(us.tumble("1s")).agg(n=us.count())


def generated(limit: int | None = 50_000, rate: float = 1000.0) -> us.StreamFrame:
    return counts(us.read_stream(format="rate", rows_per_second=rate, limit=limit))


def batches(rows: int) -> us.StreamFrame:
    table = pa.table({"event_time": pa.array(range(rows), pa.timestamp("s")), "v": range(rows)})
    return counts(us.read_stream([table.slice(0, rows // 2), table.slice(rows // 2)], schema=table.schema))


def test_a_bounded_input_is_judged_by_predicted_time() -> None:
    choice = choose_stream_engine(generated().plan, "available_now")
    assert (choice.engine, choice.criterion, choice.rows) == ("local", "predicted time", 50_000)
    local = next(e for e in choice.estimates if e.engine == "local")
    assert local.predicted_seconds == pytest.approx(
        STREAM_PROFILE["local"]["submit"] + 50_000 / STREAM_PROFILE["local"]["events_per_second"])


def test_an_unbounded_input_is_judged_by_latency(tmp_path: os.PathLike[str]) -> None:
    schema = pa.schema({"event_time": pa.timestamp("us"), "v": pa.int64()})
    frame = counts(us.read_stream(str(tmp_path), format="json", schema=schema))
    choice = choose_stream_engine(frame.plan, "500ms")
    assert (choice.engine, choice.criterion, choice.rows) == ("local", "latency", None)
    local = next(e for e in choice.estimates if e.engine == "local")
    assert local.latency_seconds == pytest.approx(STREAM_PROFILE["local"]["latency"] + 0.5)


def test_cold_engines_pay_their_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(route, "_unsupported", lambda plan, engine, trigger: "")
    monkeypatch.setattr(route, "_warm", lambda engine: engine == "local")
    spark = estimate(batches(1000).plan, "spark", "available_now", rows=1000)
    figures = STREAM_PROFILE["spark"]
    assert not spark.warm
    assert spark.predicted_seconds == pytest.approx(
        figures["startup"] + figures["submit"] + 1000 / figures["events_per_second"])
    monkeypatch.setattr(route, "_warm", lambda engine: True)
    assert estimate(batches(1000).plan, "spark", "available_now", rows=1000).startup_seconds == 0.0


def test_feasibility_reasons() -> None:
    spark = estimate(generated().plan, "spark", "1s")
    assert not spark.feasible and "rate" in spark.reason
    too_fast = estimate(generated(limit=None, rate=1e9).plan, "local", "1s")
    assert not too_fast.feasible and "cannot keep up" in too_fast.reason
    with pytest.raises(us.UnistackError, match="no stream engine can run this plan"):
        choose_stream_engine(generated(limit=None, rate=1e9).plan, "1s")


def test_configuration_restricts_the_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(route, "_unsupported", lambda plan, engine, trigger: "")
    monkeypatch.setattr(route, "_warm", lambda engine: False)
    with us.config(stream_engines=["flink", "spark"]):
        choice = choose_stream_engine(batches(10_000).plan, "available_now")
    assert [e.engine for e in choice.estimates if e.feasible] == ["flink", "spark"]
    assert {"polars", "duckdb", "dask", "ray"} <= {e.engine for e in choice.estimates if not e.feasible}
    assert choice.engine == "flink"  # 2.5 s start + 1.5 s submit beats Spark's 8 s + 4 s
    with us.config(stream_engines=["kafka"]), pytest.raises(us.UnistackError, match="unknown stream engines"):
        choose_stream_engine(batches(10).plan)


def test_a_forced_engine_is_used_or_refused_with_its_reason() -> None:
    assert choose_stream_engine(generated().plan, "1s", engine="local").criterion == "forced"
    with pytest.raises(us.UnistackError, match="rate generator"):
        choose_stream_engine(generated().plan, "1s", engine="spark")
    with pytest.raises(us.UnistackError, match="unknown stream engine"):
        choose_stream_engine(generated().plan, "1s", engine="beam")


def test_explain_shows_every_engine_and_the_choice() -> None:
    frame = generated()
    text = frame.explain(trigger="available_now")
    assert "== Stream engines ==" in text and "* local" in text and "chosen local" in text
    assert "spark  not feasible: the rate generator" in text
    data = us.explain(frame).to_dict()
    assert data["engine"] == "local" and data["criterion"] == "predicted time"
    assert [e["engine"] for e in data["estimates"]][:3] == ["local", "flink", "spark"]
    batch = {e["engine"]: e["reason"] for e in data["estimates"][3:]}
    assert "polars" in batch and all(reason.startswith("batch-only engine") for reason in batch.values())
    with pytest.raises(us.UnsupportedOperationError, match="batch-only"):
        frame.write_stream(us.MemorySink(), engine="polars")
