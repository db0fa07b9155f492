"""Date and timestamp functions (.dt): int32 parts, ISO weekday, truncate, time zones (S-DT-*)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pyarrow as pa

import unistack as us

UTC = dt.UTC
T = dt.datetime


def test_date_parts_and_iso_weekday(check):
    # S-DT-PARTS, S-DT-WEEKDAY: 2024-01-01 is a Monday, 2024-01-07 a Sunday
    df = us.from_dict({"d": [dt.date(2024, 1, 1), dt.date(2024, 1, 7), dt.date(2024, 2, 29), dt.date(1969, 12, 31),
                             None]})
    out = df.select(y=us.col("d").dt.year(), m=us.col("d").dt.month(), d=us.col("d").dt.day(),
                    w=us.col("d").dt.weekday())
    assert out.schema == pa.schema([(n, pa.int32()) for n in ("y", "m", "d", "w")])
    check(out, {"y": [2024, 2024, 2024, 1969, None], "m": [1, 1, 2, 12, None], "d": [1, 7, 29, 31, None],
                "w": [1, 7, 4, 3, None]})


def test_naive_timestamp_parts(check):
    # S-DT-PARTS
    df = us.from_dict({"t": [T(2024, 3, 9, 23, 59, 58, 999999), T(1970, 1, 1), None]})
    out = df.select(y=us.col("t").dt.year(), h=us.col("t").dt.hour(), mi=us.col("t").dt.minute(),
                    s=us.col("t").dt.second(), w=us.col("t").dt.weekday())
    check(out, {"y": [2024, 1970, None], "h": [23, 0, None], "mi": [59, 0, None], "s": [58, 0, None],
                "w": [6, 4, None]})


def test_tz_aware_parts_use_their_own_zone(check):
    # S-DT-TZ: 2024-01-01 00:30 UTC is 09:30 in Tokyo and 2023-12-31 19:30 (a Sunday) in New York
    instant = T(2024, 1, 1, 0, 30, tzinfo=UTC)
    df = us.from_dict({"tokyo": [instant], "ny": [instant]},
                      schema={"tokyo": pa.timestamp("us", "Asia/Tokyo"), "ny": pa.timestamp("us", "America/New_York")})
    out = df.select(th=us.col("tokyo").dt.hour(), td=us.col("tokyo").dt.day(), ny=us.col("ny").dt.year(),
                    nd=us.col("ny").dt.day(), nh=us.col("ny").dt.hour(), nw=us.col("ny").dt.weekday())
    check(out, {"th": [9], "td": [1], "ny": [2023], "nd": [31], "nh": [19], "nw": [7]})


def test_truncate_naive_timestamp_every_unit(check):
    # S-DT-TRUNCATE: week starts on Monday; 2024-08-17 is a Saturday
    t = T(2024, 8, 17, 13, 45, 30, 123456)
    df = us.from_dict({"t": [t, None]})
    units = ["year", "quarter", "month", "week", "day", "hour", "minute", "second"]
    out = df.select(**{u: us.col("t").dt.truncate(u) for u in units})
    check(out, {
        "year": [T(2024, 1, 1), None], "quarter": [T(2024, 7, 1), None], "month": [T(2024, 8, 1), None],
        "week": [T(2024, 8, 12), None], "day": [T(2024, 8, 17), None], "hour": [T(2024, 8, 17, 13), None],
        "minute": [T(2024, 8, 17, 13, 45), None], "second": [T(2024, 8, 17, 13, 45, 30), None],
    })


def test_truncate_dates(check):
    # S-DT-TRUNCATE: dates stay dates; 2024-01-01 (a Monday) is its own week start
    df = us.from_dict({"d": [dt.date(2024, 5, 17), dt.date(2024, 1, 1), dt.date(2023, 12, 31)]})
    out = df.select(w=us.col("d").dt.truncate("week"), q=us.col("d").dt.truncate("quarter"),
                    y=us.col("d").dt.truncate("year"))
    assert out.schema.field("w").type == pa.date32()
    check(out, {"w": [dt.date(2024, 5, 13), dt.date(2024, 1, 1), dt.date(2023, 12, 25)],
                "q": [dt.date(2024, 4, 1), dt.date(2024, 1, 1), dt.date(2023, 10, 1)],
                "y": [dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2023, 1, 1)]})


def test_truncate_tz_aware_in_its_own_zone(check):
    # S-DT-TZ, S-DT-TRUNCATE: 2024-01-01 20:00 UTC is 2024-01-02 05:00 in Tokyo; its day starts at 15:00 UTC
    tokyo = ZoneInfo("Asia/Tokyo")
    df = us.from_dict({"t": [T(2024, 1, 1, 20, 0, tzinfo=UTC)]}, schema={"t": pa.timestamp("us", "Asia/Tokyo")})
    out = df.select(d=us.col("t").dt.truncate("day"), m=us.col("t").dt.truncate("month"))
    assert out.schema.field("d").type == pa.timestamp("us", "Asia/Tokyo")
    check(out, {"d": [T(2024, 1, 2, tzinfo=tokyo)], "m": [T(2024, 1, 1, tzinfo=tokyo)]})


def test_naive_timestamps_stay_naive(check):
    # S-DT-TZ: no zone is ever attached to a naive timestamp
    df = us.from_dict({"t": [T(2024, 6, 30, 23, 0)]})
    out = df.select("t", d=us.col("t").dt.truncate("day"), h=us.col("t").dt.hour())
    assert out.schema.field("d").type == pa.timestamp("us")
    check(out, {"t": [T(2024, 6, 30, 23, 0)], "d": [T(2024, 6, 30)], "h": [23]})


def test_compare_with_date_and_datetime_literals(check):
    df = us.from_dict({"d": [dt.date(2024, 1, 1), dt.date(2024, 6, 1), None],
                       "t": [T(2024, 1, 1, 12), T(2023, 1, 1), T(2025, 1, 1)]})
    out = df.select(a=us.col("d") >= dt.date(2024, 3, 1), b=us.col("t") < T(2024, 1, 1, 12, 0, 1))
    check(out, {"a": [False, True, None], "b": [True, True, False]})


def test_tz_aware_compare_with_aware_literal(check):
    # an aware literal is an instant: 09:00 in Tokyo equals 00:00 UTC
    df = us.from_dict({"t": [T(2024, 1, 1, 0, 0, tzinfo=UTC), T(2024, 1, 1, 1, 0, tzinfo=UTC)]},
                      schema={"t": pa.timestamp("us", "Asia/Tokyo")})
    check(df.filter(us.col("t") == T(2024, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))).select(
        h=us.col("t").dt.hour()), {"h": [9]})


def test_group_by_truncated_month(check):
    df = us.from_dict({"t": [T(2024, 1, 5), T(2024, 1, 31, 23), T(2024, 2, 1), None], "v": [1, 2, 3, 4]})
    out = df.group_by(us.col("t").dt.truncate("month")).agg(us.col("v").sum())
    check(out, {"t": [T(2024, 1, 1), T(2024, 2, 1), None], "v": [3, 3, 4]})


def test_nanosecond_timestamps(check):
    df = us.from_dict({"t": [T(2024, 1, 1, 1, 2, 3)]}, schema={"t": pa.timestamp("ns")})
    out = df.select("t", s=us.col("t").dt.second())
    assert out.schema.field("t").type == pa.timestamp("ns")
    expected = pa.table({"t": pa.array([T(2024, 1, 1, 1, 2, 3)], pa.timestamp("ns")), "s": pa.array([3], pa.int32())})
    check(out, expected)
