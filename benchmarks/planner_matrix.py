"""The planner's workload matrix: pipelines x data sizes, run on every engine and through the planner.

For each TPC-H scale factor (one process per size) the script:

1. runs the *cold* pipeline once per runner (the planner and every engine), each in a fresh child
   process: the run is that process's first job, so an engine's start-up is included and no runner
   profits from another's first execution of the plan;
2. starts every engine's session with an untimed job;
3. runs every warm pipeline on every engine (``collect(engine=...)``) and through the planner
   (``collect()`` with no engine; planning included) twice: with the cost model alone (``history_correction``
   off: runner ``planner_model``) and with the history-based correction (runner ``planner``), which knows
   the times observed for the same plan over the same files by every earlier run. Dask and Spark run
   first (they leave work behind them that slows the next runner); then the in-process runners take turns:
   a warm-up round, then timed rounds (median; up to 60 for millisecond runs), so that changes of the
   machine's load hit them alike.

Resident pipelines (``resident_<engine>_...``) read data persisted in an engine's session
(``LazyFrame.persist``) before the timed runs: the engine holding it reads it in place, every other engine gets
it exported as Arrow. Confined pipelines (``--confined GiB``, meant for SF 10) read more data than the memory
of the process: each runner runs in a fresh process inside a memory cgroup of that size (root needed), after an
untimed tiny job that starts its sessions; a run the kernel kills for memory is reported as such.

Each size runs with a private cache directory for the query history, the observed plan times and the
learned costs of Python functions (the engines' capabilities and the profiles are shared with the user
cache), so what the planner learned comes from that size's own runs only.

Every run's predicted seconds (the cost model's prediction for that engine; for the planner, what it
predicted for the engine it chose) is stored next to the actual time. ``--report`` turns the raw results
(JSON lines) into ``benchmarks/results/planner_matrix.md``: for the model alone and with history, the share
of choices within 10% of the best engine, geometric-mean regret (planner time / best engine time, planning
included), the worst case, and prediction errors.

Run (the heavy engines need the shared lock)::

    flock /tmp/unistack-heavy.lock .venv/bin/python benchmarks/planner_matrix.py --sf 0.01
    flock /tmp/unistack-heavy.lock .venv/bin/python benchmarks/planner_matrix.py --sf 0.1
    flock /tmp/unistack-heavy.lock .venv/bin/python benchmarks/planner_matrix.py --sf 1
    flock /tmp/unistack-heavy.lock .venv/bin/python benchmarks/planner_matrix.py --sf 10 --confined 3 \
        --engines polars,duckdb,dask
    .venv/bin/python benchmarks/planner_matrix.py --report
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import unistack as us
from unistack.planner.cost import udf_cost

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
RAW = os.path.join(RESULTS, "planner_matrix.jsonl")
REPORT = os.path.join(RESULTS, "planner_matrix.md")
HEAVY = ("dask", "spark", "ray", "flink")
RUN_TIMEOUT_NOTE = "over budget"


# -- user functions ----------------------------------------------------------------------------------------
def heavy_python(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A CPU-heavy pure-Python function (a small hash loop per row): the case process engines parallelise."""
    out = []
    for s in batch.column(0).to_pylist():
        h = 0
        for _ in range(1):
            for ch in s or "":
                h = (h * 31 + ord(ch)) & 0xFFFFFFFF
        out.append(h)
    return pa.record_batch({"h": pa.array(out, pa.int64())})


def _measure_per_row() -> float:
    sample = pa.record_batch({"c": pa.array(["a quick brown fox jumps over the lazy dog"] * 5000)})
    heavy_python(sample)
    t0 = time.perf_counter()
    heavy_python(sample)
    return (time.perf_counter() - t0) / sample.num_rows


def heavy_python_declared(batch: pa.RecordBatch) -> pa.RecordBatch:
    return heavy_python(batch)


def vectorised(batch: pa.RecordBatch) -> pa.RecordBatch:
    price, disc = batch.column(0), batch.column(1)
    return pa.record_batch({"rev": pc.multiply(pc.cast(price, pa.float64()),
                                               pc.subtract(1.0, pc.cast(disc, pa.float64())))})


