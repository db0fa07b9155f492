"""Stream semantics on the local executor: windows, watermark, late rows, keys, stream-static joins,
sources, sinks and triggers. Expected results are literal."""

from __future__ import annotations

import datetime as dt
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us

T0 = dt.datetime(2026, 1, 1, 0, 0, 0)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def events(rows: list[tuple[float, str | None, float]]) -> pa.Table:
    return pa.table({
        "ts": pa.array([at(s) for s, _, _ in rows], pa.timestamp("us")),
        "k": pa.array([k for _, k, _ in rows], pa.large_string()),
        "v": pa.array([v for _, _, v in rows], pa.float64()),
    })


def run(frame: us.StreamFrame) -> list[dict]:
    sink = us.MemorySink()
    query = frame.write_stream(sink, trigger="available_now")
    assert query.await_termination(60)
    assert query.status == "finished"
    rows = sink.to_arrow()
    assert rows.schema.equals(frame.schema)
    return sorted(rows.to_pylist(), key=lambda r: tuple((v is None, v) for v in r.values()))


def stream(*batches: pa.Table, watermark: str = "0s") -> us.StreamFrame:
    return us.read_stream(list(batches), schema=batches[0].schema, max_batches_per_trigger=1).with_event_time(
        "ts", watermark=watermark)


def test_tumbling_windows_are_half_open_and_epoch_aligned() -> None:
    s = stream(events([(0, "a", 1.0), (9.999, "a", 2.0), (10, "a", 4.0)]))
    out = run(s.window(us.tumble("10s")).group_by("k").agg(n=us.count(), total=us.col("v").sum()))
    assert out == [
        {"window_start": at(0), "window_end": at(10), "k": "a", "n": 2, "total": 3.0},
        {"window_start": at(10), "window_end": at(20), "k": "a", "n": 1, "total": 4.0},
    ]


def test_hopping_windows_count_each_row_in_every_window_covering_it() -> None:
    s = stream(events([(1, "a", 1.0), (7, "a", 1.0)]))
    out = run(s.window(us.hop("10s", "5s")).agg(n=us.count()))
    assert out == [
        {"window_start": at(-5), "window_end": at(5), "n": 1},
        {"window_start": at(0), "window_end": at(10), "n": 2},
        {"window_start": at(5), "window_end": at(15), "n": 1},
    ]


def test_session_windows_merge_rows_closer_than_the_gap_per_key() -> None:
    s = stream(events([(0, "a", 1.0), (3, "a", 2.0), (20, "a", 3.0), (1, "b", 5.0)]),
               events([(5, "a", 4.0)]), watermark="20s")
    out = run(s.window(us.session("4s")).group_by("k").agg(n=us.count(), total=us.col("v").sum()))
    assert out == [
        {"window_start": at(0), "window_end": at(9), "k": "a", "n": 3, "total": 7.0},
        {"window_start": at(1), "window_end": at(5), "k": "b", "n": 1, "total": 5.0},
        {"window_start": at(20), "window_end": at(24), "k": "a", "n": 1, "total": 3.0},
    ]


def test_rows_behind_the_watermark_are_dropped_and_counted() -> None:
    first = events([(1, "a", 1.0), (30, "a", 1.0)])  # watermark becomes 30 - 5 = 25
    late = events([(12, "a", 100.0), (26, "a", 2.0)])  # 12 < 25: late; 26 is on time
    s = stream(first, late, watermark="5s")
    sink = us.MemorySink()
    q = s.window(us.tumble("10s")).agg(total=us.col("v").sum()).write_stream(sink, trigger="available_now")
    assert q.await_termination(60)
    assert q.progress["late_rows_dropped"] == 1
    assert q.progress["rows_in"] == 4
    assert sorted((r["window_start"], r["total"]) for r in sink.to_arrow().to_pylist()) == [
        (at(0), 1.0), (at(20), 2.0), (at(30), 1.0)]


def test_windows_are_emitted_once_when_the_watermark_passes_their_end() -> None:
    emitted: list[list[dt.datetime]] = []
    s = stream(events([(1, "a", 1.0)]), events([(11, "a", 1.0)]), events([(12, "a", 1.0)]),
               events([(25, "a", 1.0)]))
    q = s.window(us.tumble("10s")).agg(n=us.count()).write_stream(
        lambda t: emitted.append(t.column("window_start").to_pylist()), trigger="available_now")
    assert q.await_termination(60)
    # [0,10) closes when 11 arrives; [10,20) when 25 arrives; [20,30) at the end of the input (flush).
    assert emitted == [[at(0)], [at(10)], [at(20)]]


def test_empty_windows_produce_no_rows_and_an_empty_stream_no_output() -> None:
    s = stream(events([(1, "a", 1.0), (35, "a", 1.0)]))
    out = run(s.window(us.tumble("10s")).agg(n=us.count()))
    assert [r["window_start"] for r in out] == [at(0), at(30)]
    empty = events([]).cast(events([(0, "a", 1.0)]).schema)
    assert run(stream(empty).window(us.tumble("10s")).agg(n=us.count())) == []


