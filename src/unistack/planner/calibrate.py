"""``unistack calibrate``: measure this machine's engines and fit the cost model.

Micro-benchmarks run on each available engine: operator classes (scan, filter/project, group-by with few
and many groups, join, sort, distinct, window, Python batch function, large result, CSV scan, in-memory
input) at sizes from 1e3 to 1e7 rows, warm, plus cold starts measured in fresh processes. Every run is a
row of features (what the cost model sees for that plan on that engine) and a measured time; the
coefficients are fitted per engine by non-negative least squares on the raw runs, weighted so that
relative errors count (a 10 ms job matters as much as a 10 s one). The profile is stored, keyed by
machine, in the user cache directory; the raw runs are kept next to it so ``--from-history`` can refit
from them plus the query history.

Examples
--------
``unistack calibrate --quick --engines polars,duckdb`` (a minute), ``unistack calibrate`` (all engines,
all sizes), ``unistack calibrate --from-history`` (refit from recorded runs, no benchmarks).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from unistack.config import cache_dir
from unistack.planner.profile import FEATURES, EngineProfile, Profile, load_profile, machine_info

DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (1_000, 30_000, 1_000_000)
SLOW_ENGINES = ("spark", "ray", "flink", "dask")  # the largest size is skipped for them unless asked
UDF_ROWS_MAX = 300_000  # rows through the deliberately slow Python function
UDF_HEAVY_ROWS_MAX = 1_000_000  # rows through the heavier one (seconds of Python per run)
FLOOR_SECONDS = 0.03  # runs much shorter than this are weighted as if they took this long


# -- non-negative least squares ----------------------------------------------------------------------------
def nnls(a: np.ndarray, b: np.ndarray, max_iter: int | None = None, tol: float = 1e-12) -> np.ndarray:
    """Solve ``min ||a x - b||`` subject to ``x >= 0`` (Lawson and Hanson's active-set method).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> np.round(nnls(a, np.array([2.0, -1.0, 1.0])), 6).tolist()
    [1.5, 0.0]
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    _, n = a.shape
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = a.T @ (b - a @ x)
    max_iter = max_iter or 3 * n + 30
    it = 0
    while (~passive).any() and (w[~passive] > tol).any() and it < max_iter:
        it += 1
        j = int(np.argmax(np.where(passive, -np.inf, w)))
        passive[j] = True
        while True:
            z = np.zeros(n)
            idx = np.flatnonzero(passive)
            z[idx] = np.linalg.lstsq(a[:, idx], b, rcond=None)[0]
            if (z[idx] > tol).all():
                x = z
                break
            bad = passive & (z <= tol)
            denom = x[bad] - z[bad]
            alpha = float(np.min(np.where(denom > 0, x[bad] / np.where(denom > 0, denom, 1), 1.0)))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
            if not passive.any():
                break
        w = a.T @ (b - a @ x)
    return x


def fit_engine(runs: Sequence[dict[str, Any]], prior: EngineProfile, only: Sequence[str] | None = None
               ) -> tuple[dict[str, float], dict[str, float]]:
    """Fit one engine's coefficients on raw runs (each ``{"features": {...}, "seconds": t}``).

    Features no run exercises keep the prior's coefficient, and so do all but ``only`` when it is given
    (an incremental calibration: new features fitted on new workloads, the rest of the model unchanged).
    The fit minimises relative error (runs shorter than :data:`FLOOR_SECONDS` weigh less: their timing is
    mostly noise), with a light pull towards the prior so collinear features stay sensible. Returns the
    coefficients and fit statistics (runs, median and worst relative error).
    """
    feats = [f for f in FEATURES if any(r["features"].get(f, 0.0) for r in runs) and (only is None or f in only)]
    if not runs or not feats:
        return dict(prior.coef), {"runs": float(len(runs))}
    x = np.array([[r["features"].get(f, 0.0) for f in feats] for r in runs], dtype=float)
    t = np.array([max(r["seconds"], 1e-5) for r in runs], dtype=float)
    fixed = np.array([sum(prior.c(f) * r["features"].get(f, 0.0) for f in FEATURES if f not in feats)
                      for r in runs])
    target = np.maximum(t - fixed, 0.0)
    w = 1.0 / (t + FLOOR_SECONDS)  # relative error, except that runs of a few ms (mostly noise) count less
    a = x * w[:, None]
    b = target * w
    # Column scaling keeps the problem well conditioned (features span 1 to 1e9).
    scale = np.maximum(np.abs(a).max(axis=0), 1e-30)
    a_s = a / scale
    # Ridge towards the prior: one pseudo-row per feature with a small weight.
    lam = 0.05
    prior_c = np.array([prior.c(f) for f in feats]) * scale
    a_aug = np.vstack([a_s, lam * np.eye(len(feats))])
    b_aug = np.concatenate([b, lam * prior_c])
    c = nnls(a_aug, b_aug) / scale
    coef = dict(prior.coef)
    coef.update({f: float(v) for f, v in zip(feats, c)})
    pred = x @ c + fixed
    rel = np.abs(pred - t) / t
    return coef, {"runs": float(len(runs)), "median_rel_error": float(np.median(rel)),
                  "max_rel_error": float(rel.max())}


# -- workloads ---------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    rows: int
    table: pa.Table
    parquet: str
    dim_parquet: str
    csv: str | None
    decimal_parquet: str = ""


def make_dataset(n: int, directory: str) -> Dataset:
    """A synthetic table of ``n`` rows (ints, floats, a string, a date; few- and many-valued keys)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(n)
    many = max(n // 4, 1)
    table = pa.table({
        "k_small": pa.array(rng.integers(0, 8, n), pa.int64()),
        "k_large": pa.array(rng.integers(0, many, n), pa.int64()),
        "x": pa.array(rng.random(n) * 1000.0),
        "y": pa.array(rng.integers(0, 1_000_000, n), pa.int64()),
        "s": pa.array([f"item-{i % 9973:05d}" for i in range(n)], pa.large_string()),
        "d": pa.array((np.datetime64("2020-01-01") + rng.integers(0, 1500, n).astype("timedelta64[D]")),
                      pa.date32()),
    })
    dim = pa.table({"k_large": pa.array(np.arange(many), pa.int64()),
                    "w": pa.array(rng.random(many))})
    path = os.path.join(directory, f"fact_{n}.parquet")
    dim_path = os.path.join(directory, f"dim_{n}.parquet")
    if not os.path.exists(path):
        pq.write_table(table, path + ".tmp", row_group_size=1_000_000)
        os.replace(path + ".tmp", path)
    if not os.path.exists(dim_path):
        pq.write_table(dim, dim_path + ".tmp")
        os.replace(dim_path + ".tmp", dim_path)
    dec_path = os.path.join(directory, f"fact_decimal_{n}.parquet")
    if not os.path.exists(dec_path):
        import pyarrow.compute as pc

        dec = pa.table({
            "k_small": table.column("k_small"),
            "price": pc.cast(pc.round(table.column("x"), 2), pa.decimal128(15, 2)),
            "disc": pc.cast(pc.divide(pc.cast(pc.remainder(table.column("y"), 11), pa.float64()), 100.0),
                            pa.decimal128(15, 2)),
        })
        pq.write_table(dec, dec_path + ".tmp", row_group_size=1_000_000)
        os.replace(dec_path + ".tmp", dec_path)
    csv = None
    if n <= 1_000_000:
        csv = os.path.join(directory, f"fact_{n}.csv")
        if not os.path.exists(csv):
            pacsv.write_csv(table.drop_columns(["d"]), csv + ".tmp")
            os.replace(csv + ".tmp", csv)
    return Dataset(n, table, path, dim_path, csv, dec_path)


def _busy_udf(per_row_loops: int) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    def busy(batch: pa.RecordBatch) -> pa.RecordBatch:
        acc = 0.0
        for i in range(batch.num_rows * per_row_loops):
            acc += i * 0.5
        import pyarrow.compute as pc

        return pa.record_batch({"x2": pc.multiply(batch.column("x"), 2.0)})

    return busy


def _measure_udf_cost(fn: Callable[[pa.RecordBatch], pa.RecordBatch]) -> float:
    batch = pa.record_batch({"x": pa.array(np.arange(20_000, dtype=float))})
    fn(batch)
    t0 = time.perf_counter()
    fn(batch)
    return (time.perf_counter() - t0) / batch.num_rows


def workloads(ds: Dataset) -> dict[str, Callable[[], Any]]:
    """Frames exercising each operator class on dataset ``ds`` (name -> builder)."""
    import unistack as us
    from unistack.planner.cost import udf_cost

    def fact() -> us.LazyFrame:
        return us.read_parquet(ds.parquet)

    busy = _busy_udf(20)
    busy = udf_cost(_measure_udf_cost(busy))(busy)
    # in-memory strings as Arrow string views (what Parquet readers now return)
    views = ds.table.select(["s", "x"]).set_column(0, "s", ds.table.column("s").cast(pa.string_view()))
    heavy = _busy_udf(60)
    heavy = udf_cost(_measure_udf_cost(heavy))(heavy)
    cheap = udf_cost(0.0)(_busy_udf(0))
    out: dict[str, Callable[[], Any]] = {
        # Every row is read and computed on, but the result is one row: no engine can skip the work by
        # proving a predicate false from min/max statistics (DuckDB propagates them through arithmetic).
        "scan_filter": lambda: fact().filter((us.col("x") + us.col("y")) > 0.0)
        .select(us.col("x").sum(), us.col("y").sum(), us.col("s").str.len().sum()),
        "arrow_in": lambda: us.from_arrow(ds.table).select(us.col("x").sum(), us.col("y").sum(),
                                                           us.col("k_large").sum()),
        "project": lambda: fact().with_columns((us.col("x") * 2 + us.col("y")).alias("z"),
                                               (us.col("x") / 3).alias("w"))
        .select(us.col("z").sum(), us.col("w").sum()),
        "agg_few": lambda: fact().group_by("k_small").agg(us.col("x").sum(), us.col("y").mean(),
                                                          us.count().alias("n")),
        "agg_many": lambda: fact().group_by("k_large").agg(us.col("x").sum()),
        "join": lambda: fact().join(us.read_parquet(ds.dim_parquet), on="k_large")
        .group_by("k_small").agg(us.col("w").sum()),
        "sort": lambda: fact().select("x", "y").sort("x"),
        "distinct": lambda: fact().select("k_large", "k_small").distinct(),
        "window": lambda: fact().select("k_small", "x").with_columns(us.col("x").sum().over("k_small")
                                                                    .alias("t")).select(us.col("t").max()),
        "window_ordered": lambda: fact().select("k_large", "x")
        .with_columns(us.row_number().over("k_large", order_by="x").alias("rn"))
        .filter(us.col("rn") == 1).select(us.col("x").sum()),
        "arrow_strings": lambda: us.from_arrow(views).select(us.col("s").max(), us.col("x").sum()),
        "string_filter": lambda: fact().filter(us.col("s") == "item-00042").select(us.col("x").sum()),
        "string_fn": lambda: fact().filter(us.col("s").str.starts_with("item-001"))
        .select(us.col("s").str.len().sum(), us.col("x").sum()),
        "decimal": lambda: us.read_parquet(ds.decimal_parquet).group_by("k_small")
        .agg(us.col("price").sum(), (us.col("price") * (1 - us.col("disc"))).sum().alias("net"),
             us.col("disc").mean()),
        "result": lambda: fact().select("k_large", "x", "y", "s"),
        "global_agg": lambda: fact().filter(us.col("d") < _dt.date(2021, 1, 1)).select(us.col("x").sum()),
    }
    csv_path = ds.csv
    if csv_path is not None:
        out["csv"] = lambda: us.read_csv(csv_path).select(us.col("x").sum(), us.col("y").sum())
    if ds.rows <= UDF_ROWS_MAX:
        out["udf"] = lambda: fact().select("x").map_batches(busy, {"x2": "float64"}).select(us.col("x2").sum())
    if 30_000 <= ds.rows <= UDF_HEAVY_ROWS_MAX:
        out["udf_heavy"] = lambda: fact().select("x").map_batches(heavy, {"x2": "float64"}) \
            .select(us.col("x2").sum())
    out["udf_cheap"] = lambda: fact().select("x").map_batches(cheap, {"x2": "float64"}).select(us.col("x2").sum())
    return out


# -- running -----------------------------------------------------------------------------------------------
def _features(frame: Any, engine: str) -> tuple[Any, dict[str, float] | None, str]:
    from unistack.planner.choose import assess
    from unistack.planner.optimize import optimize

    plan = optimize(frame.plan)
    cand = assess(engine, plan)
    if cand.cost is None or not cand.feasible:
        return plan, None, cand.note
    return plan, dict(cand.cost.features), ""


def run_once(frame: Any, engine: str) -> dict[str, Any] | None:
    """Time one execution of ``frame`` on ``engine`` (without the history); ``None`` if not feasible."""
    from unistack.execution import _run_on

    plan, feats, _why = _features(frame, engine)
    if feats is None:
        return None
    t0 = time.perf_counter()
    _run_on(engine, plan, frame.plan.schema)
    return {"features": feats, "seconds": time.perf_counter() - t0}


def cold_probe(engine: str) -> dict[str, Any]:
    """Run a tiny job on ``engine`` in this (fresh) process and report features and seconds."""
    import unistack as us

    t0 = time.perf_counter()
    frame = us.from_dict({"a": [1, 2, 3], "b": [1.0, 2.0, 3.0]}).group_by("a").agg(us.col("b").sum())
    plan, feats, why = _features(frame, engine)
    from unistack.execution import _run_on

    _run_on(engine, plan, frame.plan.schema)
    return {"features": feats, "seconds": time.perf_counter() - t0, "why": why}


def measure_cold(engine: str, runs: int = 1, timeout: float = 600.0) -> list[dict[str, Any]]:
    """Cold start-ups measured in fresh processes (import + session + first tiny job)."""
    out = []
    code = ("import json, sys; from unistack.planner.calibrate import cold_probe; "
            f"print('@@' + json.dumps(cold_probe({engine!r})))")
    for _ in range(runs):
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "UNISTACK_HISTORY": "0"})
        except subprocess.TimeoutExpired:
            continue
        for line in proc.stdout.splitlines():
            if line.startswith("@@"):
                rec = json.loads(line[2:])
                if rec.get("features"):
                    out.append({"features": rec["features"], "seconds": rec["seconds"], "kind": "cold"})
    return out


def calibrate(engines: Sequence[str] | None = None, sizes: Sequence[int] = DEFAULT_SIZES, repeats: int = 3,
              cold_runs: int = 2, progress: Callable[[str], None] = print, save: bool = True,
              only_workloads: Sequence[str] | None = None, fit: Sequence[str] | None = None) -> Profile:
    """Run the micro-benchmarks, fit every engine, store and return the profile.

    ``only_workloads`` runs a subset of the workloads; ``fit`` fits only those coefficients and keeps the
    others from the current profile (to add a feature without re-measuring everything).

    Examples
    --------
    >>> p = calibrate(["polars"], sizes=[1000], repeats=1, cold_runs=0, progress=lambda s: None,
    ...               save=False)  # doctest: +SKIP
    """
    import unistack as us
    from unistack.backends.registry import available_engines

    engines = list(engines or available_engines())
    base = load_profile()
    data_dir = os.path.join(cache_dir(), "calibration-data")
    os.makedirs(data_dir, exist_ok=True)
    all_runs: dict[str, list[dict[str, Any]]] = {}
    with us.config(history=False):
        datasets = []
        for n in sizes:
            progress(f"preparing {n:,} rows ...")
            datasets.append(make_dataset(int(n), data_dir))
        for engine in engines:
            runs: list[dict[str, Any]] = []
            t_engine = time.perf_counter()
            try:
                from unistack.backends.registry import get_engine

                get_engine(engine)
            except Exception as e:
                progress(f"[{engine}] skipped: {e}")
                continue
            if cold_runs:
                progress(f"[{engine}] cold start x{cold_runs} (fresh processes) ...")
                cold = measure_cold(engine, cold_runs)
                for r in cold:
                    progress(f"[{engine}] cold start {r['seconds']:.2f}s")
                # An engine that reports itself warm from the start has no start-up term to fit.
                runs += [r for r in cold if r["features"].get("startup")]
            for ds in datasets:
                if engine in SLOW_ENGINES and ds.rows > 1_000_000 and len(sizes) > 3 and max(sizes) == ds.rows \
                        and os.environ.get("UNISTACK_CALIBRATE_ALL_SIZES") != "1":
                    progress(f"[{engine}] {ds.rows:,} rows skipped (slow engine; set UNISTACK_CALIBRATE_ALL_SIZES=1)")
                    continue
                for name, build in workloads(ds).items():
                    if only_workloads and name not in only_workloads:
                        continue
                    times = []
                    try:
                        first = run_once(build(), engine)  # warm-up (and the session start, if cold)
                        if first is None:
                            continue
                        if first["features"].get("startup"):
                            runs.append({**first, "kind": "cold-in-process", "workload": name, "rows": ds.rows})
                        reps = repeats if first["seconds"] < 2.0 else 1
                        for _ in range(reps):
                            again = run_once(build(), engine)
                            if again is not None:
                                times.append(again["seconds"])
                                runs.append({**again, "kind": "warm", "workload": name, "rows": ds.rows})
                    except Exception as e:  # a failing workload should not stop calibration
                        progress(f"[{engine}] {name} @ {ds.rows:,}: failed ({type(e).__name__}: {str(e)[:120]})")
                        continue
                    if times:
                        progress(f"[{engine}] {name:12} {ds.rows:>10,} rows  {statistics.median(times):8.4f}s")
            all_runs[engine] = runs
            progress(f"[{engine}] {len(runs)} runs in {time.perf_counter() - t_engine:.0f}s")
    _append_runs(all_runs)
    # Re-read the profile: another calibration may have saved engines of its own meanwhile.
    base = load_profile()
    profile = fit_profile(all_runs, base, source="calibrate", progress=progress, only=fit)
    if save:
        path = profile.save()
        progress(f"profile written to {path}")
    return profile


def fit_profile(runs: dict[str, list[dict[str, Any]]], base: Profile, source: str,
                progress: Callable[[str], None] = print, min_runs: int = 8, only: Sequence[str] | None = None
                ) -> Profile:
    """A profile with every engine that has at least ``min_runs`` runs refitted; others copied from ``base``."""
    info = machine_info()
    engines = {n: EngineProfile.from_dict(e.to_dict()) for n, e in base.engines.items()}
    for name, rs in runs.items():
        rs = [r for r in rs if r.get("features") and r.get("seconds", 0) > 0]
        if len(rs) < min_runs:
            progress(f"[{name}] {len(rs)} runs: too few to fit, kept the previous coefficients")
            continue
        prior = engines.get(name) or base.engine(name)
        coef, stats = fit_engine(rs, prior, only)
        eng = EngineProfile(coef, parallelism=float(os.cpu_count() or 1), python_parallel=prior.python_parallel,
                            spills=prior.spills, memory_factor=prior.memory_factor,
                            runs=len(rs) if only is None else max(prior.runs, len(rs)))
        engines[name] = eng
        progress(f"[{name}] fitted on {len(rs)} runs: median error {stats.get('median_rel_error', 0):.0%}, "
                 f"worst {stats.get('max_rel_error', 0):.0%}")
    apply_floors(engines)
    return Profile(name=info["key"] if source != "default" else "default", engines=engines,
                   created=_dt.date.today().isoformat(), machine=info, source=source,
                   note=f"fitted by unistack calibrate ({source})")


# Per-row and per-byte terms: no engine is assumed to process a row more cheaply than the cheapest engine
# measured (an engine calibrated on small data only has near-zero per-row terms otherwise).
FLOORED = ("scan_row", "scan_byte", "text_byte", "arrow_in_byte", "arrow_string_byte", "expr_row", "agg_row",
           "agg_group", "join_row", "join_out", "sort_row", "distinct_row", "window_row", "window_sort_row",
           "decimal_row", "string_row", "udf_row", "out_byte")


def apply_floors(engines: dict[str, EngineProfile], min_runs: int = 50) -> None:
    """Raise each per-row/per-byte coefficient to the smallest value among well-calibrated engines
    (at least ``min_runs`` runs), for engines calibrated on fewer runs."""
    good = [e for e in engines.values() if e.runs >= min_runs]
    if not good:
        return
    for eng in engines.values():
        if eng.runs >= min_runs:
            continue
        for f in FLOORED:
            floor = min(g.c(f) for g in good)
            if eng.c(f) < floor:
                eng.coef[f] = floor


def _runs_path() -> str:
    return os.path.join(cache_dir(), "profiles", f"{machine_info()['key']}.runs.jsonl")


def _append_runs(runs: dict[str, list[dict[str, Any]]]) -> None:
    path = _runs_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as fh:
        for engine, rs in runs.items():
            for r in rs:
                fh.write(json.dumps({"engine": engine, **r}) + "\n")


def _read_runs(path: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        with open(path) as fh:
            for line in fh:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                out.setdefault(r["engine"], []).append(r)
    except OSError:
        pass
    return out


def refit_from_history(progress: Callable[[str], None] = print, save: bool = True) -> Profile:
    """Refit from the stored calibration runs plus every successful run in the query history."""
    from unistack.planner.history import read_history

    runs = _read_runs(_runs_path())
    n_hist = 0
    for e in read_history():
        if e.get("status") == "ok" and e.get("features") and e.get("actual"):
            runs.setdefault(e["engine"], []).append({"features": e["features"], "seconds": e["actual"],
                                                     "kind": "history"})
            n_hist += 1
    progress(f"{n_hist} history runs, {sum(len(v) for v in runs.values()) - n_hist} calibration runs")
    profile = fit_profile(runs, load_profile(), source="history", progress=progress)
    if save:
        progress(f"profile written to {profile.save()}")
    return profile


# -- command line ------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``unistack calibrate``."""
    parser.add_argument("--engines", default="", help="comma-separated engines (default: every installed one)")
    parser.add_argument("--sizes", default="", help="comma-separated row counts, e.g. 1e3,1e5,1e7")
    parser.add_argument("--quick", action="store_true", help="few sizes, one repeat, one cold start")
    parser.add_argument("--from-history", action="store_true", help="refit from recorded runs; run nothing")
    parser.add_argument("--repeats", type=int, default=None, help="warm repeats per measurement")
    parser.add_argument("--output", default=None, help="write the profile here instead of the cache directory")
    parser.add_argument("--workloads", default="", help="comma-separated workloads to run (default: all)")
    parser.add_argument("--fit", default="", help="comma-separated features to fit; the others keep the current "
                        "profile's coefficients (default: fit all)")


def cli(args: argparse.Namespace) -> int:
    """Entry point of ``unistack calibrate``."""
    def progress(msg: str) -> None:
        print(msg, flush=True)

    if getattr(args, "from_history", False):
        profile = refit_from_history(progress, save=args.output is None)
        if args.output:
            profile.save(args.output)
        return 0
    engines = [e.strip() for e in (args.engines or "").split(",") if e.strip()] or None
    if args.sizes:
        sizes: Sequence[int] = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    repeats = args.repeats or (1 if args.quick else 3)
    only = [w.strip() for w in (getattr(args, "workloads", "") or "").split(",") if w.strip()] or None
    fit = [f.strip() for f in (getattr(args, "fit", "") or "").split(",") if f.strip()] or None
    unknown = sorted(set(fit or ()) - set(FEATURES))
    if unknown:
        progress(f"unknown features: {', '.join(unknown)} (known: {', '.join(FEATURES)})")
        return 2
    profile = calibrate(engines, sizes, repeats=repeats, cold_runs=0 if fit else (1 if args.quick else 2),
                        progress=progress, save=args.output is None, only_workloads=only, fit=fit)
    if args.output:
        progress(f"profile written to {profile.save(args.output)}")
    return 0

