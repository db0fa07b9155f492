"""Arrow types as the plan sees them: parsing, canonical forms, promotion rules.

The plan's types are Arrow types in canonical form: every string kind (``string``, ``string_view``)
is ``large_string``, every binary kind ``large_binary``, dictionaries are their value type and
``float16`` is ``float32``. Inputs are read as they are and cast to the canonical form by each engine,
so a collected table's schema equals ``frame.schema`` whatever wrote the data.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
from typing import Any

import pyarrow as pa

from unistack.errors import InvalidTypeError

STRING = pa.large_string()
BINARY = pa.large_binary()
INT64 = pa.int64()
FLOAT64 = pa.float64()
BOOL = pa.bool_()
MAX_DECIMAL_PRECISION = 38

_NAMES: dict[str, pa.DataType] = {
    "bool": pa.bool_(), "boolean": pa.bool_(),
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(), "int": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float32": pa.float32(), "float": pa.float64(), "float64": pa.float64(), "double": pa.float64(),
    "str": STRING, "string": STRING, "utf8": STRING, "large_string": STRING,
    "binary": BINARY, "bytes": BINARY,
    "date": pa.date32(), "date32": pa.date32(),
    "datetime": pa.timestamp("us"), "timestamp": pa.timestamp("us"),
    "null": pa.null(),
}
_DECIMAL = re.compile(r"^decimal(?:128)?\((\d+),\s*(\d+)\)$")
_TIMESTAMP = re.compile(r"^(?:timestamp|datetime)\[(s|ms|us|ns)(?:,\s*(.+))?\]$")


def parse_dtype(spec: pa.DataType | str | type) -> pa.DataType:
    """Turn a type given by a user (Arrow type, name or Python type) into a canonical plan type.

    Examples
    --------
    >>> parse_dtype("decimal(12, 2)")
    Decimal128Type(decimal128(12, 2))
    >>> parse_dtype("timestamp[ns, UTC]")
    TimestampType(timestamp[ns, tz=UTC])
    """
    if isinstance(spec, pa.DataType):
        return canonical(spec)
    if isinstance(spec, type):
        by_type = {int: INT64, float: FLOAT64, str: STRING, bool: BOOL, bytes: BINARY,
                   _dt.date: pa.date32(), _dt.datetime: pa.timestamp("us")}
        if spec in by_type:
            return by_type[spec]
    if isinstance(spec, str):
        name = spec.strip().lower()
        if name in _NAMES:
            return _NAMES[name]
        if m := _DECIMAL.match(name):
            return pa.decimal128(int(m[1]), int(m[2]))
        if m := _TIMESTAMP.match(spec.strip()):
            return pa.timestamp(m[1], m[2])
    raise InvalidTypeError(
        f"unknown type {spec!r}. Use a pyarrow type (e.g. pa.int32()) or a name such as 'int64', "
        "'float64', 'string', 'bool', 'date', 'timestamp[us]', 'timestamp[ns, UTC]' or 'decimal(12, 2)'."
    )


def canonical(t: pa.DataType) -> pa.DataType:
    """The canonical plan type for an Arrow type (see module docstring)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return STRING
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return BINARY
    if pa.types.is_dictionary(t):
        return canonical(t.value_type)
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_decimal(t) and not pa.types.is_decimal128(t):
        return pa.decimal128(min(t.precision, MAX_DECIMAL_PRECISION), t.scale)
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.large_list(canonical(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, canonical(f.type), f.nullable) for f in t])
    return t


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """The schema with every field's type in canonical form and no metadata."""
    return pa.schema([pa.field(f.name, canonical(f.type)) for f in schema])


def is_integer(t: pa.DataType) -> bool:
    return pa.types.is_integer(t)


def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def is_string(t: pa.DataType) -> bool:
    return pa.types.is_large_string(t) or pa.types.is_string(t) or pa.types.is_string_view(t)


def is_temporal(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) or pa.types.is_date(t)


def is_null(t: pa.DataType) -> bool:
    return pa.types.is_null(t)


