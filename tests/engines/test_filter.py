"""filter(): only rows where the predicate is true survive (S-NULL-FILTER)."""

from __future__ import annotations

import datetime as dt

import unistack as us


def test_filter_null_predicate_drops_row(check):
    # S-NULL-FILTER, S-NULL-CMP: a > 1 is null for a null a, so the row is dropped
    df = us.from_dict({"a": [1, 2, None, 3], "b": ["w", "x", "y", "z"]})
    check(df.filter(us.col("a") > 1), {"a": [2, 3], "b": ["x", "z"]})


def test_filter_negated_null_predicate_still_drops_row(check):
    # S-NULL-KLEENE: ~(null) is null, not true
    df = us.from_dict({"a": [1, 2, None]})
    check(df.filter(~(us.col("a") > 1)), {"a": [1]})


def test_filter_several_predicates_all_must_hold(check):
    df = us.from_dict({"a": [1, 2, 3, 4], "s": ["a", "b", "b", "b"]})
    check(df.filter(us.col("a") > 1, us.col("s") == "b", us.col("a") != 3), {"a": [2, 4], "s": ["b", "b"]})


def test_filter_kleene_or_keeps_true_rows(check):
    # S-NULL-KLEENE: null | true is true
    df = us.from_dict({"a": [None, None, 5], "b": [True, False, False]})
    check(df.filter((us.col("a") > 1) | us.col("b")), {"a": [None, 5], "b": [True, False]})


def test_filter_always_false_gives_empty_result(check):
    df = us.from_dict({"a": [1, 2], "s": ["x", "y"]})
    check(df.filter(us.col("a") > 100), {"a": [], "s": []})


def test_filter_on_empty_input(check):
    df = us.from_dict({"a": []}, schema={"a": "int64"})
    check(df.filter(us.col("a") == 1), {"a": []})


def test_filter_unicode_equality(check):
    df = us.from_dict({"s": ["straße", "strasse", "café", "日本", "🎉"]})
    check(df.filter(us.col("s").is_in(["straße", "日本", "🎉"])), {"s": ["straße", "日本", "🎉"]})


def test_filter_between_dates(check):
    df = us.from_dict({"d": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), dt.date(2024, 3, 1), None]})
    check(df.filter(us.col("d").between(dt.date(2024, 2, 1), dt.date(2024, 3, 1))),
          {"d": [dt.date(2024, 2, 29), dt.date(2024, 3, 1)]})


def test_filter_with_window_comparison(check):
    # rows above their group's mean (the window is computed as a hidden column, then dropped)
    df = us.from_dict({"g": ["a", "a", "b", "b", "b"], "x": [1, 3, 10, 20, 60]})
    check(df.filter(us.col("x") > us.col("x").mean().over("g")), {"g": ["a", "b"], "x": [3, 60]})


def test_filter_literal_true_and_false(check):
    df = us.from_dict({"a": [1, 2]})
    check(df.filter(us.lit(True)), {"a": [1, 2]})
    check(df.filter(us.lit(False)), {"a": []})
