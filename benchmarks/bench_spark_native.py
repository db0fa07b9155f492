"""Spark through unistack vs the same queries written by hand in PySpark, side by side in one run.

Both sides use the same Spark session (the one unistack starts, tuned the same way), read the same TPC-H
Parquet files with Spark's own reader and return a ``pyarrow.Table`` (``DataFrame.toArrow()``). Each
query is timed ``--runs`` times per side, interleaved, and the median is reported. Also recorded:

- session startup (JVM + SparkContext), measured by unistack's session manager;
- unistack's per-query overhead: the optimizer + translation time of each query (``compile_s``) and
  a tiny query through unistack vs the same tiny query by hand.

Usage::

    flock /tmp/unistack-heavy.lock python benchmarks/bench_spark_native.py --sf 1 --runs 5 \\
        [--json benchmarks/results/spark_native.json]

The target is unistack at most 10% slower than the hand-written PySpark query.
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
TABLES = ("lineitem", "orders", "customer")


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

    return t["lineitem"].filter(
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


def us_topn(t: dict[str, Any]) -> Any:
    from unistack import col

    return (t["orders"].select("o_orderkey", "o_totalprice", "o_orderdate")
            .sort(["o_totalprice", "o_orderkey"], descending=[True, False]).limit(100)
            .with_columns(year=col("o_orderdate").dt.year()))


# -- the same queries by hand in PySpark -----------------------------------------------------------------------


def spark_q1(spark: Any, d: str) -> Any:
    import pyspark.sql.functions as F

    li = spark.read.parquet(os.path.join(d, "lineitem.parquet"))
    disc_price = F.col("l_extendedprice") * (1 - F.col("l_discount"))
    return (
        li.filter(F.col("l_shipdate") <= F.lit(dt.date(1998, 9, 2)))
        .groupBy("l_returnflag", "l_linestatus")
        .agg(F.sum("l_quantity").alias("sum_qty"), F.sum("l_extendedprice").alias("sum_base_price"),
             F.sum(disc_price).alias("sum_disc_price"), F.avg(F.col("l_quantity").cast("double")).alias("avg_qty"),
             F.avg(F.col("l_discount").cast("double")).alias("avg_disc"), F.count(F.lit(1)).alias("count_order"))
        .orderBy(F.col("l_returnflag").asc_nulls_last(), F.col("l_linestatus").asc_nulls_last())
    )


def spark_q6(spark: Any, d: str) -> Any:
    import pyspark.sql.functions as F

    li = spark.read.parquet(os.path.join(d, "lineitem.parquet"))
    return li.filter(
        (F.col("l_shipdate") >= F.lit(dt.date(1994, 1, 1))) & (F.col("l_shipdate") < F.lit(dt.date(1995, 1, 1)))
        & (F.col("l_discount") >= 0.05) & (F.col("l_discount") <= 0.07) & (F.col("l_quantity") < 24)
    ).agg(F.sum(F.col("l_extendedprice") * F.col("l_discount")).alias("revenue"))


def spark_q3(spark: Any, d: str) -> Any:
    import pyspark.sql.functions as F

    def read(t: str) -> Any:
        return spark.read.parquet(os.path.join(d, f"{t}.parquet"))

    cust = read("customer").filter(F.col("c_mktsegment") == "BUILDING")
    orders = read("orders").filter(F.col("o_orderdate") < F.lit(dt.date(1995, 3, 15)))
    items = read("lineitem").filter(F.col("l_shipdate") > F.lit(dt.date(1995, 3, 15)))
    joined = cust.join(orders, cust.c_custkey == orders.o_custkey).join(items, F.col("o_orderkey") == items.l_orderkey)
    return (
        joined.groupBy("o_orderkey", "o_orderdate", "o_shippriority")
        .agg(F.sum(F.col("l_extendedprice") * (1 - F.col("l_discount"))).alias("revenue"))
        .orderBy(F.col("revenue").desc_nulls_last(), F.col("o_orderdate").asc_nulls_last())
        .limit(10)
    )


def spark_topn(spark: Any, d: str) -> Any:
    import pyspark.sql.functions as F

    orders = spark.read.parquet(os.path.join(d, "orders.parquet"))
    return (orders.select("o_orderkey", "o_totalprice", "o_orderdate")
            .orderBy(F.col("o_totalprice").desc_nulls_last(), F.col("o_orderkey").asc_nulls_last()).limit(100)
            .withColumn("year", F.year("o_orderdate")))


QUERIES: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[Any, str], Any]]] = {
    "q1": (us_q1, spark_q1), "q3": (us_q3, spark_q3), "q6": (us_q6, spark_q6), "topn": (us_topn, spark_topn),
}


def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(sf: str, runs: int, data_root: str) -> dict[str, Any]:
    import unistack as us
    from unistack.backends.registry import get_engine
    from unistack.backends.spark.session import sessions

    directory = os.path.join(data_root, f"sf{sf}")
    tables = {t: us.read_parquet(os.path.join(directory, f"{t}.parquet")) for t in TABLES}
    engine = get_engine("spark")
    t0 = time.perf_counter()
    spark = engine.session()  # type: ignore[attr-defined]
    out: dict[str, Any] = {"sf": sf, "runs": runs, "startup_s": sessions.startup_seconds,
                           "session_call_s": time.perf_counter() - t0, "queries": {}}
    out["conf"] = {k: spark.conf.get(k) for k in ("spark.master", "spark.sql.shuffle.partitions",
                                                   "spark.driver.memory")}

    import pyarrow as pa

    tiny_arrow = pa.table({"a": [1, 2, 3]})
    tiny = us.from_arrow(tiny_arrow).filter(us.col("a") > 1)
    tiny_native_df = spark.createDataFrame(tiny_arrow)
    import pyspark.sql.functions as F

    for _ in range(3):  # warm both paths
        tiny.collect(engine="spark")
        tiny_native_df.filter(F.col("a") > 1).toArrow()
    out["tiny_query_s"] = statistics.median(_time(lambda: tiny.collect(engine="spark")) for _ in range(7))
    out["tiny_query_native_s"] = statistics.median(
        _time(lambda: tiny_native_df.filter(F.col("a") > 1).toArrow()) for _ in range(7))

    for name, (us_fn, spark_fn) in QUERIES.items():
        frame = us_fn(tables)
        frame.collect(engine="spark")  # warm: file listing, footers, JIT
        first_compile = engine.last_timings["compile_s"]  # type: ignore[attr-defined]
        spark_fn(spark, directory).toArrow()
        times_us, times_native, compile_s = [], [], []
        for _ in range(runs):
            times_us.append(_time(lambda f=frame: f.collect(engine="spark")))
            compile_s.append(engine.last_timings["compile_s"])  # type: ignore[attr-defined]
            times_native.append(_time(lambda fn=spark_fn: fn(spark, directory).toArrow()))
        u, n = statistics.median(times_us), statistics.median(times_native)
        out["queries"][name] = {"unistack_s": u, "pyspark_s": n, "ratio": u / n,
                                "unistack_compile_s": statistics.median(compile_s),
                                "unistack_first_compile_s": first_compile}
    return out


def report(res: dict[str, Any]) -> str:
    lines = [f"Spark through unistack vs hand-written PySpark, TPC-H SF {res['sf']}, median of {res['runs']} runs",
             f"(master {res['conf']['spark.master']}, "
             f"shuffle partitions {res['conf']['spark.sql.shuffle.partitions']})",
             "", "| query | unistack | pyspark | ratio | unistack translate: first run / later runs |",
             "|---|---|---|---|---|"]
    for name, r in res["queries"].items():
        first = r.get("unistack_first_compile_s")
        lines.append(f"| {name} | {r['unistack_s']:.3f} s | {r['pyspark_s']:.3f} s | {r['ratio']:.2f} | "
                     + (f"{first * 1000:.1f} ms / " if first is not None else "")
                     + f"{r['unistack_compile_s'] * 1000:.1f} ms |")
    lines += ["", "Later runs of the same frame reuse its compiled DataFrame while the files are unchanged; "
              "the hand-written side builds its DataFrame on every run, as a re-run script would."]
    lines += ["", f"session startup (JVM + SparkContext): {res['startup_s']:.1f} s",
              f"tiny in-memory query: unistack {res['tiny_query_s'] * 1000:.0f} ms vs PySpark "
              f"{res['tiny_query_native_s'] * 1000:.0f} ms (per-query overhead "
              f"{(res['tiny_query_s'] - res['tiny_query_native_s']) * 1000:.0f} ms)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sf", default="0.1", help="TPC-H scale factor directory under --data (default 0.1)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", default=os.path.join(HERE, "data"))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--markdown", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    res = run(args.sf, args.runs, args.data)
    text = report(res)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
