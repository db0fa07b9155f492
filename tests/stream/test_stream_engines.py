"""One stream test set on every stream engine: the same inputs give the same final outputs.

Cases mirror tests/stream/test_stream_windows.py (tumbling, hopping and session windows, late rows, empty
windows and an empty stream, several keys with nulls, a stream-static join with filters before and after the
window). Each input batch is its own micro-batch on every engine, so results do not depend on how an engine
groups batches (Flink decides late rows row by row, which gives the same answers on these inputs: rows are in
order within each batch). An engine is skipped only when it is not installed. Spark queries run on the one
Spark session of the test run, Flink queries on its one worker (each costs a few seconds).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import unistack as us
from unistack.backends.registry import is_installed

T0 = dt.datetime(2026, 1, 1, 0, 0, 0)
STREAM_ENGINES = ["local", "spark", "flink"]


def stream_engine_installed(name: str) -> bool:
    if name == "flink":  # Flink runs under its own interpreter: installed means provisioned
        from unistack.backends.flink.provision import find_python

        try:
            find_python()
        except us.UnistackError:
            return False
        return True
    return name == "local" or is_installed(name)


@pytest.fixture(scope="module", params=STREAM_ENGINES)
def stream_engine(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if not stream_engine_installed(name):
        pytest.skip(f"{name} is not installed")
    return name


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def events(rows: list[tuple[float, str | None, float]]) -> pa.Table:
    return pa.table({
        "ts": pa.array([at(s) for s, _, _ in rows], pa.timestamp("us")),
        "k": pa.array([k for _, k, _ in rows], pa.large_string()),
        "v": pa.array([v for _, _, v in rows], pa.float64()),
    })


def stream(*batches: pa.Table, watermark: str = "0s") -> us.StreamFrame:
    return us.read_stream(list(batches), schema=batches[0].schema, max_batches_per_trigger=1).with_event_time(
        "ts", watermark=watermark)


def run(frame: us.StreamFrame, engine: str) -> tuple[list[dict], dict]:
    sink = us.MemorySink()
    query = frame.write_stream(sink, trigger="available_now", engine=engine)
    assert query.await_termination(180)
    assert query.status == "finished"
    rows = sink.to_arrow()
    assert rows.schema.equals(frame.schema)
    return sorted(rows.to_pylist(), key=lambda r: tuple((v is None, v) for v in r.values())), query.progress


def test_tumbling_windows(stream_engine: str) -> None:
    """S-STREAM-WINDOW, S-STREAM-FLUSH: half-open tumbling windows; the last one is flushed at the end."""
    s = stream(events([(0, "a", 1.0), (9.999, "a", 2.0), (10, "a", 4.0)]))
    out, _ = run(s.window(us.tumble("10s")).group_by("k").agg(n=us.count(), total=us.col("v").sum()), stream_engine)
    assert out == [
        {"window_start": at(0), "window_end": at(10), "k": "a", "n": 2, "total": 3.0},
        {"window_start": at(10), "window_end": at(20), "k": "a", "n": 1, "total": 4.0},
    ]


def test_hopping_windows(stream_engine: str) -> None:
    s = stream(events([(1, "a", 1.0), (7, "a", 1.0)]))
    out, _ = run(s.window(us.hop("10s", "5s")).agg(n=us.count()), stream_engine)
    assert out == [
        {"window_start": at(-5), "window_end": at(5), "n": 1},
        {"window_start": at(0), "window_end": at(10), "n": 2},
        {"window_start": at(5), "window_end": at(15), "n": 1},
    ]


def test_session_windows(stream_engine: str) -> None:
    s = stream(events([(0, "a", 1.0), (3, "a", 2.0), (20, "a", 3.0), (1, "b", 5.0)]),
               events([(5, "a", 4.0)]), watermark="20s")
    out, _ = run(s.window(us.session("4s")).group_by("k").agg(n=us.count(), total=us.col("v").sum()),
                 stream_engine)
    assert out == [
        {"window_start": at(0), "window_end": at(9), "k": "a", "n": 3, "total": 7.0},
        {"window_start": at(1), "window_end": at(5), "k": "b", "n": 1, "total": 5.0},
        {"window_start": at(20), "window_end": at(24), "k": "a", "n": 1, "total": 3.0},
    ]


def test_late_rows_are_dropped_and_counted(stream_engine: str) -> None:
    """S-STREAM-WATERMARK, S-STREAM-LATE, S-STREAM-EMIT."""
    first = events([(1, "a", 1.0), (30, "a", 1.0)])  # watermark becomes 30 - 5 = 25
    more = events([(31, "a", 1.0)])  # watermark 26
    late = events([(12, "a", 100.0), (26, "a", 2.0)])  # 12 is late (and its window [10, 20) closed); 26 is not
    # Spark filters late rows with the watermark of the previous micro-batch, so the late row comes two
    # batches after the watermark passed it: both rules then agree.
    out, progress = run(
        stream(first, more, late, watermark="5s").window(us.tumble("10s")).agg(total=us.col("v").sum()),
        stream_engine)
    assert [(r["window_start"], r["total"]) for r in out] == [(at(0), 1.0), (at(20), 2.0), (at(30), 2.0)]
    assert progress["late_rows_dropped"] == 1
    assert progress["rows_in"] == 5


def test_empty_windows_and_an_empty_stream(stream_engine: str) -> None:
    s = stream(events([(1, "a", 1.0), (35, "a", 1.0)]))
    out, _ = run(s.window(us.tumble("10s")).agg(n=us.count()), stream_engine)
    assert [r["window_start"] for r in out] == [at(0), at(30)]
    empty = events([]).cast(events([(0, "a", 1.0)]).schema)
    assert run(stream(empty).window(us.tumble("10s")).agg(n=us.count()), stream_engine)[0] == []


def test_several_keys_with_nulls_and_aggregates(stream_engine: str) -> None:
    s = us.read_stream([pa.table({
        "ts": pa.array([at(1), at(2), at(3), at(4)], pa.timestamp("us")),
        "k1": ["x", "x", None, None], "k2": [1, 1, 2, 2], "v": [1.0, None, 2.0, 4.0]})],
        schema=pa.schema({"ts": pa.timestamp("us"), "k1": pa.string(), "k2": pa.int64(), "v": pa.float64()}))
    out, _ = run(s.with_event_time("ts").window(us.tumble("1m")).group_by("k1", "k2").agg(
        n=us.count(), c=us.col("v").count(), mean=us.col("v").mean(), mn=us.col("v").min(), sd=us.col("v").std()),
        stream_engine)
    assert out == [
        {"window_start": at(0), "window_end": at(60), "k1": "x", "k2": 1, "n": 2, "c": 1, "mean": 1.0, "mn": 1.0,
         "sd": None},
        {"window_start": at(0), "window_end": at(60), "k1": None, "k2": 2, "n": 2, "c": 2, "mean": 3.0, "mn": 2.0,
         "sd": pytest.approx(1.4142135623730951)},
    ]


def test_stream_static_join(stream_engine: str) -> None:
    """S-STREAM-JOIN."""
    static = us.from_dict({"k": ["a", "b"], "region": ["north", "south"]})
    s = stream(events([(1, "a", 1.0), (2, "b", 5.0), (3, "c", 7.0), (4, "a", -1.0)]))
    out, _ = run(
        s.filter(us.col("v") > 0).with_columns(v2=us.col("v") * 2).join(static, on="k")
        .window(us.tumble("10s")).group_by("region").agg(total=us.col("v2").sum())
        .filter(us.col("total") > 3), stream_engine)
    assert out == [{"window_start": at(0), "window_end": at(10), "region": "south", "total": 10.0}]
