"""limit()/head(): which rows is defined only after a sort (S-ORDER)."""

from __future__ import annotations

import unistack as us


def test_limit_after_sort(check):
    df = us.from_dict({"a": [3, 1, 2, 5, 4]})
    check(df.sort("a").limit(2), {"a": [1, 2]}, ordered=True)
    check(df.sort("a").head(1), {"a": [1]}, ordered=True)


def test_limit_zero_and_larger_than_input(check):
    df = us.from_dict({"a": [3, 1, 2]})
    check(df.limit(0), {"a": []})
    check(df.sort("a").limit(10), {"a": [1, 2, 3]}, ordered=True)


def test_limit_without_sort_returns_n_of_the_rows(engine):
    # S-ORDER: without a sort any n rows may come back, but exactly n of them, with the plan's schema
    df = us.from_dict({"a": [10, 20, 30, 40, 50], "s": ["v", "w", "x", "y", "z"]})
    out = df.limit(3).collect(engine=engine)
    assert out.schema == df.schema
    rows = list(zip(*out.to_pydict().values()))
    assert len(rows) == 3 and len(set(rows)) == 3
    assert set(rows) <= {(10, "v"), (20, "w"), (30, "x"), (40, "y"), (50, "z")}


def test_limit_after_filter_and_filter_after_limit(check):
    df = us.from_dict({"a": [1, 2, 3, 4, 5, 6]})
    check(df.filter(us.col("a") > 2).sort("a").limit(2), {"a": [3, 4]}, ordered=True)
    check(df.sort("a").limit(3).filter(us.col("a") > 1), {"a": [2, 3]})


def test_limit_of_empty_input(check):
    df = us.from_dict({"a": []}, schema={"a": "string"})
    check(df.limit(5), {"a": []})


def test_limit_then_aggregate(check):
    df = us.from_dict({"a": [5, 4, 3, 2, 1]})
    check(df.sort("a").limit(3).select(us.col("a").sum()), {"a": [6]})


def test_limit_of_concat(check):
    a = us.from_dict({"a": [5, 1]})
    b = us.from_dict({"a": [4, 2, 3]})
    check(us.concat([a, b]).sort("a").limit(3), {"a": [1, 2, 3]}, ordered=True)
    check(us.concat([a, b]).limit(4).select(n=us.count()), {"n": [4]})
