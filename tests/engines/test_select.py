"""select(): columns, expressions, output names, literal columns, global aggregates."""

from __future__ import annotations

import pyarrow as pa

import unistack as us


def test_select_columns_and_expressions(check):
    df = us.from_dict({"a": [1, 2, None], "b": [10, 20, 30]})
    out = df.select("b", us.col("a") * 2, c=us.col("a") + us.col("b"))
    assert out.columns == ["b", "a", "c"]
    check(out, {"b": [10, 20, 30], "a": [2, 4, None], "c": [11, 22, None]})


def test_select_output_names_follow_leftmost_column(check):
    # S-NAMES
    df = us.from_dict({"a": [1, 2], "b": [5, 7]})
    out = df.select(us.col("a") + us.col("b"), (10 - us.col("b")).alias("d"), us.lit(3).alias("lit3"))
    check(out, {"a": [6, 9], "d": [5, 3], "lit3": [3, 3]})


def test_select_only_literals_gives_one_value_per_row(check):
    # S-SELECT-LITERAL
    df = us.from_dict({"a": [1, 2, 3]})
    check(df.select(us.lit(1).alias("one"), us.lit("é").alias("s")), {"one": [1, 1, 1], "s": ["é", "é", "é"]})


def test_select_only_literals_on_empty_input(check):
    # S-SELECT-LITERAL
    df = us.from_dict({"a": []}, schema={"a": "int64"})
    check(df.select(us.lit(1).alias("one")), {"one": []})


def test_select_reorders_and_repeats_under_aliases(check):
    df = us.from_dict({"a": [1], "b": ["x"]})
    check(df.select("b", "a", us.col("a").alias("a2")), {"b": ["x"], "a": [1], "a2": [1]})


def test_select_unicode_column_names(check):
    df = us.from_dict({"größe": [1, 2], "列": ["日本", "中文"], "emoji 🎉": [True, False]})
    out = df.select("列", us.col("größe") + 1, "emoji 🎉")
    check(out, {"列": ["日本", "中文"], "größe": [2, 3], "emoji 🎉": [True, False]})


def test_select_global_aggregates_give_one_row(check):
    df = us.from_dict({"a": [1, 2, None], "b": [1.5, None, 2.5]})
    out = df.select(us.col("a").sum(), us.col("b").mean(), n=us.count(), m=us.col("a").max() - us.col("a").min())
    check(out, {"a": [3], "b": [2.0], "n": [3], "m": [1]})


def test_select_on_empty_input_keeps_schema(check):
    df = us.from_dict({"a": [], "s": []}, schema={"a": "int32", "s": "string"})
    out = df.select(us.col("a") + 1, us.col("s").str.upper())
    assert out.schema == pa.schema([("a", pa.int32()), ("s", pa.large_string())])
    check(out, {"a": [], "s": []})


def test_select_single_row(check):
    df = us.from_dict({"a": [7], "b": [-1.5]})
    check(df.select(x=us.col("a") * us.col("b"), y=us.col("a") // 2), {"x": [-10.5], "y": [3]})


def test_select_chained_projections(check):
    df = us.from_dict({"a": [1, 2, 3]})
    out = df.select(b=us.col("a") * 10).select(c=us.col("b") + 1).select("c", d=us.col("c") * 2)
    check(out, {"c": [11, 21, 31], "d": [22, 42, 62]})
