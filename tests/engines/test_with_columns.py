"""with_columns(): add and replace columns; aggregates broadcast to every row."""

from __future__ import annotations

import unistack as us


def test_with_columns_adds_and_replaces_in_place(check):
    df = us.from_dict({"a": [1, 2], "b": ["x", "y"]})
    out = df.with_columns(us.col("a") * 100, c=us.lit(True))
    assert out.columns == ["a", "b", "c"]
    check(out, {"a": [100, 200], "b": ["x", "y"], "c": [True, True]})


def test_with_columns_expressions_see_the_input_columns(check):
    df = us.from_dict({"a": [1, 2]})
    # b is computed from the *input* a, not from the replaced one
    check(df.with_columns(a=us.col("a") + 1, b=us.col("a") * 10), {"a": [2, 3], "b": [10, 20]})


def test_with_columns_broadcasts_aggregates(check):
    # S-WIN-NOPART: a bare aggregate in with_columns is its value over the whole frame
    df = us.from_dict({"a": [1, 3, None]})
    out = df.with_columns(total=us.col("a").sum(), share=us.col("a") / us.col("a").sum(), n=us.count())
    check(out, {"a": [1, 3, None], "total": [4, 4, 4], "share": [0.25, 0.75, None], "n": [3, 3, 3]})


def test_with_columns_on_empty_input(check):
    df = us.from_dict({"a": []}, schema={"a": "float64"})
    check(df.with_columns(b=us.col("a") * 2, c=us.lit("k")), {"a": [], "b": [], "c": []})


def test_with_columns_then_filter_on_new_column(check):
    df = us.from_dict({"a": [1, 2, 3, 4]})
    out = df.with_columns(even=(us.col("a") % 2) == 0).filter(us.col("even"))
    check(out, {"a": [2, 4], "even": [True, True]})