# -- pipelines ---------------------------------------------------------------------------------------------
def pipelines(sf: str, tmp: str) -> dict[str, tuple[str, Callable[[], us.LazyFrame]]]:
    """name -> (kind, builder); kind is "cold" (run first, as an engine's first job) or "warm"."""
    from unistack.bench.tpch.data import ensure_data

    d = ensure_data(float(sf))  # the TPC-H Parquet files of `unistack bench tpch` (generated once)

    def t(name: str) -> us.LazyFrame:
        return us.read_parquet(os.path.join(d, f"{name}.parquet"))

    def orders_csv() -> str:
        """orders as CSV (written once per size, on first use)."""
        path = os.path.join(tmp, f"orders_sf{sf}.csv")
        if not os.path.exists(path):
            import pyarrow.csv as pacsv

            tbl = pq.read_table(os.path.join(d, "orders.parquet"), columns=["o_orderkey", "o_custkey",
                                                                            "o_orderstatus", "o_totalprice",
                                                                            "o_orderpriority"])
            tbl = tbl.set_column(3, "o_totalprice", pc.cast(tbl.column("o_totalprice"), pa.float64()))
            tbl = pa.table({n: (pc.cast(col, pa.string()) if pa.types.is_string_view(col.type) else col)
                            for n, col in zip(tbl.column_names, tbl.columns)})
            pacsv.write_csv(tbl, path + ".tmp")
            os.replace(path + ".tmp", path)
        return path

    loaded: dict[str, pa.Table] = {}

    def orders_mem() -> pa.Table:
        """Three orders columns in memory (read once per process, on first use)."""
        if "orders" not in loaded:
            loaded["orders"] = pq.read_table(os.path.join(d, "orders.parquet"),
                                             columns=["o_orderstatus", "o_totalprice", "o_orderdate"])
        return loaded["orders"]

    declared = udf_cost(_measure_per_row())(heavy_python_declared)
    li, o, c, p = (lambda: t("lineitem")), (lambda: t("orders")), (lambda: t("customer")), (lambda: t("part"))
    d0 = dt.date(1994, 1, 1)

    def q1() -> us.LazyFrame:
        return (li().filter(us.col("l_shipdate") <= dt.date(1998, 9, 2))
                .group_by("l_returnflag", "l_linestatus")
                .agg(us.col("l_quantity").sum().alias("sum_qty"),
                     (us.col("l_extendedprice") * (1 - us.col("l_discount"))).sum().alias("sum_disc_price"),
                     us.col("l_discount").mean().alias("avg_disc"), us.count().alias("count_order"))
                .sort("l_returnflag", "l_linestatus"))

    def q3() -> us.LazyFrame:
        cust = c().filter(us.col("c_mktsegment") == "BUILDING").select("c_custkey")
        ords = o().filter(us.col("o_orderdate") < dt.date(1995, 3, 15))
        lines = li().filter(us.col("l_shipdate") > dt.date(1995, 3, 15))
        return (cust.join(ords, left_on="c_custkey", right_on="o_custkey")
                .join(lines, left_on="o_orderkey", right_on="l_orderkey")
                .group_by("o_orderkey", "o_orderdate", "o_shippriority")
                .agg((us.col("l_extendedprice") * (1 - us.col("l_discount"))).sum().alias("revenue"))
                .sort(["revenue", "o_orderdate"], descending=[True, False]).limit(10))

    def q6() -> us.LazyFrame:
        return (li().filter((us.col("l_shipdate") >= d0) & (us.col("l_shipdate") < dt.date(1995, 1, 1))
                            & (us.col("l_discount") >= 0.05) & (us.col("l_discount") <= 0.07)
                            & (us.col("l_quantity") < 24))
                .select((us.col("l_extendedprice") * us.col("l_discount")).sum().alias("revenue")))

    kept: dict[str, us.LazyFrame] = {}

    def persisted(name: str, engine: str, build: Callable[[], us.LazyFrame]) -> Callable[[], us.LazyFrame]:
        """A frame persisted in ``engine`` on first use (the data then stays in that engine's session)."""

        def get() -> us.LazyFrame:
            if name not in kept:
                kept[name] = build().persist(engine=engine)
            return kept[name]

        return get

    li_spark = persisted("lineitem@spark", "spark", lambda: li().select(
        "l_returnflag", "l_linestatus", "l_quantity", "l_extendedprice", "l_discount", "l_shipdate"))
    o_dask = persisted("orders@dask", "dask", lambda: o().select(
        "o_orderkey", "o_orderstatus", "o_totalprice", "o_orderpriority"))
    li_duckdb = persisted("lineitem@duckdb", "duckdb", lambda: li().select(
        "l_orderkey", "l_quantity", "l_extendedprice", "l_shipmode"))

    def q1_over(frame: us.LazyFrame) -> us.LazyFrame:
        return (frame.filter(us.col("l_shipdate") <= dt.date(1998, 9, 2))
                .group_by("l_returnflag", "l_linestatus")
                .agg(us.col("l_quantity").sum().alias("sum_qty"),
                     (us.col("l_extendedprice") * (1 - us.col("l_discount"))).sum().alias("sum_disc_price"),
                     us.count().alias("count_order")))

    return {
        # data already in an engine's session (LazyFrame.persist): another engine must have it exported first
        "resident_spark_q1": ("resident", lambda: q1_over(li_spark())),
        "resident_dask_orders": ("resident", lambda: o_dask().filter(us.col("o_orderstatus") == "F")
                                 .group_by("o_orderpriority").agg(us.col("o_totalprice").sum())),
        "resident_duckdb_join": ("resident", lambda: li_duckdb().join(o(), left_on="l_orderkey",
                                                                      right_on="o_orderkey")
                                 .group_by("o_orderpriority").agg(us.col("l_quantity").sum())),
        # data larger than the memory of the process (run with --confined GiB, in a memory-limited cgroup)
        "confined_q1": ("confined", lambda: q1_over(li())),
        "confined_join_agg": ("confined", lambda: li().join(o(), left_on="l_orderkey", right_on="o_orderkey")
                              .group_by("o_orderpriority").agg(us.count().alias("n"))),
        "cold_groupby_small": ("cold", lambda: t("nation").group_by("n_regionkey").agg(us.count().alias("n"))),
        "count_rows": ("warm", lambda: li().select(us.count().alias("n"))),
        "tpch_q1": ("warm", q1),
        "tpch_q3": ("warm", q3),
        "tpch_q6": ("warm", q6),
        "filter_select": ("warm", lambda: li().filter(us.col("l_quantity") < 3)
                          .select("l_orderkey", "l_partkey", "l_extendedprice", "l_shipdate")),
        "groupby_high_card": ("warm", lambda: li().group_by("l_orderkey").agg(us.col("l_quantity").sum())),
        "join_agg": ("warm", lambda: li().join(o(), left_on="l_orderkey", right_on="o_orderkey")
                     .group_by("o_orderpriority").agg(us.count().alias("n"))),
        "join_three": ("warm", lambda: li().join(o(), left_on="l_orderkey", right_on="o_orderkey")
                       .join(c(), left_on="o_custkey", right_on="c_custkey").group_by("c_nationkey")
                       .agg((us.col("l_extendedprice") * (1 - us.col("l_discount"))).sum().alias("rev"))),
        "sort_full": ("warm", lambda: o().select("o_orderkey", "o_totalprice").sort("o_totalprice")),
        "top_k": ("warm", lambda: li().select("l_orderkey", "l_extendedprice")
                  .sort("l_extendedprice", descending=True).limit(10)),
        "distinct_pairs": ("warm", lambda: li().select("l_partkey", "l_suppkey").distinct()),
        "window_rank": ("warm", lambda: o().select("o_custkey", "o_orderkey", "o_totalprice")
                        .with_columns(us.row_number().over("o_custkey", order_by="o_totalprice").alias("rn"))
                        .filter(us.col("rn") == 1)),
        "strings": ("warm", lambda: p().filter(us.col("p_type").str.starts_with("PROMO"))
                    .group_by("p_brand").agg(us.count().alias("n"), us.col("p_name").str.len().mean())),
        "semi_join": ("warm", lambda: o().join(c().filter(us.col("c_mktsegment") == "BUILDING"),
                                               left_on="o_custkey", right_on="c_custkey", how="semi")
                      .select(us.count().alias("n"))),
        "union_agg": ("warm", lambda: us.concat([li().filter(us.col("l_shipmode") == "AIR"),
                                                 li().filter(us.col("l_shipmode") == "MAIL")])
                      .group_by("l_shipmode").agg(us.col("l_quantity").sum())),
        "in_memory_arrow": ("warm", lambda: us.from_arrow(orders_mem()).group_by("o_orderstatus")
                            .agg(us.col("o_totalprice").sum())),
        "csv_scan": ("warm", lambda: us.read_csv(orders_csv()).group_by("o_orderpriority")
                     .agg(us.col("o_totalprice").sum())),
        "udf_vectorised": ("warm", lambda: li().select("l_extendedprice", "l_discount")
                           .map_batches(vectorised, {"rev": "float64"}).select(us.col("rev").sum())),
        "udf_python_learned": ("warm", lambda: o().select("o_comment")
                               .map_batches(heavy_python, {"h": "int64"}).select(us.col("h").sum())),
        "udf_python_declared": ("warm", lambda: o().select("o_comment")
                                .map_batches(declared, {"h": "int64"}).select(us.col("h").sum())),
        "large_result": ("warm", lambda: li().select("l_orderkey", "l_partkey", "l_quantity", "l_extendedprice",
                                                     "l_shipdate", "l_comment")),
    }


