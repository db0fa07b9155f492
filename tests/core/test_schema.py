"""Output types of every expression kind, computed at build time (S-SCHEMA, S-TYPE-PROMOTE, S-TYPE-WEAK,
S-AGG-TYPES, S-DECIMAL, S-DIV-FLOAT, S-POW-FLOAT, S-DT-PARTS). No engine runs here."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest

import unistack as us

D = decimal.Decimal
STR = pa.large_string()

DF = us.from_arrow(pa.table({
    "i8": pa.array([1], pa.int8()), "i32": pa.array([1], pa.int32()), "i64": pa.array([1], pa.int64()),
    "u8": pa.array([1], pa.uint8()), "u64": pa.array([1], pa.uint64()),
    "f32": pa.array([1.0], pa.float32()), "f64": pa.array([1.0], pa.float64()),
    "dec": pa.array([D("1.00")], pa.decimal128(10, 2)), "s": pa.array(["x"], pa.string()),
    "b": pa.array([True]), "d": pa.array([dt.date(2024, 1, 1)], pa.date32()),
    "ts": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("us")),
    "tz": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("us", "UTC")),
    "n": pa.nulls(1),
}))
c = us.col

ROW_LEVEL = [
    # arithmetic and promotion
    ("int32 + weak int literal", c("i32") + 1, pa.int32()),
    ("int32 + int64", c("i32") + c("i64"), pa.int64()),
    ("int8 + uint8", c("i8") + c("u8"), pa.int16()),
    ("uint64 + int64 is int64 (documented)", c("u64") + c("i64"), pa.int64()),
    ("int64 + float32", c("i64") + c("f32"), pa.float64()),
    ("float32 + float32", c("f32") + c("f32"), pa.float32()),
    ("float32 * weak int literal", c("f32") * 2, pa.float32()),
    ("float32 + weak float literal", c("f32") + 1.5, pa.float32()),
    ("float32 + float64", c("f32") + c("f64"), pa.float64()),
    ("int / int", c("i32") / c("i32"), pa.float64()),
    ("decimal / int", c("dec") / 2, pa.float64()),
    ("int ** int", c("i32") ** 2, pa.float64()),
    ("int32 // weak literal", c("i32") // 2, pa.int32()),
    ("int8 % int8", c("i8") % c("i8"), pa.int8()),
    ("decimal + decimal", c("dec") + c("dec"), pa.decimal128(11, 2)),
    ("decimal - decimal", c("dec") - c("dec"), pa.decimal128(11, 2)),
    ("decimal * decimal", c("dec") * c("dec"), pa.decimal128(21, 4)),
    ("decimal + int64", c("dec") + c("i64"), pa.decimal128(22, 2)),
    ("decimal * int32", c("dec") * c("i32"), pa.decimal128(21, 2)),
    ("decimal + decimal literal that fits", c("dec") + D("0.5"), pa.decimal128(11, 2)),
    ("decimal + float literal", c("dec") + 1.5, pa.float64()),
    ("bool + int literal", c("b") + 1, pa.int64()),
    ("unary minus int8", -c("i8"), pa.int8()),
    ("unary minus of null", -c("n"), pa.int64()),
    ("null + int", c("n") + c("i32"), pa.int32()),
    # logic
    ("comparison", c("i32") > c("f64"), pa.bool_()),
    ("string comparison", c("s") == "é", pa.bool_()),
    ("and", (c("i32") > 1) & c("b"), pa.bool_()),
    ("not", ~c("b"), pa.bool_()),
    ("between", c("d").between(dt.date(2024, 1, 1), dt.date(2025, 1, 1)), pa.bool_()),
    # literals
    ("int literal", us.lit(1), pa.int64()),
    ("typed literal", us.lit(1, dtype="int8"), pa.int8()),
    ("decimal literal", us.lit(D("1.50")), pa.decimal128(3, 2)),
    ("string literal", us.lit("é"), STR),
    ("date literal", us.lit(dt.date(2024, 1, 1)), pa.date32()),
    ("naive datetime literal", us.lit(dt.datetime(2024, 1, 1)), pa.timestamp("us")),
    ("aware datetime literal", us.lit(dt.datetime(2024, 1, 1, tzinfo=dt.UTC)), pa.timestamp("us", "UTC")),
    ("null literal", us.lit(None), pa.null()),
    # casts and functions
    ("cast to string", c("i32").cast("string"), STR),
    ("cast to decimal", c("i32").cast("decimal(12, 3)"), pa.decimal128(12, 3)),
    ("cast to aware timestamp", c("s").cast("timestamp[ns, Europe/Oslo]"), pa.timestamp("ns", "Europe/Oslo")),
    ("cast with Python type", c("i32").cast(float), pa.float64()),
    ("is_null", c("n").is_null(), pa.bool_()),
    ("is_nan", c("f32").is_nan(), pa.bool_()),
    ("fill_null with weak literal", c("i32").fill_null(0), pa.int32()),
    ("fill_null with wider column", c("i32").fill_null(c("i64")), pa.int64()),
    ("coalesce", us.coalesce("i8", "i64"), pa.int64()),
    ("is_in", c("i32").is_in([1, 2]), pa.bool_()),
    ("abs int8", c("i8").abs(), pa.int8()),
    ("round float32", c("f32").round(1), pa.float32()),
    ("round decimal", c("dec").round(1), pa.decimal128(10, 2)),
    ("round int", c("i64").round(), pa.int64()),
    ("str.len", c("s").str.len(), pa.int64()),
    ("str.lower", c("s").str.lower(), STR),
    ("str.strip", c("s").str.strip(), STR),
    ("str.contains", c("s").str.contains("x"), pa.bool_()),
    ("str.starts_with", c("s").str.starts_with("x"), pa.bool_()),
    ("str.slice", c("s").str.slice(1, 2), STR),
    ("str.replace", c("s").str.replace("a", "b"), STR),
    ("concat_str", us.concat_str([c("s"), c("s")], separator="-"), STR),
    ("dt.year of date", c("d").dt.year(), pa.int32()),
    ("dt.weekday of timestamp", c("ts").dt.weekday(), pa.int32()),
    ("dt.second of aware timestamp", c("tz").dt.second(), pa.int32()),
    ("dt.truncate of date", c("d").dt.truncate("week"), pa.date32()),
    ("dt.truncate of naive timestamp", c("ts").dt.truncate("hour"), pa.timestamp("us")),
    ("dt.truncate of aware timestamp", c("tz").dt.truncate("day"), pa.timestamp("us", "UTC")),
    # when/then
    ("when int32 otherwise weak literal", us.when(c("b")).then(c("i32")).otherwise(0), pa.int32()),
    ("when int32 otherwise float64", us.when(c("b")).then(c("i32")).otherwise(c("f64")), pa.float64()),
    ("when without otherwise", us.when(c("b")).then(c("s")), STR),
    ("when with only null values", us.when(c("b")).then(None), pa.int64()),
    # windows
    ("row_number", us.row_number().over(order_by="i32"), pa.int64()),
    ("rank", us.rank().over(order_by="i32"), pa.int64()),
    ("column rank", c("f64").rank().over("s"), pa.int64()),
    ("cum_sum int32", c("i32").cum_sum().over(order_by="i32"), pa.int64()),
    ("cum_sum float32", c("f32").cum_sum().over(order_by="i32"), pa.float64()),
    ("cum_sum uint8", c("u8").cum_sum().over(order_by="i32"), pa.uint64()),
    ("shift string", c("s").shift(1).over(order_by="i32"), STR),
    ("sum over", c("i8").sum().over("s"), pa.int64()),
    ("mean over", c("i8").mean().over("s"), pa.float64()),
]

AGGREGATES = [
    ("sum int8", c("i8").sum(), pa.int64()),
    ("sum uint8", c("u8").sum(), pa.uint64()),
    ("sum float32", c("f32").sum(), pa.float64()),
    ("sum decimal", c("dec").sum(), pa.decimal128(38, 2)),
    ("sum bool", c("b").sum(), pa.int64()),
    ("sum null", c("n").sum(), pa.int64()),
    ("mean int32", c("i32").mean(), pa.float64()),
    ("mean decimal", c("dec").mean(), pa.float64()),
    ("std", c("i8").std(), pa.float64()),
    ("var", c("f32").var(), pa.float64()),
    ("min string", c("s").min(), STR),
    ("max date", c("d").max(), pa.date32()),
    ("min float32", c("f32").min(), pa.float32()),
    ("first aware timestamp", c("tz").first(), pa.timestamp("us", "UTC")),
    ("last decimal", c("dec").last(), pa.decimal128(10, 2)),
    ("count", c("s").count(), pa.int64()),
    ("n_unique", c("f64").n_unique(), pa.int64()),
    ("count rows", us.count(), pa.int64()),
    ("expression of aggregates", c("i32").sum() / us.count(), pa.float64()),
    ("aggregate of expression", (c("i32") * c("i8")).max(), pa.int32()),
]


@pytest.mark.parametrize(("expr", "dtype"), [x[1:] for x in ROW_LEVEL], ids=[x[0] for x in ROW_LEVEL])
def test_row_level_expression_type(expr: us.Expr, dtype: pa.DataType) -> None:
    schema = DF.select(expr.alias("out")).schema
    assert schema == pa.schema([("out", dtype)])


@pytest.mark.parametrize(("expr", "dtype"), [x[1:] for x in AGGREGATES], ids=[x[0] for x in AGGREGATES])
def test_aggregate_type(expr: us.Expr, dtype: pa.DataType) -> None:
    assert DF.select(expr.alias("out")).schema == pa.schema([("out", dtype)])
    assert DF.group_by("s").agg(expr.alias("out")).schema == pa.schema([("s", STR), ("out", dtype)])


def test_sources_are_canonical() -> None:
    # S-SCHEMA: string kinds are large_string, dictionaries their values, float16 float32, date64 date32
    table = pa.table({
        "s": pa.array(["x"], pa.string()), "v": pa.array(["x"], pa.string_view()),
        "k": pa.array(["x"]).dictionary_encode(), "h": pa.array([1.0], pa.float16()) if hasattr(pa, "float16") else
        pa.array([1.0], pa.float32()), "d": pa.array([dt.date(2024, 1, 1)], pa.date64()),
        "bin": pa.array([b"x"], pa.binary()),
    })
    assert us.from_arrow(table).schema == pa.schema([
        ("s", STR), ("v", STR), ("k", STR), ("h", pa.float32()), ("d", pa.date32()), ("bin", pa.large_binary())])


def test_default_output_names() -> None:
    # S-NAMES
    out = DF.select(c("i32") + c("i64"), 10 - c("f64"), us.lit(1), us.count().over("s"),
                    us.row_number().over(order_by="i8"), us.rank().over(order_by="i8"))
    assert out.columns == ["i32", "f64", "literal", "count", "row_number", "rank"]
    assert DF.select(us.count()).columns == ["count"]


def test_join_group_by_and_map_batches_schemas() -> None:
    left = us.from_dict({"k": [1], "v": ["a"]})
    right = us.from_dict({"k": [1], "v": [1.5], "w": [True]})
    assert left.join(right, on="k", how="full").schema == pa.schema(
        [("k", pa.int64()), ("v", STR), ("v_right", pa.float64()), ("w", pa.bool_())])
    assert left.join(right, on="k", how="semi").schema == left.schema
    assert left.group_by("v", (c("k") * 2).alias("k2")).agg(n=us.count()).schema == pa.schema(
        [("v", STR), ("k2", pa.int64()), ("n", pa.int64())])
    assert left.map_batches(lambda b: b, {"a": pa.string(), "b": "int8"}).schema == pa.schema(
        [("a", STR), ("b", pa.int8())])
