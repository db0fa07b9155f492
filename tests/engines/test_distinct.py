"""distinct(): nulls equal nulls, NaN equals NaN (S-NAN-EQ); subset keeps one row per value (S-DISTINCT)."""

from __future__ import annotations

import math

import unistack as us

NAN = math.nan


def test_distinct_rows_with_nulls_and_nan(check):
    # S-NAN-EQ, S-DISTINCT
    df = us.from_dict({"a": [1.0, 1.0, NAN, NAN, None, None], "b": ["x", "x", "y", "y", None, None]})
    check(df.distinct(), {"a": [1.0, NAN, None], "b": ["x", "y", None]})


def test_distinct_of_a_union_whose_inputs_differ_in_nulls(check):
    # found by a 5,000-plan conformance run on Dask (shrunk): Dask's drop_duplicates hashed 1 in a partition
    # with nulls differently from 1 in one without, so the duplicate rows of the union survived
    df = us.from_dict({"i": [1, None, 3], "b": [True, None, False]})
    check(us.concat([df, df.filter(us.col("b"))]).distinct(), {"i": [1, None, 3], "b": [True, None, False]})


def test_distinct_negative_zero_is_zero(check):
    # S-NAN-EQ: -0.0 and 0.0 are one value (Dask kept both)
    check(us.from_dict({"a": [-0.0, 0.0, None, -0.0]}).distinct(), {"a": [0.0, None]})


def test_distinct_subset_keeps_one_row_per_value(engine):
    # S-DISTINCT: which row of each subset value is kept is arbitrary
    df = us.from_dict({"k": [1, 1, 2, None, None], "v": ["a", "b", "c", "d", "e"]})
    out = df.distinct("k").collect(engine=engine)
    assert out.schema == df.schema
    got = dict(zip(out.column("k").to_pylist(), out.column("v").to_pylist()))
    assert len(got) == out.num_rows == 3
    assert got[1] in ("a", "b") and got[2] == "c" and got[None] in ("d", "e")


def test_distinct_subset_then_select_subset(check):
    df = us.from_dict({"k": ["é", "é", "日本", None], "v": [1, 2, 3, 4]})
    check(df.distinct(["k"]).select("k"), {"k": ["é", "日本", None]})


def test_distinct_of_empty_input(check):
    df = us.from_dict({"a": []}, schema={"a": "int64"})
    check(df.distinct(), {"a": []})


def test_distinct_unicode_and_case(check):
    df = us.from_dict({"s": ["a", "A", "é", "é", "e\u0301", "🎉", "🎉"]})
    # 'é' precomposed and 'e' + combining accent are different strings (no normalisation)
    check(df.distinct(), {"s": ["A", "a", "e\u0301", "é", "🎉"]})


def test_distinct_then_count(check):
    df = us.from_dict({"a": [1, 2, 2, 3, 3, 3]})
    check(df.distinct().select(n=us.count()), {"n": [3]})
