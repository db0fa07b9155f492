"""Scan and IO: in-memory sources, Parquet, CSV and JSON files, canonical schemas (S-IO, S-SCHEMA)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.testing.plugin import require_engine

pytestmark = pytest.mark.semantics("S-IO", "S-SCHEMA")


def test_from_dict_roundtrip(us_check):
    df = us.from_dict({"a": [1, None, 3], "s": ["x", None, "ü"]})
    us_check(df, {"a": [1, None, 3], "s": ["x", None, "ü"]})


def test_canonical_string_types(us_check):
    table = pa.table({"s": pa.array(["a", None], type=pa.string()),
                      "d": pa.array(["x", "y"]).dictionary_encode(),
                      "h": pa.array([1.5, None], type=pa.float16())})
    df = us.from_arrow(table)
    assert df.schema == pa.schema([("s", pa.large_string()), ("d", pa.large_string()), ("h", pa.float32())])
    us_check(df, {"s": ["a", None], "d": ["x", "y"], "h": [1.5, None]})


def test_empty_table(us_check):
    table = pa.table({"a": pa.array([], pa.int64()), "s": pa.array([], pa.large_string())})
    us_check(us.from_arrow(table), {"a": [], "s": []})


def test_single_row(us_check):
    us_check(us.from_dict({"a": [7]}).select(us.col("a") * 2), {"a": [14]})


def test_parquet_scan_with_projection_and_filter(us_check, tmp_path: Path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3, None], "b": ["x", "y", "z", "w"], "c": [1.0, 2.0, 3.0, 4.0]}), path)
    df = us.read_parquet(str(path)).filter(us.col("a") >= 2).select("b")
    us_check(df, {"b": ["y", "z"]})


def test_parquet_multiple_files(us_check, tmp_path: Path):
    for i in range(3):
        pq.write_table(pa.table({"a": [i, i + 10]}), tmp_path / f"part-{i}.parquet")
    df = us.read_parquet([str(tmp_path / f"part-{i}.parquet") for i in range(3)])
    us_check(df, {"a": [0, 10, 1, 11, 2, 12]})


def test_parquet_string_becomes_large_string(us_check, tmp_path: Path):
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"s": pa.array(["日本", None], type=pa.string())}), path)
    df = us.read_parquet(str(path))
    assert df.schema.field("s").type == pa.large_string()
    us_check(df, {"s": ["日本", None]})


def test_csv_empty_field_is_null(us_check, tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("a,s\n1,x\n,y\n3,\n")
    df = us.read_csv(str(path), schema={"a": "int64", "s": "string"})
    us_check(df, {"a": [1, None, 3], "s": ["x", "y", None]})


def test_csv_written_by_arrow(us_check, tmp_path: Path):
    path = tmp_path / "t.csv"
    pacsv.write_csv(pa.table({"a": [1, 2], "f": [0.5, -1.25]}), path)
    df = us.read_csv(str(path), schema={"a": "int64", "f": "float64"}).select(us.col("a") + us.col("f"))
    us_check(df, {"a": [1.5, 0.75]})


def test_json_lines(us_check, tmp_path: Path):
    path = tmp_path / "t.json"
    path.write_text('{"a": 1, "s": "x"}\n{"a": null, "s": "é"}\n')
    df = us.read_json(str(path), schema={"a": "int64", "s": "string"})
    us_check(df, {"a": [1, None], "s": ["x", "é"]})


def test_write_parquet_roundtrip(us_engine, us_collect, tmp_path: Path):
    require_engine(us_engine)
    path = tmp_path / "out.parquet"
    frame = us.from_dict({"a": [3, 1, 2], "d": [dt.date(2024, 1, 1), None, dt.date(1970, 1, 1)]})
    us_collect(frame)  # declared-unsupported engines stop here
    frame.write_parquet(str(path), engine=us_engine)
    back = pq.read_table(path)
    assert sorted(back.column("a").to_pylist()) == [1, 2, 3]


def test_missing_file_is_data_source_error(us_engine):
    require_engine(us_engine)
    with pytest.raises(us.DataSourceError):
        us.read_parquet("/nonexistent/unistack/none.parquet").collect(engine=us_engine)
