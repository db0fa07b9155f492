"""Property tests of the DuckDB engine's one quoting/escaping place (unistack.backends.duckdb.sql).

Arbitrary identifiers and literal contents (quotes, backslashes, unicode, reserved words, newlines, NUL)
must reach DuckDB as data and come back unchanged; they must never run as SQL.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterator

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

duckdb = pytest.importorskip("duckdb")

import unistack as us  # noqa: E402
from unistack.backends.duckdb.sql import quote_bytes, quote_ident, quote_literal, quote_string  # noqa: E402

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

NASTY = ['a"; drop table x; --', "'; DROP TABLE x; --", 'select', "from", 'ORDER', "a\\b", "line\nbreak",
         "tab\there", "\"\"\"", "''", "é 漢字 🦆", "\\x41", "$1", "?", "/* c */", "--", "\r\n", " "]

_chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))  # Cs: lone surrogates
identifiers = st.one_of(st.sampled_from(NASTY), st.text(_chars, min_size=1))
strings = st.one_of(st.sampled_from([*NASTY, "a\x00b", "\x00"]), st.text(st.characters(exclude_categories=("Cs",))))


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute("CREATE TABLE x AS SELECT 42 AS canary")
    yield c
    c.close()


def _canary_alive(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT canary FROM x").fetchall() == [(42,)]


@FAST
@given(name=identifiers)
def test_identifier_round_trips_as_a_column_name(con: duckdb.DuckDBPyConnection, name: str) -> None:
    table = con.sql(f"SELECT 1 AS {quote_ident(name)}").to_arrow_table()
    assert table.column_names == [name]
    _canary_alive(con)


@FAST
@given(name=identifiers)
def test_identifier_round_trips_as_a_table_and_column_reference(con: duckdb.DuckDBPyConnection, name: str) -> None:
    q = quote_ident(name)
    rows = con.execute(f"SELECT {q} FROM (SELECT 7 AS {q}) AS {quote_ident(name + '_t')}").fetchall()
    assert rows == [(7,)]
    _canary_alive(con)


def test_identifier_with_nul_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_ident("a\x00b")


@FAST
@given(value=strings)
def test_string_literal_round_trips(con: duckdb.DuckDBPyConnection, value: str) -> None:
    assert con.execute(f"SELECT {quote_string(value)}").fetchall() == [(value,)]
    assert con.execute(f"SELECT {quote_literal(value)}").fetchall() == [(value,)]
    _canary_alive(con)


@FAST
@given(value=st.binary())
def test_bytes_literal_round_trips(con: duckdb.DuckDBPyConnection, value: bytes) -> None:
    assert con.execute(f"SELECT {quote_bytes(value)}").fetchall() == [(value,)]
    assert con.execute(f"SELECT {quote_literal(value)}").fetchall() == [(value,)]


@FAST
@given(value=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int64_literal_round_trips(con: duckdb.DuckDBPyConnection, value: int) -> None:
    assert con.execute(f"SELECT {quote_literal(value, pa.int64())}").fetchall() == [(value,)]


@FAST
@given(value=st.integers(min_value=0, max_value=2**64 - 1))
def test_uint64_literal_round_trips(con: duckdb.DuckDBPyConnection, value: int) -> None:
    assert con.execute(f"SELECT {quote_literal(value, pa.uint64())}").fetchall() == [(value,)]


@FAST
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_float_literal_round_trips_bit_for_bit(con: duckdb.DuckDBPyConnection, value: float) -> None:
    (got,) = con.execute(f"SELECT {quote_literal(value, pa.float64())}").fetchall()[0]
    if math.isnan(value):
        assert math.isnan(got)
    else:
        assert got == value and math.copysign(1.0, got) == math.copysign(1.0, value)


@FAST
@given(value=st.decimals(allow_nan=False, allow_infinity=False, places=4,
                         min_value=decimal.Decimal("-1e30"), max_value=decimal.Decimal("1e30")))
def test_decimal_literal_round_trips(con: duckdb.DuckDBPyConnection, value: decimal.Decimal) -> None:
    (got,) = con.execute(f"SELECT {quote_literal(value, pa.decimal128(38, 4))}").fetchall()[0]
    assert got == value


@FAST
@given(value=st.dates())
def test_date_literal_round_trips(con: duckdb.DuckDBPyConnection, value: dt.date) -> None:
    assert con.execute(f"SELECT {quote_literal(value, pa.date32())}").fetchall() == [(value,)]


@FAST
@given(value=st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)))
def test_naive_timestamp_literal_round_trips(con: duckdb.DuckDBPyConnection, value: dt.datetime) -> None:
    table = con.sql(f"SELECT {quote_literal(value, pa.timestamp('us'))} AS v").to_arrow_table()
    assert table.column("v").type == pa.timestamp("us")
    assert table.column("v").to_pylist() == [value]


@FAST
@given(value=st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2200, 12, 30),
                          timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-7, minutes=-30)),
                                                     dt.timezone(dt.timedelta(hours=5))])))
def test_aware_timestamp_literal_is_the_same_instant(con: duckdb.DuckDBPyConnection, value: dt.datetime) -> None:
    table = con.sql(f"SELECT {quote_literal(value, pa.timestamp('us', 'UTC'))} AS v").to_arrow_table()
    (got,) = table.column("v").to_pylist()
    assert got == value  # aware datetimes compare as instants


def test_literal_examples_are_typed(con: duckdb.DuckDBPyConnection) -> None:
    table = con.sql(
        f"SELECT {quote_literal(3, pa.int8())} AS a, {quote_literal(None, pa.large_string())} AS b, "
        f"{quote_literal(True)} AS c, {quote_literal(float('-inf'), pa.float32())} AS d"
    ).to_arrow_table()
    assert table.schema.types == [pa.int8(), pa.string(), pa.bool_(), pa.float32()]
    assert table.to_pylist() == [{"a": 3, "b": None, "c": True, "d": float("-inf")}]


# -- through the engine: names and values from a user never run as SQL -------------------------------------


@SLOW
@given(name=identifiers, value=strings)
def test_engine_round_trips_any_column_name_and_string(name: str, value: str) -> None:
    assume(name not in ("n", "copy"))
    frame = us.from_dict({name: [value, "other"], "n": [1, 2]})
    out = frame.filter(us.col(name) == value).with_columns(us.lit(value).alias("copy")).collect(engine="duckdb")
    assert out.column_names == [name, "n", "copy"]
    assert out.to_pydict() == {name: [value], "n": [2 if value == "other" else 1], "copy": [value]}


def test_injection_attempts_are_data() -> None:
    bad = 'a"; drop table x; --'
    frame = us.from_dict({bad: ["'; DROP TABLE x; --", "x"], "select": [1, 2]})
    out = (frame.filter(us.col(bad).str.contains("'; DROP"))
           .with_columns(us.col(bad).str.replace("DROP", "\"drop\"\n").alias("from"))
           .collect(engine="duckdb"))
    assert out.to_pydict() == {bad: ["'; DROP TABLE x; --"], "select": [1], "from": ["'; \"drop\"\n TABLE x; --"]}


def test_names_differing_only_in_case_stay_apart() -> None:
    frame = us.from_dict({"a": [1, 2], "A": [10, 20]})
    out = frame.with_columns(s=us.col("a") + us.col("A")).sort("A", descending=True).collect(engine="duckdb")
    assert out.to_pydict() == {"a": [2, 1], "A": [20, 10], "s": [22, 11]}


def test_column_name_with_nul_still_round_trips() -> None:
    name = "a\x00b"
    out = us.from_dict({name: [1, 2]}).filter(us.col(name) > 1).collect(engine="duckdb")
    assert out.column_names == [name]
    assert out.to_pydict() == {name: [2]}
