"""join(): every kind, duplicate and null keys, NaN keys, output naming (S-JOIN-*)."""

from __future__ import annotations

import math

import pyarrow as pa

import unistack as us

NAN = math.nan


def _sides():
    left = us.from_dict({"k": [1, 2, 2, None, 4], "a": ["x", "y", "z", "n", "w"]})
    right = us.from_dict({"k": [2, 2, 3, None, 1], "b": [20, 21, 30, 99, 10]})
    return left, right


def test_inner_join_duplicate_keys_and_null_keys_never_match(check):
    # S-JOIN-NULL: the null keys on both sides do not match each other
    left, right = _sides()
    check(left.join(right, on="k"),
          {"k": [1, 2, 2, 2, 2], "a": ["x", "y", "y", "z", "z"], "b": [10, 20, 21, 20, 21]})


def test_left_join_keeps_unmatched_left_rows(check):
    left, right = _sides()
    check(left.join(right, on="k", how="left"),
          {"k": [1, 2, 2, 2, 2, None, 4], "a": ["x", "y", "y", "z", "z", "n", "w"],
           "b": [10, 20, 21, 20, 21, None, None]})


def test_right_join_takes_the_right_key(check):
    # S-JOIN-NAMES: a right join's shared key column comes from the right side
    left, right = _sides()
    check(left.join(right, on="k", how="right"),
          {"k": [1, 2, 2, 2, 2, 3, None], "a": ["x", "y", "z", "y", "z", None, None],
           "b": [10, 20, 20, 21, 21, 30, 99]})


def test_full_join_coalesces_the_key(check):
    # S-JOIN-NAMES, S-JOIN-NULL
    left, right = _sides()
    check(left.join(right, on="k", how="full"),
          {"k": [1, 2, 2, 2, 2, 3, 4, None, None], "a": ["x", "y", "y", "z", "z", None, "w", "n", None],
           "b": [10, 20, 21, 20, 21, 30, None, None, 99]})


def test_semi_and_anti_joins(check):
    left, right = _sides()
    check(left.join(right, on="k", how="semi"), {"k": [1, 2, 2], "a": ["x", "y", "z"]})
    # a null key has no match, so anti keeps it
    check(left.join(right, on="k", how="anti"), {"k": [None, 4], "a": ["n", "w"]})


def test_cross_join_with_suffix(check):
    left = us.from_dict({"k": [1, 2]})
    right = us.from_dict({"k": ["a", "b", None]})
    check(left.join(right, how="cross"),
          {"k": [1, 1, 1, 2, 2, 2], "k_right": ["a", "b", None, "a", "b", None]})


def test_left_on_right_on_keeps_both_key_columns(check):
    left = us.from_dict({"id": [1, 2, 3], "v": ["a", "b", "c"]})
    right = us.from_dict({"ref": [3, 1, 1], "v": ["C", "A", "A2"]})
    out = left.join(right, left_on="id", right_on="ref", suffix="_r")
    assert out.columns == ["id", "v", "ref", "v_r"]
    check(out, {"id": [1, 1, 3], "v": ["a", "a", "c"], "ref": [1, 1, 3], "v_r": ["A", "A2", "C"]})


def test_join_on_several_keys(check):
    left = us.from_dict({"a": [1, 1, 2, None], "b": ["x", "y", "x", "x"], "v": [1, 2, 3, 4]})
    right = us.from_dict({"a": [1, 2, 2, None], "b": ["y", "x", "y", "x"], "w": [10, 20, 30, 40]})
    check(left.join(right, on=["a", "b"], how="inner"), {"a": [1, 2], "b": ["y", "x"], "v": [2, 3], "w": [10, 20]})


