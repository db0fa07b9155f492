"""Three-valued logic, null handling, is_in, when/then, NaN comparisons (S-NULL-*, S-ISIN, S-CASE)."""

from __future__ import annotations

import decimal
import math

import unistack as us

NAN = math.nan
T, F, N = True, False, None


def test_comparisons_with_null_give_null(check):
    # S-NULL-CMP
    df = us.from_dict({"a": [1, None, 3], "b": [1, 2, None]})
    out = df.select(eq=us.col("a") == us.col("b"), ne=us.col("a") != us.col("b"), lt=us.col("a") < us.col("b"),
                    ge=us.col("a") >= us.col("b"), ln=us.col("a") == us.lit(None))
    check(out, {"eq": [T, N, N], "ne": [F, N, N], "lt": [F, N, N], "ge": [T, N, N], "ln": [N, N, N]})


def test_kleene_and_or_not(check):
    # S-NULL-KLEENE: every combination of true, false and null
    a = [T, T, T, F, F, F, N, N, N]
    b = [T, F, N, T, F, N, T, F, N]
    df = us.from_dict({"a": a, "b": b}, schema={"a": "bool", "b": "bool"})
    out = df.select(and_=us.col("a") & us.col("b"), or_=us.col("a") | us.col("b"), not_=~us.col("a"))
    check(out, {"and_": [T, F, N, F, F, F, N, F, N], "or_": [T, T, T, T, F, N, T, N, N],
                "not_": [F, F, F, T, T, T, N, N, N]})


def test_is_null_and_is_not_null_nan_is_not_null(check):
    # S-NULL-NAN
    df = us.from_dict({"x": [1.0, None, NAN], "s": ["", None, "n"]})
    out = df.select(a=us.col("x").is_null(), b=us.col("x").is_not_null(), c=us.col("s").is_null(),
                    d=us.col("x").is_nan())
    check(out, {"a": [F, T, F], "b": [T, F, T], "c": [F, T, F], "d": [F, N, T]})


def test_fill_null_and_coalesce(check):
    df = us.from_dict({"a": [1, None, None], "b": [None, 2, None], "s": ["x", None, "é"], "f": [NAN, None, 1.0]})
    out = df.select(a=us.col("a").fill_null(0), c=us.coalesce("a", "b", us.lit(-1)), s=us.col("s").fill_null("?"),
                    f=us.col("f").fill_null(9.0), g=us.col("a").fill_null(us.col("b")))
    check(out, {"a": [1, 0, 0], "c": [1, 2, -1], "s": ["x", "?", "é"], "f": [NAN, 9.0, 1.0], "g": [1, 2, None]})


def test_coalesce_with_a_literal_before_an_expression(check):
    # found by a 5,000-expression conformance run on Flink (shrunk): a literal first made Flink's planner fail
    df = us.from_dict({"f": [4.0, None]})
    check(df.select(e=us.coalesce(us.lit(-45.5), us.col("f") ** 1.5), g=us.coalesce("f", us.lit(1.0), "f")),
          {"e": [-45.5, -45.5], "g": [4.0, 1.0]})
    # ... and a first argument that is a literal only after constant folding
    folded = us.when(us.lit(False)).then(us.col("f")).otherwise(us.lit(-45.5))
    check(df.select(e=folded.fill_null(us.coalesce("f", "f") ** 1.5)), {"e": [-45.5, -45.5]})


def test_is_in_true_false_null(check):
    # S-ISIN: null input gives null; nulls in the list are ignored; an empty list gives false
    df = us.from_dict({"a": [1, 2, None, 4], "s": ["é", "x", None, "日本"]})
    out = df.select(a=us.col("a").is_in([2, 4, None]), e=us.col("a").is_in([]), s=us.col("s").is_in(["é", "日本"]))
    check(out, {"a": [F, T, N, T], "e": [F, F, N, F], "s": [T, F, N, T]})


def test_is_in_floats_with_int_values(check):
    df = us.from_dict({"x": [1.0, 2.5, NAN]})
    check(df.select(us.col("x").is_in([1, 2.5])), {"x": [T, T, F]})