def describe(t: pa.DataType) -> str:
    """A short type name for messages."""
    return "string" if t == STRING else str(t)


_INT_ORDER = [pa.int8(), pa.int16(), pa.int32(), pa.int64()]
_UINT_ORDER = [pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]


def _int_supertype(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    if a == b:
        return a
    a_signed, b_signed = pa.types.is_signed_integer(a), pa.types.is_signed_integer(b)
    if a_signed == b_signed:
        order = _INT_ORDER if a_signed else _UINT_ORDER
        return max(a, b, key=order.index)
    signed, unsigned = (a, b) if a_signed else (b, a)
    # the smallest signed type holding both; uint64 with a signed type has none, so int64 (documented)
    need = max(_INT_ORDER.index(signed), _UINT_ORDER.index(unsigned) + 1)
    return _INT_ORDER[min(need, 3)]


def decimal_integer_digits(t: pa.DataType) -> int:
    """Digits an integer type needs as a decimal (int64 -> 19)."""
    return {8: 3, 16: 5, 32: 10, 64: 20 if pa.types.is_unsigned_integer(t) else 19}[t.bit_width]


def supertype(a: pa.DataType, b: pa.DataType, what: str = "combine") -> pa.DataType:
    """The type two operands are converted to before they are compared, combined or unioned.

    Raises :class:`InvalidTypeError` when there is none (e.g. string and int).

    Examples
    --------
    >>> supertype(pa.int32(), pa.int64())
    DataType(int64)
    >>> supertype(pa.int64(), pa.float32())
    DataType(double)
    """
    if a == b:
        return a
    if is_null(a):
        return b
    if is_null(b):
        return a
    if is_integer(a) and is_integer(b):
        return _int_supertype(a, b)
    if pa.types.is_floating(a) and pa.types.is_floating(b):
        return FLOAT64
    if is_numeric(a) and is_numeric(b):
        if pa.types.is_floating(a) or pa.types.is_floating(b):
            return FLOAT64
        if pa.types.is_decimal(a) and pa.types.is_decimal(b):
            scale = max(a.scale, b.scale)
            digits = max(a.precision - a.scale, b.precision - b.scale)
            return pa.decimal128(min(digits + scale, MAX_DECIMAL_PRECISION), scale)
        dec, integer = (a, b) if pa.types.is_decimal(a) else (b, a)
        digits = max(dec.precision - dec.scale, decimal_integer_digits(integer))
        return pa.decimal128(min(digits + dec.scale, MAX_DECIMAL_PRECISION), dec.scale)
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b) and (a.tz is None) == (b.tz is None):
        unit = max(a.unit, b.unit, key=["s", "ms", "us", "ns"].index)
        return pa.timestamp(unit, a.tz)
    if is_string(a) and is_string(b):
        return STRING
    hint = ""
    if {is_string(a), is_numeric(b)} == {True} or {is_string(b), is_numeric(a)} == {True}:
        hint = " Cast one side first, e.g. us.col('x').cast('int64') or .cast('string')."
    elif pa.types.is_timestamp(a) and pa.types.is_timestamp(b):
        hint = " One is naive and one is time-zone aware: cast the naive one, e.g. .cast('timestamp[us, UTC]')."
    raise InvalidTypeError(f"cannot {what} {describe(a)} and {describe(b)}.{hint}")


