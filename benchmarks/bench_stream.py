"""Streaming throughput and latency of the local executor (keyed tumbling count).

Throughput: a generated stream (``format="rate"``, not paced by the clock) of N events over K keys,
counted per key in 1-second tumbling windows; events per second = events / wall time of the whole run.
Latency: a clock-paced stream at R events/s; for each window, the time from its end (in event time,
which the generator maps to wall time) to the moment its result reaches the sink, with the watermark delay
subtracted; median and p95.

Run: ``python -m benchmarks.bench_stream --events 20000000 --keys 1000``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time

import pyarrow as pa

import unistack as us

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def throughput(events: int, keys: int, batch_rows: int) -> tuple[float, float]:
    frame = us.read_stream(format="rate", rows_per_second=1_000_000, num_keys=keys, limit=events, realtime=False,
                           max_rows_per_trigger=batch_rows)
    counts = frame.with_event_time("event_time", watermark="0s").window(us.tumble("1s")).group_by("key").agg(
        n=us.count())
    total = 0

    def sink(table: pa.Table) -> None:
        nonlocal total
        total += sum(table.column("n").to_pylist())

    t0 = time.perf_counter()
    q = counts.write_stream(sink, trigger="available_now")
    q.await_termination()
    elapsed = time.perf_counter() - t0
    assert total == events, (total, events)
    return events / elapsed, elapsed


def latency(rate: float, seconds: float, keys: int) -> tuple[float, float, int]:
    start_us = int(time.time() * 1e6)
    frame = us.read_stream(format="rate", rows_per_second=rate, num_keys=keys, limit=int(rate * seconds),
                           start=start_us)
    counts = frame.with_event_time("event_time", watermark="0s").window(us.tumble("1s")).group_by("key").agg(
        n=us.count())
    lat: list[float] = []

    def sink(table: pa.Table) -> None:
        now = time.time()
        for end in set(table.column("window_end").to_pylist()):
            lat.append(now - end.timestamp())

    q = counts.write_stream(sink, trigger="100ms")
    q.await_termination(seconds + 60)
    lat = lat[:-1] or lat  # the last window is flushed at the end of input, not by the watermark
    return statistics.median(lat), sorted(lat)[int(0.95 * (len(lat) - 1))], len(lat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--batch-rows", type=int, default=2_000_000)
    parser.add_argument("--rate", type=float, default=200_000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    eps, elapsed = throughput(args.events, args.keys, args.batch_rows)
    print(f"throughput: {eps / 1e6:.2f} M events/s ({args.events} events in {elapsed:.2f} s)", flush=True)
    med, p95, n = latency(args.rate, args.seconds, args.keys)
    print(f"latency at {args.rate:g} events/s: median {med * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms ({n} windows)")
    lines = [
        "# Streaming on the local executor",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{dt.date.today().isoformat()}. Command: `python -m benchmarks.bench_stream --events {args.events} "
        f"--keys {args.keys}`",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| keyed tumbling count, {args.keys} keys, 1 s windows: events/s | {eps / 1e6:.2f} M |",
        f"| event-to-result latency at {args.rate:g} events/s, trigger 100 ms: median | {med * 1000:.0f} ms |",
        f"| same, p95 | {p95 * 1000:.0f} ms |",
        "",
        "Latency is measured from the end of a window (event time = wall time for the paced generator) to the "
        "moment its result reaches the sink; the watermark delay is 0 s.",
    ]
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "stream_local.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