# -- running -----------------------------------------------------------------------------------------------
def _predicted(frame: us.LazyFrame, engine: str | None) -> tuple[str, float | None, float]:
    """The cost model's own prediction (no history correction) for ``engine`` (or its choice)."""
    from unistack.planner.choose import choose
    from unistack.planner.optimize import optimize

    t0 = time.perf_counter()
    with us.config(history_correction=False):
        choice = choose(optimize(frame.plan), engine, compare=True)  # a forced engine is predicted too
    return choice.engine, choice.predicted, time.perf_counter() - t0


def timed(build: Callable[[], us.LazyFrame], engine: str | None) -> dict[str, Any]:
    """One run: predicted (for the engine that runs it), actual seconds (planning included), engine used."""
    from unistack.execution import last_run

    frame = build()
    chosen, predicted, _ = _predicted(frame, engine)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = frame.collect(engine=engine)
    seconds = time.perf_counter() - t0
    from unistack.planner.history import flush

    flush()  # the history thread's work for this run (off the query's path) must not land in the next timing
    run = last_run()
    # a forced run's own record has no prediction (it is made after the run): use the model's, made here
    out = {"seconds": seconds, "predicted": predicted if engine else run.get("predicted"),
           "model_predicted": predicted, "engine": run.get("engine", chosen), "planning": run.get("planning"),
           "reason": run.get("reason"), "rows": table.num_rows}
    return out


SHORT_RUN_SECONDS = 0.3  # a runner's timed rounds of a run under 20 ms take about this long in all


def _repeats(first: float, repeats: int) -> int:
    """More repeats for short runs (their noise is relatively larger), one for long ones. A millisecond run
    gets enough repeats to fill about :data:`SHORT_RUN_SECONDS` (at most 60): the median of 15 runs of a
    1 ms query still moves by several percent from one pass to the next on this shared machine.

    Examples
    --------
    >>> _repeats(0.001, 3), _repeats(0.015, 3), _repeats(0.05, 3), _repeats(2.0, 3), _repeats(5.0, 3)
    (60, 20, 5, 3, 1)
    """
    if first < 0.02:
        return max(repeats * 5, min(60, int(SHORT_RUN_SECONDS / max(first, 1e-4))))
    if first < 0.1:
        return repeats + 2
    return repeats if first < 5.0 else 1


