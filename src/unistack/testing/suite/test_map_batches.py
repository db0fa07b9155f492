"""map_batches: Arrow batches in, declared schema out, errors as UserFunctionError (S-MAP-BATCHES)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import unistack as us

pytestmark = pytest.mark.semantics("S-MAP-BATCHES")


def _double(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.record_batch({"a": batch["a"], "a2": pc.multiply(batch["a"], 2)})


def test_map_batches_basic(us_check):
    df = us.from_dict({"a": [1, 2, None]}).map_batches(_double, {"a": "int64", "a2": "int64"})
    us_check(df, {"a": [1, 2, None], "a2": [2, 4, None]})


def test_receives_canonical_schema(us_check):
    seen: list[pa.Schema] = []

    def record(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen.append(batch.schema)
        return pa.record_batch({"n": pc.utf8_length(batch["s"])})

    table = pa.table({"s": pa.array(["ab", "日本語"], pa.string())})
    us_check(us.from_arrow(table).map_batches(record, {"n": "int64"}), {"n": [2, 3]})
    if seen:  # engines running the function in another process cannot report back
        assert all(s.field("s").type == pa.large_string() for s in seen)


def test_safe_cast_of_output(us_check):
    def narrow(batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.record_batch({"a": pc.cast(batch["a"], pa.int32())})

    us_check(us.from_dict({"a": [1, 2]}).map_batches(narrow, {"a": "int64"}), {"a": [1, 2]})


def test_then_filter_and_aggregate(us_check):
    df = us.from_dict({"a": [1, 2, 3, 4]}).map_batches(_double, {"a": "int64", "a2": "int64"})
    us_check(df.filter(us.col("a2") > 4).select(us.col("a").sum()), {"a": [7]})


def test_empty_input(us_check):
    df = us.from_arrow(pa.table({"a": pa.array([], pa.int64())})).map_batches(_double, {"a": "int64", "a2": "int64"})
    us_check(df, {"a": [], "a2": []})


def test_function_error_is_user_function_error(us_engine, us_collect):
    def boom(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("boom")

    frame = us.from_dict({"a": [1]}).map_batches(boom, {"a": "int64"})
    with pytest.raises(us.UserFunctionError):
        us_collect(frame)


def test_wrong_columns_is_user_function_error(us_collect):
    def wrong(batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.record_batch({"zzz": batch["a"]})

    with pytest.raises(us.UserFunctionError):
        us_collect(us.from_dict({"a": [1]}).map_batches(wrong, {"a": "int64"}))
