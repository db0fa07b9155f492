"""The one place where DuckDB SQL text is made from names and values.

Every identifier and every literal the DuckDB translator puts into SQL goes through this module, so
nothing a user controls (column names, string contents, file paths) can change the meaning of a query:

- identifiers are double-quoted with embedded ``"`` doubled; a NUL character (which DuckDB's parser
  would silently cut at) is refused;
- strings are single-quoted with embedded ``'`` doubled (DuckDB's standard strings treat backslashes
  literally); NUL characters, which the parser cannot carry, are spliced in with ``chr(0)``;
- bytes become ``from_hex('..')``, so only hexadecimal digits reach the parser;
- numbers, dates and timestamps are rendered from Python's own exact text forms inside a typed ``CAST``.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from functools import lru_cache
from typing import Any

import pyarrow as pa

from unistack.errors import InvalidTypeError

_TIMESTAMP_TYPES = {"s": "TIMESTAMP_S", "ms": "TIMESTAMP_MS", "us": "TIMESTAMP", "ns": "TIMESTAMP_NS"}
_INT_TYPES = {
    pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT", pa.uint16(): "USMALLINT", pa.uint32(): "UINTEGER", pa.uint64(): "UBIGINT",
}


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL.

    Parameters
    ----------
    name : str
        Any column or relation name (quotes, spaces, reserved words and unicode are fine).

    Returns
    -------
    str
        The name as a quoted identifier.

    Raises
    ------
    ValueError
        If the name contains a NUL character, which DuckDB cannot carry in an identifier.

    Examples
    --------
    >>> quote_ident('a"; drop table x; --')
    '"a""; drop table x; --"'
    """
    if not isinstance(name, str):
        raise TypeError(f"identifier must be a str, got {type(name).__name__}")
    if "\x00" in name:
        raise ValueError("DuckDB identifiers cannot contain a NUL character")
    return '"' + name.replace('"', '""') + '"'


def quote_string(value: str) -> str:
    """A DuckDB ``VARCHAR`` literal holding exactly ``value``.

    Examples
    --------
    >>> quote_string("it's")
    "'it''s'"
    >>> quote_string("a\\x00b")
    "('a' || chr(0) || 'b')"
    """
    if not isinstance(value, str):
        raise TypeError(f"string literal must be a str, got {type(value).__name__}")
    if "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    parts = ["'" + p.replace("'", "''") + "'" for p in value.split("\x00")]
    return "(" + " || chr(0) || ".join(parts) + ")"


def quote_bytes(value: bytes) -> str:
    """A DuckDB ``BLOB`` literal holding exactly ``value``.

    Examples
    --------
    >>> quote_bytes(b"\\x00'a")
    "from_hex('002761')"
    """
    return f"from_hex('{bytes(value).hex()}')"


@lru_cache(maxsize=1024)
def sql_type(dtype: pa.DataType) -> str:
    """The DuckDB type name for a canonical plan (Arrow) type.

    Examples
    --------
    >>> sql_type(pa.decimal128(12, 2))
    'DECIMAL(12, 2)'
    >>> sql_type(pa.timestamp("ns"))
    'TIMESTAMP_NS'
    """
    if dtype in _INT_TYPES:
        return _INT_TYPES[dtype]
    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    if pa.types.is_float32(dtype) or pa.types.is_float16(dtype):
        return "FLOAT"
    if pa.types.is_float64(dtype):
        return "DOUBLE"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return "VARCHAR"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return "BLOB"
    if pa.types.is_date(dtype):
        return "DATE"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ" if dtype.tz is not None else _TIMESTAMP_TYPES[dtype.unit]
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({min(dtype.precision, 38)}, {dtype.scale})"
    if pa.types.is_duration(dtype):
        return "INTERVAL"
    if pa.types.is_dictionary(dtype):
        return sql_type(dtype.value_type)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return sql_type(dtype.value_type) + "[]"
    if pa.types.is_struct(dtype):
        return "STRUCT(" + ", ".join(f"{quote_ident(f.name)} {sql_type(f.type)}" for f in dtype) + ")"
    if pa.types.is_null(dtype):
        return "INTEGER"  # an all-null column; its value is always NULL
    raise InvalidTypeError(f"the duckdb engine has no SQL type for {dtype}")


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))  # shortest text that reads back to the same double


def quote_literal(value: Any, dtype: pa.DataType | None = None) -> str:
    """A DuckDB SQL literal for a Python value, typed as ``dtype`` (a canonical plan type).

    Parameters
    ----------
    value : Any
        None, bool, int, float (incl. NaN and infinities), str, bytes, Decimal, date, datetime
        (naive or time-zone aware) or timedelta.
    dtype : pyarrow.DataType, optional
        The type the literal must have; inferred from the value when omitted.

    Returns
    -------
    str
        SQL text that evaluates to exactly that value.

    Examples
    --------
    >>> quote_literal(3, pa.int32())
    'CAST(3 AS INTEGER)'
    >>> quote_literal(float("nan"))
    "CAST('nan' AS DOUBLE)"
    >>> quote_literal("it's")
    "'it''s'"
    """
    if dtype is None:
        from unistack.plan.types import literal_type

        dtype = literal_type(value)
    if value is None:
        return "NULL" if pa.types.is_null(dtype) else f"CAST(NULL AS {sql_type(dtype)})"
    target = sql_type(dtype)
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
        return text if target == "BOOLEAN" else f"CAST({text} AS {target})"
    if isinstance(value, int):
        if target == "BOOLEAN":
            return "TRUE" if value else "FALSE"
        return f"CAST({int(value)} AS {target})" if value >= 0 else f"CAST(({int(value)}) AS {target})"
    if isinstance(value, float):
        return f"CAST('{_float_text(value)}' AS {target})"
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return f"CAST('{_float_text(float(value))}' AS {target})"
        return f"CAST('{format(value, 'f')}' AS {target})"
    if isinstance(value, str):
        text = quote_string(value)
        return text if target == "VARCHAR" else f"CAST({text} AS {target})"
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = quote_bytes(bytes(value))
        return text if target == "BLOB" else f"CAST({text} AS {target})"
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            utc = value.astimezone(_dt.UTC).replace(tzinfo=None)
            text = f"CAST('{utc.isoformat(sep=' ')}+00:00' AS TIMESTAMPTZ)"
            return text if target == "TIMESTAMPTZ" else f"CAST({text} AS {target})"
        return f"CAST('{value.isoformat(sep=' ')}' AS {target})"
    if isinstance(value, _dt.date):
        return f"CAST('{value.isoformat()}' AS {target})"
    if isinstance(value, _dt.timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        return f"to_microseconds(CAST({micros} AS BIGINT))"
    raise InvalidTypeError(f"the duckdb engine cannot write a literal of type {type(value).__name__}")