REPEAT_CAP_SECONDS = 3.0


def balanced_orders(n: int) -> list[list[int]]:
    """Orders of ``n`` runners in which each runner directly follows each other one equally often (a
    Williams design: ``n`` orders for even ``n``, ``2n`` for odd ``n``).

    Examples
    --------
    >>> balanced_orders(4)
    [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]
    >>> balanced_orders(2)
    [[0, 1], [1, 0]]
    """
    if n <= 1:
        return [list(range(n))]
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(x + k) % n for x in first] for k in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


def _group_repeats(first: dict[str, float], repeats: int) -> dict[str, int]:
    """Timed runs per runner of a group taking turns: as many as the fastest runner's first run calls for
    (the runners compared get medians of equally many runs), except where a slower runner would then take
    more than :data:`REPEAT_CAP_SECONDS` (it keeps at least its own count).

    Examples
    --------
    >>> _group_repeats({"polars": 0.010, "duckdb": 0.012, "planner": 0.250}, 3)
    {'polars': 30, 'duckdb': 30, 'planner': 12}
    """
    if not first:
        return {}
    wanted = _repeats(min(first.values()), repeats)
    return {r: max(_repeats(s, repeats), min(wanted, int(REPEAT_CAP_SECONDS / max(s, 1e-4))))
            for r, s in first.items()}


def _busy_share(seconds: float = 0.2) -> float:
    """The share of the machine's CPU time spent working over the next ``seconds`` (Linux /proc/stat)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            values = [int(x) for x in fh.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def _settle(limit: float = 3.0, busy: float = 0.25) -> None:
    """Wait (up to ``limit`` seconds) until the machine is mostly idle: other processes' work (Spark's JVM
    collecting garbage and cleaning up after a job) must not land on the next runner's timings."""
    deadline = time.monotonic() + limit
    with contextlib.suppress(OSError, ValueError, IndexError):
        while time.monotonic() < deadline and _busy_share() > busy:
            pass


def _private_cache(sf: str) -> str:
    """A fresh cache directory for one size's history, observed plan times and learned function costs; the
    engines' capabilities and the profiles come from the user cache (so planning is not slowed by a first
    look at the engines, and uses this machine's profile if it has one)."""
    from unistack.config import cache_dir

    user = cache_dir()
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "unistack-matrix", f"cache-sf{sf}-{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    for shared in ("capabilities", "profiles"):
        os.makedirs(os.path.join(user, shared), exist_ok=True)
        os.symlink(os.path.join(user, shared), os.path.join(path, shared))
    return path


def _process_warmup(pipes: dict[str, tuple[str, Callable[[], us.LazyFrame]]]) -> None:
    """Process-level warm-up that any program pays once (Polars' first query, reading the footers and
    statistics of every input): not attributed to the first timed run."""
    us.from_dict({"a": [1, 2]}).group_by("a").agg(us.count()).collect(engine="polars")
    for build in (v[1] for v in pipes.values() if v[0] in ("cold", "warm")):
        us.explain(build(), engine="polars", native=False)


def cold_child(sf: str, runner: str, engines: list[str], cache: str) -> int:
    """In a fresh process: the cold pipeline, once, on ``runner`` (an engine, or "planner"); prints JSON."""
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "unistack-matrix")
    pipes = pipelines(sf, tmp)
    with us.config(cache_dir=cache, engines=",".join(engines)):
        _process_warmup(pipes)
        out = {}
        for name in (k for k, v in pipes.items() if v[0] == "cold"):
            try:
                out[name] = timed(pipes[name][1], None if runner == "planner" else runner)
            except Exception as e:
                out[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
        from unistack.planner.history import flush

        flush()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def _memory_cgroup(gib: float) -> str | None:
    """A new memory cgroup limited to ``gib`` GiB (cgroup v1, or v2 where it is mounted; needs root), or
    ``None`` where none can be made."""
    name = f"unistack-matrix-{os.getpid()}"
    candidates = [("/sys/fs/cgroup/memory", "memory.limit_in_bytes")]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # a cgroup v2 mount, not a tmpfs of v1 ones
        candidates.append(("/sys/fs/cgroup", "memory.max"))
    for base, limit_file in candidates:
        if not os.path.isdir(base):
            continue
        path = os.path.join(base, name)
        try:
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, limit_file), "w") as fh:
                fh.write(str(int(gib * (1 << 30))))
            return path
        except OSError:
            continue
    return None