def test_several_keys_and_null_keys_and_aggregates() -> None:
    s = us.read_stream([pa.table({
        "ts": pa.array([at(1), at(2), at(3), at(4)], pa.timestamp("us")),
        "k1": ["x", "x", None, None], "k2": [1, 1, 2, 2], "v": [1.0, None, 2.0, 4.0]})],
        schema=pa.schema({"ts": pa.timestamp("us"), "k1": pa.string(), "k2": pa.int64(), "v": pa.float64()}))
    out = run(s.with_event_time("ts").window(us.tumble("1m")).group_by("k1", "k2").agg(
        n=us.count(), c=us.col("v").count(), mean=us.col("v").mean(), mn=us.col("v").min(), sd=us.col("v").std()))
    assert out == [
        {"window_start": at(0), "window_end": at(60), "k1": "x", "k2": 1, "n": 2, "c": 1, "mean": 1.0, "mn": 1.0,
         "sd": None},
        {"window_start": at(0), "window_end": at(60), "k1": None, "k2": 2, "n": 2, "c": 2, "mean": 3.0, "mn": 2.0,
         "sd": pytest.approx(1.4142135623730951)},
    ]


def test_stateless_operators_and_stream_static_join() -> None:
    static = us.from_dict({"k": ["a", "b"], "region": ["north", "south"]})
    s = stream(events([(1, "a", 1.0), (2, "b", 5.0), (3, "c", 7.0), (4, "a", -1.0)]))
    out = run(
        s.filter(us.col("v") > 0).with_columns(v2=us.col("v") * 2).join(static, on="k")
        .window(us.tumble("10s")).group_by("region").agg(total=us.col("v2").sum())
        .filter(us.col("total") > 3)
    )
    assert out == [{"window_start": at(0), "window_end": at(10), "region": "south", "total": 10.0}]


def test_stateless_stream_without_window_passes_rows_through() -> None:
    s = us.read_stream([events([(1, "a", 1.0), (2, "b", 2.0)])], schema=events([(0, "a", 0.0)]).schema)
    out = run(s.filter(us.col("k") == "b").select("k", w=us.col("v") + 1))
    assert out == [{"k": "b", "w": 3.0}]


def test_directory_source_picks_up_new_files_and_directory_sink(tmp_path) -> None:  # type: ignore[no-untyped-def]
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    pq.write_table(events([(1, "a", 1.0), (2, "a", 2.0)]), src / "f1.parquet")
    frame = us.read_stream(str(src), format="parquet").with_event_time("ts").window(us.tumble("10s")).agg(
        n=us.count())
    q = frame.write_stream(str(out), format="parquet", checkpoint=str(tmp_path / "ck"), trigger="100ms")
    time.sleep(1.0)
    pq.write_table(events([(15, "a", 1.0)]), src / ".f2.tmp")
    os.replace(src / ".f2.tmp", src / "f2.parquet")
    deadline = time.time() + 30
    while time.time() < deadline and q.progress["rows_out"] < 1:
        time.sleep(0.1)
    q.stop()
    assert q.status == "stopped"
    result = pq.read_table(str(out))
    assert result.to_pylist() == [{"window_start": at(0), "window_end": at(10), "n": 2}]
    assert q.progress["rows_in"] == 3


def test_csv_stream_needs_a_schema_and_bad_targets_fail_clearly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(us.SchemaError, match="schema"):
        us.read_stream(str(tmp_path), format="csv")
    s = us.read_stream([events([(1, "a", 1.0)])], schema=events([(0, "a", 0.0)]).schema)
    with pytest.raises(us.InvalidOperationError, match="window"):
        s.select(us.col("v").sum())
    with pytest.raises(us.InvalidOperationError, match="event time"):
        s.window(us.tumble("1s"))
    with pytest.raises(us.InvalidOperationError, match="write_stream"):
        s.collect()
    with pytest.raises(us.InvalidOperationError, match="n_unique"):
        s.with_event_time("ts").window(us.tumble("1s")).agg(us.col("v").n_unique())
    with pytest.raises(us.InvalidOperationError, match="unknown stream engine 'beam'"):
        s.write_stream(us.MemorySink(), engine="beam")


def test_rate_source_progress_and_events_per_second() -> None:
    frame = us.read_stream(format="rate", rows_per_second=1_000_000, num_keys=10, limit=200_000, realtime=False)
    counts = frame.with_event_time("event_time").window(us.tumble("100ms")).group_by("key").agg(n=us.count())
    sink = us.MemorySink()
    q = counts.write_stream(sink, trigger="available_now")
    assert q.await_termination(120)
    table = sink.to_arrow()
    assert sum(table.column("n").to_pylist()) == 200_000
    assert table.num_rows == 2 * 10  # 200 ms of events in 100 ms windows, 10 keys
    assert q.progress["rows_in"] == 200_000 and q.progress["late_rows_dropped"] == 0
