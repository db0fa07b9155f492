"""Cardinality estimation: intervals that hold the true row counts, and their sources."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.planner import stats
from unistack.planner.cardinality import estimate
from unistack.planner.optimize import optimize

N = 100_000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    stats.clear_cache()
    rng = np.random.default_rng(1)
    d = str(tmp_path_factory.mktemp("card"))
    fact = pa.table({
        "id": np.arange(N),
        "k": rng.integers(0, 1000, N),
        "g": rng.integers(0, 12, N),
        "x": rng.random(N) * 100,
        "day": pa.array(np.datetime64("2020-01-01") + rng.integers(0, 365, N).astype("timedelta64[D]"),
                        pa.date32()),
    })
    dim = pa.table({"k": np.arange(1000), "name": [f"n{i}" for i in range(1000)]})
    out = {"fact": os.path.join(d, "fact.parquet"), "dim": os.path.join(d, "dim.parquet")}
    pq.write_table(fact, out["fact"], row_group_size=20_000)
    pq.write_table(dim, out["dim"])
    return out


def _check(frame: us.LazyFrame) -> tuple[float, float, float, str, int]:
    plan = optimize(frame.plan)
    r = estimate(plan)[plan].rows
    truth = frame.collect(engine="polars").num_rows
    return r.low, r.point, r.high, r.source, truth


def test_scan_is_exact_from_the_footer(files: dict[str, str]) -> None:
    lo, pt, hi, src, truth = _check(us.read_parquet(files["fact"]))
    assert (lo, pt, hi, src, truth) == (N, N, N, "footer", N)


@pytest.mark.parametrize("pred", [
    us.col("x") < 25.0,
    us.col("x") >= 90.0,
    (us.col("day") >= dt.date(2020, 3, 1)) & (us.col("day") < dt.date(2020, 6, 1)),
    (us.col("x") < 50.0) & (us.col("g") > 6),
])
def test_range_selectivity_from_min_max_holds_the_truth(files: dict[str, str], pred: us.Expr) -> None:
    lo, pt, hi, src, truth = _check(us.read_parquet(files["fact"]).filter(pred))
    assert src == "min/max"
    assert lo <= truth <= hi
    assert abs(pt - truth) / truth < 0.2


def test_predicate_outside_the_range_is_exactly_empty(files: dict[str, str]) -> None:
    lo, pt, hi, src, truth = _check(us.read_parquet(files["fact"]).filter(us.col("x") > 1000.0))
    assert (lo, pt, hi, truth) == (0, 0, 0, 0) and src == "exact"


def test_unknown_predicate_gets_a_default_interval(files: dict[str, str]) -> None:
    lo, pt, hi, src, _truth = _check(us.read_parquet(files["fact"]).filter((us.col("x") * us.col("g")) > 500))
    assert src == "default" and lo < pt < hi


def test_group_keys_use_distinct_counts(files: dict[str, str]) -> None:
    fact = us.read_parquet(files["fact"])
    for frame, exact in [(fact.group_by("g").agg(us.col("x").sum()), True),
                         (fact.group_by("k").agg(us.col("x").sum()), False),
                         (fact.group_by("g", "k").agg(us.count()), False)]:
        lo, pt, hi, src, truth = _check(frame)
        assert src == "distinct" and lo <= truth <= hi
        assert abs(pt - truth) / truth < (0.01 if exact else 0.5)


def test_global_aggregate_and_limit_are_exact(files: dict[str, str]) -> None:
    assert _check(us.read_parquet(files["fact"]).select(us.col("x").sum()))[:4] == (1, 1, 1, "exact")
    lo, pt, hi, src, truth = _check(us.read_parquet(files["fact"]).sort("x").limit(10))
    assert (lo, pt, hi, src, truth) == (10, 10, 10, "exact", 10)


def test_fk_pk_join_estimate(files: dict[str, str]) -> None:
    frame = us.read_parquet(files["fact"]).join(us.read_parquet(files["dim"]), on="k")
    lo, pt, hi, src, truth = _check(frame)
    assert src == "distinct" and lo <= truth <= hi
    assert abs(pt - truth) / truth < 0.25
    semi = us.read_parquet(files["fact"]).join(us.read_parquet(files["dim"]).filter(us.col("k") < 100), on="k",
                                                how="semi")
    lo, pt, hi, src, truth = _check(semi)
    assert lo <= truth <= hi


def test_every_node_is_annotated_and_union_adds(files: dict[str, str]) -> None:
    from unistack.plan.text import plan_text

    a = us.read_parquet(files["fact"]).select("k")
    frame = us.concat([a, a]).distinct()
    plan = optimize(frame.plan)
    est = estimate(plan)
    text = plan_text(plan, est.annotate())
    assert len(text.splitlines()) == len(list(plan.walk()))
    assert all("\t" in line for line in text.splitlines())
    union = plan.input
    assert est[union].rows.point == 2 * N
    assert est[plan].rows.low <= 1000 <= est[plan].rows.high


def test_in_memory_source_and_widths() -> None:
    t = pa.table({"a": list(range(1000)), "s": ["hello world"] * 1000})
    plan = optimize(us.from_arrow(t).plan)
    e = estimate(plan)[plan]
    assert e.rows.source == "arrow" and e.rows.point == 1000
    assert 8 <= e.width <= 8 + 11 + 8 + 1  # int64 + string bytes + offsets
