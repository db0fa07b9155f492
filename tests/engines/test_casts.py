"""cast(): failed casts give null, float to int truncates, out of range is null (S-CAST-*)."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import pyarrow as pa

import unistack as us

D = decimal.Decimal
NAN = math.nan


def test_string_to_numbers_invalid_gives_null(check):
    # S-CAST-FAIL
    df = us.from_dict({"s": ["12", "-3", "abc", "", None, "1e3", "9223372036854775808"]})
    out = df.select(i=us.col("s").cast("int64"), f=us.col("s").cast("float64"))
    check(out, {"i": [12, -3, None, None, None, None, None],
                "f": [12.0, -3.0, None, None, None, 1000.0, 9.223372036854776e18]})


def test_float_to_int_truncates_toward_zero(check):
    # S-CAST-TRUNC
    df = us.from_dict({"x": [2.7, -2.7, 0.5, -0.0, 1e20, NAN, math.inf, None]})
    check(df.select(us.col("x").cast("int64")), {"x": [2, -2, 0, 0, None, None, None, None]})


def test_int_narrowing_out_of_range_gives_null(check):
    # S-CAST-TRUNC
    df = us.from_dict({"a": [127, 128, -129, -128, 300]})
    out = df.select(a=us.col("a").cast("int8"), u=us.col("a").cast("uint8"))
    check(out, {"a": [127, None, None, -128, None], "u": [127, 128, None, None, None]})


def test_numbers_and_bools_to_string(check):
    # S-CAST-STRING: integer and bool formatting is part of the contract (float formatting is not)
    df = us.from_dict({"i": [12, -3, None], "b": [True, False, None]})
    check(df.select(us.col("i").cast("string"), us.col("b").cast("string")),
          {"i": ["12", "-3", None], "b": ["true", "false", None]})


def test_bool_int_round_trip(check):
    df = us.from_dict({"b": [True, False, None], "i": [0, 5, -1]})
    check(df.select(us.col("b").cast("int64"), us.col("i").cast("bool")), {"b": [1, 0, None], "i": [False, True, True]})


def test_string_to_date_and_timestamp(check):
    # S-CAST-FAIL
    df = us.from_dict({"s": ["2024-02-29", "2023-02-29", "not a date", None]})
    check(df.select(us.col("s").cast("date")), {"s": [dt.date(2024, 2, 29), None, None, None]})
    df2 = us.from_dict({"s": ["2024-02-29 13:45:00", "bad"]})
    check(df2.select(us.col("s").cast("timestamp[us]")), {"s": [dt.datetime(2024, 2, 29, 13, 45), None]})


def test_date_timestamp_casts(check):
    # S-CAST-STRING: a date prints as YYYY-MM-DD
    df = us.from_dict({"d": [dt.date(2024, 1, 2)], "t": [dt.datetime(2024, 1, 2, 23, 59)]})
    out = df.select(d=us.col("d").cast("timestamp[us]"), t=us.col("t").cast("date"), s=us.col("d").cast("string"))
    check(out, {"d": [dt.datetime(2024, 1, 2)], "t": [dt.date(2024, 1, 2)], "s": ["2024-01-02"]})


def test_decimal_casts(check):
    # S-CAST-STRING: decimals print exactly `scale` decimals
    df = us.from_dict({"i": [3, -2], "s": ["1.25", "x"], "d": [D("1.50"), D("-0.25")]},
                      schema={"i": "int64", "s": "string", "d": "decimal(5, 2)"})
    out = df.select(i=us.col("i").cast("decimal(10, 2)"), s=us.col("s").cast("decimal(10, 2)"),
                    f=us.col("d").cast("float64"), t=us.col("d").cast("string"))
    check(out, {"i": [D("3.00"), D("-2.00")], "s": [D("1.25"), None], "f": [1.5, -0.25], "t": ["1.50", "-0.25"]})


def test_int_to_float_and_float32(check):
    df = us.from_dict({"i": [1, -2, None]})
    out = df.select(f=us.col("i").cast("float64"), g=us.col("i").cast("float32"))
    assert out.schema == pa.schema([("f", pa.float64()), ("g", pa.float32())])
    check(out, {"f": [1.0, -2.0, None], "g": [1.0, -2.0, None]})


def test_cast_null_column_and_same_type(check):
    df = us.from_dict({"n": [None, None], "a": [1, 2]})
    out = df.select(n=us.col("n").cast("int32"), a=us.col("a").cast("int64"))
    assert out.schema == pa.schema([("n", pa.int32()), ("a", pa.int64())])
    check(out, {"n": [None, None], "a": [1, 2]})


def test_float_to_string_round_trips(check):
    # S-CAST-FLOATSTR: the text is engine-specific, but parsing it back gives the same number
    df = us.from_dict({"x": [1.5, -0.25, 1e10]})
    check(df.select(us.col("x").cast("string").cast("float64")), {"x": [1.5, -0.25, 1e10]})


def test_string_to_bool_and_iso_timestamps(check):
    # S-CAST-FAIL: 'true'/'false' in any case; ISO timestamps with ' ' or 'T'; no offset means UTC for an aware type
    df = us.from_dict({"b": ["true", "FALSE", "True", "yes", "", None],
                       "t": ["2024-01-01T05:06:07.25", "2024-01-01 05:06", "2024-01-01", "2024-13-01", "x", None]})
    out = df.select(b=us.col("b").cast("bool"), t=us.col("t").cast("timestamp[us, UTC]"))
    utc = dt.UTC
    check(out, {"b": [True, False, True, None, None, None],
                "t": [dt.datetime(2024, 1, 1, 5, 6, 7, 250000, tzinfo=utc), dt.datetime(2024, 1, 1, 5, 6, tzinfo=utc),
                      dt.datetime(2024, 1, 1, tzinfo=utc), None, None, None]})