def test_outer_joins_on_bool_keys_across_partitions(check):
    # found by a 5,000-plan conformance run on Dask: pandas hashes a partition's bool key column as floats when
    # it holds nulls, so a side keeping its null keys missed equal keys in the other side's partitions
    a = us.from_dict({"k": [True, None, False, True], "x": [10, 20, 30, 40]})
    a = us.concat([a, a.filter(us.col("x") > 30), a.filter(us.col("x") > 100)])
    b = us.from_dict({"k": [True, False], "y": [0, 1]})
    b = us.concat([b, b.filter(us.col("y") > 0), b.filter(us.col("y") > 100)])
    expected = {"k": [True, None, False, False, True, True], "x": [10, 20, 30, 30, 40, 40], "y": [0, None, 1, 1, 0, 0]}
    check(a.join(b, on="k", how="left"), expected)
    check(a.join(b, on="k", how="full"), expected)
    check(a.join(b, on="k", how="anti"), {"k": [None], "x": [20]})
    check(a.join(b, on="k", how="right").select("x", "y"), {"x": [10, 40, 40, 30, 30], "y": [0, 0, 0, 1, 1]})


def test_negative_zero_join_key_matches_zero(check):
    # S-NAN-EQ: -0.0 and 0.0 are one key (Dask's outer joins told them apart)
    left = us.from_dict({"k": [-0.0, 0.0, None], "a": [1, 2, 3]})
    right = us.from_dict({"k": [0.0], "b": [9]})
    check(left.join(right, on="k", how="left"), {"k": [-0.0, 0.0, None], "a": [1, 2, 3], "b": [9, 9, None]})


def test_join_nan_keys_match(check):
    # S-NAN-EQ: NaN equals NaN in joins (null still never matches)
    left = us.from_dict({"k": [NAN, 1.0, None], "a": [1, 2, 3]})
    right = us.from_dict({"k": [NAN, None, 1.0], "b": [10, 20, 30]})
    check(left.join(right, on="k"), {"k": [NAN, 1.0], "a": [1, 2], "b": [10, 30]})


def test_join_with_empty_side(check):
    left = us.from_dict({"k": [1, 2], "a": ["x", "y"]})
    right = us.from_dict({"k": [], "b": []}, schema={"k": "int64", "b": "float64"})
    check(left.join(right, on="k"), {"k": [], "a": [], "b": []})
    check(left.join(right, on="k", how="left"), {"k": [1, 2], "a": ["x", "y"], "b": [None, None]})


def test_join_string_keys_unicode(check):
    left = us.from_dict({"k": ["é", "e", "日本", "🎉"], "a": [1, 2, 3, 4]})
    right = us.from_dict({"k": ["é", "日本", "🎉", "E"], "b": [10, 30, 40, 50]})
    check(left.join(right, on="k"), {"k": ["é", "日本", "🎉"], "a": [1, 3, 4], "b": [10, 30, 40]})


def test_join_then_filter_on_both_sides(check):
    left, right = _sides()
    out = left.join(right, on="k", how="left").filter(us.col("a") != "y", us.col("b").is_null() | (us.col("b") > 20))
    check(out, {"k": [2, None, 4], "a": ["z", "n", "w"], "b": [21, None, None]})


def test_self_join(check):
    df = us.from_dict({"id": [1, 2, 3], "parent": [None, 1, 1]})
    out = df.join(df, left_on="parent", right_on="id", how="left", suffix="_p")
    check(out, {"id": [1, 2, 3], "parent": [None, 1, 1], "id_p": [None, 1, 1], "parent_p": [None, None, None]})


def test_left_on_right_on_with_crossing_names(check):
    # S-JOIN-NAMES: right columns whose names are taken on the left get the suffix, keys included
    left = us.from_dict({"a": [1, 2, None], "b": ["x", "y", "z"]})
    right = us.from_dict({"b": [2, 3, None], "a": ["B", "C", "N"]})
    out = left.join(right, left_on="a", right_on="b", how="full")
    assert out.columns == ["a", "b", "b_right", "a_right"]
    check(out, {"a": [1, 2, None, None, None], "b": ["x", "y", "z", None, None], "b_right": [None, 2, None, 3, None],
                "a_right": [None, "B", None, "C", "N"]})


def test_count_over_a_cross_join_with_an_empty_table(check):
    # found on Flink: an aggregate over a product with an empty table returned rows
    left = us.from_dict({"b": [True, False, None, True], "x": [1, 2, 3, 4]})
    right = us.from_arrow(pa.table({"w": pa.array([], pa.int64())}))
    product = left.group_by("b").agg(c0=us.count()).join(right, how="cross")
    check(product.group_by("c0").agg(c1=us.col("b").count()), {"c0": [], "c1": []})
