"""Streaming throughput and latency of a stream engine (keyed tumbling count).

Throughput: a generated stream (``format="rate"``, not paced by the clock) of N events over K keys,
counted per key in 1-second tumbling windows; events per second = events / wall time of the whole run.
Latency: a clock-paced stream at R events/s; for each window, the time from its end (in event time,
which the generator maps to wall time) to the moment its result reaches the sink, with the watermark delay
subtracted; median and p95.

Run: ``python -m benchmarks.bench_stream --events 20000000 --keys 1000`` (local executor),
``python -m benchmarks.bench_stream --engine flink --events 5000000`` (Flink generates the rows), or
``python -m benchmarks.bench_stream --engine spark --events 2000000 --batch-rows 500000 --rate 20000``:
Spark has no deterministic rate source, so its throughput input is the same generated rows as Arrow
batches (one micro-batch each) and its latency input is a directory into which a producer thread drops one
Parquet file every 100 ms, stamped with wall-clock event times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import threading
import time

import pyarrow as pa

import unistack as us

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _rate_batches(events: int, keys: int, batch_rows: int, start_us: int = 1_700_000_000_000_000):
    """The rows of ``format="rate"`` (1 M rows/s of event time) as Arrow tables of ``batch_rows`` rows."""
    source = us.read_stream(format="rate", rows_per_second=1_000_000, num_keys=keys, limit=events,
                            realtime=False, start=start_us).plan.source.source
    for lo in range(0, events, batch_rows):
        yield source.read({"start": lo, "end": min(events, lo + batch_rows)})


def throughput(events: int, keys: int, batch_rows: int, engine: str = "local") -> tuple[float, float]:
    if engine in ("local", "flink"):  # Flink generates the rows itself (datagen)
        frame = us.read_stream(format="rate", rows_per_second=1_000_000, num_keys=keys, limit=events,
                               realtime=False, max_rows_per_trigger=batch_rows)
    else:
        schema = pa.schema({"event_time": pa.timestamp("us", "UTC"), "key": pa.int64(), "value": pa.int64()})
        frame = us.read_stream(list(_rate_batches(events, keys, batch_rows)), schema=schema,
                               max_batches_per_trigger=1)
    counts = frame.with_event_time("event_time", watermark="0s").window(us.tumble("1s")).group_by("key").agg(
        n=us.count())
    total = 0

    def sink(table: pa.Table) -> None:
        nonlocal total
        total += sum(table.column("n").to_pylist())

    t0 = time.perf_counter()
    q = counts.write_stream(sink, trigger="available_now", engine=engine)
    q.await_termination()
    elapsed = time.perf_counter() - t0
    assert total == events, (total, events)
    return events / elapsed, elapsed


def write_file(table: pa.Table, path: str, fmt: str) -> None:
    """One input file of the latency run: Parquet, or JSON lines with ISO-8601 UTC times."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
        return
    import json

    with open(path, "w") as fh:
        for row in table.to_pylist():
            row["event_time"] = row["event_time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            fh.write(json.dumps(row) + "\n")


def latency(rate: float, seconds: float, keys: int, engine: str = "local") -> tuple[float, float, int]:
    start_us = int(time.time() * 1e6)
    lat: list[float] = []

    def sink(table: pa.Table) -> None:
        now = time.time()
        for end in set(table.column("window_end").to_pylist()):
            lat.append(now - end.timestamp())

    if engine == "local":
        frame = us.read_stream(format="rate", rows_per_second=rate, num_keys=keys, limit=int(rate * seconds),
                               start=start_us)
        counts = frame.with_event_time("event_time", watermark="0s").window(us.tumble("1s")).group_by("key").agg(
            n=us.count())
        q = counts.write_stream(sink, trigger="100ms", engine=engine)
        q.await_termination(seconds + 60)
        lat = lat[:-1] or lat  # the last window is flushed at the end of input, not by the watermark
    else:
        # Spark reads Parquet files; Flink's pip distribution reads JSON lines only.
        fmt = "json" if engine == "flink" else "parquet"
        directory = tempfile.mkdtemp(prefix="bench-stream-")
        schema = pa.schema({"event_time": pa.timestamp("us", "UTC"), "key": pa.int64(), "value": pa.int64()})
        write_file(schema.empty_table(), os.path.join(directory, f"f-000000.{fmt}"), fmt)
        frame = us.read_stream(directory, format=fmt, schema=schema)
        counts = frame.with_event_time("event_time", watermark="0s").window(us.tumble("1s")).group_by("key").agg(
            n=us.count())
        q = counts.write_stream(sink, trigger="100ms", engine=engine)
        stop = threading.Event()

        def produce() -> None:
            i, n, t_end = 0, 0, time.time() + seconds
            while time.time() < t_end and not stop.is_set():
                now_us = int(time.time() * 1e6)
                rows = max(1, int(rate * 0.1))
                times = pa.array([now_us - 100_000 + j * 100_000 // rows for j in range(rows)], pa.int64())
                table = pa.table({"event_time": times.cast(pa.timestamp("us", "UTC")),
                                  "key": pa.array([(n + j) % keys for j in range(rows)], pa.int64()),
                                  "value": pa.array(range(n, n + rows), pa.int64())})
                i, n = i + 1, n + rows
                tmp = os.path.join(directory, f".f-{i:06d}.tmp")
                write_file(table, tmp, fmt)
                os.replace(tmp, os.path.join(directory, f"f-{i:06d}.{fmt}"))
                time.sleep(0.1)

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        producer.join()
        time.sleep(3)
        q.stop()
    return statistics.median(lat), sorted(lat)[int(0.95 * (len(lat) - 1))], len(lat)


def _warm(engine: str) -> None:
    """Start the engine's session before anything is timed (the figures are per-query, not start-up)."""
    if engine == "flink":
        from unistack.backends.registry import get_engine

        get_engine("flink").client().request({"op": "ping"})  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--batch-rows", type=int, default=2_000_000)
    parser.add_argument("--rate", type=float, default=200_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--engine", default="local", choices=["local", "spark", "flink"])
    args = parser.parse_args(argv)
    _warm(args.engine)
    eps, elapsed = throughput(args.events, args.keys, args.batch_rows, args.engine)
    print(f"throughput: {eps / 1e6:.2f} M events/s ({args.events} events in {elapsed:.2f} s)", flush=True)
    med, p95, n = latency(args.rate, args.seconds, args.keys, args.engine)
    print(f"latency at {args.rate:g} events/s: median {med * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms ({n} windows)")
    lines = [
        f"# Streaming on the {'local executor' if args.engine == 'local' else args.engine + ' stream engine'}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{dt.date.today().isoformat()}. Command: `python -m benchmarks.bench_stream --engine {args.engine} "
        f"--events {args.events} --keys {args.keys} --batch-rows {args.batch_rows} --rate {args.rate:g}`",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| keyed tumbling count, {args.keys} keys, 1 s windows: events/s | {eps / 1e6:.2f} M |",
        f"| event-to-result latency at {args.rate:g} events/s, trigger 100 ms: median | {med * 1000:.0f} ms |",
        f"| same, p95 | {p95 * 1000:.0f} ms |",
        "",
        "Latency is measured from the end of a window (event time = wall time for the paced generator) to the "
        "moment its result reaches the sink; the watermark delay is 0 s.",
        *([] if args.engine != "flink" else [
            "",
            "Flink: the throughput rows are generated inside Flink (datagen with a sequence column, event time "
            "and key computed from it as the local generator does); throughput includes submitting the job (the "
            "worker and its JVM are started first, outside the timing). The latency input is a directory fed "
            "with one JSON-lines file every 100 ms (event time = wall time when written), watched by Flink "
            "every 100 ms; results come back from the worker by a 100 ms poll."]),
        *([] if args.engine != "spark" else [
            "",
            "Spark: throughput includes starting the Spark session, writing the batches as Parquet files and the "
            "two availableNow runs of the end-of-input flush; the latency input is a directory fed with one "
            "Parquet file every 100 ms (event time = wall time when written)."])
    ]
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"stream_{args.engine}.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
