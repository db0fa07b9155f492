"""Dask through unistack vs the same queries written by hand in ``dask.dataframe``, side by side.

Both sides read the same TPC-H Parquet files with Dask's own reader and run on the same local threaded
scheduler; each query is timed ``--runs`` times per side (interleaved) and the median is reported. Also
recorded: the engine's startup (first query after import, minus a warm run) and the per-query overhead of
unistack on a tiny query (optimizer + translation + Arrow conversion, where Dask's own work is negligible).

Usage::

    python benchmarks/bench_dask_native.py --sf 1 --runs 5 [--json benchmarks/results/dask_native.json]

The target is unistack at most 10% slower than the hand-written Dask query.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _tables(directory: str) -> dict[str, Any]:
    import unistack as us

    return {t: us.read_parquet(os.path.join(directory, f"{t}.parquet"))
            for t in ("lineitem", "orders", "customer")}


# -- the queries through unistack ----------------------------------------------------------------------------


def us_q1(t: dict[str, Any]) -> Any:
    import unistack as us
    from unistack import col

    revenue = col("l_extendedprice") * (1 - col("l_discount"))
    return (
        t["lineitem"].filter(col("l_shipdate") <= dt.date(1998, 9, 2))
        .group_by("l_returnflag", "l_linestatus")
        .agg(sum_qty=col("l_quantity").sum(), sum_base_price=col("l_extendedprice").sum(),
             sum_disc_price=revenue.sum(), avg_qty=col("l_quantity").mean(),
             avg_disc=col("l_discount").mean(), count_order=us.count())
        .sort("l_returnflag", "l_linestatus")
    )


def us_q6(t: dict[str, Any]) -> Any:
    from unistack import col

    li = t["lineitem"]
    return li.filter(
        (col("l_shipdate") >= dt.date(1994, 1, 1)) & (col("l_shipdate") < dt.date(1995, 1, 1))
        & (col("l_discount") >= 0.05) & (col("l_discount") <= 0.07) & (col("l_quantity") < 24)
    ).select(revenue=(col("l_extendedprice") * col("l_discount")).sum())


def us_q3(t: dict[str, Any]) -> Any:
    from unistack import col

    cust = t["customer"].filter(col("c_mktsegment") == "BUILDING")
    orders = t["orders"].filter(col("o_orderdate") < dt.date(1995, 3, 15))
    items = t["lineitem"].filter(col("l_shipdate") > dt.date(1995, 3, 15))
    return (
        cust.join(orders, left_on="c_custkey", right_on="o_custkey")
        .join(items, left_on="o_orderkey", right_on="l_orderkey")
        .group_by("o_orderkey", "o_orderdate", "o_shippriority")
        .agg(revenue=(col("l_extendedprice") * (1 - col("l_discount"))).sum())
        .sort(["revenue", "o_orderdate"], descending=[True, False])
        .limit(10)
    )


# -- the same queries by hand in dask.dataframe -------------------------------------------------------------


def _read(directory: str, table: str, columns: list[str]) -> Any:
    """Dask's Parquet reader with Arrow dtypes. tpchgen-cli writes ``string_view`` columns, which plain
    ``dd.read_parquet(dtype_backend="pyarrow")`` cannot handle (pandas has no kernels for them), so the
    hand-written side uses the same small reader subclass as the engine (it casts them to large_string),
    and the same partition size (option ``dask.blocksize``), so that the comparison is of the translation."""
    import dask.dataframe as dd

    from unistack import get_option
    from unistack.backends.dask.compile import _CanonicalParquet

    return dd.read_parquet(os.path.join(directory, f"{table}.parquet"), columns=columns, dtype_backend="pyarrow",
                           engine=_CanonicalParquet, blocksize=get_option("dask.blocksize"))


def dask_q1(directory: str) -> Any:
    import pandas as pd

    li = _read(directory, "lineitem", ["l_returnflag", "l_linestatus", "l_quantity", "l_extendedprice",
                                        "l_discount", "l_shipdate"])
    li = li[li.l_shipdate <= pd.Timestamp("1998-09-02").date()]
    li = li.assign(disc_price=li.l_extendedprice * (1 - li.l_discount),
                   qty_f=li.l_quantity.astype("float64[pyarrow]"), disc_f=li.l_discount.astype("float64[pyarrow]"))
    out = li.groupby(["l_returnflag", "l_linestatus"]).agg(
        sum_qty=("l_quantity", "sum"), sum_base_price=("l_extendedprice", "sum"),
        sum_disc_price=("disc_price", "sum"), avg_qty=("qty_f", "mean"), avg_disc=("disc_f", "mean"),
        count_order=("l_quantity", "size"),
    ).reset_index()
    return out.sort_values(["l_returnflag", "l_linestatus"])


def dask_q6(directory: str) -> Any:
    import pandas as pd

    li = _read(directory, "lineitem", ["l_shipdate", "l_discount", "l_quantity", "l_extendedprice"])
    d = li.l_discount.astype("float64[pyarrow]")
    li = li[(li.l_shipdate >= pd.Timestamp("1994-01-01").date()) & (li.l_shipdate < pd.Timestamp("1995-01-01").date())
            & (d >= 0.05) & (d <= 0.07) & (li.l_quantity < 24)]
    # Series.sum() of a decimal column hits a Dask tokenization error; the frame-level sum works
    return li.assign(revenue=li.l_extendedprice * li.l_discount)[["revenue"]].sum()


def dask_q3(directory: str) -> Any:
    import pandas as pd

    cust = _read(directory, "customer", ["c_custkey", "c_mktsegment"])
    orders = _read(directory, "orders", ["o_orderkey", "o_custkey", "o_orderdate", "o_shippriority"])
    items = _read(directory, "lineitem", ["l_orderkey", "l_extendedprice", "l_discount", "l_shipdate"])
    cust = cust[cust.c_mktsegment == "BUILDING"]
    orders = orders[orders.o_orderdate < pd.Timestamp("1995-03-15").date()]
    items = items[items.l_shipdate > pd.Timestamp("1995-03-15").date()]
    joined = cust.merge(orders, left_on="c_custkey", right_on="o_custkey").merge(
        items, left_on="o_orderkey", right_on="l_orderkey")
    joined = joined.assign(revenue=joined.l_extendedprice * (1 - joined.l_discount))
    out = joined.groupby(["o_orderkey", "o_orderdate", "o_shippriority"]).agg(revenue=("revenue", "sum"))
    return out.reset_index().sort_values(["revenue", "o_orderdate"], ascending=[False, True]).head(
        10, npartitions=-1, compute=False)


QUERIES: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[str], Any]]] = {
    "q1": (us_q1, dask_q1), "q3": (us_q3, dask_q3), "q6": (us_q6, dask_q6),
}


def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _time_both(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds of this process (all threads): on a shared machine the CPU time
    is the steadier measure of the work done."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def run(sf: str, runs: int, data_root: str) -> dict[str, Any]:
    t_import = time.perf_counter()
    import dask

    import unistack as us

    directory = os.path.join(data_root, f"sf{sf}")
    tables = _tables(directory)
    tiny = us.from_dict({"a": [1, 2, 3]}).filter(us.col("a") > 1)
    first = _time(lambda: tiny.collect(engine="dask"))
    warm = statistics.median(_time(lambda: tiny.collect(engine="dask")) for _ in range(5))
    startup = max(first - warm, 0.0)
    import_s = time.perf_counter() - t_import - first - 5 * warm
    out: dict[str, Any] = {"sf": sf, "runs": runs, "startup_s": startup, "import_s": import_s,
                           "tiny_query_s": warm, "queries": {}}
    import pandas as pd

    with dask.config.set(scheduler="threads"):
        native_tiny = statistics.median(
            _time(lambda: dask.dataframe.from_pandas(pd.DataFrame({"a": [1, 2, 3]}), npartitions=1).pipe(
                lambda d: d[d.a > 1]).compute()) for _ in range(5))
    out["tiny_query_native_s"] = native_tiny
    for name, (us_fn, dask_fn) in QUERIES.items():
        frame = us_fn(tables)
        frame.collect(engine="dask")  # warm caches (file footers, imports) for both sides
        with dask.config.set(scheduler="threads"):
            dask_fn(directory).compute()
        times_us, times_native = [], []
        for _ in range(runs):
            times_us.append(_time_both(lambda f=frame: f.collect(engine="dask")))
            with dask.config.set(scheduler="threads"):
                times_native.append(_time_both(lambda fn=dask_fn: fn(directory).compute()))
        u, n = statistics.median(w for w, _ in times_us), statistics.median(w for w, _ in times_native)
        uc, nc = statistics.median(c for _, c in times_us), statistics.median(c for _, c in times_native)
        um, nm = min(w for w, _ in times_us), min(w for w, _ in times_native)
        out["queries"][name] = {"unistack_s": u, "dask_s": n, "ratio": u / n,
                                "unistack_cpu_s": uc, "dask_cpu_s": nc, "cpu_ratio": uc / nc,
                                "unistack_min_s": um, "dask_min_s": nm, "min_ratio": um / nm}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", default="0.1", help="TPC-H scale factor directory under --data (default 0.1)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", default=os.path.join(HERE, "data"))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    res = run(args.sf, args.runs, args.data)
    print(f"Dask through unistack vs hand-written dask.dataframe, TPC-H SF {res['sf']}, median of {res['runs']}")
    print("wall: median of runs; min: fastest run; cpu: median CPU seconds of the process (all threads)")
    print(f"{'query':6} {'unistack':>10} {'dask':>10} {'ratio':>6}  {'min us':>8} {'min dask':>8} {'ratio':>6}"
          f"  {'cpu us':>8} {'cpu dask':>8} {'ratio':>6}")
    for name, r in res["queries"].items():
        print(f"{name:6} {r['unistack_s']:9.3f}s {r['dask_s']:9.3f}s {r['ratio']:6.2f}  "
              f"{r['unistack_min_s']:7.3f}s {r['dask_min_s']:7.3f}s {r['min_ratio']:6.2f}  "
              f"{r['unistack_cpu_s']:7.3f}s {r['dask_cpu_s']:7.3f}s {r['cpu_ratio']:6.2f}")
    print(f"engine startup (first query minus warm): {res['startup_s'] * 1000:.0f} ms")
    tiny, native = res["tiny_query_s"] * 1000, res["tiny_query_native_s"] * 1000
    print(f"tiny query: unistack {tiny:.1f} ms vs dask {native:.1f} ms (per-query overhead {tiny - native:.1f} ms)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
