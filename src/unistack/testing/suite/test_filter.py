"""Filter: three-valued logic, NaN comparisons, string order (S-NULL-*, S-NAN-CMP, S-SORT-STRING)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

import unistack as us

sem = pytest.mark.semantics
NAN = math.nan


@sem("S-NULL-FILTER", "S-NULL-CMP")
def test_null_comparison_drops_row(us_check):
    df = us.from_dict({"a": [1, None, 3]})
    us_check(df.filter(us.col("a") > 1), {"a": [3]})
    us_check(df.filter(us.col("a") != 1), {"a": [3]})


@sem("S-NULL-CMP")
def test_comparison_with_null_is_null(us_check):
    df = us.from_dict({"a": [1, None]})
    us_check(df.select(eq=us.col("a") == None, lt=us.col("a") < 2), {"eq": [None, None], "lt": [True, None]})  # noqa: E711


@sem("S-NULL-KLEENE")
def test_kleene_logic(us_check):
    df = us.from_dict({"p": [True, True, True, False, False, False, None, None, None],
                       "q": [True, False, None, True, False, None, True, False, None]})
    us_check(df.select(a=us.col("p") & us.col("q"), o=us.col("p") | us.col("q"), n=~us.col("p")),
             {"a": [True, False, None, False, False, False, None, False, None],
              "o": [True, True, True, True, False, None, True, None, None],
              "n": [False, False, False, True, True, True, None, None, None]})


@sem("S-NULL-KLEENE", "S-NULL-FILTER")
def test_filter_with_kleene_predicate(us_check):
    df = us.from_dict({"a": [1, None, 3, None], "b": [None, True, False, None]})
    us_check(df.filter((us.col("a") > 2) | us.col("b")), {"a": [None, 3], "b": [True, False]})


@sem("S-NAN-CMP")
def test_nan_comparisons(us_check):
    df = us.from_dict({"f": [NAN, 1.0, math.inf, None]})
    us_check(df.select(eq=us.col("f") == NAN, gt=us.col("f") > math.inf, lt=us.col("f") < NAN),
             {"eq": [True, False, False, None], "gt": [True, False, False, None], "lt": [False, True, True, None]})


@sem("S-NAN-CMP", "S-NULL-NAN")
def test_filter_nan_is_not_null(us_check):
    df = us.from_dict({"f": [NAN, None, 2.0]})
    us_check(df.filter(us.col("f").is_not_null()), {"f": [NAN, 2.0]})
    us_check(df.filter(us.col("f") > 10.0), {"f": [NAN]})


@sem("S-SORT-STRING")
def test_string_comparison_code_point_order(us_check):
    df = us.from_dict({"s": ["Z", "a", "é", "日本", "e\u0301"]})
    us_check(df.filter(us.col("s") > "a"), {"s": ["é", "日本", "e\u0301"]})
    us_check(df.filter(us.col("s") == "é"), {"s": ["é"]})


def test_between_inclusive(us_check):
    df = us.from_dict({"a": [1, 2, 3, 4, None]})
    us_check(df.filter(us.col("a").between(2, 3)), {"a": [2, 3]})


@sem("S-DT-TZ")
def test_filter_timestamps(us_check):
    df = us.from_dict({"t": [dt.datetime(2024, 1, 1), dt.datetime(2024, 6, 1), None]})
    us_check(df.filter(us.col("t") >= dt.datetime(2024, 3, 1)), {"t": [dt.datetime(2024, 6, 1)]})


def test_filter_to_empty(us_check):
    df = us.from_dict({"a": [1, 2]})
    us_check(df.filter(us.col("a") > 5), {"a": []})


def test_filter_literal_false_and_null(us_check):
    df = us.from_dict({"a": [1, 2]})
    us_check(df.filter(us.lit(False)), {"a": []})
    us_check(df.filter(us.lit(None, "bool")), {"a": []})


def test_chained_filters(us_check):
    df = us.from_dict({"a": [1, 2, 3, 4, 5], "s": ["x", "y", "x", "y", "x"]})
    us_check(df.filter(us.col("a") > 1).filter(us.col("s") == "x"), {"a": [3, 5], "s": ["x", "x"]})
