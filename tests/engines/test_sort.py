"""sort(): nulls last by default, per-key flags, NaN above numbers, code point order for strings."""

from __future__ import annotations

import datetime as dt
import math

import unistack as us

NAN = math.nan


def test_sort_ascending_and_descending_nulls_last(check):
    # S-SORT-NULLS
    df = us.from_dict({"a": [3, None, 1, 2]})
    check(df.sort("a"), {"a": [1, 2, 3, None]}, ordered=True)
    check(df.sort("a", descending=True), {"a": [3, 2, 1, None]}, ordered=True)


def test_sort_nulls_first(check):
    # S-SORT-NULLS
    df = us.from_dict({"a": [3, None, 1, None]})
    check(df.sort("a", nulls_last=False), {"a": [None, None, 1, 3]}, ordered=True)
    check(df.sort("a", descending=True, nulls_last=False), {"a": [None, None, 3, 1]}, ordered=True)


def test_sort_per_key_flags(check):
    # S-SORT-NULLS: each key has its own direction and null placement
    df = us.from_dict({"g": ["b", "a", None, "a", "b", "a"], "v": [1, 2, 3, None, 5, 6]})
    out = df.sort("g", "v", descending=[False, True], nulls_last=[False, True])
    check(out, {"g": [None, "a", "a", "a", "b", "b"], "v": [3, 6, 2, None, 5, 1]}, ordered=True)


def test_sort_nan_above_numbers(check):
    # S-SORT-NAN: numbers, NaN, then nulls (ascending); descending puts NaN first, nulls still last
    df = us.from_dict({"x": [1.5, None, NAN, -math.inf, math.inf, -0.5]})
    check(df.sort("x"), {"x": [-math.inf, -0.5, 1.5, math.inf, NAN, None]}, ordered=True)
    check(df.sort("x", descending=True), {"x": [NAN, math.inf, 1.5, -0.5, -math.inf, None]}, ordered=True)


def test_sort_nan_and_zeros_under_a_null_key(check):
    # found by a 5,000-plan conformance run on Flink (shrunk): behind an all-null first key, a NaN in the second
    # key scrambled the order around it (Flink compares doubles with < and >); -0.0 and 0.0 tie (S-SORT-NAN)
    df = us.from_dict({"g": [None] * 6, "f": [math.inf, 56.0, 0.0, NAN, -0.0, -12.75], "id": [1, 2, 3, 4, 5, 6]},
                      schema={"g": "int64", "f": "float64", "id": "int64"})
    out = df.sort(["g", "f", "id"], descending=[False, True, True]).select("id")
    check(out, {"id": [4, 1, 2, 5, 3, 6]}, ordered=True)


def test_sort_strings_by_code_point(check):
    # S-SORT-STRING
    df = us.from_dict({"s": ["b", "é", "Z", "a", "日本", "🎉", "", "ab"]})
    check(df.sort("s"), {"s": ["", "Z", "a", "ab", "b", "é", "日本", "🎉"]}, ordered=True)


def test_sort_by_expression(check):
    df = us.from_dict({"a": [-3, 1, -2, 4]})
    check(df.sort(us.col("a").abs()), {"a": [1, -2, -3, 4]}, ordered=True)


def test_sort_then_limit_is_top_n(check):
    df = us.from_dict({"a": [5, 1, None, 4, 3], "b": ["e", "a", "n", "d", "c"]})
    check(df.sort("a", descending=True).limit(3), {"a": [5, 4, 3], "b": ["e", "d", "c"]}, ordered=True)


def test_sort_dates_timestamps_and_bools(check):
    t = dt.datetime
    df = us.from_dict({"d": [dt.date(2024, 1, 2), dt.date(2023, 12, 31), dt.date(2024, 1, 1)],
                       "t": [t(2024, 1, 1, 0, 0, 1), t(2024, 1, 1), t(2023, 1, 1)],
                       "b": [True, False, True]})
    check(df.sort("d").select("d"), {"d": [dt.date(2023, 12, 31), dt.date(2024, 1, 1), dt.date(2024, 1, 2)]},
          ordered=True)
    check(df.sort("b", "t").select("b", "t"),
          {"b": [False, True, True], "t": [t(2024, 1, 1), t(2023, 1, 1), t(2024, 1, 1, 0, 0, 1)]}, ordered=True)


def test_sort_empty_input(check):
    df = us.from_dict({"a": []}, schema={"a": "int64"})
    check(df.sort("a"), {"a": []}, ordered=True)


def test_sort_after_aggregate(check):
    df = us.from_dict({"k": ["b", "a", "c", "a"], "v": [1, 2, 3, 4]})
    out = df.group_by("k").agg(us.col("v").sum()).sort("v", "k", descending=True)
    check(out, {"k": ["a", "c", "b"], "v": [6, 3, 1]}, ordered=True)


def test_sort_extreme_int64(check):
    lo, hi = -(2**63), 2**63 - 1
    df = us.from_dict({"a": [0, hi, None, lo, -1]})
    check(df.sort("a"), {"a": [lo, -1, 0, hi, None]}, ordered=True)


def test_sort_by_window_expression(check):
    # groups by their total, largest first, then by value; the window column is not in the output
    df = us.from_dict({"g": ["a", "b", "a", "c"], "x": [1, 5, 2, 4]})
    out = df.sort(us.col("x").sum().over("g"), "x", descending=[True, False])
    assert out.columns == ["g", "x"]
    check(out, {"g": ["b", "c", "a", "a"], "x": [5, 4, 1, 2]}, ordered=True)


def test_sort_of_rows_a_filter_cannot_keep(check):
    # S-ORDER: found on Flink (an unsatisfiable filter next to a sort's row numbering could not be planned)
    df = us.from_dict({"f": [1.0, None, 2.5], "g": [1, 2, None]})
    sorted_c0 = df.select(c0=us.col("g")).sort("c0")
    check(sorted_c0.filter((us.col("c0") > 5) & (us.col("c0") < 3)), {"c0": []}, ordered=True)
    check(us.concat([sorted_c0, sorted_c0.filter(us.lit(False))]), {"c0": [1, 2, None]})
