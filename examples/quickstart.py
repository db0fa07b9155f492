"""A small end-to-end unistack pipeline on the embedded Polars engine.

It writes two Parquet files (orders and customers), then: joins them, aggregates revenue per customer and
month, ranks each customer's months with a window function, and keeps the best month per customer, sorted.
It prints the result and how unistack ran it (``us.explain``).

Run: ``python examples/quickstart.py``
"""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq

import unistack as us


def write_inputs(directory: str) -> tuple[str, str]:
    """Write a deterministic orders table (20,000 rows) and a customers table as Parquet."""
    rng = random.Random(42)
    n = 20_000
    start = dt.date(2025, 1, 1)
    orders = pa.table({
        "order_id": list(range(n)),
        "customer_id": [rng.randrange(1, 51) for _ in range(n)],
        "order_date": [start + dt.timedelta(days=rng.randrange(0, 365)) for _ in range(n)],
        "amount": [round(rng.uniform(5, 500), 2) if rng.random() > 0.01 else None for _ in range(n)],
    })
    regions = ["Nord", "Süd", "東京", "São Paulo"]
    customers = pa.table({
        "customer_id": list(range(1, 51)),
        "name": [f"customer-{i:02d}" for i in range(1, 51)],
        "region": [regions[i % len(regions)] for i in range(1, 51)],
    })
    orders_path = os.path.join(directory, "orders.parquet")
    customers_path = os.path.join(directory, "customers.parquet")
    pq.write_table(orders, orders_path)
    pq.write_table(customers, customers_path)
    return orders_path, customers_path


def build_pipeline(orders_path: str, customers_path: str) -> us.LazyFrame:
    """Best month per customer in the first half of 2025, with its share of the customer's revenue."""
    orders = us.read_parquet(orders_path)
    customers = us.read_parquet(customers_path)
    monthly = (
        orders.filter(us.col("order_date") < dt.date(2025, 7, 1))
        .join(customers, on="customer_id")
        .with_columns(month=us.col("order_date").dt.truncate("month"))
        .group_by("customer_id", "name", "region", "month")
        .agg(revenue=us.col("amount").sum(), orders=us.count())
    )
    ranked = monthly.with_columns(
        rank=us.col("revenue").rank(descending=True).over("customer_id"),
        share=us.col("revenue") / us.col("revenue").sum().over("customer_id"),
    )
    return (
        ranked.filter(us.col("rank") == 1)
        .select("region", "name", "month", us.col("revenue").round(2), "orders", us.col("share").round(3))
        .sort("revenue", "name", descending=[True, False])
        .limit(10)
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        orders_path, customers_path = write_inputs(directory)
        pipeline = build_pipeline(orders_path, customers_path)
        result = pipeline.collect()
        print(result.to_pandas().to_string(index=False) if _has_pandas() else result)
        print()
        print(us.explain(pipeline))


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