def test_is_in_negative_zero_is_zero(check):
    # found by a 5,000-plan conformance run on Dask (shrunk): Arrow's is_in hashed -0.0 and 0.0 apart
    df = us.from_dict({"f": [-0.0, 0.0, 1.0, None]})
    check(df.select(a=us.col("f").is_in([0.0, math.inf]), b=us.col("f").is_in([-0.0])),
          {"a": [True, True, False, None], "b": [True, True, False, None]})


def test_when_then_first_true_wins_and_null_condition_falls_through(check):
    # S-CASE
    df = us.from_dict({"a": [1, 5, None, 10]})
    expr = (us.when(us.col("a") > 8).then(us.lit("big"))
            .when(us.col("a") > 2).then(us.lit("mid"))
            .when(us.col("a") > 0).then(us.lit("small"))
            .otherwise(us.lit("none")))
    check(df.select(expr.alias("size")), {"size": ["small", "mid", "none", "big"]})


def test_when_without_otherwise_gives_null(check):
    # S-CASE
    df = us.from_dict({"a": [1, 5]})
    check(df.select(us.when(us.col("a") > 2).then(us.col("a") * 10).alias("x")), {"x": [None, 50]})


def test_when_branches_unify_types(check):
    # S-TYPE-PROMOTE: int32 and float64 branches give float64; a Python literal takes the column's type
    df = us.from_dict({"i": [1, 2], "f": [0.5, 1.5]}, schema={"i": "int32", "f": "float64"})
    out = df.select(x=us.when(us.col("i") == 1).then(us.col("i")).otherwise(us.col("f")),
                    y=us.when(us.col("i") == 1).then(us.col("i")).otherwise(0))
    assert [str(f.type) for f in out.schema] == ["double", "int32"]
    check(out, {"x": [1.0, 1.5], "y": [1, 0]})


def test_nan_comparisons_follow_sort_order(check):
    # S-NAN-CMP: NaN equals NaN and is greater than every number
    df = us.from_dict({"x": [NAN, NAN, 1.0, None], "y": [NAN, 1.0, NAN, NAN]})
    out = df.select(eq=us.col("x") == us.col("y"), gt=us.col("x") > us.col("y"), lt=us.col("x") < math.inf)
    check(out, {"eq": [T, F, F, N], "gt": [F, T, F, N], "lt": [F, F, T, N]})


def test_null_literal_column_and_arithmetic(check):
    df = us.from_dict({"a": [1, 2]})
    out = df.select(n=us.col("a") + us.lit(None), b=us.lit(None) & us.lit(False))
    check(out, {"n": [None, None], "b": [F, F]})


def test_between_with_nulls(check):
    df = us.from_dict({"a": [1, 5, None, 10]})
    check(df.select(us.col("a").between(1, 5)), {"a": [T, T, N, F]})


def test_is_in_compares_in_the_common_type(check):
    # S-ISIN, S-NAN-CMP: int32 vs 2.5 compares as float (no match); a decimal column with an int value;
    # NaN in the list matches NaN
    d = decimal.Decimal
    df = us.from_dict({"i": [2, 3, None], "d": [d("1.25"), d("3.00"), d("2.50")], "f": [2.0, NAN, 1.0]},
                      schema={"i": "int32", "d": "decimal(6, 2)", "f": "float64"})
    out = df.select(i=us.col("i").is_in([2.5, 3]), d=us.col("d").is_in([d("1.25"), 3]), f=us.col("f").is_in([2, NAN]))
    check(out, {"i": [F, T, N], "d": [T, T, F], "f": [T, T, F]})


def test_all_null_column_in_conditions(check):
    # S-NULL-KLEENE, S-NULL-FILTER with a column of the null type (every value null, no other type known)
    df = us.from_dict({"a": [1, 2], "n": [None, None]})
    out = df.select("a", x=~us.col("n"), y=us.col("n") & True, z=us.col("n") | True, w=us.col("n") & False,
                    c=us.when(us.col("n")).then(1).otherwise(2))
    check(out, {"a": [1, 2], "x": [N, N], "y": [N, N], "z": [T, T], "w": [F, F], "c": [2, 2]})
    check(df.filter(us.col("n") | (us.col("a") > 1)).select("a"), {"a": [2]})
    check(df.filter(us.col("n")).select("a"), {"a": []})
