"""Flink as a stream engine: its own sources (JSON directories, the generator), stateless streams,
continuous triggers with stop(), declared limits, and its plan in explain. Each result is compared with the
local executor's answer on the same input (the shared window cases are in test_stream_engines.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_stream_engines import at, events, stream_engine_installed

import unistack as us

pytestmark = pytest.mark.skipif(not stream_engine_installed("flink"), reason="flink is not installed")


def rows_of(frame: us.StreamFrame, engine: str, **kwargs: object) -> list[dict]:
    sink = us.MemorySink()
    query = frame.write_stream(sink, trigger="available_now", engine=engine, **kwargs)  # type: ignore[arg-type]
    assert query.await_termination(180)
    assert query.status == "finished"
    table = sink.to_arrow()
    assert table.schema.equals(frame.schema)
    return sorted(table.to_pylist(), key=lambda r: tuple((v is None, v) for v in r.values()))


def test_generator_windows_match_the_local_executor() -> None:
    frame = us.read_stream(format="rate", rows_per_second=1000, num_keys=7, limit=20_000, realtime=False)
    counts = frame.with_event_time("event_time", watermark="0s").window(us.tumble("3s")).group_by("key").agg(
        n=us.count(), total=us.col("value").sum())
    flink = rows_of(counts, "flink")
    assert flink == rows_of(counts, "local")
    assert sum(r["n"] for r in flink) == 20_000


def test_json_directory_source_matches_the_local_executor(tmp_path: os.PathLike[str]) -> None:
    directory = os.path.join(tmp_path, "in")
    os.makedirs(directory)
    lines = [{"ts": f"2026-01-01T00:00:{s:02d}", "k": k, "v": v} for s, k, v in
             [(1, "a", 1.5), (4, "b", 2.0), (12, "a", 3.0), (13, None, 4.0), (25, "b", None)]]
    with open(os.path.join(directory, "part-0.json"), "w") as fh:
        fh.write("\n".join(json.dumps(r) for r in lines) + "\n")
    schema = pa.schema({"ts": pa.timestamp("us"), "k": pa.string(), "v": pa.float64()})
    frame = us.read_stream(directory, format="json", schema=schema).with_event_time("ts", watermark="1s")
    sums = frame.window(us.tumble("10s")).group_by("k").agg(total=us.col("v").sum(), n=us.count())
    flink = rows_of(sums, "flink")
    assert flink == rows_of(sums, "local")
    assert {(r["window_start"], r["k"], r["n"]) for r in flink} == {
        (at(0), "a", 1), (at(0), "b", 1), (at(10), "a", 1), (at(10), None, 1), (at(20), "b", 1)}


def test_stateless_stream_matches_the_local_executor() -> None:
    source = events([(1, "a", 1.0), (2, "b", -2.0), (3, None, 3.5), (4, "a", None)])
    frame = us.read_stream([source], schema=source.schema).filter(us.col("v") > 0).with_columns(
        w=us.col("v") * 2, upper=us.col("k").str.upper())
    flink = rows_of(frame, "flink")
    assert flink == rows_of(frame, "local")
    assert [r["w"] for r in flink] == [2.0, 7.0]


def test_continuous_trigger_delivers_results_and_stops() -> None:
    start = int(time.time() * 1e6) - 10_000_000  # event time starts 10 s ago: windows close at once
    frame = us.read_stream(format="rate", rows_per_second=2000, num_keys=3, start=start, limit=200_000)
    counts = frame.with_event_time("event_time").window(us.tumble("1s")).group_by("key").agg(n=us.count())
    seen: list[pa.Table] = []
    query = counts.write_stream(seen.append, trigger="200ms", engine="flink")
    deadline = time.time() + 60
    while not seen and time.time() < deadline:
        time.sleep(0.2)
    assert query.status == "running"
    query.stop()
    assert query.status == "stopped"
    assert seen and all(t.schema.equals(counts.schema) for t in seen)
    assert all(n <= 2000 for t in seen for n in t.column("n").to_pylist())  # at most a second of rows per key
    from unistack.backends.registry import get_engine

    assert not get_engine("flink").client().streams  # type: ignore[attr-defined]


def test_declared_limits_fail_at_write_stream(tmp_path: os.PathLike[str]) -> None:
    directory = os.path.join(tmp_path, "pq")
    os.makedirs(directory)
    source = events([(1, "a", 1.0)])
    pq.write_table(source, os.path.join(directory, "a.parquet"))
    parquet = us.read_stream(directory, format="parquet")
    with pytest.raises(us.UnistackError, match="Parquet"):
        parquet.write_stream(us.MemorySink(), trigger="available_now", engine="flink")
    udf = us.read_stream([source], schema=source.schema).map_batches(lambda b: b, schema=source.schema)
    with pytest.raises(us.UnistackError, match="MapBatches"):
        udf.write_stream(us.MemorySink(), trigger="available_now", engine="flink")
    unlimited = us.read_stream(format="rate", rows_per_second=10)
    with pytest.raises(us.UnistackError, match="limit"):
        unlimited.write_stream(us.MemorySink(), trigger="1s", engine="flink")


def test_explain_shows_flinks_plan() -> None:
    source = events([(1, "a", 1.0)])
    frame = us.read_stream([source], schema=source.schema).with_event_time("ts", watermark="2s")
    text = str(us.explain(frame.window(us.hop("10s", "5s")).group_by("k").agg(n=us.count()), engine="flink"))
    assert "* flink" in text and "chosen flink" in text
    assert "WatermarkAssigner" in text and "HOP" in text
    assert "CURRENT_WATERMARK" in text


def test_event_time_with_a_time_zone() -> None:
    utc = dt.UTC
    source = pa.table({"ts": pa.array([dt.datetime(2026, 1, 1, 0, 0, s, tzinfo=utc) for s in (1, 2, 11)],
                                      pa.timestamp("ms", "UTC")), "v": [1, 2, 3]})
    frame = us.read_stream([source], schema=source.schema).with_event_time("ts").window(us.tumble("10s")).agg(
        total=us.col("v").sum())
    flink = rows_of(frame, "flink")
    assert flink == rows_of(frame, "local")
    assert [(r["window_start"], r["total"]) for r in flink] == [
        (dt.datetime(2026, 1, 1, tzinfo=utc), 3), (dt.datetime(2026, 1, 1, 0, 0, 10, tzinfo=utc), 3)]


def test_json_times_with_a_zone_are_read_as_instants(tmp_path: os.PathLike[str]) -> None:
    directory = os.path.join(tmp_path, "zoned")
    os.makedirs(directory)
    with open(os.path.join(directory, "part-0.json"), "w") as fh:
        fh.write('{"ts": "2026-01-01T00:00:01.5Z", "v": 1}\n{"ts": "2026-01-01T00:00:12Z", "v": 2}\n')
    schema = pa.schema({"ts": pa.timestamp("us", "UTC"), "v": pa.int64()})
    frame = us.read_stream(directory, format="json", schema=schema).with_event_time("ts").window(
        us.tumble("10s")).agg(total=us.col("v").sum())
    flink = rows_of(frame, "flink")
    assert flink == rows_of(frame, "local")
    assert [r["total"] for r in flink] == [1, 2]


def test_checkpoint_directory_receives_flink_checkpoints(tmp_path: os.PathLike[str]) -> None:
    checkpoints = os.path.join(tmp_path, "chk")
    frame = us.read_stream(format="rate", rows_per_second=1000, num_keys=2, limit=100_000)
    counts = frame.with_event_time("event_time").window(us.tumble("1s")).group_by("key").agg(n=us.count())
    query = counts.write_stream(us.MemorySink(), trigger="300ms", engine="flink", checkpoint=checkpoints)
    deadline = time.time() + 60
    found: list[str] = []
    while not found and time.time() < deadline and query.status == "running":
        time.sleep(0.3)
        found = [os.path.join(d, f) for d, dirs, _ in os.walk(checkpoints) for f in dirs if f.startswith("chk-")]
    query.stop()
    assert query.exception is None
    assert found, "Flink wrote no checkpoint into the checkpoint directory"
