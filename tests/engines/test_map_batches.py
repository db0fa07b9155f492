"""map_batches(): a Python function over Arrow record batches, checked against its declared schema."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import unistack as us


def _double(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.record_batch({"a": batch["a"], "a2": pc.multiply(batch["a"], 2)})


def test_map_batches_adds_a_column(check):
    # S-MAP-BATCHES
    df = us.from_dict({"a": [1, 2, None]})
    check(df.map_batches(_double, {"a": "int64", "a2": "int64"}), {"a": [1, 2, None], "a2": [2, 4, None]})


def test_map_batches_receives_canonical_types_and_output_is_cast(check):
    # S-MAP-BATCHES
    seen: list[pa.Schema] = []

    def fn(batch: pa.RecordBatch) -> pa.Table:
        seen.append(batch.schema)
        # returns string and int32; declared large_string and int64: safe casts are applied
        return pa.table({"s": pa.array(["é" + v for v in batch["s"].to_pylist()], pa.string()),
                         "n": pa.array([len(v) for v in batch["s"].to_pylist()], pa.int32())})

    df = us.from_dict({"s": pa.array(["x", "日本"], pa.string())})
    check(df.map_batches(fn, {"s": "string", "n": "int64"}), {"s": ["éx", "é日本"], "n": [1, 2]})
    assert all(s.field("s").type == pa.large_string() for s in seen if "s" in s.names)


def test_map_batches_on_empty_input(check):
    df = us.from_dict({"a": []}, schema={"a": "int64"})
    check(df.map_batches(_double, {"a": "int64", "a2": "int64"}), {"a": [], "a2": []})


def test_map_batches_then_filter_and_aggregate(check):
    df = us.from_dict({"a": [1, 2, 3, 4]}).filter(us.col("a") > 1)
    out = df.map_batches(_double, {"a": "int64", "a2": "int64"}).filter(us.col("a2") > 4)
    check(out.select(us.col("a2").sum()), {"a2": [14]})


def test_map_batches_function_error_is_user_function_error(engine):
    # S-MAP-BATCHES
    def boom(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("bad row")

    df = us.from_dict({"a": [1, 2]}).map_batches(boom, {"a": "int64"}, name="boom")
    with pytest.raises(us.UserFunctionError, match=r"boom.*ValueError: bad row"):
        df.collect(engine=engine)


def test_map_batches_wrong_output_columns_is_user_function_error(engine):
    df = us.from_dict({"a": [1, 2]}).map_batches(lambda b: pa.record_batch({"zz": b["a"]}), {"a": "int64"})
    with pytest.raises(us.UserFunctionError, match=r"returned columns \['zz'\], declared \['a'\]"):
        df.collect(engine=engine)
