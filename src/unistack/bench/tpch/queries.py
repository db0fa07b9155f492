"""TPC-H queries written once in the unistack API (validation parameters of the specification).

``QUERIES[n](tables)`` builds query ``n`` from a dict of table name -> frame. Output column names match
the official SQL in ``sql/qN.sql`` so answers can be compared column by column.

Notes on expressing the SQL: correlated subqueries become aggregates joined back; ``EXISTS`` / ``NOT
EXISTS`` become semi / anti joins; ``LIKE 'x%'`` is ``str.starts_with``, ``LIKE '%x%'`` is
``str.contains`` and other patterns (Q13 ``'%special%requests%'``, Q16 ``'%Customer%Complaints%'``)
are ``str.like``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import unistack as us
from unistack import col

Tables = dict[str, us.LazyFrame]


def _revenue() -> us.Expr:
    return col("l_extendedprice") * (1 - col("l_discount"))


def _between_dates(column: str, start: dt.date, end: dt.date) -> us.Expr:
    """``start <= column < end``."""
    return (col(column) >= start) & (col(column) < end)


def q1(t: Tables) -> us.LazyFrame:
    return (
        t["lineitem"].filter(col("l_shipdate") <= dt.date(1998, 9, 2))
        .group_by("l_returnflag", "l_linestatus")
        .agg(
            sum_qty=col("l_quantity").sum(),
            sum_base_price=col("l_extendedprice").sum(),
            sum_disc_price=_revenue().sum(),
            sum_charge=(_revenue() * (1 + col("l_tax"))).sum(),
            avg_qty=col("l_quantity").mean(),
            avg_price=col("l_extendedprice").mean(),
            avg_disc=col("l_discount").mean(),
            count_order=us.count(),
        )
        .sort("l_returnflag", "l_linestatus")
    )


def q2(t: Tables) -> us.LazyFrame:
    europe = (
        t["partsupp"]
        .join(t["supplier"], left_on="ps_suppkey", right_on="s_suppkey")
        .join(t["nation"], left_on="s_nationkey", right_on="n_nationkey")
        .join(t["region"].filter(col("r_name") == "EUROPE"), left_on="n_regionkey", right_on="r_regionkey")
    )
    parts = t["part"].filter((col("p_size") == 15) & col("p_type").str.ends_with("BRASS"))
    candidates = europe.join(parts, left_on="ps_partkey", right_on="p_partkey")
    cheapest = europe.group_by("ps_partkey").agg(min_cost=col("ps_supplycost").min())
    return (
        candidates.join(cheapest, on="ps_partkey")
        .filter(col("ps_supplycost") == col("min_cost"))
        .select("s_acctbal", "s_name", "n_name", col("ps_partkey").alias("p_partkey"), "p_mfgr", "s_address",
                "s_phone", "s_comment")
        .sort("s_acctbal", "n_name", "s_name", "p_partkey", descending=[True, False, False, False])
        .limit(100)
    )


def q3(t: Tables) -> us.LazyFrame:
    return (
        t["customer"].filter(col("c_mktsegment") == "BUILDING")
        .join(t["orders"].filter(col("o_orderdate") < dt.date(1995, 3, 15)), left_on="c_custkey",
              right_on="o_custkey")
        .join(t["lineitem"].filter(col("l_shipdate") > dt.date(1995, 3, 15)), left_on="o_orderkey",
              right_on="l_orderkey")
        .group_by("l_orderkey", "o_orderdate", "o_shippriority")
        .agg(revenue=_revenue().sum())
        .select("l_orderkey", "revenue", "o_orderdate", "o_shippriority")
        .sort("revenue", "o_orderdate", descending=[True, False])
        .limit(10)
    )


def q4(t: Tables) -> us.LazyFrame:
    late = t["lineitem"].filter(col("l_commitdate") < col("l_receiptdate"))
    return (
        t["orders"].filter((col("o_orderdate") >= dt.date(1993, 7, 1)) & (col("o_orderdate") < dt.date(1993, 10, 1)))
        .join(late, left_on="o_orderkey", right_on="l_orderkey", how="semi")
        .group_by("o_orderpriority")
        .agg(order_count=us.count())
        .sort("o_orderpriority")
    )


def q5(t: Tables) -> us.LazyFrame:
    return (
        t["customer"]
        .join(t["orders"].filter(_between_dates("o_orderdate", dt.date(1994, 1, 1), dt.date(1995, 1, 1))),
              left_on="c_custkey", right_on="o_custkey")
        .join(t["lineitem"], left_on="o_orderkey", right_on="l_orderkey")
        .join(t["supplier"], left_on=["l_suppkey", "c_nationkey"], right_on=["s_suppkey", "s_nationkey"])
        .join(t["nation"], left_on="s_nationkey", right_on="n_nationkey")
        .join(t["region"].filter(col("r_name") == "ASIA"), left_on="n_regionkey", right_on="r_regionkey")
        .group_by("n_name")
        .agg(revenue=_revenue().sum())
        .sort("revenue", descending=True)
    )


def q6(t: Tables) -> us.LazyFrame:
    return (
        t["lineitem"]
        .filter(
            (col("l_shipdate") >= dt.date(1994, 1, 1)) & (col("l_shipdate") < dt.date(1995, 1, 1))
            & col("l_discount").between(Decimal("0.05"), Decimal("0.07")) & (col("l_quantity") < 24)
        )
        .select(revenue=(col("l_extendedprice") * col("l_discount")).sum())
    )


def q7(t: Tables) -> us.LazyFrame:
    n1 = t["nation"].select(n1_key=col("n_nationkey"), supp_nation=col("n_name"))
    n2 = t["nation"].select(n2_key=col("n_nationkey"), cust_nation=col("n_name"))
    return (
        t["supplier"]
        .join(t["lineitem"].filter(col("l_shipdate").between(dt.date(1995, 1, 1), dt.date(1996, 12, 31))),
              left_on="s_suppkey", right_on="l_suppkey")
        .join(t["orders"], left_on="l_orderkey", right_on="o_orderkey")
        .join(t["customer"], left_on="o_custkey", right_on="c_custkey")
        .join(n1, left_on="s_nationkey", right_on="n1_key")
        .join(n2, left_on="c_nationkey", right_on="n2_key")
        .filter(((col("supp_nation") == "FRANCE") & (col("cust_nation") == "GERMANY"))
                | ((col("supp_nation") == "GERMANY") & (col("cust_nation") == "FRANCE")))
        .with_columns(l_year=col("l_shipdate").dt.year(), volume=_revenue())
        .group_by("supp_nation", "cust_nation", "l_year")
        .agg(revenue=col("volume").sum())
        .sort("supp_nation", "cust_nation", "l_year")
    )


def q8(t: Tables) -> us.LazyFrame:
    n2 = t["nation"].select(n2_key=col("n_nationkey"), nation=col("n_name"))
    america = t["region"].filter(col("r_name") == "AMERICA")
    volumes = (
        t["part"].filter(col("p_type") == "ECONOMY ANODIZED STEEL")
        .join(t["lineitem"], left_on="p_partkey", right_on="l_partkey")
        .join(t["supplier"], left_on="l_suppkey", right_on="s_suppkey")
        .join(t["orders"].filter(col("o_orderdate").between(dt.date(1995, 1, 1), dt.date(1996, 12, 31))),
              left_on="l_orderkey", right_on="o_orderkey")
        .join(t["customer"], left_on="o_custkey", right_on="c_custkey")
        .join(t["nation"], left_on="c_nationkey", right_on="n_nationkey")
        .join(america, left_on="n_regionkey", right_on="r_regionkey")
        .join(n2, left_on="s_nationkey", right_on="n2_key")
        .with_columns(o_year=col("o_orderdate").dt.year(), volume=_revenue())
    )
    return (
        volumes.group_by("o_year")
        .agg(
            brazil=us.when(col("nation") == "BRAZIL").then(col("volume")).otherwise(0).sum(),
            total=col("volume").sum(),
        )
        .select("o_year", mkt_share=col("brazil") / col("total"))
        .sort("o_year")
    )


def q9(t: Tables) -> us.LazyFrame:
    return (
        t["lineitem"]
        .join(t["part"].filter(col("p_name").str.contains("green")), left_on="l_partkey", right_on="p_partkey",
              how="semi")
        .join(t["supplier"], left_on="l_suppkey", right_on="s_suppkey")
        .join(t["partsupp"], left_on=["l_suppkey", "l_partkey"], right_on=["ps_suppkey", "ps_partkey"])
        .join(t["orders"], left_on="l_orderkey", right_on="o_orderkey")
        .join(t["nation"], left_on="s_nationkey", right_on="n_nationkey")
        .select(
            nation=col("n_name"),
            o_year=col("o_orderdate").dt.year(),
            amount=_revenue() - col("ps_supplycost") * col("l_quantity"),
        )
        .group_by("nation", "o_year")
        .agg(sum_profit=col("amount").sum())
        .sort("nation", "o_year", descending=[False, True])
    )


def q10(t: Tables) -> us.LazyFrame:
    return (
        t["customer"]
        .join(t["orders"].filter(_between_dates("o_orderdate", dt.date(1993, 10, 1), dt.date(1994, 1, 1))),
              left_on="c_custkey", right_on="o_custkey")
        .join(t["lineitem"].filter(col("l_returnflag") == "R"), left_on="o_orderkey", right_on="l_orderkey")
        .join(t["nation"], left_on="c_nationkey", right_on="n_nationkey")
        .group_by("c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")
        .agg(revenue=_revenue().sum())
        .select("c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone", "c_comment")
        .sort("revenue", "c_custkey", descending=[True, False])
        .limit(20)
    )


def q11(t: Tables) -> us.LazyFrame:
    german = (
        t["partsupp"]
        .join(t["supplier"], left_on="ps_suppkey", right_on="s_suppkey")
        .join(t["nation"].filter(col("n_name") == "GERMANY"), left_on="s_nationkey", right_on="n_nationkey")
        .with_columns(value=col("ps_supplycost") * col("ps_availqty"))
    )
    threshold = german.select(threshold=col("value").sum() * Decimal("0.0001"))
    return (
        german.group_by("ps_partkey").agg(value=col("value").sum())
        .join(threshold, how="cross")
        .filter(col("value") > col("threshold"))
        .select("ps_partkey", "value")
        .sort("value", descending=True)
    )


def q12(t: Tables) -> us.LazyFrame:
    urgent = col("o_orderpriority").is_in(["1-URGENT", "2-HIGH"])
    return (
        t["orders"]
        .join(
            t["lineitem"].filter(
                col("l_shipmode").is_in(["MAIL", "SHIP"])
                & (col("l_commitdate") < col("l_receiptdate"))
                & (col("l_shipdate") < col("l_commitdate"))
                & (col("l_receiptdate") >= dt.date(1994, 1, 1)) & (col("l_receiptdate") < dt.date(1995, 1, 1))
            ),
            left_on="o_orderkey", right_on="l_orderkey",
        )
        .group_by("l_shipmode")
        .agg(
            high_line_count=us.when(urgent).then(1).otherwise(0).sum(),
            low_line_count=us.when(~urgent).then(1).otherwise(0).sum(),
        )
        .sort("l_shipmode")
    )


def q13(t: Tables) -> us.LazyFrame:
    kept = t["orders"].filter(~col("o_comment").str.like("%special%requests%"))
    return (
        t["customer"].join(kept, left_on="c_custkey", right_on="o_custkey", how="left")
        .group_by("c_custkey").agg(c_count=col("o_orderkey").count())
        .group_by("c_count").agg(custdist=us.count())
        .sort("custdist", "c_count", descending=True)
    )


def q14(t: Tables) -> us.LazyFrame:
    return (
        t["lineitem"].filter((col("l_shipdate") >= dt.date(1995, 9, 1)) & (col("l_shipdate") < dt.date(1995, 10, 1)))
        .join(t["part"], left_on="l_partkey", right_on="p_partkey")
        .select(
            promo_revenue=100.0 * us.when(col("p_type").str.starts_with("PROMO")).then(_revenue()).otherwise(0).sum()
            / _revenue().sum()
        )
    )


def q15(t: Tables) -> us.LazyFrame:
    revenue = (
        t["lineitem"].filter((col("l_shipdate") >= dt.date(1996, 1, 1)) & (col("l_shipdate") < dt.date(1996, 4, 1)))
        .group_by("l_suppkey").agg(total_revenue=_revenue().sum())
    )
    top = revenue.select(max_revenue=col("total_revenue").max())
    return (
        t["supplier"].join(revenue, left_on="s_suppkey", right_on="l_suppkey")
        .join(top, left_on="total_revenue", right_on="max_revenue", how="semi")
        .select("s_suppkey", "s_name", "s_address", "s_phone", "total_revenue")
        .sort("s_suppkey")
    )


def q16(t: Tables) -> us.LazyFrame:
    complaints = t["supplier"].filter(col("s_comment").str.like("%Customer%Complaints%"))
    parts = t["part"].filter(
        (col("p_brand") != "Brand#45") & ~col("p_type").str.starts_with("MEDIUM POLISHED")
        & col("p_size").is_in([49, 14, 23, 45, 19, 3, 36, 9])
    )
    return (
        t["partsupp"].join(parts, left_on="ps_partkey", right_on="p_partkey")
        .join(complaints, left_on="ps_suppkey", right_on="s_suppkey", how="anti")
        .group_by("p_brand", "p_type", "p_size")
        .agg(supplier_cnt=col("ps_suppkey").n_unique())
        .sort("supplier_cnt", "p_brand", "p_type", "p_size", descending=[True, False, False, False])
    )


def q17(t: Tables) -> us.LazyFrame:
    parts = t["part"].filter((col("p_brand") == "Brand#23") & (col("p_container") == "MED BOX"))
    items = t["lineitem"].join(parts, left_on="l_partkey", right_on="p_partkey", how="semi")
    avg_qty = items.group_by("l_partkey").agg(avg_quantity=col("l_quantity").mean())
    return (
        items.join(avg_qty, on="l_partkey")
        .filter(col("l_quantity") < 0.2 * col("avg_quantity"))
        .select(avg_yearly=col("l_extendedprice").sum() / 7.0)
    )


def q18(t: Tables) -> us.LazyFrame:
    big = t["lineitem"].group_by("l_orderkey").agg(qty=col("l_quantity").sum()).filter(col("qty") > 300)
    return (
        t["orders"].join(big, left_on="o_orderkey", right_on="l_orderkey", how="semi")
        .join(t["customer"], left_on="o_custkey", right_on="c_custkey")
        .join(t["lineitem"], left_on="o_orderkey", right_on="l_orderkey")
        .group_by("c_name", "o_custkey", "o_orderkey", "o_orderdate", "o_totalprice")
        .agg(sum_qty=col("l_quantity").sum())
        .select("c_name", col("o_custkey").alias("c_custkey"), "o_orderkey", "o_orderdate", "o_totalprice", "sum_qty")
        .sort("o_totalprice", "o_orderdate", descending=[True, False])
        .limit(100)
    )


def q19(t: Tables) -> us.LazyFrame:
    def bucket(brand: str, containers: list[str], low: int, high: int, size: int) -> us.Expr:
        return (
            (col("p_brand") == brand) & col("p_container").is_in(containers)
            & col("l_quantity").between(low, high) & col("p_size").between(1, size)
        )

    return (
        t["lineitem"]
        .filter(col("l_shipmode").is_in(["AIR", "AIR REG"]) & (col("l_shipinstruct") == "DELIVER IN PERSON"))
        .join(t["part"], left_on="l_partkey", right_on="p_partkey")
        .filter(
            bucket("Brand#12", ["SM CASE", "SM BOX", "SM PACK", "SM PKG"], 1, 11, 5)
            | bucket("Brand#23", ["MED BAG", "MED BOX", "MED PKG", "MED PACK"], 10, 20, 10)
            | bucket("Brand#34", ["LG CASE", "LG BOX", "LG PACK", "LG PKG"], 20, 30, 15)
        )
        .select(revenue=_revenue().sum())
    )


def q20(t: Tables) -> us.LazyFrame:
    forest = t["part"].filter(col("p_name").str.starts_with("forest"))
    shipped = (
        t["lineitem"].filter((col("l_shipdate") >= dt.date(1994, 1, 1)) & (col("l_shipdate") < dt.date(1995, 1, 1)))
        .group_by("l_partkey", "l_suppkey").agg(qty=col("l_quantity").sum())
    )
    candidates = (
        t["partsupp"].join(forest, left_on="ps_partkey", right_on="p_partkey", how="semi")
        .join(shipped, left_on=["ps_partkey", "ps_suppkey"], right_on=["l_partkey", "l_suppkey"])
        .filter(col("ps_availqty") > 0.5 * col("qty"))
    )
    return (
        t["supplier"].join(candidates, left_on="s_suppkey", right_on="ps_suppkey", how="semi")
        .join(t["nation"].filter(col("n_name") == "CANADA"), left_on="s_nationkey", right_on="n_nationkey",
              how="semi")
        .select("s_name", "s_address")
        .sort("s_name")
    )


def q21(t: Tables) -> us.LazyFrame:
    li = t["lineitem"].select("l_orderkey", "l_suppkey", "l_receiptdate", "l_commitdate")
    late = li.filter(col("l_receiptdate") > col("l_commitdate"))
    saudi = t["supplier"].join(t["nation"].filter(col("n_name") == "SAUDI ARABIA"), left_on="s_nationkey",
                               right_on="n_nationkey", how="semi")
    # late lines of Saudi suppliers in finished orders: the candidates, a small share of lineitem
    candidates = (
        late.join(saudi, left_on="l_suppkey", right_on="s_suppkey")
        .join(t["orders"].filter(col("o_orderstatus") == "F"), left_on="l_orderkey", right_on="o_orderkey",
              how="semi")
    )
    # "another supplier in the order" <=> the order's suppliers are not all the same (min != max); "no other
    # supplier was late" <=> the late suppliers are all the same. Only the candidates' orders are grouped.
    late_supplier = us.when(col("l_receiptdate") > col("l_commitdate")).then(col("l_suppkey"))
    orders = (
        li.join(candidates, on="l_orderkey", how="semi")
        .group_by("l_orderkey")
        .agg(lo=col("l_suppkey").min(), hi=col("l_suppkey").max(), late_lo=late_supplier.min(),
             late_hi=late_supplier.max())
        .filter((col("lo") != col("hi")) & (col("late_lo") == col("late_hi")))
    )
    return (
        candidates.join(orders, on="l_orderkey", how="semi")
        .group_by("s_name").agg(numwait=us.count())
        .sort("numwait", "s_name", descending=[True, False])
        .limit(100)
    )


def q22(t: Tables) -> us.LazyFrame:
    codes = ["13", "31", "23", "29", "30", "18", "17"]
    customers = t["customer"].with_columns(cntrycode=col("c_phone").str.slice(0, 2)).filter(
        col("cntrycode").is_in(codes))
    avg_balance = customers.filter(col("c_acctbal") > Decimal("0.00")).select(avg_bal=col("c_acctbal").mean())
    return (
        customers.join(avg_balance, how="cross")
        .filter(col("c_acctbal") > col("avg_bal"))
        .join(t["orders"], left_on="c_custkey", right_on="o_custkey", how="anti")
        .group_by("cntrycode")
        .agg(numcust=us.count(), totacctbal=col("c_acctbal").sum())
        .sort("cntrycode")
    )


QUERIES: dict[int, Callable[[Tables], us.LazyFrame]] = {
    i: fn for i, fn in enumerate(
        [q1, q2, q3, q4, q5, q6, q7, q8, q9, q10, q11, q12, q13, q14, q15, q16, q17, q18, q19, q20, q21, q22],
        start=1)
}
