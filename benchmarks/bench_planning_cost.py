"""What the planner costs per query: a repeated millisecond query through the planner vs on the engine it picks.

For each pipeline (TPC-H SF 0.01 from the planner matrix), the script runs the query alternately forced on
an engine (``collect(engine=...)``) and through the planner (``collect()``), a new frame each time, the order
flipping every round, and reports the median seconds of each, their difference, and the median planning time
both reported. The candidate engines are the planner matrix's four (their sessions started first), so
planning looks at as many engines as there. Between two plannings the engine's own work leaves the CPU caches
as cold as they are in use (a loop of plannings alone would flatter the planner).

Run::

    .venv/bin/python benchmarks/bench_planning_cost.py --runs 400
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

import unistack as us

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.planner_matrix import pipelines

PIPELINES = ("count_rows", "filter_select", "join_agg")


def measure(name: str, runs: int, engine: str) -> dict[str, Any]:
    """Median seconds and planning seconds of ``name`` forced on ``engine`` and through the planner."""
    from unistack.execution import last_run
    from unistack.planner.history import flush

    build = pipelines("0.01", os.path.join(tempfile.gettempdir(), "unistack-matrix"))[name][1]
    for _ in range(10):  # warm-up: the planner observes every runner, the engines compile
        for e in (engine, None):
            build().collect(engine=e)
            flush()
    seconds: dict[str, list[float]] = {"forced": [], "planner": []}
    planning: dict[str, list[float]] = {"forced": [], "planner": []}
    chosen: dict[str, int] = {}
    for i in range(runs):
        for e in ((engine, None) if i % 2 else (None, engine)):
            frame = build()
            t0 = time.perf_counter()
            frame.collect(engine=e)
            elapsed = time.perf_counter() - t0
            flush()  # the history thread's work must not land in the next timing
            who = "forced" if e else "planner"
            seconds[who].append(elapsed)
            planning[who].append(last_run()["planning"])
            if e is None:
                chosen[last_run()["engine"]] = chosen.get(last_run()["engine"], 0) + 1
    med = {k: statistics.median(v) for k, v in seconds.items()}
    return {"pipeline": name, "forced_ms": med["forced"] * 1e3, "planner_ms": med["planner"] * 1e3,
            "extra_us": (med["planner"] - med["forced"]) * 1e6,
            "planning_forced_us": statistics.median(planning["forced"]) * 1e6,
            "planning_planner_us": statistics.median(planning["planner"]) * 1e6, "chosen": chosen}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=400, help="runs per runner and pipeline")
    ap.add_argument("--engine", default="polars", help="the engine forced (the one the planner picks here)")
    ap.add_argument("--engines", default="polars,duckdb,dask,spark", help="the planner's candidates")
    ap.add_argument("--only", default=",".join(PIPELINES))
    args = ap.parse_args(argv)
    from unistack.bench.tpch.data import default_root

    os.environ.setdefault("UNISTACK_TPCH_DATA", default_root())  # the data stays where it is (not in `cache`)
    cache = tempfile.mkdtemp(prefix="unistack-planning-")
    try:
        with us.config(cache_dir=cache, engines=args.engines):
            for e in args.engines.split(","):  # sessions started: planning sees them warm, as in the matrix
                us.from_dict({"a": [1]}).collect(engine=e)
            print("| pipeline | forced (ms) | planner (ms) | planner extra (us) | planning forced / planner (us) "
                  "| planner chose |")
            print("|---|---|---|---|---|---|")
            for name in args.only.split(","):
                r = measure(name, args.runs, args.engine)
                print(f"| {name} | {r['forced_ms']:.3f} | {r['planner_ms']:.3f} | {r['extra_us']:.0f} | "
                      f"{r['planning_forced_us']:.0f} / {r['planning_planner_us']:.0f} | {r['chosen']} |", flush=True)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
