"""What the plan knows about columns that can hold no null (plan/nullability.py)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.plan.nullability import nonnull_columns


@pytest.fixture
def frames(tmp_path):
    schema = pa.schema([pa.field("k", pa.int64(), nullable=False), pa.field("a", pa.int64(), nullable=False),
                        pa.field("b", pa.int64())])
    pq.write_table(pa.table({"k": [1], "a": [1], "b": [None]}, schema=schema), tmp_path / "l.parquet")
    pq.write_table(pa.table({"k": [1], "a": [1], "b": [None]}, schema=schema), tmp_path / "r.parquet")
    return us.read_parquet(tmp_path / "l.parquet"), us.read_parquet(tmp_path / "r.parquet")


def _nonnull(frame: us.LazyFrame) -> list[str]:
    return sorted(nonnull_columns(frame._plan))


def test_scan_and_row_expressions(frames):
    left, _ = frames
    assert _nonnull(left) == ["a", "k"]
    assert _nonnull(left.filter(us.col("a") > 0).sort("a").head(3)) == ["a", "k"]
    out = left.select(s=us.col("a") + us.col("k"), d=us.col("a") / us.col("k"), n=us.col("a") + us.col("b"),
                      c=us.when(us.col("a") > 0).then(1).otherwise(0), m=us.col("b").is_null())
    assert _nonnull(out) == ["c", "m", "s"]


def test_joins_keep_the_sides_that_always_match(frames):
    left, right = frames
    inner = left.join(right.select("k", ra="a"), on="k")
    assert _nonnull(inner) == ["a", "k", "ra"]
    outer = left.join(right.select("k", ra="a"), on="k", how="left")
    assert _nonnull(outer) == ["a", "k"]


def test_group_by_keys_and_counts(frames):
    left, _ = frames
    out = left.group_by("k").agg(n=us.col("b").count(), s=us.col("a").sum())
    assert _nonnull(out) == ["k", "n"]
    assert _nonnull(left.select(us.col("a").sum())) == []
