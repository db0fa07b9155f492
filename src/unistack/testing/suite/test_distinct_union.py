"""Distinct and concat (union all): nulls and NaN equal for distinct (S-DISTINCT, S-CONCAT, S-NAN-EQ)."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

import unistack as us

sem = pytest.mark.semantics
NAN = math.nan


@sem("S-DISTINCT", "S-NAN-EQ")
def test_distinct_nulls_and_nan(us_check):
    df = us.from_dict({"a": [1.0, None, NAN, NAN, None, 1.0], "s": ["x", None, "y", "y", None, "x"]})
    us_check(df.distinct(), {"a": [1.0, None, NAN], "s": ["x", None, "y"]})


@sem("S-DISTINCT")
def test_distinct_subset(us_collect):
    df = us.from_dict({"k": [1, 1, 2, None, None], "v": [10, 11, 20, 30, 31]})
    result = us_collect(df.distinct("k")).to_pydict()
    assert sorted(result["k"], key=lambda k: (k is None, k)) == [1, 2, None]
    pairs = set(zip(result["k"], result["v"]))
    assert pairs <= {(1, 10), (1, 11), (2, 20), (None, 30), (None, 31)}


@sem("S-DISTINCT")
def test_distinct_subset_single_candidate(us_check):
    df = us.from_dict({"k": [1, 1, 2], "v": [10, 10, 20]})
    us_check(df.distinct("k"), {"k": [1, 2], "v": [10, 20]})


def test_distinct_empty(us_check):
    df = us.from_arrow(pa.table({"a": pa.array([], pa.int32())}))
    us_check(df.distinct(), {"a": []})


@sem("S-DISTINCT", "S-CONCAT")
def test_distinct_of_a_union_whose_inputs_differ_in_nulls(us_check):
    # found by a 5,000-plan conformance run on Dask (shrunk): duplicates from inputs with and without nulls
    df = us.from_dict({"i": [1, None, 3], "b": [True, None, False]})
    us_check(us.concat([df, df.filter(us.col("b"))]).distinct(), {"i": [1, None, 3], "b": [True, None, False]})


@sem("S-CONCAT")
def test_concat_keeps_duplicates(us_check):
    a = us.from_dict({"x": [1, None], "s": ["é", "b"]})
    b = us.from_dict({"x": [1, 3], "s": ["é", None]})
    us_check(us.concat([a, b]), {"x": [1, None, 1, 3], "s": ["é", "b", "é", None]})


@sem("S-CONCAT")
def test_concat_then_distinct(us_check):
    a = us.from_dict({"x": [1, 2]})
    us_check(us.concat([a, a, a]).distinct(), {"x": [1, 2]})


@sem("S-CONCAT", "S-WIN-AGG")
def test_window_over_a_distinct_frame_concatenated_with_itself(us_check):
    # found by a 5,000-plan conformance run on Spark (shrunk): union inputs sharing one distinct subtree
    base = us.from_dict({"g": [1, 1, 2, 1], "v": [1, 2, 2, 1]}).distinct()
    out = us.concat([base, base.filter(us.col("v") > 1)]).with_columns(m=us.col("v").mean().over("g"))
    us_check(out, {"g": [1, 1, 2, 1, 2], "v": [1, 2, 2, 2, 2], "m": [5 / 3, 5 / 3, 2.0, 5 / 3, 2.0]})


@sem("S-CONCAT")
def test_concat_mismatched_schema_is_schema_error():
    a = us.from_dict({"x": [1]})
    b = us.from_arrow(pa.table({"x": pa.array([1], pa.int32())}))
    with pytest.raises(us.SchemaError):
        us.concat([a, b])


def test_concat_with_empty(us_check):
    a = us.from_dict({"x": [1]})
    e = us.from_arrow(pa.table({"x": pa.array([], pa.int64())}))
    us_check(us.concat([e, a, e]), {"x": [1]})
