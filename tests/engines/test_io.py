"""Reading Parquet/CSV/JSON (path, glob, directory, list) and writing Parquet/CSV atomically."""

from __future__ import annotations

import datetime as dt
import decimal
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us

D = decimal.Decimal


@pytest.fixture
def parts(tmp_path):
    """Three Parquet files in a directory (plus a non-Parquet file and a hidden one to be ignored)."""
    d = tmp_path / "parts"
    d.mkdir()
    for i, (ks, vs) in enumerate([([1, 2], ["a", "é"]), ([3], [None]), ([4, 5], ["日本", "🎉"])]):
        pq.write_table(pa.table({"k": pa.array(ks, pa.int64()), "v": pa.array(vs, pa.string())}),
                       d / f"part-{i}.parquet")
    (d / "README.txt").write_text("not data")
    (d / "_SUCCESS").write_text("")
    return d


EXPECTED = {"k": [1, 2, 3, 4, 5], "v": ["a", "é", None, "日本", "🎉"]}


def test_read_parquet_file_glob_directory_and_list(check, parts):
    check(us.read_parquet(parts / "part-0.parquet"), {"k": [1, 2], "v": ["a", "é"]})
    check(us.read_parquet(str(parts / "part-*.parquet")), EXPECTED)
    check(us.read_parquet(parts), EXPECTED)
    check(us.read_parquet([parts / "part-2.parquet", parts / "part-1.parquet"]),
          {"k": [3, 4, 5], "v": [None, "日本", "🎉"]})


def test_read_parquet_with_filter_projection_and_aggregate(check, parts):
    out = us.read_parquet(parts).filter(us.col("k") >= 2).select("v", k2=us.col("k") * 2)
    check(out, {"v": ["é", None, "日本", "🎉"], "k2": [4, 6, 8, 10]})
    check(us.read_parquet(parts).select(n=us.count(), s=us.col("k").sum()), {"n": [5], "s": [15]})


def test_read_parquet_sorted_limit(check, parts):
    check(us.read_parquet(parts).sort("k", descending=True).limit(2), {"k": [5, 4], "v": ["🎉", "日本"]}, ordered=True)


def test_parquet_string_view_dictionary_decimal_and_temporal_columns(check, tmp_path):
    # S-IO, S-SCHEMA: read with the footer schema, then canonical types
    path = tmp_path / "types.parquet"
    table = pa.table({
        "sv": pa.array(["x", None, "日本"], pa.string_view()),
        "dict": pa.array(["a", "b", "a"]).dictionary_encode(),
        "dec": pa.array([D("1.10"), None, D("-99.99")], pa.decimal128(6, 2)),
        "d": pa.array([dt.date(2024, 1, 1), None, dt.date(1999, 12, 31)], pa.date32()),
        "t": pa.array([dt.datetime(2024, 1, 1, 12), None, dt.datetime(2000, 1, 1)], pa.timestamp("us")),
        "f32": pa.array([1.5, None, -2.0], pa.float32()),
    })
    pq.write_table(table, path)
    df = us.read_parquet(path)
    assert df.schema == pa.schema([("sv", pa.large_string()), ("dict", pa.large_string()),
                                   ("dec", pa.decimal128(6, 2)), ("d", pa.date32()), ("t", pa.timestamp("us")),
                                   ("f32", pa.float32())])
    check(df, {"sv": ["x", None, "日本"], "dict": ["a", "b", "a"], "dec": [D("1.10"), None, D("-99.99")],
               "d": [dt.date(2024, 1, 1), None, dt.date(1999, 12, 31)],
               "t": [dt.datetime(2024, 1, 1, 12), None, dt.datetime(2000, 1, 1)], "f32": [1.5, None, -2.0]})
    check(df.filter(us.col("sv") == "日本").select("dec", s=us.col("sv").str.len(), k=us.col("dict").str.upper()),
          {"dec": [D("-99.99")], "s": [2], "k": ["A"]})
    other = us.from_dict({"dict": ["a"], "n": [1]})
    check(df.join(other, on="dict").select("dict", "n"), {"dict": ["a", "a"], "n": [1, 1]})


