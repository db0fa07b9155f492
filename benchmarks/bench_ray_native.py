"""Ray Data through unistack vs the same queries written by hand in Ray Data, side by side in one run.

Both sides read the same TPC-H Parquet files with ``ray.data.read_parquet`` in the same Ray session
(local, 2 CPUs, the DataContext unistack tunes: same shuffle partitions) and return a ``pyarrow.Table``
(``to_arrow_refs`` + ``ray.get`` + concat). Each query is timed ``--runs`` times per side, interleaved,
and the median is reported. Also recorded: the Ray session startup, and the per-query overhead of
unistack on a tiny query (optimizer + translation + result conversion, where Ray's own work is small).

Usage::

    flock /tmp/unistack-heavy.lock .venv/bin/python benchmarks/bench_ray_native.py --sf 0.1 --runs 3 \\
        [--json benchmarks/results/ray_native.json]

The target is unistack at most 10% slower than the hand-written Ray Data query.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


# -- the queries through unistack ----------------------------------------------------------------------------



def _num(value: int, dtype: Any) -> Any:
    """``value`` in ``dtype`` (an int64 cast to decimal(15, 2) would need 19 integer digits)."""
    import pyarrow as pa

    return pa.scalar(decimal.Decimal(value), dtype) if pa.types.is_decimal(dtype) else pa.scalar(value).cast(dtype)


def us_q1(directory: str) -> Any:
    import unistack as us
    from unistack import col

    li = us.read_parquet(os.path.join(directory, "lineitem.parquet"))
    return (
        li.filter(col("l_shipdate") <= dt.date(1998, 9, 2))
        .group_by("l_returnflag", "l_linestatus")
        .agg(sum_qty=col("l_quantity").sum(), sum_disc_price=(col("l_extendedprice") * (1 - col("l_discount"))).sum(),
             avg_price=col("l_extendedprice").cast("float64").mean(), count_order=us.count())
    )


def us_q6(directory: str) -> Any:
    import unistack as us
    from unistack import col

    li = us.read_parquet(os.path.join(directory, "lineitem.parquet"))
    return li.filter(
        (col("l_shipdate") >= dt.date(1994, 1, 1)) & (col("l_shipdate") < dt.date(1995, 1, 1))
        & (col("l_quantity") < 24)
    ).select(revenue=(col("l_extendedprice") * col("l_discount")).cast("float64").sum())


def us_join(directory: str) -> Any:
    import unistack as us
    from unistack import col

    orders = us.read_parquet(os.path.join(directory, "orders.parquet"))
    cust = us.read_parquet(os.path.join(directory, "customer.parquet")).filter(col("c_mktsegment") == "BUILDING")
    return cust.join(orders, left_on="c_custkey", right_on="o_custkey").group_by("o_orderpriority").agg(
        n=us.count())


# -- the same queries by hand in Ray Data --------------------------------------------------------------------


def _arrow(ds: Any) -> Any:
    import pyarrow as pa
    import ray

    return pa.concat_tables([b for b in ray.get(ds.to_arrow_refs()) if b.num_rows])


def ray_q1(directory: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc
    import ray.data as rd
    from ray.data.aggregate import Count, Mean, Sum

    cols = ["l_returnflag", "l_linestatus", "l_quantity", "l_extendedprice", "l_discount", "l_shipdate"]
    li = rd.read_parquet(os.path.join(directory, "lineitem.parquet"), columns=cols)

    def prep(t: pa.Table) -> pa.Table:
        # tpchgen-cli writes string_view columns, which Arrow cannot filter: cast them first
        t = t.set_column(0, "l_returnflag", t["l_returnflag"].cast(pa.large_string())).set_column(
            1, "l_linestatus", t["l_linestatus"].cast(pa.large_string()))
        t = t.filter(pc.less_equal(t["l_shipdate"], pa.scalar(dt.date(1998, 9, 2))))
        disc = pc.multiply(t["l_extendedprice"], pc.subtract(_num(1, t["l_discount"].type), t["l_discount"]))
        return pa.table({"l_returnflag": t["l_returnflag"].cast(pa.large_string()),
                         "l_linestatus": t["l_linestatus"].cast(pa.large_string()),
                         "q": t["l_quantity"], "d": disc, "p": t["l_extendedprice"].cast(pa.float64())})

    out = li.map_batches(prep, batch_format="pyarrow").groupby(["l_returnflag", "l_linestatus"]).aggregate(
        Sum("q", alias_name="sum_qty"), Sum("d", alias_name="sum_disc_price"), Mean("p", alias_name="avg_price"),
        Count(alias_name="count_order"))
    return _arrow(out)


def ray_q6(directory: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc
    import ray.data as rd
    from ray.data.aggregate import Sum

    li = rd.read_parquet(os.path.join(directory, "lineitem.parquet"),
                         columns=["l_shipdate", "l_quantity", "l_extendedprice", "l_discount"])

    def prep(t: pa.Table) -> pa.Table:
        keep = pc.and_(pc.and_(pc.greater_equal(t["l_shipdate"], pa.scalar(dt.date(1994, 1, 1))),
                               pc.less(t["l_shipdate"], pa.scalar(dt.date(1995, 1, 1)))),
                       pc.less(t["l_quantity"], _num(24, t["l_quantity"].type)))
        t = t.filter(keep)
        return pa.table({"r": pc.multiply(t["l_extendedprice"], t["l_discount"]).cast(pa.float64())})

    return _arrow(li.map_batches(prep, batch_format="pyarrow").groupby(None).aggregate(Sum("r", alias_name="revenue")))


def ray_join(directory: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc
    import ray.data as rd
    from ray.data.aggregate import Count

    from unistack.config import get_option

    parts = int(get_option("ray.shuffle_parallelism"))
    cust = rd.read_parquet(os.path.join(directory, "customer.parquet"), columns=["c_custkey", "c_mktsegment"])
    orders = rd.read_parquet(os.path.join(directory, "orders.parquet"), columns=["o_custkey", "o_orderpriority"])

    def building(t: pa.Table) -> pa.Table:
        keep = pc.equal(t["c_mktsegment"].cast(pa.large_string()), "BUILDING")
        return pa.table({"key": t["c_custkey"]}).filter(keep)

    def okey(t: pa.Table) -> pa.Table:
        return pa.table({"key": t["o_custkey"], "o_orderpriority": t["o_orderpriority"].cast(pa.large_string())})

    joined = cust.map_batches(building, batch_format="pyarrow").join(
        orders.map_batches(okey, batch_format="pyarrow"), "inner", parts, on=("key",))
    return _arrow(joined.groupby("o_orderpriority", num_partitions=parts).aggregate(Count(alias_name="n")))


QUERIES: dict[str, tuple[Callable[[str], Any], Callable[[str], Any]]] = {
    "q1": (us_q1, ray_q1), "q6": (us_q6, ray_q6), "join": (us_join, ray_join),
}


def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(sf: str, runs: int, data_root: str) -> dict[str, Any]:
    import unistack as us
    from unistack.backends.ray import session

    directory = os.path.join(data_root, f"sf{sf}")
    t0 = time.perf_counter()
    live = session.get_session()
    startup = time.perf_counter() - t0
    out: dict[str, Any] = {"sf": sf, "runs": runs, "startup_s": startup, "ray_init_s": live.startup_seconds,
                           "queries": {}}
    tiny = us.from_dict({"a": [1, 2, 3]}).filter(us.col("a") > 1)
    tiny.collect(engine="ray")

    def tiny_native() -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc
        import ray.data as rd

        ds = rd.from_arrow(pa.table({"a": [1, 2, 3]}))
        return _arrow(ds.map_batches(lambda t: t.filter(pc.greater(t["a"], 1)), batch_format="pyarrow"))

    tiny_native()
    t_us = statistics.median(_time(lambda: tiny.collect(engine="ray")) for _ in range(5))
    t_native = statistics.median(_time(tiny_native) for _ in range(5))
    out.update(tiny_query_s=t_us, tiny_query_native_s=t_native, per_query_overhead_s=t_us - t_native)
    for name, (us_fn, ray_fn) in QUERIES.items():
        frame = us_fn(directory)
        a = frame.collect(engine="ray")  # warm both sides (imports, worker processes, file metadata)
        b = ray_fn(directory)
        assert a.num_rows == b.num_rows, (name, a.num_rows, b.num_rows)
        times_us, times_native = [], []
        for _ in range(runs):
            times_us.append(_time(lambda f=frame: f.collect(engine="ray")))
            times_native.append(_time(lambda fn=ray_fn: fn(directory)))
        u, n = statistics.median(times_us), statistics.median(times_native)
        out["queries"][name] = {"unistack_s": u, "ray_s": n, "ratio": u / n, "rows": a.num_rows}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sf", default="0.1", help="TPC-H scale factor directory under --data (default 0.1)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", default=os.path.join(HERE, "data"))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    res = run(args.sf, args.runs, args.data)
    print(f"Ray Data through unistack vs hand-written Ray Data, TPC-H SF {res['sf']}, median of {res['runs']}")
    print(f"{'query':6} {'unistack':>10} {'ray':>10} {'ratio':>7}")
    for name, r in res["queries"].items():
        print(f"{name:6} {r['unistack_s']:9.3f}s {r['ray_s']:9.3f}s {r['ratio']:7.2f}")
    print(f"session startup (ray.init + context): {res['startup_s']:.2f} s")
    print(f"tiny query: unistack {res['tiny_query_s'] * 1000:.0f} ms, "
          f"hand-written {res['tiny_query_native_s'] * 1000:.0f} ms, "
          f"overhead {res['per_query_overhead_s'] * 1000:.0f} ms")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
