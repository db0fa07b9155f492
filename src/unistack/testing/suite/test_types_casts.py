"""Types and casts: failing casts, truncation, string forms, decimals, timestamps with time zones."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import zoneinfo

import pyarrow as pa
import pytest

import unistack as us

sem = pytest.mark.semantics
D = decimal.Decimal


@sem("S-CAST-FAIL")
def test_string_to_int_failures_are_null(us_check):
    df = us.from_dict({"s": ["12", "-3", "+4", "abc", "", "1e3", "1.5", None]})
    us_check(df.select(us.col("s").cast("int64")), {"s": [12, -3, 4, None, None, None, None, None]})


@sem("S-CAST-FAIL")
def test_string_to_float_date_bool(us_check):
    df = us.from_dict({"s": ["1.5", "2023-02-28", "true", "x"]})
    us_check(df.select(f=us.col("s").cast("float64"), d=us.col("s").cast("date"), b=us.col("s").cast("bool")),
             {"f": [1.5, None, None, None], "d": [None, dt.date(2023, 2, 28), None, None],
              "b": [None, None, True, None]})


@sem("S-CAST-FAIL")
def test_invalid_date_is_null(us_check):
    df = us.from_dict({"s": ["2023-02-29", "2024-02-29", "FALSE"]})
    us_check(df.select(d=us.col("s").cast("date"), b=us.col("s").cast("bool")),
             {"d": [None, dt.date(2024, 2, 29), None], "b": [None, None, False]})


@sem("S-CAST-TRUNC")
def test_float_to_int_truncates(us_check):
    df = us.from_dict({"f": [2.7, -2.7, math.nan, math.inf, 1e30, None, 0.5]})
    us_check(df.select(us.col("f").cast("int64")), {"f": [2, -2, None, None, None, None, 0]})


@sem("S-CAST-TRUNC")
def test_integer_narrowing_out_of_range(us_check):
    df = us.from_dict({"a": [127, 128, -129, -128]})
    out = df.select(us.col("a").cast("int8"))
    assert out.schema.field("a").type == pa.int8()
    us_check(out, {"a": [127, None, None, -128]})


@sem("S-CAST-STRING")
def test_cast_to_string(us_check):
    df = us.from_dict({"i": [-12, 0], "b": [True, False], "d": [dt.date(2024, 3, 1), dt.date(1, 1, 1)],
                       "m": [D("1.50"), D("-0.05")]})
    us_check(df.select(i=us.col("i").cast("string"), b=us.col("b").cast("string"), d=us.col("d").cast("string"),
                       m=us.col("m").cast("string")),
             {"i": ["-12", "0"], "b": ["true", "false"], "d": ["2024-03-01", "0001-01-01"], "m": ["1.50", "-0.05"]})


@sem("S-CAST-FLOATSTR")
def test_float_to_string_parses_back(us_collect):
    df = us.from_dict({"f": [1e10, 0.1, -2.5]})
    out = us_collect(df.select(us.col("f").cast("string")))
    assert [float(v) for v in out.column("f").to_pylist()] == [1e10, 0.1, -2.5]


def _decimals() -> us.LazyFrame:
    return us.from_arrow(pa.table({"a": pa.array([D("0.10"), D("1.25"), None], pa.decimal128(5, 2)),
                                   "b": pa.array([D("0.20"), D("-0.05"), D("1.00")], pa.decimal128(5, 2))}))


@sem("S-DECIMAL")
def test_decimal_add_subtract_exact(us_check):
    out = _decimals().select(s=us.col("a") + us.col("b"), d=us.col("a") - us.col("b"))
    assert out.schema == pa.schema([("s", pa.decimal128(6, 2)), ("d", pa.decimal128(6, 2))])
    us_check(out, {"s": [D("0.30"), D("1.20"), None], "d": [D("-0.10"), D("1.30"), None]})


@sem("S-DECIMAL")
def test_decimal_multiply_exact(us_check):
    out = _decimals().select(m=us.col("a") * us.col("b"))
    assert out.schema == pa.schema([("m", pa.decimal128(11, 4))])
    us_check(out, {"m": [D("0.0200"), D("-0.0625"), None]})


@sem("S-DECIMAL", "S-DIV-FLOAT", "S-ROUND")
def test_decimal_division_round_and_compare(us_check):
    table = pa.table({"a": pa.array([D("1.25"), D("-2.50")], pa.decimal128(4, 2))})
    out = us.from_arrow(table).select(q=us.col("a") / 2, r=us.col("a").round(1), gt=us.col("a") > D("0.5"))
    assert out.schema.field("r").type == pa.decimal128(4, 2)
    us_check(out, {"q": [0.625, -1.25], "r": [D("1.30"), D("-2.50")], "gt": [True, False]})


@sem("S-DT-TZ")
def test_timezone_aware_parts_use_own_zone(us_check):
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    instants = [dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.UTC), None]  # 09:30 in Tokyo
    table = pa.table({"t": pa.array(instants, pa.timestamp("us", "Asia/Tokyo"))})
    out = us.from_arrow(table).select(h=us.col("t").dt.hour(), d=us.col("t").dt.day(),
                                      tr=us.col("t").dt.truncate("day"))
    us_check(out, {"h": [9, None], "d": [1, None], "tr": [dt.datetime(2024, 1, 1, tzinfo=tokyo), None]})


@sem("S-DT-TZ")
def test_timezone_aware_comparison_is_by_instant(us_check):
    a = pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)], pa.timestamp("us", "UTC"))
    b = pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)], pa.timestamp("us", "Europe/Oslo"))
    df = us.from_arrow(pa.table({"a": a, "b": b}))
    us_check(df.select(eq=us.col("a") == us.col("b")), {"eq": [True]})


@sem("S-DT-TZ")
def test_naive_timestamp_stays_naive(us_check):
    df = us.from_dict({"t": [dt.datetime(2024, 7, 1, 23, 30)]})
    out = df.select(h=us.col("t").dt.hour(), t=us.col("t"))
    assert out.schema.field("t").type.tz is None
    us_check(out, {"h": [23], "t": [dt.datetime(2024, 7, 1, 23, 30)]})


def test_timestamp_units_kept(us_check):
    table = pa.table({"ns": pa.array([1_000_000_001], pa.timestamp("ns")), "s": pa.array([60], pa.timestamp("s"))})
    df = us.from_arrow(table)
    assert df.schema == pa.schema([("ns", pa.timestamp("ns")), ("s", pa.timestamp("s"))])
    us_check(df.select(us.col("s").dt.minute(), us.col("ns").dt.second()), {"s": [1], "ns": [1]})


@sem("S-SCHEMA")
def test_counts_are_int64_and_parts_int32(us_check):
    df = us.from_dict({"s": ["ab"], "d": [dt.date(2024, 1, 1)]})
    out = df.select(n=us.col("s").str.len(), y=us.col("d").dt.year())
    assert out.schema == pa.schema([("n", pa.int64()), ("y", pa.int32())])
    us_check(out, {"n": [2], "y": [2024]})


def test_int_to_float_and_bool_to_int(us_check):
    df = us.from_dict({"i": [3, None], "b": [True, False]})
    us_check(df.select(f=us.col("i").cast("float64"), n=us.col("b").cast("int32")), {"f": [3.0, None], "n": [1, 0]})


def test_unsigned_and_small_ints(us_check):
    table = pa.table({"u": pa.array([0, 255], pa.uint8()), "i": pa.array([-1, 1], pa.int16())})
    out = us.from_arrow(table).select(u=us.col("u").cast("int8"), i=us.col("i").cast("uint32"))
    us_check(out, {"u": [0, None], "i": [None, 1]})
