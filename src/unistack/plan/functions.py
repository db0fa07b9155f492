"""Scalar functions of the plan: their names, arguments and result types.

Each engine implements these by name; an engine's capabilities list which it has. The type rule of a
function takes the bound argument types and the constant parameters and returns the result type, or
raises :class:`InvalidTypeError` naming what was expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from unistack.errors import InvalidTypeError
from unistack.plan import types as t

TRUNCATE_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second")


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    infer: Callable[[list[pa.DataType], tuple[Any, ...]], pa.DataType]
    description: str


def _need(kind: str, check: Callable[[pa.DataType], bool], fn: str, dtype: pa.DataType) -> None:
    if not (check(dtype) or t.is_null(dtype)):
        raise InvalidTypeError(f"{fn} needs {kind} input, got {t.describe(dtype)}.")


def _string_fn(result: pa.DataType | None) -> Callable[[list[pa.DataType], tuple[Any, ...]], pa.DataType]:
    def infer(args: list[pa.DataType], params: tuple[Any, ...], _r: pa.DataType | None = result) -> pa.DataType:
        _need("string", t.is_string, "this .str function", args[0])
        return _r if _r is not None else t.STRING

    return infer


def _dt_part(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    _need("date or timestamp", t.is_temporal, "this .dt function", args[0])
    return pa.int32()


def _dt_time_part(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    _need("timestamp", pa.types.is_timestamp, ".dt.hour/minute/second", args[0])
    return pa.int32()


def _dt_truncate(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    _need("date or timestamp", t.is_temporal, ".dt.truncate", args[0])
    (unit,) = params
    if unit not in TRUNCATE_UNITS:
        raise InvalidTypeError(f".dt.truncate unit must be one of {', '.join(TRUNCATE_UNITS)}; got {unit!r}.")
    if pa.types.is_date(args[0]) and unit in ("hour", "minute", "second"):
        raise InvalidTypeError(f"cannot truncate a date to {unit!r}; cast it to a timestamp first.")
    return args[0]


def _numeric_same(name: str) -> Callable[[list[pa.DataType], tuple[Any, ...]], pa.DataType]:
    def infer(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
        _need("numeric", t.is_numeric, name, args[0])
        return t.INT64 if t.is_null(args[0]) else args[0]

    return infer


def _fill_null(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    return t.supertype(args[0], args[1], "fill nulls of")


def _coalesce(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    out = args[0]
    for a in args[1:]:
        out = t.supertype(out, a, "coalesce")
    return out


def _is_in(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    for v in params[0]:
        t.supertype(args[0], t.literal_type(v), "compare")
    return t.BOOL


def _concat_str(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    for a in args:
        _need("string", t.is_string, "concat_str", a)
    return t.STRING


def like_to_regex(pattern: str) -> str:
    r"""A SQL ``LIKE`` pattern as an anchored regular expression that Rust's and Java's regex engines read
    alike: ``%`` is any run of characters, ``_`` exactly one, a backslash makes the next character literal.

    >>> like_to_regex(r"a%b_\%")
    '(?s)\\Aa.*b.%\\z'
    """
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1
            out.append(_regex_literal(pattern[i]))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(_regex_literal(ch))
        i += 1
    return "(?s)\\A" + "".join(out) + "\\z"


def _regex_literal(ch: str) -> str:
    return "\\" + ch if ch in ".^$*+?()[]{}|\\-&~#" else ch


def check_like_pattern(pattern: str) -> str:
    """Reject a pattern that ends in an unescaped backslash (it escapes nothing)."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    if trailing % 2:
        raise InvalidTypeError(f".str.like pattern {pattern!r} ends in a lone backslash; write '\\\\' for a "
                               "literal backslash.")
    return pattern


def _bool_of_any(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    return t.BOOL


def _is_nan(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    _need("float", pa.types.is_floating, "is_nan", args[0])
    return t.BOOL


def _str_slice(args: list[pa.DataType], params: tuple[Any, ...]) -> pa.DataType:
    offset, length = params
    if not isinstance(offset, int) or (length is not None and (not isinstance(length, int) or length < 0)):
        raise InvalidTypeError(".str.slice(offset, length) takes an int offset and a non-negative int length.")
    return _string_fn(None)(args, params)


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in [
        FunctionSpec("is_null", _bool_of_any, "true where the value is null (NaN is not null)"),
        FunctionSpec("is_not_null", _bool_of_any, "true where the value is not null"),
        FunctionSpec("is_nan", _is_nan, "true where a float is NaN"),
        FunctionSpec("fill_null", _fill_null, "replace nulls by a value"),
        FunctionSpec("coalesce", _coalesce, "first non-null argument"),
        FunctionSpec("is_in", _is_in, "true where the value is one of a list of literals"),
        FunctionSpec("abs", _numeric_same("abs"), "absolute value"),
        FunctionSpec("round", _numeric_same("round"), "round half away from zero to n decimals"),
        FunctionSpec("str_len", _string_fn(pa.int64()), "length in Unicode code points"),
        FunctionSpec("str_lower", _string_fn(None), "lower case"),
        FunctionSpec("str_upper", _string_fn(None), "upper case"),
        FunctionSpec("str_strip", _string_fn(None), "strip leading and trailing whitespace"),
        FunctionSpec("str_contains", _string_fn(t.BOOL), "contains a literal substring"),
        FunctionSpec("str_starts_with", _string_fn(t.BOOL), "starts with a literal prefix"),
        FunctionSpec("str_ends_with", _string_fn(t.BOOL), "ends with a literal suffix"),
        FunctionSpec("str_like", _string_fn(t.BOOL), "matches a SQL LIKE pattern (% any run, _ one character)"),
        FunctionSpec("str_slice", _str_slice, "substring by code point offset and length"),
        FunctionSpec("str_replace", _string_fn(None), "replace every occurrence of a literal substring"),
        FunctionSpec("concat_str", _concat_str, "concatenate strings with a separator (null if any is null)"),
        FunctionSpec("dt_year", _dt_part, "year"),
        FunctionSpec("dt_month", _dt_part, "month 1-12"),
        FunctionSpec("dt_day", _dt_part, "day of month 1-31"),
        FunctionSpec("dt_hour", _dt_time_part, "hour 0-23"),
        FunctionSpec("dt_minute", _dt_time_part, "minute 0-59"),
        FunctionSpec("dt_second", _dt_time_part, "second 0-59"),
        FunctionSpec("dt_weekday", _dt_part, "ISO weekday, Monday=1 .. Sunday=7"),
        FunctionSpec("dt_truncate", _dt_truncate, "truncate to the start of a calendar unit"),
    ]
}
