"""Window expressions: .over(partition_by, order_by=...) (S-WIN-*)."""

from __future__ import annotations

import unistack as us


def _data():
    return us.from_dict({
        "g": ["a", "a", "a", "b", "b", None],
        "t": [3, 1, 2, 2, 1, 1],
        "x": [30, None, 20, 5, 5, 7],
    })


def test_aggregates_over_partition_cover_whole_partition(check):
    # S-WIN-AGG: order_by is ignored for aggregates; null partition keys form one partition
    out = _data().select(
        "g", "t",
        s=us.col("x").sum().over("g"),
        m=us.col("x").max().over("g", order_by="t"),
        c=us.col("x").count().over("g"),
        n=us.count().over("g"),
    )
    check(out, {"g": ["a", "a", "a", "b", "b", None], "t": [3, 1, 2, 2, 1, 1], "s": [50, 50, 50, 10, 10, 7],
                "m": [30, 30, 30, 5, 5, 7], "c": [2, 2, 2, 2, 2, 1], "n": [3, 3, 3, 2, 2, 1]})


def test_row_number_by_order(check):
    # S-WIN-ROWNUM
    out = _data().select("g", "t", rn=us.row_number().over("g", order_by="t"))
    check(out, {"g": ["a", "a", "a", "b", "b", None], "t": [3, 1, 2, 2, 1, 1], "rn": [3, 1, 2, 2, 1, 1]})


def test_row_number_descending_nulls_first(check):
    # S-WIN-ROWNUM, S-SORT-NULLS inside a window order
    df = us.from_dict({"t": [2, None, 3, 1]})
    out = df.select("t", rn=us.row_number().over(order_by="t", descending=True, nulls_last=False))
    check(out, {"t": [None, 3, 2, 1], "rn": [1, 2, 3, 4]})


def test_sql_rank_with_ties(check):
    # S-WIN-RANK: ties share the lowest rank, then a gap
    df = us.from_dict({"g": [1, 1, 1, 1, 2], "t": [10, 20, 10, 30, 5]})
    check(df.select("g", "t", r=us.rank().over("g", order_by="t")),
          {"g": [1, 1, 1, 1, 2], "t": [10, 20, 10, 30, 5], "r": [1, 3, 1, 4, 1]})


def test_rank_with_several_order_keys_and_directions(check):
    # S-WIN-RANK: rank by (a asc, b desc)
    df = us.from_dict({"a": [1, 1, 1, 2], "b": [5, 7, 5, 0]})
    out = df.select("a", "b", r=us.rank().over(order_by=["a", "b"], descending=[False, True]))
    check(out, {"a": [1, 1, 1, 2], "b": [5, 7, 5, 0], "r": [2, 1, 2, 4]})


def test_column_rank_nulls_and_descending(check):
    # S-WIN-RANK: col.rank() ranks the column's values; null values get a null rank
    df = us.from_dict({"g": ["a", "a", "a", "a", "b"], "x": [5.0, None, 3.0, 5.0, 1.0]})
    out = df.select("x", r=us.col("x").rank().over("g"), rd=us.col("x").rank(descending=True).over("g"))
    check(out, {"x": [5.0, None, 3.0, 5.0, 1.0], "r": [2, None, 1, 2, 1], "rd": [1, None, 3, 1, 1]})


def test_cum_sum_ignores_nulls(check):
    # S-WIN-CUMSUM: null before the first non-null value, then the running sum
    df = us.from_dict({"g": ["a", "a", "a", "a", "b", "b"], "t": [4, 1, 2, 3, 2, 1], "x": [4, None, 2, None, 10, 1]})
    out = df.select("g", "t", c=us.col("x").cum_sum().over("g", order_by="t"))
    check(out, {"g": ["a", "a", "a", "a", "b", "b"], "t": [4, 1, 2, 3, 2, 1], "c": [6, None, 2, 2, 11, 1]})


def test_cum_sum_float_infinity_and_nan_follow_window_order(check):
    # found by a 5,000-plan conformance run on Dask (shrunk): pandas' grouped cumsum compensates (Kahan), so
    # every row after an infinity became NaN; a running sum is plain IEEE addition in the window's order
    nan, inf = float("nan"), float("inf")
    df = us.from_dict({"id": [0, 1, 2, 3, 4, 5, 6], "g": [None, None, None, None, None, 1, 1],
                       "f": [nan, 5.0, None, -inf, None, inf, 1.0]},
                      schema={"id": "int64", "g": "int32", "f": "float64"})
    out = df.select("id", c=us.col("f").cum_sum().over("g", order_by="id", descending=True))
    check(out, {"id": [0, 1, 2, 3, 4, 5, 6], "c": [nan, -inf, -inf, -inf, None, inf, 1.0]})


