"""rename() and drop()."""

from __future__ import annotations

import unistack as us


def test_rename_keeps_position(check):
    df = us.from_dict({"a": [1], "b": [2], "c": [3]})
    out = df.rename({"b": "größe"})
    assert out.columns == ["a", "größe", "c"]
    check(out, {"a": [1], "größe": [2], "c": [3]})


def test_rename_swap(check):
    df = us.from_dict({"a": [1, 2], "b": ["x", "y"]})
    check(df.rename({"a": "b", "b": "a"}), {"b": [1, 2], "a": ["x", "y"]})


def test_rename_then_filter_and_sort_on_new_name(check):
    df = us.from_dict({"a": [3, 1, 2]})
    check(df.rename({"a": "z"}).filter(us.col("z") > 1).sort("z"), {"z": [2, 3]}, ordered=True)


def test_drop_columns(check):
    df = us.from_dict({"a": [1], "b": [2], "c": [3]})
    check(df.drop("b"), {"a": [1], "c": [3]})
    check(df.drop(["a", "c"]), {"b": [2]})


def test_drop_then_distinct(check):
    df = us.from_dict({"a": [1, 1, 2], "b": [1, 2, 3]})
    check(df.drop("b").distinct(), {"a": [1, 2]})
