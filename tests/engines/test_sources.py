"""In-memory sources: Arrow objects, pandas, Polars, dicts; canonical types (large_string, ...)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pyarrow as pa

import unistack as us


class _StreamOnly:
    """An object that only offers the Arrow PyCapsule stream interface."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._table.__arrow_c_stream__(requested_schema)


TABLE = pa.table({"a": pa.array([1, 2, None], pa.int32()), "s": pa.array(["é", None, "日本"], pa.string())})
EXPECTED = {"a": [1, 2, None], "s": ["é", None, "日本"]}


def test_from_arrow_table_batch_reader_and_stream(check):
    check(us.from_arrow(TABLE), EXPECTED)
    check(us.from_arrow(TABLE.to_batches()[0]), EXPECTED)
    check(us.from_arrow(pa.RecordBatchReader.from_batches(TABLE.schema, TABLE.to_batches())), EXPECTED)
    check(us.from_arrow(_StreamOnly(TABLE)), EXPECTED)


def test_string_and_dictionary_inputs_become_large_string(check):
    table = pa.table({"s": pa.array(["x", "y", "x"]).dictionary_encode(),
                      "v": pa.array(["é", None, "z"], pa.string_view())})
    df = us.from_arrow(table)
    assert df.schema == pa.schema([("s", pa.large_string()), ("v", pa.large_string())])
    check(df.filter(us.col("s") == "x"), {"s": ["x", "x"], "v": ["é", "z"]})


def test_from_pandas(check):
    pdf = pd.DataFrame({"a": [1, 2], "s": ["é", None], "t": pd.to_datetime(["2024-01-01", "2024-06-30"])})
    df = us.from_pandas(pdf)
    check(df.select("a", "s", d=us.col("t").dt.day()), {"a": [1, 2], "s": ["é", None], "d": [1, 30]})


def test_from_polars_dataframe_and_lazyframe(check):
    pdf = pl.DataFrame({"a": [3, 1], "s": ["日本", "🎉"]})
    check(us.from_polars(pdf), {"a": [3, 1], "s": ["日本", "🎉"]})
    check(us.from_polars(pdf.lazy().filter(pl.col("a") > 1)), {"a": [3], "s": ["日本"]})


def test_from_dict_with_schema(check):
    df = us.from_dict({"a": [1, None], "t": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None]},
                      schema={"a": "int16", "t": "timestamp[us, UTC]"})
    assert df.schema == pa.schema([("a", pa.int16()), ("t", pa.timestamp("us", "UTC"))])
    check(df, {"a": [1, None], "t": [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None]})


def test_frame_collects_more_than_once(engine):
    df = us.from_arrow(pa.RecordBatchReader.from_batches(TABLE.schema, TABLE.to_batches()))
    first = df.collect(engine=engine)
    second = df.collect(engine=engine)
    assert first.equals(second)
    assert first.num_rows == 3


def test_zero_row_and_zero_batch_sources(check):
    empty = pa.table({"a": pa.array([], pa.int64())})
    check(us.from_arrow(empty), {"a": []})
    check(us.from_arrow(pa.RecordBatchReader.from_batches(empty.schema, [])), {"a": []})


def test_dictionary_column_behaves_as_a_string_column(check):
    # S-SCHEMA: a dictionary column is its value type everywhere: string functions, joins with plain strings
    df = us.from_arrow(pa.table({"s": pa.array(["x", "yé", "x", None]).dictionary_encode(), "v": [1, 2, 3, 4]}))
    other = us.from_dict({"s": ["x", "yé"], "w": [10, 20]})
    check(df.select(n=us.col("s").str.len(), u=us.col("s").str.upper()),
          {"n": [1, 2, 1, None], "u": ["X", "YÉ", "X", None]})
    check(df.join(other, on="s").select("v", "w"), {"v": [1, 2, 3], "w": [10, 20, 10]})