def test_cum_sum_float_long_and_short_partitions(check):
    # S-WIN-CUMSUM over partitions of very different lengths; an infinity never leaks into the next partition
    n = 150
    df = us.from_dict({"g": [0] * n + [1, 1, 2], "t": [*range(n), 0, 1, 0],
                       "x": [float("-inf")] + [0.5] * (n - 1) + [1.0, 2.0, 4.0]})
    out = df.select("g", "t", c=us.col("x").cum_sum().over("g", order_by="t"))
    check(out, {"g": [0] * n + [1, 1, 2], "t": [*range(n), 0, 1, 0],
                "c": [float("-inf")] * n + [1.0, 3.0, 4.0]})


def test_negative_zero_partition_key_is_zero(check):
    # S-NAN-EQ: -0.0 and 0.0 are one partition (Dask made two)
    df = us.from_dict({"k": [-0.0, 0.0, -0.0, 1.0, None], "v": [1, 2, 3, 4, 5]})
    check(df.select("v", n=us.count().over("k")), {"v": [1, 2, 3, 4, 5], "n": [3, 3, 3, 1, 1]})


def test_shift_lag_and_lead(check):
    # S-WIN-SHIFT
    df = us.from_dict({"g": ["a", "a", "a", "b"], "t": [3, 1, 2, 1], "x": ["c", "a", "b", "z"]})
    out = df.select("g", "t", lag=us.col("x").shift(1).over("g", order_by="t"),
                    lead=us.col("x").shift(-1).over("g", order_by="t"),
                    lag2=us.col("x").shift(2).over("g", order_by="t"))
    check(out, {"g": ["a", "a", "a", "b"], "t": [3, 1, 2, 1], "lag": ["b", None, "a", None],
                "lead": [None, "b", "c", None], "lag2": ["a", None, None, None]})


def test_over_without_partition_is_whole_frame(check):
    # S-WIN-NOPART
    df = us.from_dict({"t": [2, 3, 1], "x": [1.0, 2.0, 3.0]})
    out = df.select("t", m=us.col("x").mean().over(), rn=us.row_number().over(order_by="t"),
                    c=us.col("x").cum_sum().over(order_by="t"))
    check(out, {"t": [2, 3, 1], "m": [2.0, 2.0, 2.0], "rn": [2, 3, 1], "c": [4.0, 6.0, 3.0]})


def test_window_over_several_partition_keys(check):
    df = us.from_dict({"a": [1, 1, 1, 2], "b": ["x", "x", "y", "x"], "v": [1, 2, 3, 4]})
    check(df.select(s=us.col("v").sum().over("a", "b")), {"s": [3, 3, 3, 4]})


def test_window_in_with_columns_and_sort(check):
    df = us.from_dict({"g": ["a", "b", "a"], "x": [1, 5, 2]})
    out = df.with_columns(share=us.col("x") / us.col("x").sum().over("g")).sort("g", "x")
    check(out, {"g": ["a", "a", "b"], "x": [1, 2, 5], "share": [1 / 3, 2 / 3, 1.0]}, ordered=True)


def test_window_on_empty_input(check):
    df = us.from_dict({"g": [], "t": []}, schema={"g": "string", "t": "int64"})
    check(df.select("g", rn=us.row_number().over("g", order_by="t"), s=us.col("t").sum().over("g")),
          {"g": [], "rn": [], "s": []})


def test_top_per_group_via_row_number_filter(check):
    df = us.from_dict({"g": ["a", "a", "b", "b", "b"], "v": [3, 9, 1, 8, 4]})
    out = df.filter(us.row_number().over("g", order_by="v", descending=True) == 1)
    check(out, {"g": ["a", "b"], "v": [9, 8]})


def test_window_default_output_names(check):
    # S-NAMES: us.rank() is 'rank', us.row_number() 'row_number', us.count() 'count'
    df = us.from_dict({"g": ["a", "a", "b"], "t": [20, 10, 30]})
    out = df.select("t", us.rank().over(order_by="t"), us.row_number().over("g", order_by="t"), us.count().over("g"))
    check(out, {"t": [20, 10, 30], "rank": [2, 1, 3], "row_number": [2, 1, 1], "count": [2, 2, 1]})


