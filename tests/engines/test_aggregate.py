"""group_by().agg() and global aggregates: null rules, empty inputs, NaN, every aggregate function."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import pyarrow as pa

import unistack as us

NAN = math.nan


def test_aggregates_ignore_nulls_and_all_null_group_gives_null(check):
    # S-AGG-NULLS, S-AGG-COUNT, S-AGG-NUNIQUE
    df = us.from_dict({"k": ["a", "a", "a", "b", "b"], "v": [1, None, 3, None, None]})
    out = df.group_by("k").agg(
        s=us.col("v").sum(), m=us.col("v").mean(), lo=us.col("v").min(), hi=us.col("v").max(),
        c=us.col("v").count(), n=us.count(), u=us.col("v").n_unique(),
    )
    check(out, {"k": ["a", "b"], "s": [4, None], "m": [2.0, None], "lo": [1, None], "hi": [3, None],
                "c": [2, 0], "n": [3, 2], "u": [2, 0]})


def test_std_and_var_are_sample_statistics(check):
    # S-AGG-STD: ddof=1; null with fewer than two non-null values
    df = us.from_dict({"k": [1, 1, 1, 2, 2, 3], "v": [2.0, 4.0, None, 5.0, None, None]})
    out = df.group_by("k").agg(sd=us.col("v").std(), va=us.col("v").var())
    check(out, {"k": [1, 2, 3], "sd": [math.sqrt(2.0), None, None], "va": [2.0, None, None]})


def test_std_of_integers(check):
    df = us.from_dict({"v": [1, 2, 3, 4]})
    check(df.select(us.col("v").var(), sd=us.col("v").std()), {"v": [1.6666666666666667], "sd": [1.2909944487358056]})


def test_first_and_last_are_first_and_last_non_null(check):
    # S-AGG-FIRST
    df = us.from_dict({"k": ["a", "a", "a", "a", "b"], "v": [None, 5, 6, None, None]})
    check(df.group_by("k").agg(f=us.col("v").first(), l=us.col("v").last()),
          {"k": ["a", "b"], "f": [5, None], "l": [6, None]})


def test_null_keys_form_one_group(check):
    # S-GROUP-NULL
    df = us.from_dict({"k": [None, "x", None, "x", None], "v": [1, 2, 3, 4, 5]})
    check(df.group_by("k").agg(us.col("v").sum(), n=us.count()), {"k": ["x", None], "v": [6, 9], "n": [2, 3]})


def test_std_var_with_infinity_are_nan(check):
    # found by a 5,000-plan conformance run on Dask (shrunk): var(-inf, 50) was null, not NaN (S-AGG-STD,
    # S-FLOAT-IEEE); one value, infinite or not, still gives null
    inf = math.inf
    df = us.from_dict({"g": [1, 1, 2, 2, 3, 4, 4], "f": [-inf, 50.0, inf, inf, inf, inf, None]})
    check(df.group_by("g").agg(v=us.col("f").var(), s=us.col("f").std()),
          {"g": [1, 2, 3, 4], "v": [NAN, NAN, None, None], "s": [NAN, NAN, None, None]})


def test_count_rows_twice_in_one_aggregation(check):
    # found by a 5,000-plan conformance run on Dask (shrunk): two count() in one group_by made Dask refuse the
    # aggregation ("conflicting aggregation functions")
    df = us.from_dict({"k": [1, None, 1, 2], "j": [0, 0, 0, None], "d": [1.0, None, 2.0, None]})
    out = df.group_by("k", "j").agg(a=us.count(), u=us.col("d").n_unique(), b=us.count())
    check(out, {"k": [1, None, 2], "j": [0, 0, None], "a": [2, 1, 1], "u": [2, 0, 0], "b": [2, 1, 1]})


def test_negative_zero_key_is_zero(check):
    # found by a 5,000-plan conformance run on Dask (shrunk): -0.0 and 0.0 made two groups (pandas and Arrow
    # tell them apart); they are equal as keys, as in comparisons (S-NAN-EQ)
    df = us.from_dict({"k": [-0.0, 0.0, -0.0, 1.0, None], "v": [1, 2, 3, 4, 5]})
    check(df.group_by("k").agg(n=us.count(), s=us.col("v").sum()), {"k": [0.0, 1.0, None], "n": [3, 1, 1],
                                                                     "s": [6, 4, 5]})
    check(df.select(u=us.col("k").n_unique()), {"u": [2]})


def test_nan_keys_form_one_group(check):
    # S-NAN-EQ
    df = us.from_dict({"k": [NAN, 1.0, NAN, None, 1.0], "v": [1, 2, 3, 4, 5]})
    check(df.group_by("k").agg(us.col("v").sum()), {"k": [1.0, NAN, None], "v": [7, 4, 4]})


def test_global_aggregate_over_empty_input_gives_one_row(check):
    # S-AGG-EMPTY
    df = us.from_dict({"v": [], "s": []}, schema={"v": "int64", "s": "string"})
    out = df.select(n=us.count(), c=us.col("v").count(), s=us.col("v").sum(), m=us.col("v").mean(),
                    hi=us.col("s").max(), u=us.col("v").n_unique())
    check(out, {"n": [0], "c": [0], "s": [None], "m": [None], "hi": [None], "u": [0]})


def test_group_by_over_empty_input_gives_no_rows(check):
    # S-AGG-EMPTY
    df = us.from_dict({"k": [], "v": []}, schema={"k": "string", "v": "float64"})
    check(df.group_by("k").agg(us.col("v").sum(), n=us.count()), {"k": [], "v": [], "n": []})


def test_min_max_with_nan(check):
    # S-MINMAX-NAN: max is NaN if any NaN; min is NaN only when every non-null value is NaN
    df = us.from_dict({"k": [1, 1, 1, 2, 2, 3, 3, 4], "v": [1.0, NAN, -2.0, NAN, NAN, NAN, None, None]})
    out = df.group_by("k").agg(lo=us.col("v").min(), hi=us.col("v").max())
    check(out, {"k": [1, 2, 3, 4], "lo": [-2.0, NAN, NAN, None], "hi": [NAN, NAN, NAN, None]})


def test_sum_and_mean_with_nan_are_nan(check):
    # S-AGG-NULLS: nulls are skipped, NaN is a value
    df = us.from_dict({"v": [1.0, NAN, None]})
    check(df.select(s=us.col("v").sum(), m=us.col("v").mean(), c=us.col("v").count()),
          {"s": [NAN], "m": [NAN], "c": [2]})


def test_group_by_several_keys_and_expression_key(check):
    df = us.from_dict({"a": [1, 2, 3, 4, 5, 6], "b": ["x", "x", "x", "y", "y", "y"]})
    out = df.group_by("b", (us.col("a") % 2).alias("odd")).agg(s=us.col("a").sum())
    check(out, {"b": ["x", "x", "y", "y"], "odd": [0, 1, 0, 1], "s": [2, 4, 10, 5]})


def test_aggregate_of_expressions_and_expression_of_aggregates(check):
    df = us.from_dict({"k": ["a", "a", "b"], "p": [2.0, 3.0, 4.0], "q": [10, 20, None]})
    out = df.group_by("k").agg(rev=(us.col("p") * us.col("q")).sum(), avg=us.col("q").sum() / us.count())
    check(out, {"k": ["a", "b"], "rev": [80.0, None], "avg": [15.0, None]})


def test_min_max_of_strings_dates_and_bools(check):
    df = us.from_dict({
        "s": ["é", "z", "a", None, "日本"],
        "d": [dt.date(2024, 5, 1), None, dt.date(1999, 12, 31), dt.date(2030, 1, 1), dt.date(2024, 1, 1)],
        "b": [True, False, None, True, True],
    })
    out = df.select(smin=us.col("s").min(), smax=us.col("s").max(), dmin=us.col("d").min(),
                    dmax=us.col("d").max(), bmin=us.col("b").min(), bmax=us.col("b").max())
    check(out, {"smin": ["a"], "smax": ["日本"], "dmin": [dt.date(1999, 12, 31)], "dmax": [dt.date(2030, 1, 1)],
                "bmin": [False], "bmax": [True]})


def test_sum_of_bools_and_small_ints_is_int64(check):
    df = us.from_dict({"b": [True, False, True, None], "i": [100, 100, 100, None]}, schema={"b": "bool", "i": "int8"})
    out = df.select(us.col("b").sum(), us.col("i").sum())
    assert out.schema == pa.schema([("b", pa.int64()), ("i", pa.int64())])
    check(out, {"b": [2], "i": [300]})


def test_sum_of_decimals_is_exact(check):
    # S-DECIMAL
    d = decimal.Decimal
    df = us.from_dict({"k": [1, 1, 2], "v": [d("0.10"), d("0.20"), d("99999.99")]}, schema={"k": "int64",
                                                                                             "v": "decimal(7, 2)"})
    out = df.group_by("k").agg(us.col("v").sum(), lo=us.col("v").min())
    assert out.schema.field("v").type == pa.decimal128(38, 2)
    check(out, {"k": [1, 2], "v": [d("0.30"), d("99999.99")], "lo": [d("0.10"), d("99999.99")]})


def test_group_by_unicode_keys(check):
    df = us.from_dict({"k": ["ß", "ss", "é", "é", "🎉", "日本"], "v": [1, 2, 3, 4, 5, 6]})
    check(df.group_by("k").agg(us.col("v").sum()), {"k": ["ss", "ß", "é", "日本", "🎉"], "v": [2, 1, 7, 6, 5]})


def test_extreme_int64_min_max(check):
    lo, hi = -(2**63), 2**63 - 1
    df = us.from_dict({"k": [1, 1, 2], "v": [lo, hi, hi]})
    check(df.group_by("k").agg(a=us.col("v").min(), b=us.col("v").max(), c=us.col("v").count()),
          {"k": [1, 2], "a": [lo, hi], "b": [hi, hi], "c": [2, 1]})


def test_group_by_bool_and_date_keys(check):
    df = us.from_dict({"b": [True, None, True, False], "d": [dt.date(2024, 1, 1)] * 4, "v": [1, 2, 3, 4]})
    check(df.group_by("b", "d").agg(us.col("v").sum()),
          {"b": [False, True, None], "d": [dt.date(2024, 1, 1)] * 3, "v": [4, 4, 2]})


def test_sums_over_not_null_parquet_columns(check, tmp_path):
    # Columns a Parquet file declares not null skip the all-null check; a nullable one keeps it.
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field("g", pa.int64(), nullable=False), pa.field("x", pa.int64(), nullable=False),
                        pa.field("y", pa.int64())])
    pq.write_table(pa.table({"g": [1, 1, 2], "x": [1, 2, 3], "y": [None, None, 4]}, schema=schema),
                   tmp_path / "t.parquet")
    df = us.read_parquet(tmp_path / "t.parquet")
    out = df.group_by("g").agg(sx=us.col("x").sum(), s2=(us.col("x") * 2).sum(), one=us.lit(1).sum(),
                               sy=us.col("y").sum(), flag=us.when(us.col("x") > 1).then(1).otherwise(0).sum())
    check(out, {"g": [1, 2], "sx": [3, 3], "s2": [6, 6], "one": [2, 1], "sy": [None, 4], "flag": [1, 1]})


def test_std_and_var_of_a_literal_column(check):
    # S-AGG-STD: found on Flink (the std of a single constant value was -1.0, not null)
    df = us.from_dict({"k": ["a", "b", "b"]}).with_columns(z=us.lit(-60.25))
    check(df.group_by("k").agg(s=us.col("z").std(), v=us.col("z").var()),
          {"k": ["a", "b"], "s": [None, 0.0], "v": [None, 0.0]})


def test_var_with_both_infinities_among_finite_values_is_nan(check):
    # S-AGG-STD: found on Ray (its std of values with both infinities was null)
    inf = math.inf
    df = us.from_dict({"g": [None] * 8, "f": [None, -4.75, -35.5, 34.5, -0.0, inf, -55.0, -inf]})
    check(df.group_by("g").agg(v=us.col("f").var()), {"g": [None], "v": [math.nan]})