def confined_child(sf: str, runner: str, engines: list[str], cache: str, name: str) -> int:
    """In a fresh process inside the memory cgroup: start the sessions the runner may use (an untimed tiny
    job), then run pipeline ``name`` once on ``runner`` (an engine, "planner_model" or "planner")."""
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "unistack-matrix")
    pipes = pipelines(sf, tmp)
    planner = runner in ("planner_model", "planner")
    with us.config(cache_dir=cache, engines=",".join(engines)):
        for engine in engines if planner else [runner]:
            us.from_dict({"a": [1]}).group_by("a").agg(us.count()).collect(engine=engine)
        with us.config(history_correction=runner != "planner_model"):
            try:
                out = timed(pipes[name][1], None if planner else runner)
            except Exception as e:
                out = {"error": f"{type(e).__name__}: {e}"[:300]}
        from unistack.planner.history import flush

        flush()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def run_confined(sf: str, engines: list[str], gib: float, only: set[str] | None) -> None:
    """The pipelines whose data is larger than the memory of the process: every runner in a fresh process
    confined to ``gib`` GiB by a memory cgroup; a run the kernel kills for memory is reported as such."""
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "unistack-matrix")
    os.makedirs(tmp, exist_ok=True)
    pipes = {k: v for k, v in pipelines(sf, tmp).items() if v[0] == "confined" and (not only or k in only)}
    group = _memory_cgroup(gib)
    if group is None:
        print("no memory cgroup can be made here (needs root and a cgroup mount): confined runs skipped")
        return
    cache = _private_cache(sf)
    from unistack.bench.tpch.data import ensure_data

    for f in sorted(os.listdir(ensure_data(float(sf)))):  # into the page cache, charged to this process
        with open(os.path.join(ensure_data(float(sf)), f), "rb") as fh:
            while fh.read(1 << 24):
                pass

    def join_group() -> None:
        with open(os.path.join(group, "cgroup.procs"), "w") as fh:
            fh.write(str(os.getpid()))

    try:
        for name in pipes:
            for runner in [*engines, "planner_model", "planner"]:
                cmd = [sys.executable, os.path.abspath(__file__), "--sf", sf, "--engines", ",".join(engines),
                       "--confined-child", runner, "--cache", cache, "--only", name]
                rec: dict[str, Any]
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, preexec_fn=join_group)
                    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                    if lines:
                        rec = json.loads(lines[-1][len("RESULT "):])
                    elif proc.returncode == -9:
                        rec = {"error": f"killed: out of memory (the {gib:g} GiB limit)"}
                    else:
                        rec = {"error": f"child failed ({proc.returncode}): {proc.stderr.strip()[-300:]}"}
                except subprocess.TimeoutExpired:
                    rec = {"error": "timed out after 1800 s"}
                rec.update(pipeline=name, runner=runner, state=f"confined {gib:g} GiB", sf=sf, time=time.time(),
                           load=os.getloadavg()[0])
                with open(RAW, "a") as raw:
                    raw.write(json.dumps(rec) + "\n")
                print(json.dumps({k: v for k, v in rec.items() if k not in ("time", "reason")}), flush=True)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(group)


def _run_cold(sf: str, runner: str, engines: list[str], cache: str) -> dict[str, dict[str, Any]]:
    cmd = [sys.executable, os.path.abspath(__file__), "--sf", sf, "--engines", ",".join(engines),
           "--cold-child", runner, "--cache", cache]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT "):]))
    return {"?": {"error": f"child failed ({proc.returncode}): {proc.stderr.strip()[-300:]}"}}


COLD_REPEATS = 5  # fresh processes per runner when its cold runs take under a second (else one)


