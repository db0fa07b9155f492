"""us.concat(): union all of frames with identical schemas (S-CONCAT)."""

from __future__ import annotations

import unistack as us


def test_concat_keeps_duplicates(check):
    # S-CONCAT
    a = us.from_dict({"x": [1, 2], "s": ["a", None]})
    b = us.from_dict({"x": [2, None], "s": ["é", "日本"]})
    check(us.concat([a, b]), {"x": [1, 2, 2, None], "s": ["a", None, "é", "日本"]})


def test_concat_three_frames_with_an_empty_one(check):
    a = us.from_dict({"x": [1]})
    b = us.from_dict({"x": []}, schema={"x": "int64"})
    c = us.from_dict({"x": [3, 4]})
    check(us.concat([a, b, c]), {"x": [1, 3, 4]})


def test_concat_then_aggregate_and_sort(check):
    a = us.from_dict({"k": ["a", "b"], "v": [1, 2]})
    b = us.from_dict({"k": ["b", "c"], "v": [3, 4]})
    out = us.concat([a, b]).group_by("k").agg(us.col("v").sum()).sort("k")
    check(out, {"k": ["a", "b", "c"], "v": [1, 5, 4]}, ordered=True)


def test_concat_same_frame_twice(check):
    a = us.from_dict({"x": [1, 2]}).filter(us.col("x") > 1)
    check(us.concat([a, a]), {"x": [2, 2]})


def test_concat_of_derived_frames(check):
    base = us.from_dict({"x": [1, 2, 3]})
    lo = base.filter(us.col("x") < 2).with_columns(tag=us.lit("lo"))
    hi = base.filter(us.col("x") >= 2).with_columns(tag=us.lit("hi"))
    check(us.concat([lo, hi]), {"x": [1, 2, 3], "tag": ["lo", "hi", "hi"]})


def test_window_over_a_distinct_frame_concatenated_with_itself(check):
    # found by a 5,000-plan conformance run on Spark (shrunk): both union inputs share the distinct subtree,
    # and Spark's RemoveRedundantAliases then broke the plan ("previously resolved and now became unresolved")
    base = us.from_dict({"g": [1, 1, 2, 1], "v": [1, 2, 2, 1]}).distinct()
    out = us.concat([base, base.filter(us.col("v") > 1)]).with_columns(m=us.col("v").mean().over("g"))
    check(out, {"g": [1, 1, 2, 1, 2], "v": [1, 2, 2, 2, 2], "m": [5 / 3, 5 / 3, 2.0, 5 / 3, 2.0]})
