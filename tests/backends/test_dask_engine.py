"""Dask engine specifics: many partitions, Dask's own readers, native plans, sessions and errors.

The shared suite (tests/engines) checks the semantics on small inputs, which Dask keeps in one partition;
here ``dask.partition_rows`` is set tiny so rows with equal keys, nulls and NaN land in different partitions
and every translation (range-partitioned sort, tree-reduced group_by, hash joins, shuffled windows) is
exercised across partitions.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.testing.compare import assert_table_equal

pytest.importorskip("dask")

NAN = float("nan")


@pytest.fixture(autouse=True)
def small_partitions() -> Iterator[None]:
    with us.config(dask_partition_rows=2):
        yield


def run(frame: us.LazyFrame, expected: dict[str, list[object]], ordered: bool = False) -> pa.Table:
    result = frame.collect(engine="dask")
    assert_table_equal(result, expected, ordered=ordered, schema=frame.schema)
    return result


def test_input_is_split_into_partitions() -> None:
    from unistack.backends.dask.compile import compile_node

    frame = us.from_dict({"a": list(range(7))})
    ddf = compile_node(frame.plan)
    assert type(ddf).__module__.startswith("dask.dataframe")
    assert ddf.npartitions == 4  # 7 rows, 2 per partition


def test_sort_across_partitions_with_nulls_nan_and_mixed_directions() -> None:
    df = us.from_dict({
        "s": ["b", None, "a", "b", "a", None, "c", "a"],
        "x": [1.0, 2.0, NAN, None, 3.0, NAN, -1.0, 3.0],
        "i": [1, 2, 3, 4, 5, 6, 7, 8],
    })
    run(df.sort("x").select("i"), {"i": [7, 1, 2, 5, 8, 3, 6, 4]}, ordered=False)
    out = df.sort("x").collect(engine="dask").column("x").to_pylist()
    assert out[:5] == [-1.0, 1.0, 2.0, 3.0, 3.0] and all(v != v for v in out[5:7]) and out[7] is None
    desc = df.sort("x", descending=True).collect(engine="dask").column("x").to_pylist()
    assert all(v != v for v in desc[:2]) and desc[2:] == [3.0, 3.0, 2.0, 1.0, -1.0, None]
    first = df.sort("x", nulls_last=False).collect(engine="dask").column("x").to_pylist()
    assert first[0] is None and first[1:6] == [-1.0, 1.0, 2.0, 3.0, 3.0]
    run(df.sort(["s", "i"], descending=[True, False], nulls_last=[False, True]).select("s", "i"),
        {"s": [None, None, "c", "b", "b", "a", "a", "a"], "i": [2, 6, 7, 1, 4, 3, 5, 8]}, ordered=True)
    run(df.sort(["s", "x"], descending=[False, True]).select("s", "i"),
        {"s": ["a", "a", "a", "b", "b", "c", None, None], "i": [3, 5, 8, 1, 4, 7, 6, 2]}, ordered=True)


def test_sort_by_expression_and_dates_across_partitions() -> None:
    df = us.from_dict({"d": [dt.date(2024, 3, 1), None, dt.date(2023, 1, 1), dt.date(2024, 1, 1)], "k": [1, 2, 3, 4]})
    run(df.sort("d", descending=True), {"d": [dt.date(2024, 3, 1), dt.date(2024, 1, 1), dt.date(2023, 1, 1), None],
                                        "k": [1, 4, 3, 2]}, ordered=True)
    run(df.sort(us.col("k") % 2, "k").select("k"), {"k": [2, 4, 1, 3]}, ordered=True)


def test_top_n_after_sort() -> None:
    df = us.from_dict({"v": [5, None, 3, 9, 1, 9, 7], "i": [1, 2, 3, 4, 5, 6, 7]})
    run(df.sort(["v", "i"], descending=[True, False]).limit(3), {"v": [9, 9, 7], "i": [4, 6, 7]}, ordered=True)
    run(df.sort("v", nulls_last=False).limit(2), {"v": [None, 1], "i": [2, 5]}, ordered=True)


def test_group_by_null_and_nan_keys_across_partitions() -> None:
    df = us.from_dict({"k": [1.0, None, NAN, 1.0, None, NAN, 2.0], "v": [1, 2, 3, 4, None, 6, None]})
    run(df.group_by("k").agg(s=us.col("v").sum(), c=us.col("v").count(), n=us.count(), f=us.col("v").first(),
                             la=us.col("v").last()),
        {"k": [1.0, None, NAN, 2.0], "s": [5, 2, 9, None], "c": [2, 1, 2, 0], "n": [2, 2, 2, 1],
         "f": [1, 2, 3, None], "la": [4, 2, 6, None]})


def test_float_aggregates_with_nan_across_partitions() -> None:
    df = us.from_dict({"g": ["a", "a", "a", "b", "b", "c", "c", "c"],
                       "x": [1.0, NAN, 4.0, NAN, NAN, None, None, 2.5]})
    run(df.group_by("g").agg(mx=us.col("x").max(), mn=us.col("x").min(), s=us.col("x").sum(),
                             m=us.col("x").mean(), u=us.col("x").n_unique(), sd=us.col("x").std()),
        {"g": ["a", "b", "c"], "mx": [NAN, NAN, 2.5], "mn": [1.0, NAN, 2.5], "s": [NAN, NAN, 2.5],
         "m": [NAN, NAN, 2.5], "u": [3, 1, 1], "sd": [NAN, NAN, None]})


def test_global_aggregates_over_partitions_and_over_nothing() -> None:
    df = us.from_dict({"x": [3, None, 5, 7, None], "d": [Decimal("1.10"), None, Decimal("2.05"), None, None]})
    run(df.select(s=us.col("x").sum(), c=us.count(), v=us.col("x").var(), d=us.col("d").sum()),
        {"s": [15], "c": [5], "v": [4.0], "d": [Decimal("3.15")]})
    run(df.filter(us.col("x") > 100).select(s=us.col("x").sum(), c=us.count(), n=us.col("x").count()),
        {"s": [None], "c": [0], "n": [0]})


def test_joins_never_match_null_keys_across_partitions() -> None:
    left = us.from_dict({"k": [1, None, 2, 3, None, 1], "a": ["l1", "l2", "l3", "l4", "l5", "l6"]})
    right = us.from_dict({"k": [1, None, 3, 4, None], "b": ["r1", "r2", "r3", "r4", "r5"]})
    run(left.join(right, on="k"), {"k": [1, 1, 3], "a": ["l1", "l6", "l4"], "b": ["r1", "r1", "r3"]})
    run(left.join(right, on="k", how="left"),
        {"k": [1, 1, 3, 2, None, None], "a": ["l1", "l6", "l4", "l3", "l2", "l5"],
         "b": ["r1", "r1", "r3", None, None, None]})
    run(left.join(right, on="k", how="right"),
        {"k": [1, 1, 3, 4, None, None], "a": ["l1", "l6", "l4", None, None, None],
         "b": ["r1", "r1", "r3", "r4", "r2", "r5"]})
    run(left.join(right, on="k", how="full"),
        {"k": [1, 1, 3, 2, None, None, 4, None, None],
         "a": ["l1", "l6", "l4", "l3", "l2", "l5", None, None, None],
         "b": ["r1", "r1", "r3", None, None, None, "r4", "r2", "r5"]})
    run(left.join(right, on="k", how="semi"), {"k": [1, 3, 1], "a": ["l1", "l4", "l6"]})
    run(left.join(right, on="k", how="anti"), {"k": [None, 2, None], "a": ["l2", "l3", "l5"]})


def test_join_nan_keys_match() -> None:
    left = us.from_dict({"k": [NAN, 1.0, None], "a": [1, 2, 3]})
    right = us.from_dict({"k": [NAN, 1.0, None], "b": [10, 20, 30]})
    run(left.join(right, on="k"), {"k": [NAN, 1.0], "a": [1, 2], "b": [10, 20]})


def test_windows_across_partitions() -> None:
    df = us.from_dict({"g": ["a", "b", "a", None, "b", "a", None], "t": [3, 1, 1, 2, 2, 2, 1],
                       "x": [10, None, 30, 40, 50, None, 70]})
    out = df.select(
        "g", "t",
        rn=us.row_number().over("g", order_by="t"),
        rk=us.rank().over(order_by="g", nulls_last=False),
        cs=us.col("x").cum_sum().over("g", order_by="t"),
        lag=us.col("x").shift(1).over("g", order_by="t"),
        tot=us.col("x").sum().over("g"),
        cnt=us.count().over("g"),
    )
    run(out, {
        "g": ["a", "a", "a", "b", "b", None, None],
        "t": [1, 2, 3, 1, 2, 1, 2],
        "rn": [1, 2, 3, 1, 2, 1, 2],
        "rk": [3, 3, 3, 6, 6, 1, 1],
        "cs": [30, 30, 40, None, 50, 70, 110],
        "lag": [None, 30, None, None, None, None, 70],
        "tot": [40, 40, 40, 50, 50, 110, 110],
        "cnt": [3, 3, 3, 2, 2, 2, 2],
    })


def test_distinct_across_partitions() -> None:
    df = us.from_dict({"a": [1.0, NAN, None, 1.0, NAN, None, 2.0], "b": ["x", "y", "z", "x", "y", "z", "w"]})
    run(df.distinct(), {"a": [1.0, NAN, None, 2.0], "b": ["x", "y", "z", "w"]})
    assert df.distinct("a").collect(engine="dask").num_rows == 4


def test_integer_overflow_wraps_and_floor_division() -> None:
    df = us.from_dict({"a": [2**63 - 1, -7, 7], "b": [1, 2, -2]})
    run(df.select(s=us.col("a") + us.col("b"), q=us.col("a") // us.col("b"), r=us.col("a") % us.col("b")),
        {"s": [-(2**63), -5, 5], "q": [2**63 - 1, -4, -4], "r": [0, 1, -1]})


def _tpch(tmp_path: object) -> str:
    exe = shutil.which("tpchgen-cli") or os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")
    if not os.path.exists(exe):
        pytest.skip("tpchgen-cli is not installed")
    out = os.path.join(str(tmp_path), "tpch")
    subprocess.run([exe, "parquet", "-s", "0.001", f"--output-dir={out}", "--tables", "lineitem,orders"],
                   check=True, capture_output=True)
    return out


def test_tpchgen_files_with_decimals_and_string_views(tmp_path: object) -> None:
    directory = _tpch(tmp_path)
    assert pa.types.is_string_view(pq.read_schema(os.path.join(directory, "lineitem.parquet")).field(
        "l_returnflag").type)
    li = us.read_parquet(os.path.join(directory, "lineitem.parquet"))
    orders = us.read_parquet(os.path.join(directory, "orders.parquet"))
    q = (li.join(orders, left_on="l_orderkey", right_on="o_orderkey")
         .filter(us.col("l_shipdate") <= dt.date(1998, 9, 2))
         .group_by("l_returnflag", "o_orderstatus")
         .agg(qty=us.col("l_quantity").sum(), avg=us.col("l_discount").mean(), n=us.count())
         .sort("l_returnflag", "o_orderstatus"))
    with us.config(dask_partition_rows=1_000_000):
        expected = q.collect(engine="polars")
        got = q.collect(engine="dask")
    assert got.schema == q.schema
    assert got.schema.field("qty").type == pa.decimal128(38, 2)
    assert_table_equal(got, expected, ordered=True, schema=q.schema)
    # decimal products keep every digit (scale 2 x scale 2 = scale 4), as Arrow computes them exactly
    table = pq.read_table(os.path.join(directory, "lineitem.parquet"))
    exact = pc.sum(pc.multiply(table["l_extendedprice"], pc.subtract(
        pa.scalar(Decimal(1), pa.decimal128(1, 0)), table["l_discount"]))).as_py()
    revenue = li.select(r=(us.col("l_extendedprice") * (1 - us.col("l_discount"))).sum())
    run(revenue, {"r": [exact]})


def test_csv_and_json_read_by_dask_with_the_file_schema(tmp_path: object) -> None:
    csv = os.path.join(str(tmp_path), "t.csv")
    with open(csv, "w") as fh:
        fh.write("a;b;c;d\n1;x;true;2024-01-02\n;;false;\n3;zz;;2024-02-29\n")
    frame = us.read_csv(csv, separator=";", schema={"a": "int32", "b": "string", "c": "bool", "d": "date"})
    run(frame, {"a": [1, None, 3], "b": ["x", None, "zz"], "c": [True, False, None],
                "d": [dt.date(2024, 1, 2), None, dt.date(2024, 2, 29)]})
    js = os.path.join(str(tmp_path), "t.json")
    with open(js, "w") as fh:
        for row in ({"a": 1, "s": "x", "f": 1.5}, {"a": None, "s": None, "f": None}, {"a": 2**40, "s": "é", "f": 2}):
            fh.write(json.dumps(row) + "\n")
    run(us.read_json(js).select("a", "s", us.col("f") * 2),
        {"a": [1, None, 2**40], "s": ["x", None, "é"], "f": [3.0, None, 4.0]})


def test_scan_filters_and_projection_of_a_parquet_file(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "p.parquet")
    pq.write_table(pa.table({"a": list(range(10)), "b": [str(i) for i in range(10)], "c": [0.5] * 10}), path,
                   row_group_size=3)
    run(us.read_parquet(path).filter(us.col("a") >= 7).select("b"), {"b": ["7", "8", "9"]})


def test_explain_includes_dask_expression_plan() -> None:
    frame = us.from_dict({"g": ["a", "b"], "x": [1, 2]}).group_by("g").agg(us.col("x").sum())
    text = str(us.explain(frame, engine="dask"))
    assert "== dask plan ==" in text
    assert "dask-expr plan" in text
    assert "GroupbyAggregation" in text or "Groupby" in text
    assert "FromPandas" in text


def test_capabilities_cover_every_operation() -> None:
    from unistack.backends import get_engine
    from unistack.backends.base import ALL_OPERATIONS

    caps = get_engine("dask").capabilities()
    assert caps.supported >= ALL_OPERATIONS
    status = get_engine("dask").status()
    assert status.installed and status.detail.startswith("dask ")


def test_scheduler_address_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from unistack.backends.dask.session import DaskSession

    session = DaskSession()
    assert session.address is None
    monkeypatch.setenv("UNISTACK_DASK_SCHEDULER", "tcp://10.0.0.1:8786")
    assert session.address == "tcp://10.0.0.1:8786"
    assert session.warm is False


def test_user_function_errors_are_reported_as_such() -> None:
    def bad(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("boom")

    frame = us.from_dict({"a": [1, 2, 3]}).map_batches(bad, schema={"a": "int64"})
    with pytest.raises(us.UserFunctionError, match="boom"):
        frame.collect(engine="dask")


def test_map_batches_gets_canonical_batches_per_partition() -> None:
    seen: list[int] = []

    def tag(batch: pa.RecordBatch) -> pa.RecordBatch:
        assert batch.schema.field("s").type == pa.large_string()
        seen.append(batch.num_rows)
        return pa.record_batch({"n": pa.array([batch.num_rows] * batch.num_rows, pa.int64())})

    frame = us.from_dict({"s": ["a", "b", "c", "d", "e"]}).map_batches(tag, schema={"n": "int64"})
    run(frame, {"n": [2, 2, 2, 2, 1]})


def test_missing_file_is_a_data_source_error(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "gone.parquet")
    pq.write_table(pa.table({"a": [1]}), path)
    frame = us.read_parquet(path)
    os.remove(path)
    with pytest.raises(us.UnistackError):
        frame.collect(engine="dask")


def test_importing_unistack_does_not_import_dask() -> None:
    code = "import sys, unistack; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_not_null_parquet_fields_skip_null_bookkeeping_but_keep_answers(tmp_path: object) -> None:
    from unistack.backends.dask.compile import nonnull_columns
    from unistack.planner.optimize import optimize

    path = os.path.join(str(tmp_path), "nn.parquet")
    schema = pa.schema([pa.field("k", pa.string(), nullable=False), pa.field("v", pa.int64(), nullable=False),
                        pa.field("w", pa.int64())])
    pq.write_table(pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3], "w": [None, 5, None]}, schema=schema), path)
    frame = us.read_parquet(path)
    grouped = frame.group_by("k").agg(s=(us.col("v") * 2).sum(), t=us.col("w").sum())
    assert nonnull_columns(optimize(grouped.plan).input) >= {"k", "v"}
    run(grouped, {"k": ["a", "b"], "s": [8, 4], "t": [None, 5]})
    run(frame.filter(us.col("v") > 10).select(s=us.col("v").sum(), n=us.count()), {"s": [None], "n": [0]})


def test_cum_sum_of_floats_with_nan_and_of_decimals() -> None:
    df = us.from_dict({"g": [1, 1, 1, 2, 2], "t": [1, 2, 3, 1, 2], "x": [1.0, NAN, 2.0, None, 3.0],
                       "d": [Decimal("1.10"), None, Decimal("2.05"), Decimal("1.00"), None]})
    out = df.select("g", "t", c=us.col("x").cum_sum().over("g", order_by="t"),
                    e=us.col("d").cum_sum().over("g", order_by="t"))
    run(out, {"g": [1, 1, 1, 2, 2], "t": [1, 2, 3, 1, 2], "c": [1.0, NAN, NAN, None, 3.0],
              "e": [Decimal("1.10"), Decimal("1.10"), Decimal("3.15"), Decimal("1.00"), Decimal("1.00")]})


@pytest.mark.parametrize("module", ["engine", "compile", "kernels", "session"])
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"unistack.backends.dask.{module}"),
                             optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_join_of_not_null_parquet_keys_with_nullable_keys(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "keys.parquet")
    schema = pa.schema([pa.field("k", pa.int64(), nullable=False), pa.field("a", pa.string())])
    pq.write_table(pa.table({"k": [1, 2, 3], "a": ["x", "y", "z"]}, schema=schema), path)
    left = us.read_parquet(path)
    right = us.from_dict({"k": [1, None, 3, None], "b": [10, 20, 30, 40]})
    run(left.join(right, on="k"), {"k": [1, 3], "a": ["x", "z"], "b": [10, 30]})
    run(left.join(right, on="k", how="full"),
        {"k": [1, 2, 3, None, None], "a": ["x", "y", "z", None, None], "b": [10, None, 30, 20, 40]})
    run(right.join(left, on="k", how="anti"), {"k": [None, None], "b": [20, 40]})