def test_every_aggregate_over_partitions(check):
    # S-WIN-AGG with S-MINMAX-NAN, S-AGG-FIRST, S-AGG-NUNIQUE, S-AGG-STD inside windows
    nan = float("nan")
    df = us.from_dict({"g": [1, 1, 1, 2, 2], "x": [None, 2.0, nan, 4.0, 4.0]})
    out = df.select(
        "g",
        lo=us.col("x").min().over("g"), hi=us.col("x").max().over("g"),
        f=us.col("x").first().over("g"), la=us.col("x").last().over("g"),
        u=us.col("x").n_unique().over("g"), sd=us.col("x").std().over("g"), m=us.col("x").mean().over("g"),
    )
    check(out, {"g": [1, 1, 1, 2, 2], "lo": [2.0, 2.0, 2.0, 4.0, 4.0], "hi": [nan, nan, nan, 4.0, 4.0],
                "f": [2.0, 2.0, 2.0, 4.0, 4.0], "la": [nan, nan, nan, 4.0, 4.0], "u": [2, 2, 2, 1, 1],
                "sd": [nan, nan, nan, 0.0, 0.0], "m": [nan, nan, nan, 4.0, 4.0]})


def test_window_partition_by_expression(check):
    df = us.from_dict({"a": [1, 2, 3, 4, 5], "v": [10, 20, 30, 40, 50]})
    out = df.select("a", s=us.col("v").sum().over(us.col("a") % 2))
    check(out, {"a": [1, 2, 3, 4, 5], "s": [90, 60, 90, 60, 90]})


def test_shift_next_to_a_window_of_another_spec(check):
    # found by a 5,000-plan conformance run on Flink (shrunk): a shift and a window with another partition or
    # order in one select crashed Flink's planner (S-WIN-SHIFT)
    df = us.from_dict({"id": [1, 2, 3, 4], "b": [True, None, True, False], "f": [1.0, None, 2.5, 4.0]})
    out = df.select("id", nxt=us.col("f").shift(-1).over(order_by="id"),
                    prev=us.col("id").shift(1).over("b", order_by="id"), total=us.col("f").sum().over("b"),
                    u=us.col("f").n_unique().over("b"))
    check(out, {"id": [1, 2, 3, 4], "nxt": [None, 2.5, 4.0, None], "prev": [None, None, 1, None],
                "total": [3.5, None, 3.5, 4.0], "u": [2, 0, 2, 1]})


def test_rank_of_a_constant_column(check):
    # found by a 5,000-plan conformance run on Flink (shrunk): ranking a column that is a literal once the
    # projections are inlined made Flink refuse the window (S-WIN-RANK: ties share rank 1)
    df = us.from_dict({"id": [1, 2, 3], "j": [1, 1, 2]}).with_columns(c=us.lit(False))
    check(df.select("id", r=us.col("c").rank(descending=True).over("j", "id"),
                    n=us.rank().over("j", order_by="c")), {"id": [1, 2, 3], "r": [1, 1, 1], "n": [1, 1, 1]})


def test_rank_ordered_by_its_partition_key(check):
    # found by a 5,000-plan conformance run on Flink (shrunk): the only order key was also a partition key (a
    # constant within each partition), which Flink refused for rank(); every row ties (S-WIN-RANK)
    df = us.from_dict({"c": [None, None, "x"], "j": [1, 1, 2]}, schema={"c": "string", "j": "int64"})
    check(df.select("j", r=us.rank().over("c", "j", order_by="c", descending=True)), {"j": [1, 1, 2], "r": [1, 1, 1]})


def test_shift_of_an_empty_string_literal(check):
    # found by a 5,000-plan conformance run on Flink (shrunk): the literal '' is a CHAR(0) in Flink SQL, a type
    # its planner refuses under LAG (S-WIN-SHIFT)
    df = us.from_dict({"id": [1, 2, 3], "g": [1, 1, 2]}).with_columns(e=us.lit(""))
    out = df.select("id", prev=us.col("e").shift(1).over("g", order_by="id"))
    check(out, {"id": [1, 2, 3], "prev": [None, "", None]})


def test_n_unique_over_a_literal_column(check):
    # found by a 5,000-plan conformance run on Flink (shrunk): n_unique over a partition of a column that is a
    # literal was refused there ("the window rank function requires order by clause with non-constant fields")
    df = us.from_dict({"id": [1, 2, 3], "g": [1, 1, 2]}).with_columns(c=us.lit(-5))
    out = df.select("id", u=us.col("c").n_unique().over("g"))
    check(out, {"id": [1, 2, 3], "u": [1, 1, 1]})