def test_read_csv_inferred_types_and_nulls(check, tmp_path):
    # S-IO: an empty CSV field is null
    path = tmp_path / "t.csv"
    path.write_text("id,name,score,ok\n1,é,1.5,true\n2,,2.0,false\n3,日本,,true\n", encoding="utf-8")
    df = us.read_csv(path)
    assert df.schema == pa.schema([("id", pa.int64()), ("name", pa.large_string()), ("score", pa.float64()),
                                   ("ok", pa.bool_())])
    check(df, {"id": [1, 2, 3], "name": ["é", None, "日本"], "score": [1.5, 2.0, None], "ok": [True, False, True]})


def test_read_csv_with_schema_separator_and_glob(check, tmp_path):
    for i, body in enumerate(["a;b\n1;x\n", "a;b\n2;NA\n"]):
        (tmp_path / f"f{i}.csv").write_text(body)
    df = us.read_csv(str(tmp_path / "f*.csv"), separator=";", schema={"a": "int32", "b": "string"},
                     null_values=["NA"])
    assert df.schema == pa.schema([("a", pa.int32()), ("b", pa.large_string())])
    check(df.filter(us.col("a") > 0), {"a": [1, 2], "b": ["x", None]})


def test_read_ndjson(check, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1, "s": "é"}\n{"a": null, "s": "日本"}\n{"a": 3, "s": null}\n', encoding="utf-8")
    df = us.read_json(path)
    assert df.schema == pa.schema([("a", pa.int64()), ("s", pa.large_string())])
    check(df, {"a": [1, None, 3], "s": ["é", "日本", None]})
    check(us.read_json(path).select(us.col("a").sum()), {"a": [4]})


def test_write_parquet_round_trip(engine, tmp_path):
    path = tmp_path / "out.parquet"
    df = us.from_dict({"k": [2, 1, None], "s": ["é", "日本", None]})
    df.filter(us.col("k").is_not_null()).sort("k").write_parquet(path, engine=engine)
    back = pq.read_table(path)
    assert back.to_pydict() == {"k": [1, 2], "s": ["日本", "é"]}
    assert back.schema.field("s").type == pa.large_string()
    assert [p for p in os.listdir(tmp_path) if p != "out.parquet"] == []


def test_write_csv_round_trip(engine, tmp_path):
    path = tmp_path / "out.csv"
    us.from_dict({"k": [2, 1], "s": ["é", None]}).sort("k").write_csv(path, engine=engine)
    assert us.read_csv(path).collect(engine=engine).to_pydict() == {"k": [1, 2], "s": [None, "é"]}
    assert [p for p in os.listdir(tmp_path) if p != "out.csv"] == []


def test_write_is_atomic_when_the_query_fails(engine, tmp_path):
    # S-IO
    path = tmp_path / "out.csv"
    path.write_text("old content")

    def boom(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise RuntimeError("fail")

    df = us.from_dict({"a": [1]}).map_batches(boom, {"a": "int64"})
    with pytest.raises(us.UserFunctionError):
        df.write_csv(path, engine=engine)
    assert path.read_text() == "old content"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_read_csv_quoted_fields_and_header_only(check, tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,text\n1,"a, b"\n2,"line1\nline2"\n3,"say ""hi"""\n', encoding="utf-8")
    check(us.read_csv(path), {"id": [1, 2, 3], "text": ["a, b", "line1\nline2", 'say "hi"']})
    empty = tmp_path / "e.csv"
    empty.write_text("id,text\n")
    check(us.read_csv(empty, schema={"id": "int64", "text": "string"}), {"id": [], "text": []})


def test_read_ndjson_missing_keys_are_null(check, tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1, "s": "x"}\n{"a": 2}\n{"s": "日本"}\n', encoding="utf-8")
    check(us.read_json(path, schema={"a": "int64", "s": "string"}), {"a": [1, 2, None], "s": ["x", None, "日本"]})


def test_write_parquet_keeps_types(check, engine, tmp_path):
    path = tmp_path / "typed.parquet"
    utc = dt.UTC
    df = us.from_dict({"d": [D("1.10"), None], "t": [dt.datetime(2024, 1, 1, 12, tzinfo=utc), None],
                       "day": [dt.date(2024, 2, 29), None], "i": [1, None]},
                      schema={"d": "decimal(5, 2)", "t": "timestamp[us, UTC]", "day": "date", "i": "int16"})
    df.write_parquet(path, engine=engine)
    back = us.read_parquet(path)
    assert back.schema == df.schema
    check(back, {"d": [D("1.10"), None], "t": [dt.datetime(2024, 1, 1, 12, tzinfo=utc), None],
                 "day": [dt.date(2024, 2, 29), None], "i": [1, None]})
