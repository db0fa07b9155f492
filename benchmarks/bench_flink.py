"""Start-up and per-query overhead of the Flink engine (worker process + PyFlink + local mini-cluster).

Measured, each in one fresh process:

- ``startup``: starting the worker (Flink environment's Python, PyFlink, the JVM gateway and a batch
  TableEnvironment), i.e. ``FlinkEngine.client().start()``;
- ``first query``: the first tiny query after start-up (JIT, class loading, planner warm-up);
- ``tiny query``: median of N runs of a one-row filter (the fixed cost of a Flink job);
- ``group-by 100k``: median of N runs of a group-by over a 100,000-row in-memory table, split into
  translation to SQL, Arrow IPC shipping (bytes sent), Flink time in the worker, and the rest
  (pipes, Arrow conversion, conform);
- ``explain``: median time of ``us.explain(frame, engine='flink')`` with Flink's own plan.

Run (holds the heavy-engine lock): ``flock /tmp/unistack-heavy.lock python -m benchmarks.bench_flink --runs 5``
Writes ``benchmarks/results/flink_overhead.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

import unistack as us
from unistack.backends.flink.compile import compile_plan
from unistack.backends.flink.engine import FlinkEngine, _ipc
from unistack.config import get_option
from unistack.planner.optimize import optimize

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _median_seconds(fn: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", default=os.path.join(RESULTS, "flink_overhead.md"))
    args = parser.parse_args(argv)

    engine = FlinkEngine()
    tiny = us.from_dict({"a": [1, 2, 3]}).filter(us.col("a") > 1)
    rng = np.random.default_rng(7)
    big = us.from_dict({"k": rng.integers(0, 100, args.rows).tolist(), "v": rng.random(args.rows).tolist()})
    grouped = big.group_by("k").agg(us.col("v").sum().alias("s"), n=us.count()).sort("k")

    t0 = time.perf_counter()
    engine.client().start(float(get_option("flink.timeout")))
    startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    engine.execute(optimize(tiny.plan))
    first = time.perf_counter() - t0
    tiny_median, tiny_samples = _median_seconds(lambda: engine.execute(optimize(tiny.plan)), args.runs)

    plan = optimize(grouped.plan)
    translate, _ = _median_seconds(lambda: compile_plan(plan), args.runs)
    compiled = compile_plan(plan)
    shipped = sum(len(_ipc(i.table)) for i in compiled.inputs if i.table is not None)
    flink_times: list[float] = []

    def run_grouped() -> None:
        engine.execute(plan)
        flink_times.append(engine.last_flink_seconds or 0.0)

    run_grouped()  # warm-up of this query shape
    flink_times.clear()
    grouped_median, grouped_samples = _median_seconds(run_grouped, args.runs)
    flink_median = statistics.median(flink_times)
    explain_median, _ = _median_seconds(lambda: us.explain(tiny, engine="flink"), max(2, args.runs // 2))
    info = engine.client().info
    engine.close()

    rows = [
        ("startup (worker + JVM + TableEnvironment)", f"{startup:.2f} s", ""),
        ("first query", f"{first:.2f} s", ""),
        ("tiny query (median)", f"{tiny_median:.2f} s", " ".join(f"{s:.2f}" for s in tiny_samples)),
        (f"group-by {args.rows:,} rows (median)", f"{grouped_median:.2f} s",
         " ".join(f"{s:.2f}" for s in grouped_samples)),
        ("  of which: translate to SQL", f"{translate * 1000:.1f} ms", ""),
        ("  of which: Flink (in the worker)", f"{flink_median:.2f} s", ""),
        ("  of which: pipes, Arrow, conform", f"{grouped_median - flink_median - translate:.2f} s",
         f"{shipped / 1e6:.1f} MB Arrow IPC shipped"),
        ("explain with Flink plan (median)", f"{explain_median:.2f} s", ""),
    ]
    header = (f"# Flink engine overhead\n\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
              f"{platform.machine()}, {os.cpu_count()} cores, apache-flink {info.get('pyflink')} "
              f"(pyarrow {info.get('pyarrow')} in the worker), parallelism {get_option('flink.parallelism')}, "
              f"{args.runs} runs.\n\nCommand: `flock /tmp/unistack-heavy.lock python -m benchmarks.bench_flink "
              f"--runs {args.runs}`\n\n| what | time | samples / note |\n|---|---|---|\n")
    text = header + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