def _cold_runs(sf: str, runners: list[str], engines: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """The cold pipelines on every runner, each run its process's first job: once for runners whose cold runs
    take a second or more, else in :data:`COLD_REPEATS` fresh processes (the median; a single millisecond run
    in a fresh process varies by 10-30%). The runners take turns, the order rotating every round, and every
    process gets a cache directory of its own (the planner plans with an empty history every time)."""
    results: dict[str, list[dict[str, dict[str, Any]]]] = {r: [] for r in runners}
    active = list(runners)
    for i in range(COLD_REPEATS):
        shift = i % max(len(active), 1)
        for runner in active[shift:] + active[:shift]:
            own = _private_cache(f"{sf}-cold-{runner}")
            try:
                results[runner].append(_run_cold(sf, runner, engines, own))
            finally:
                shutil.rmtree(own, ignore_errors=True)
        active = [r for r in active if all(x.get("seconds", math.inf) < 1.0 for x in results[r][0].values())]
        if not active:
            break
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for runner, runs_of in results.items():
        out[runner] = {}
        for name, first in runs_of[0].items():
            runs = [r[name]["seconds"] for r in runs_of if "seconds" in r.get(name, {})]
            out[runner][name] = {**first, "seconds": statistics.median(runs), "runs": runs} if "seconds" in first \
                else first
    return out


def run_size(sf: str, engines: list[str], repeats: int, budget: float, only: set[str] | None) -> None:
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "unistack-matrix")
    os.makedirs(tmp, exist_ok=True)
    pipes = pipelines(sf, tmp)
    if only:
        pipes = {k: v for k, v in pipes.items() if k in only or v[0] == "cold"}
    os.makedirs(RESULTS, exist_ok=True)
    cache = _private_cache(sf)

    def emit(rec: dict[str, Any]) -> None:
        rec.update(sf=sf, time=time.time(), load=os.getloadavg()[0])
        with open(RAW, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.items()
                 if k not in ("time", "reason")}
        print(json.dumps(shown), flush=True)

    cold = [k for k, v in pipes.items() if v[0] == "cold"]
    # a resident pipeline (resident_<engine>_...) needs the engine holding its data
    warm = [k for k, v in pipes.items() if v[0] == "warm" or (v[0] == "resident" and k.split("_")[1] in engines)]
    # 1. The cold pipeline: every runner's first job in its own fresh processes (the planner's with an empty
    #    history, so the model alone decides: recorded for both planner runners).
    for runner, by_name in _cold_runs(sf, ["planner", *engines], engines).items():
        for name, r in by_name.items():
            runners = ["planner_model", "planner"] if runner == "planner" else [runner]
            for who in runners:
                emit({"pipeline": name, "runner": who, "state": "cold", **r})
    with us.config(cache_dir=cache, engines=",".join(engines)):
        _process_warmup(pipes)
        # 2. Every engine's session is started by an untimed first job.
        for engine in engines:
            for name in cold:
                with contextlib.suppress(Exception):  # the warm runs below report the engine's errors
                    timed(pipes[name][1], engine)
        # 3. Per warm pipeline, every runner in turn: each engine forced, then the planner with the model alone
        #    (history correction off), then the planner with history. A first round warms up (compiles,
        #    caches); the timed rounds interleave the runners, so a change of the machine's load hits them
        #    alike. The with-history planner has seen every earlier run of the pipeline (its first round
        #    included), as it would in use.
        # Data kept in an engine's session for the resident pipelines (untimed, like a user's earlier work).
        for name in warm:
            if pipes[name][0] == "resident":
                pipes[name][1]()
        runners = [*engines, "planner_model", "planner"]
        spent = dict.fromkeys(engines, 0.0)

        def run(runner: str, name: str) -> dict[str, Any]:
            if runner in ("planner_model", "planner"):
                with us.config(history_correction=runner == "planner"):
                    return timed(pipes[name][1], None)
            r = timed(pipes[name][1], runner)
            spent[runner] += r["seconds"]
            return r

        def _rounds(name: str, group: list[str]) -> None:
            active = []
            for r in group:
                if r in spent and spent[r] > budget:
                    emit({"pipeline": name, "runner": r, "state": "warm", "error": RUN_TIMEOUT_NOTE,
                          "spent": spent[r]})
                else:
                    active.append(r)
            first: dict[str, dict[str, Any]] = {}

            def failed(r: str, e: Exception, name: str = name, active: list[str] = active) -> None:
                emit({"pipeline": name, "runner": r, "state": "warm", "error": f"{type(e).__name__}: {str(e)[:300]}"})
                active.remove(r)

            for r in list(active):
                try:
                    first[r] = run(r, name)
                except Exception as e:
                    failed(r, e)
            reps = _group_repeats({r: first[r]["seconds"] for r in active}, repeats)
            times: dict[str, list[float]] = {r: [] for r in active}
            last = dict(first)
            orders = balanced_orders(len(active))
            reps = {r: -(-n // len(orders)) * len(orders) for r, n in reps.items()}  # whole sets of orders
            for i in range(max(reps.values(), default=0)):
                # Every runner follows every other one equally often (an engine's run leaves the CPU caches and
                # thread pools to whatever runs next: Polars after Polars is faster than after DuckDB). A
                # rotation of one order would not do: it keeps who follows whom.
                for r in [active[j] for j in orders[i % len(orders)] if j < len(active)]:
                    if i < reps[r]:
                        try:
                            last[r] = run(r, name)
                        except Exception as e:
                            failed(r, e)
                            continue
                        times[r].append(last[r]["seconds"])
            for r in active:
                emit({"pipeline": name, "runner": r, "state": "warm", **last[r],
                      "seconds": statistics.median(times[r]), "runs": times[r], "first": first[r]["seconds"]})

        # Engines that run outside this process (Dask's scheduler, Spark's JVM) leave work behind them (garbage
        # collection, threads winding down) that slows whatever runs next: they take their turns first, apart,
        # and the in-process runners (Polars, DuckDB and both planners) then take turns among themselves after
        # an untimed warm-up round.
        heavy = [r for r in runners if r in HEAVY]
        light = [r for r in runners if r not in HEAVY]
        for name in warm:
            _rounds(name, heavy)
            if heavy:
                _settle()  # the JVM and Dask's workers wind down after their runs: not on the light runners' time
            _rounds(name, light)
        from unistack.planner.history import flush

        flush()


# -- report ------------------------------------------------------------------------------------------------
PLANNERS = (("planner_model", "model alone"), ("planner", "with history"))
LONGER = 0.005  # seconds: the report also summarises the cases whose best engine takes at least this long


def _err_stats(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    abs_log = [abs(math.log(x)) for x in xs]
    within2 = sum(1 for x in xs if 0.5 <= x <= 2.0) / len(xs)
    return (f"median |log(pred/actual)| = {statistics.median(abs_log):.2f} (a factor of "
            f"{math.exp(statistics.median(abs_log)):.2f}), within 2x: {within2:.0%}, "
            f"geometric mean pred/actual = {math.exp(sum(math.log(x) for x in xs) / len(xs)):.2f} (n={len(xs)})")


def report(raw: str = RAW, out: str = REPORT) -> str:
    with open(raw) as fh:
        recs = [json.loads(line) for line in fh if line.strip()]
    # Latest record per (sf, pipeline, runner, state).
    latest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r in recs:
        latest[(r["sf"], r["pipeline"], r["runner"], r["state"])] = r
    known = ("polars", "duckdb", "dask", "spark", "ray", "flink")
    cases = sorted({(k[0], k[1], k[3]) for k in latest if k[2] == "planner"}, key=lambda x: (float(x[0]), x[1]))
    engines = sorted({k[2] for k in latest if k[2] not in dict(PLANNERS)},
                     key=lambda e: known.index(e) if e in known else 99)
    rows: list[str] = []
    regrets: dict[str, list[tuple[float, str]]] = {p: [] for p, _ in PLANNERS}
    # the chosen engine's own forced time / the best engine's: the choice, apart from the planner run's noise
    choice_ratios: dict[str, list[float]] = {p: [] for p, _ in PLANNERS}
    best_times: dict[str, list[float]] = {p: [] for p, _ in PLANNERS}  # the best engine's time, per regret
    pred_err: list[float] = []
    pred_chosen: dict[str, list[float]] = {p: [] for p, _ in PLANNERS}
    missing = 0
    for sf, pipe, state in cases:
        times = {}
        for e in engines:
            r = latest.get((sf, pipe, e, state))
            if r is None or "error" in r:
                continue
            times[e] = r["seconds"]
            if r.get("predicted"):
                pred_err.append(r["predicted"] / r["seconds"])
        if not times:
            missing += 1
            continue
        best = min(times, key=lambda e: times[e])
        cells = []
        for e in engines:
            r = latest.get((sf, pipe, e, state))
            if r is None:
                cells.append("")
            elif "error" in r:
                cells.append("over budget" if r["error"] == RUN_TIMEOUT_NOTE
                             else "killed (memory)" if r["error"].startswith("killed: out of memory") else "error")
            else:
                cells.append(f"{r['seconds']:.3f}" + (" ◆" if e == best else ""))
        for runner, _ in PLANNERS:
            plan = latest.get((sf, pipe, runner, state))
            if plan is None or "error" in plan:
                cells += ["", "", ""]
                continue
            regret = plan["seconds"] / times[best]
            regrets[runner].append((regret, f"{pipe} @ sf{sf}"))
            best_times[runner].append(times[best])
            if plan["engine"] in times:
                choice_ratios[runner].append(times[plan["engine"]] / times[best])
            if plan.get("predicted"):
                pred_chosen[runner].append(plan["predicted"] / plan["seconds"])
            cells += [plan["engine"], f"{plan['seconds']:.3f}", f"{regret:.2f}"]
        rows.append(f"| {sf} | {pipe} | {state} | " + " | ".join(cells) + " |")

    def summary(runner: str, label: str) -> list[str]:
        xs = regrets[runner]
        if not xs:
            return [f"- {label}: no cases"]
        n = len(xs)
        within = sum(1 for x, _ in xs if x <= 1.10)
        gm = math.exp(sum(math.log(x) for x, _ in xs) / n)
        worst = max(xs)
        cr = choice_ratios[runner]
        cw = sum(1 for x in cr if x <= 1.10)
        cgm = math.exp(sum(math.log(x) for x in cr) / len(cr)) if cr else float("nan")
        longer = [x for (x, _), b in zip(xs, best_times[runner]) if b >= LONGER]
        lw = sum(1 for x in longer if x <= 1.10)
        lgm = math.exp(sum(math.log(x) for x in longer) / len(longer)) if longer else float("nan")
        return [f"**{label}** ({n} cases)", "",
                f"- choices within 10% of the best engine: {within}/{n} = {within / n:.0%}",
                f"- of the cases whose best engine takes {LONGER * 1000:.0f} ms or more (where neither the "
                f"planner's fixed cost of about 0.1 ms nor millisecond timing noise decides): {lw}/{len(longer)} = "
                f"{lw / max(len(longer), 1):.0%} within 10%, geometric-mean regret {lgm:.3f}",
                f"- judged by the chosen engine's own forced runs instead of the planner's runs (the choice "
                f"alone, without planning time and without the planner runs' own noise): {cw}/{len(cr)} = "
                f"{cw / max(len(cr), 1):.0%} within 10%, geometric mean {cgm:.3f}",
                f"- geometric-mean regret: {gm:.3f}",
                f"- worst case: {worst[0]:.2f} ({worst[1]})",
                f"- prediction error of the engine it chose: {_err_stats(pred_chosen[runner])}", ""]

    sizes = sorted({c[0] for c in cases}, key=float)
    loads = {sf: [r["load"] for k, r in latest.items() if k[0] == sf and "load" in r] for sf in sizes}
    load_text = "; ".join(f"SF {sf}: median {statistics.median(v):.1f} (max {max(v):.1f})"
                          for sf, v in loads.items() if v)
    lines = [
        "# Planner workload matrix",
        "",
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by `benchmarks/planner_matrix.py` "
        f"on a {os.cpu_count()}-core machine: {len(cases)} cases ({len({c[1] for c in cases})} pipelines over "
        f"TPC-H SF {', '.join(sizes)}; the confined ones only at the largest size)"
        + (f", {missing} without a measurement left out" if missing else "")
        + ". Times in seconds (median of warm repeats; planner times include planning). ◆ marks the best "
        "engine; regret = planner time / best engine time.",
        "",
        "## Summary",
        "",
        *summary("planner_model", "Cost model alone (history correction off)"),
        *summary("planner", "With history-based correction"),
        f"Prediction error of the cost model, every forced engine run: {_err_stats(pred_err)}",
        "",
        f"Machine load (1-minute load average of the 2 cores, sampled at each record): {load_text or 'n/a'}.",
        "",
        "## How to read this",
        "",
        "- *Model alone* is `collect()` with the `history_correction` option off: the engine is chosen from the "
        "cost model's predictions. *With history* is `collect()` with it on (the default): where the same "
        "optimized plan over the same input files (same sizes and modification times) ran before on an "
        "engine in the same warm/cold state, the median of its last observed runs replaces the model's "
        "prediction for that engine. In this matrix, per pipeline, Dask and Spark run first (a warm-up run, "
        "then timed runs; they leave work behind them that would slow the next runner), then, once the "
        "machine is idle again (at most 3 s later), Polars, DuckDB, "
        "the planner with the model alone and the planner with history take turns (a warm-up round, then "
        "timed rounds in orders where every runner directly follows every other one equally often; 3 timed "
        "runs per runner (one over 5 s, 5 under 0.1 s, and under 20 ms as many as fill about 0.3 s, at most "
        "60), as many as the group's fastest runner calls for, rounded up to whole sets of orders: 4 for the "
        "four in-process runners, 2 for Dask and Spark); so "
        "before its first timed run the with-history planner has observed the plan at "
        "least once on every engine, and more in every later round. Its figures therefore show "
        "the choice *learned* from those runs (and the cost of looking them up), not a prediction for an "
        "unseen plan: a plan never seen before gets the model-alone choice.",
        "- Each size runs in one process with a private history (no runs of other sizes or earlier passes "
        "are known to it). The `cold` row is every runner's first job in its own fresh process (the "
        "median of 5 such processes when the run takes under a second; the planner's there had no history, "
        "so both planner columns show the same runs).",
        "- `resident_<engine>_...` pipelines read data persisted in that engine's session beforehand "
        "(`LazyFrame.persist`): the engine holding it reads it in place, every other engine (and a planner "
        "that picks one) gets it exported as Arrow first, inside the timed run. Rows with the state `confined "
        "N GiB` read more data than the memory of their process: each runner ran in a fresh process inside a "
        "memory cgroup of N GiB, after an untimed tiny job that started its sessions; `killed (memory)` marks "
        "a run the kernel killed for memory.",
        "- Engines' warm runs and the planner's runs are from the same process per size, the engines' sessions "
        "started. `over budget`: the engine had used its time budget for that size (ray and flink, 4-40 s "
        "per job here, are never the best).",
        "- The raw runs are in `planner_matrix.jsonl` (every pass, appended); the table keeps the latest "
        "record per (size, pipeline, runner). Later passes re-ran polars, duckdb, dask and spark only (the "
        "planner's candidates were then those four); ray and flink columns come from the first pass.",
        "- The 2-core machine is shared with other jobs (the load line above), so timings, especially the "
        "millisecond ones, are noisy: with a load far above 2, the planner's runs of the engine a forced run "
        "also measured often differ from it by 20-100% (see the rows where the planner chose the best engine "
        "yet shows a regret above 1.1). The second line of each summary therefore also judges the choice by "
        "the chosen engine's own forced runs. For the with-history planner that figure is partly circular "
        "(it learned from those runs); for the model alone it is not.",
        "",
        "## Runs",
        "",
        "| sf | pipeline | state | " + " | ".join(engines)
        + " | model chose | model | regret | history chose | history | regret |",
        "|---|---|---|" + "---|" * len(engines) + "---|---|---|---|---|---|",
        *rows,
        "",
    ]
    text = "\n".join(lines)
    with open(out, "w") as fh:
        fh.write(text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf", help="TPC-H scale factor (0.01, 0.1, 1); data generated by tpchgen-cli on first use")
    ap.add_argument("--engines", default="polars,duckdb,dask,spark,ray,flink")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=float, default=300.0, help="seconds per engine and size before skipping")
    ap.add_argument("--only", default="", help="comma-separated pipelines (default: all)")
    ap.add_argument("--report", action="store_true", help="write the markdown report from the raw results")
    ap.add_argument("--confined", type=float, default=None,
                    help="run the confined pipelines (data larger than memory), each runner in a fresh process "
                         "limited to this many GiB by a memory cgroup (needs root)")
    ap.add_argument("--cold-child", help=argparse.SUPPRESS)  # internal: one cold run in a fresh process
    ap.add_argument("--confined-child", help=argparse.SUPPRESS)  # internal: one confined run
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.report:
        print(report())
        return 0
    if not args.sf:
        ap.error("--sf or --report is required")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.cold_child:
        return cold_child(args.sf, args.cold_child, engines, args.cache)
    only = {x.strip() for x in args.only.split(",") if x.strip()} or None
    if args.confined_child:
        return confined_child(args.sf, args.confined_child, engines, args.cache, next(iter(only or ())))
    if args.confined is not None:
        run_confined(args.sf, engines, args.confined, only)
        return 0
    run_size(args.sf, engines, args.repeats, args.budget, only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
