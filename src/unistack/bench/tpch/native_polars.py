"""TPC-H queries written by hand in Polars' lazy API: the baseline unistack-on-Polars is measured against.

They compute the same answers as unistack and DuckDB. Polars gives the product of two ``decimal(15, 2)``
values scale 2 and rounds it, which drifts sums of prices away from the exact answer (Q1's
``sum_disc_price`` by 3.73 at SF 1), so, like a Polars user who needs exact money arithmetic, these widen one
operand of each decimal product to the product's scale (:func:`exact`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

import polars as pl

from unistack.bench.tpch.data import TABLES


def scans(directory: str) -> dict[str, pl.LazyFrame]:
    return {t: pl.scan_parquet(os.path.join(directory, f"{t}.parquet")) for t in TABLES}


def exact(x: pl.Expr, scale: int) -> pl.Expr:
    """``x`` widened so that a product with it keeps ``scale`` decimals instead of being rounded."""
    return x.cast(pl.Decimal(38, scale))


def _rev() -> pl.Expr:
    return exact(pl.col("l_extendedprice"), 4) * (1 - pl.col("l_discount"))


def q1(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        t["lineitem"].filter(pl.col("l_shipdate") <= dt.date(1998, 9, 2))
        .group_by("l_returnflag", "l_linestatus")
        .agg(
            pl.col("l_quantity").sum().alias("sum_qty"),
            pl.col("l_extendedprice").sum().alias("sum_base_price"),
            _rev().sum().alias("sum_disc_price"),
            (exact(_rev(), 6) * (1 + pl.col("l_tax"))).sum().alias("sum_charge"),
            pl.col("l_quantity").cast(pl.Float64).mean().alias("avg_qty"),
            pl.col("l_extendedprice").cast(pl.Float64).mean().alias("avg_price"),
            pl.col("l_discount").cast(pl.Float64).mean().alias("avg_disc"),
            pl.len().alias("count_order"),
        )
        .sort("l_returnflag", "l_linestatus")
    )


def q3(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        t["customer"].filter(pl.col("c_mktsegment") == "BUILDING")
        .join(t["orders"].filter(pl.col("o_orderdate") < dt.date(1995, 3, 15)), left_on="c_custkey",
              right_on="o_custkey")
        .join(t["lineitem"].filter(pl.col("l_shipdate") > dt.date(1995, 3, 15)), left_on="o_orderkey",
              right_on="l_orderkey")
        .group_by("o_orderkey", "o_orderdate", "o_shippriority")
        .agg(_rev().sum().alias("revenue"))
        .select(pl.col("o_orderkey").alias("l_orderkey"), "revenue", "o_orderdate", "o_shippriority")
        .sort(["revenue", "o_orderdate"], descending=[True, False])
        .head(10)
    )


def q4(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        t["orders"].filter(pl.col("o_orderdate").is_between(dt.date(1993, 7, 1), dt.date(1993, 10, 1), closed="left"))
        .join(t["lineitem"].filter(pl.col("l_commitdate") < pl.col("l_receiptdate")), left_on="o_orderkey",
              right_on="l_orderkey", how="semi")
        .group_by("o_orderpriority").agg(pl.len().alias("order_count"))
        .sort("o_orderpriority")
    )


def q5(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        t["customer"]
        .join(t["orders"].filter(pl.col("o_orderdate").is_between(dt.date(1994, 1, 1), dt.date(1995, 1, 1),
                                                                  closed="left")),
              left_on="c_custkey", right_on="o_custkey")
        .join(t["lineitem"], left_on="o_orderkey", right_on="l_orderkey")
        .join(t["supplier"], left_on=["l_suppkey", "c_nationkey"], right_on=["s_suppkey", "s_nationkey"])
        .join(t["nation"], left_on="c_nationkey", right_on="n_nationkey")
        .join(t["region"].filter(pl.col("r_name") == "ASIA"), left_on="n_regionkey", right_on="r_regionkey")
        .group_by("n_name").agg(_rev().sum().alias("revenue"))
        .sort("revenue", descending=True)
    )


def q6(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    from decimal import Decimal

    return (
        t["lineitem"].filter(
            pl.col("l_shipdate").is_between(dt.date(1994, 1, 1), dt.date(1995, 1, 1), closed="left")
            & pl.col("l_discount").is_between(Decimal("0.05"), Decimal("0.07"))
            & (pl.col("l_quantity") < 24)
        )
        .select((exact(pl.col("l_extendedprice"), 4) * pl.col("l_discount")).sum().alias("revenue"))
    )


def q10(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        t["customer"]
        .join(t["orders"].filter(pl.col("o_orderdate").is_between(dt.date(1993, 10, 1), dt.date(1994, 1, 1),
                                                                  closed="left")),
              left_on="c_custkey", right_on="o_custkey")
        .join(t["lineitem"].filter(pl.col("l_returnflag") == "R"), left_on="o_orderkey", right_on="l_orderkey")
        .join(t["nation"], left_on="c_nationkey", right_on="n_nationkey")
        .group_by("c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")
        .agg(_rev().sum().alias("revenue"))
        .select("c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone", "c_comment")
        .sort(["revenue", "c_custkey"], descending=[True, False])
        .head(20)
    )


def q12(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    urgent = pl.col("o_orderpriority").is_in(["1-URGENT", "2-HIGH"])
    return (
        t["orders"]
        .join(
            t["lineitem"].filter(
                pl.col("l_shipmode").is_in(["MAIL", "SHIP"])
                & (pl.col("l_commitdate") < pl.col("l_receiptdate"))
                & (pl.col("l_shipdate") < pl.col("l_commitdate"))
                & pl.col("l_receiptdate").is_between(dt.date(1994, 1, 1), dt.date(1995, 1, 1), closed="left")
            ),
            left_on="o_orderkey", right_on="l_orderkey",
        )
        .group_by("l_shipmode")
        .agg(urgent.sum().alias("high_line_count"), (~urgent).sum().alias("low_line_count"))
        .sort("l_shipmode")
    )


def q14(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        t["lineitem"].filter(pl.col("l_shipdate").is_between(dt.date(1995, 9, 1), dt.date(1995, 10, 1), closed="left"))
        .join(t["part"], left_on="l_partkey", right_on="p_partkey")
        .select(
            (100.0 * pl.when(pl.col("p_type").str.starts_with("PROMO")).then(_rev()).otherwise(0).sum().cast(pl.Float64)
             / _rev().sum().cast(pl.Float64)).alias("promo_revenue")
        )
    )


def q18(t: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    big = t["lineitem"].group_by("l_orderkey").agg(pl.col("l_quantity").sum().alias("qty")).filter(
        pl.col("qty") > 300)
    return (
        t["orders"].join(big, left_on="o_orderkey", right_on="l_orderkey", how="semi")
        .join(t["customer"], left_on="o_custkey", right_on="c_custkey")
        .join(t["lineitem"], left_on="o_orderkey", right_on="l_orderkey")
        .group_by("c_name", "o_custkey", "o_orderkey", "o_orderdate", "o_totalprice")
        .agg(pl.col("l_quantity").sum().alias("sum_qty"))
        .select("c_name", pl.col("o_custkey").alias("c_custkey"), "o_orderkey", "o_orderdate", "o_totalprice",
                "sum_qty")
        .sort(["o_totalprice", "o_orderdate"], descending=[True, False])
        .head(100)
    )


NATIVE: dict[int, Callable[[dict[str, pl.LazyFrame]], pl.LazyFrame]] = {
    1: q1, 3: q3, 4: q4, 5: q5, 6: q6, 10: q10, 12: q12, 14: q14, 18: q18,
}