def literal_type(value: Any) -> pa.DataType:
    """The plan type of a Python value used as a literal.

    Examples
    --------
    >>> literal_type(decimal.Decimal("0.05"))
    Decimal128Type(decimal128(2, 2))
    """
    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise InvalidTypeError(f"integer literal {value} does not fit in 64 bits.")
        return INT64 if value < 2**63 else pa.uint64()
    if isinstance(value, float):
        return FLOAT64
    if isinstance(value, str):
        return STRING
    if isinstance(value, bytes):
        return BINARY
    if isinstance(value, decimal.Decimal):
        _, digits, exponent = value.as_tuple()
        if not isinstance(exponent, int):
            raise InvalidTypeError(f"decimal literal {value} is not finite; use a float for NaN or infinity.")
        scale = max(-exponent, 0)
        precision = max(len(digits) + max(exponent, 0), scale, 1)
        if precision > MAX_DECIMAL_PRECISION:
            raise InvalidTypeError(f"decimal literal {value} has more than 38 digits.")
        return pa.decimal128(precision, scale)
    if isinstance(value, _dt.datetime):
        return pa.timestamp("us", "UTC" if value.tzinfo is not None else None)
    if isinstance(value, _dt.date):
        return pa.date32()
    if isinstance(value, _dt.timedelta):
        return pa.duration("us")
    raise InvalidTypeError(
        f"cannot use {type(value).__name__} value {value!r} as a literal; use a number, string, bool, bytes, "
        "date, datetime or Decimal."
    )


def literal_fits(value: Any, t: pa.DataType) -> bool:
    """Whether a weakly typed Python literal can take type ``t`` exactly (e.g. 3 as int32)."""
    if value is None:
        return True
    try:
        pa.array([value], type=t)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        return False
    if pa.types.is_decimal(t) and isinstance(value, decimal.Decimal):
        return value == value.quantize(decimal.Decimal(1).scaleb(-t.scale))
    return True


def literal_scalar(value: Any, t: pa.DataType) -> pa.Scalar:
    """A literal as an Arrow scalar of type ``t``. An integer literal met by a float column becomes the
    nearest float, as in SQL (Arrow's checked conversion refuses integers beyond 2**53).

    Examples
    --------
    >>> literal_scalar(9223372036854775807, pa.float64()).as_py()
    9.223372036854776e+18
    """
    if pa.types.is_floating(t) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return pa.scalar(value, type=t)


def sum_type(t: pa.DataType) -> pa.DataType:
    """Result type of ``sum`` (and ``cum_sum``) over values of type ``t``."""
    if pa.types.is_boolean(t) or pa.types.is_signed_integer(t):
        return INT64
    if pa.types.is_unsigned_integer(t):
        return pa.uint64()
    if pa.types.is_floating(t):
        return FLOAT64
    if pa.types.is_decimal(t):
        return pa.decimal128(MAX_DECIMAL_PRECISION, t.scale)
    if is_null(t):
        return INT64
    raise InvalidTypeError(f"cannot sum values of type {describe(t)}; sum takes numbers or booleans.")


def arithmetic_type(op: str, a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """Result type of an arithmetic operator (``+ - * // %``; ``/`` and ``**`` always give float64)."""
    for t in (a, b):
        if not (is_numeric(t) or is_null(t) or pa.types.is_boolean(t)):
            raise InvalidTypeError(
                f"cannot apply '{op}' to {describe(a)} and {describe(b)}: arithmetic needs numbers."
                + (" To join strings use us.concat_str([...])." if op == "+" and is_string(t) else "")
            )
    a = INT64 if pa.types.is_boolean(a) else a
    b = INT64 if pa.types.is_boolean(b) else b
    if op in ("/", "**"):
        return FLOAT64
    if is_null(a) and is_null(b):
        return INT64
    if pa.types.is_decimal(a) and pa.types.is_decimal(b) and op in ("*",):
        return pa.decimal128(min(a.precision + b.precision + 1, MAX_DECIMAL_PRECISION), a.scale + b.scale)
    if (pa.types.is_decimal(a) or pa.types.is_decimal(b)) and op in ("*",) and not (
        pa.types.is_floating(a) or pa.types.is_floating(b)
    ):
        dec, other = (a, b) if pa.types.is_decimal(a) else (b, a)
        if is_null(other):
            return dec
        digits = decimal_integer_digits(other)
        return pa.decimal128(min(dec.precision + digits + 1, MAX_DECIMAL_PRECISION), dec.scale)
    common = supertype(a, b, f"apply '{op}' to")
    if pa.types.is_decimal(common) and op in ("+", "-"):
        return pa.decimal128(min(common.precision + 1, MAX_DECIMAL_PRECISION), common.scale)
    return common
