"""Plan -> Flink SQL text (batch mode): one translation per node type and per expression type.

The semantics of docs/semantics.md are enforced in the SQL itself: explicit ``NULLS FIRST/LAST``,
division by zero as ``CASE``, floor division and modulo from Flink's truncating ``/`` and ``MOD``,
range-checked casts, NaN-aware ``min``/``max``. Identifiers are quoted with backticks and literals are
written by :func:`literal_sql` only.

Inputs: in-memory Arrow tables are shipped to the worker as Arrow IPC; CSV files without a header and
newline-delimited JSON are read by Flink's filesystem connector; Parquet files (the pip distribution of
Flink has no Parquet format jar) and CSV files with a header row (Flink 2.3's CSV format cannot skip it)
are read by the main process with pyarrow and shipped as Arrow like in-memory tables.
:func:`shipped_bytes` tells how many bytes a plan sends that way.

Sorted results: a ``Sort`` numbers its rows (``ROW_NUMBER() OVER (ORDER BY ...)`` into the hidden column
``__us_ord``); order-preserving nodes above it carry that column and the outermost query orders by it,
because Flink (like Calcite) drops ``ORDER BY`` inside subqueries.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any

import pyarrow as pa

from unistack.backends.base import translator_operations
from unistack.errors import UnsupportedOperationError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan import types as t

ENGINE = "flink"
ORD = "__us_ord"
NAN = "CAST('NaN' AS DOUBLE)"

# -- types ----------------------------------------------------------------------------------------------------

_SIMPLE_TYPES: dict[pa.DataType, str] = {
    pa.bool_(): "BOOLEAN", pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INT",
    pa.int64(): "BIGINT", pa.uint8(): "SMALLINT", pa.uint16(): "INT", pa.uint32(): "BIGINT",
    pa.uint64(): "DECIMAL(20, 0)", pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.large_string(): "STRING",
    pa.string(): "STRING", pa.large_binary(): "BYTES", pa.binary(): "BYTES", pa.date32(): "DATE",
    pa.null(): "BOOLEAN",
}
_PRECISION = {"s": 0, "ms": 3, "us": 6, "ns": 9}


def flink_type(dtype: pa.DataType) -> str:
    """The Flink SQL type holding values of an Arrow plan type.

    Unsigned integers use the next wider signed type (``uint64``: ``DECIMAL(20, 0)``); time-zone aware
    timestamps are held as ``TIMESTAMP(p)`` in UTC (the zone is applied where parts are taken).

    Examples
    --------
    >>> flink_type(pa.timestamp("us", "UTC"))
    'TIMESTAMP(6)'
    """
    if dtype in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[dtype]
    if pa.types.is_timestamp(dtype):
        return f"TIMESTAMP({_PRECISION[dtype.unit]})"
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision}, {dtype.scale})"
    if pa.types.is_dictionary(dtype):
        return flink_type(dtype.value_type)
    raise UnsupportedOperationError(ENGINE, f"columns of type {dtype}",
                                    "Flink's unistack runtime handles numbers, strings, binary, dates, "
                                    "timestamps and decimals. Run it on another engine, e.g. "
                                    "collect(engine='polars').")


def wire_type(dtype: pa.DataType) -> pa.DataType:
    """The Arrow type a column is shipped to the worker as (what PyFlink's Arrow reader accepts)."""
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_timestamp(dtype):
        return pa.timestamp(dtype.unit)
    if pa.types.is_dictionary(dtype):
        return wire_type(dtype.value_type)
    if pa.types.is_unsigned_integer(dtype):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64(), 64: pa.decimal128(20, 0)}[dtype.bit_width]
    if pa.types.is_null(dtype):
        return pa.bool_()
    return dtype


def to_wire(table: pa.Table) -> tuple[pa.Table, list[list[str]]]:
    """A table cast for shipping, with its ``[name, flink type]`` column list."""
    columns = []
    arrays = []
    for column, f in zip(table.columns, table.schema):
        target = wire_type(f.type)
        if pa.types.is_null(f.type):
            arrays.append(pa.nulls(len(column), pa.bool_()))
        else:
            arrays.append(column if column.type == target else column.cast(target))
        columns.append([f.name, flink_type(t.canonical(f.type))])
    names = [f.name for f in table.schema]
    return pa.Table.from_arrays(arrays, names=names), columns


# -- text helpers ---------------------------------------------------------------------------------------------


def quote(name: str) -> str:
    """A quoted identifier.

    Examples
    --------
    >>> quote("a`b")
    '`a``b`'
    """
    return "`" + name.replace("`", "``") + "`"


def string_literal(value: str) -> str:
    """A SQL string literal; control characters use the ``U&'\\XXXX'`` form.

    Examples
    --------
    >>> string_literal("it's")
    "'it''s'"
    """
    if all(ch.isprintable() or ch == " " for ch in value):
        return "'" + value.replace("'", "''") + "'"
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("''")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\{ord(ch):04X}")
        else:  # Flink misreads the \+XXXXXX form; its strings are UTF-16, so write the surrogate pair
            high, low = divmod(ord(ch) - 0x10000, 0x400)
            out.append(f"\\{0xD800 + high:04X}\\{0xDC00 + low:04X}")
    return "U&'" + "".join(out) + "'"


def literal_sql(value: Any, dtype: pa.DataType) -> str:
    """A typed SQL literal for a Python value (the only place literals are written).

    Examples
    --------
    >>> literal_sql(3, pa.int32())
    'CAST(3 AS INT)'
    >>> literal_sql(float("nan"), pa.float64())
    "CAST('NaN' AS DOUBLE)"
    """
    ft = flink_type(dtype)
    if value is None or pa.types.is_null(dtype):
        return f"CAST(NULL AS {ft})"
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
        return text if pa.types.is_boolean(dtype) else f"CAST({text} AS {ft})"
    if isinstance(value, int):
        return f"CAST({value} AS {ft})"
    if isinstance(value, float):
        if math.isnan(value):
            text = "'NaN'"
        elif math.isinf(value):
            text = "'Infinity'" if value > 0 else "'-Infinity'"
        else:
            text = f"'{value!r}'"
        return f"CAST({text} AS {ft})"
    if isinstance(value, decimal.Decimal):
        return f"CAST('{value}' AS {ft})"
    if isinstance(value, str):
        # '' alone is a CHAR(0), a type Flink's planner refuses in places (a LAG over it)
        return string_literal(value) if ft == "STRING" and value else f"CAST({string_literal(value)} AS {ft})"
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
        return f"CAST(TIMESTAMP '{value.isoformat(sep=' ', timespec='microseconds')}' AS {ft})"
    if isinstance(value, _dt.date):
        return f"CAST(DATE '{value.isoformat()}' AS {ft})"
    raise UnsupportedOperationError(ENGINE, f"literals of type {type(value).__name__}")


def cast_to(sql: str, src: pa.DataType | None, dst: pa.DataType) -> str:
    """``sql`` as ``dst`` when the Flink types differ (a plain SQL cast, for values known to fit)."""
    if src is not None and flink_type(src) == flink_type(dst):
        return sql
    if src is not None and pa.types.is_null(src):
        return f"CAST(NULL AS {flink_type(dst)})"
    return f"CAST({sql} AS {flink_type(dst)})"


def _dtype(node: ex.ExprNode) -> pa.DataType:
    assert node.dtype is not None, "engines only see bound expressions"
    return node.dtype


# -- expressions --------------------------------------------------------------------------------------------


@singledispatch
def compile_expr(node: ex.ExprNode) -> str:
    raise UnsupportedOperationError(ENGINE, f"expression {type(node).__name__}")


@compile_expr.register
def _(node: ex.Column) -> str:
    return quote(node.name)


@compile_expr.register
def _(node: ex.Literal) -> str:
    return literal_sql(node.value, _dtype(node))


@compile_expr.register
def _(node: ex.Alias) -> str:
    return compile_expr(node.operand)


_INT_RANGE = {8: (-(2**7), 2**7 - 1), 16: (-(2**15), 2**15 - 1), 32: (-(2**31), 2**31 - 1),
              64: (-(2**63), 2**63 - 1)}


def _int_bounds(dst: pa.DataType) -> tuple[int, int]:
    if pa.types.is_unsigned_integer(dst):
        return 0, 2**dst.bit_width - 1
    return _INT_RANGE[dst.bit_width]


def cast_sql(x: str, src: pa.DataType, dst: pa.DataType) -> str:
    """A cast with the plan's rules: failures and out-of-range values give null, float -> int truncates."""
    ft = flink_type(dst)
    if src == dst or (flink_type(src) == ft and not pa.types.is_timestamp(dst)):
        return x
    if pa.types.is_null(src):
        return f"CAST(NULL AS {ft})"
    if t.is_string(dst):
        if pa.types.is_boolean(src):
            return f"(CASE WHEN {x} THEN 'true' WHEN NOT {x} THEN 'false' END)"
        return f"CAST({x} AS STRING)"
    if pa.types.is_integer(dst):
        lo, hi = _int_bounds(dst)
        if t.is_string(src):
            digits = f"TRY_CAST({x} AS DECIMAL(38, 0))"
            return (f"(CASE WHEN REGEXP({x}, '^[+-]?[0-9]{{1,30}}$') AND {digits} BETWEEN {lo} AND {hi} "
                    f"THEN TRY_CAST({digits} AS {ft}) END)")
        if pa.types.is_boolean(src):
            return f"(CASE WHEN {x} THEN CAST(1 AS {ft}) WHEN NOT {x} THEN CAST(0 AS {ft}) END)"
        if pa.types.is_floating(src) or pa.types.is_decimal(src):
            as_double = f"CAST({x} AS DOUBLE)"
            # (lo - 1, hi + 1) exclusive, as values truncate toward zero; lo - 1 is no double for int64,
            # whose lower bound -2**63 is itself exact and included
            low = f">= CAST('{float(lo):.1f}' AS DOUBLE)" if dst.bit_width == 64 and lo < 0 else \
                f"> CAST('{float(lo) - 1:.1f}' AS DOUBLE)"
            return (f"(CASE WHEN {as_double} {low} AND {as_double} < "
                    f"CAST('{float(hi) + 1:.1f}' AS DOUBLE) THEN TRY_CAST({x} AS {ft}) END)") if \
                pa.types.is_floating(src) else (f"(CASE WHEN {x} > {lo - 1} AND {x} < {hi + 1} "
                                                f"THEN TRY_CAST({x} AS {ft}) END)")
        if pa.types.is_integer(src):
            slo, shi = _int_bounds(src)
            if slo >= lo and shi <= hi:
                return f"CAST({x} AS {ft})"
            return f"(CASE WHEN {x} >= {lo} AND {x} <= {hi} THEN CAST({x} AS {ft}) END)"
    if pa.types.is_boolean(dst) and t.is_numeric(src):
        return f"({x} <> 0)"
    if pa.types.is_boolean(dst) and t.is_string(src):
        return f"(CASE WHEN LOWER({x}) = 'true' THEN TRUE WHEN LOWER({x}) = 'false' THEN FALSE END)"
    if pa.types.is_decimal(dst) and t.is_string(src):
        # Flink's TRY_CAST reads 'x' as 0; only decimal numbers are numbers.
        return f"(CASE WHEN REGEXP({x}, '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)$') THEN TRY_CAST({x} AS {ft}) END)"
    if pa.types.is_timestamp(dst) and t.is_string(src):
        # ISO 8601 with ' ' or 'T', seconds and fractions optional; a date alone is midnight.
        s = f"REPLACE({x}, 'T', ' ')"
        padded = (f"(CASE WHEN CHAR_LENGTH({s}) = 10 THEN {s} || ' 00:00:00' WHEN CHAR_LENGTH({s}) = 16 "
                  f"THEN {s} || ':00' ELSE {s} END)")
        iso = "'^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9:.]*)?$'"
        return f"(CASE WHEN REGEXP({x}, {iso}) THEN TRY_CAST({padded} AS {ft}) END)"
    if pa.types.is_floating(dst) and pa.types.is_boolean(src):
        return f"(CASE WHEN {x} THEN CAST(1 AS {ft}) WHEN NOT {x} THEN CAST(0 AS {ft}) END)"
    return f"TRY_CAST({x} AS {ft})"


@compile_expr.register
def _(node: ex.Cast) -> str:
    return cast_sql(compile_expr(node.operand), _dtype(node.operand), node.to)


@compile_expr.register
def _(node: ex.UnaryOp) -> str:
    inner = compile_expr(node.operand)
    if node.op == "not":
        return f"(NOT {inner})"
    out = _dtype(node)
    return cast_to(f"(- {cast_to(inner, _dtype(node.operand), out)})", None, out)


def _floor_mod(a: str, b: str) -> str:
    """Floor modulo of two integers (sign of the divisor), from Flink's truncating MOD."""
    return f"(CASE WHEN MOD({a}, {b}) <> 0 AND (MOD({a}, {b}) < 0) <> ({b} < 0) THEN MOD({a}, {b}) + {b} " \
           f"ELSE MOD({a}, {b}) END)"


def _nan_flag(node: ex.ExprNode) -> str:
    """SQL that is true where the operand is NaN (``FALSE`` for operands that cannot be NaN)."""
    if isinstance(node, ex.Literal):
        return "TRUE" if isinstance(node.value, float) and math.isnan(node.value) else "FALSE"
    if not pa.types.is_floating(_dtype(node)):
        return "FALSE"
    return _is_nan(compile_expr(node))


def _nan_compare(op: str, sql_op: str, left: str, right: str, lnan: str, rnan: str) -> str:
    """A float comparison in the sort order of the semantics: NaN equals NaN and is above every number."""
    if lnan == "FALSE" and rnan == "FALSE":
        return f"({left} {sql_op} {right})"
    when_nan = {
        "==": f"({lnan} AND {rnan})", "!=": f"(NOT ({lnan} AND {rnan}))",
        "<": f"((NOT {lnan}) AND {rnan})", "<=": rnan, ">": f"({lnan} AND (NOT {rnan}))", ">=": lnan,
    }[op]
    return (f"(CASE WHEN {left} IS NULL OR {right} IS NULL THEN CAST(NULL AS BOOLEAN) WHEN {lnan} OR {rnan} "
            f"THEN {when_nan} ELSE {left} {sql_op} {right} END)")


@compile_expr.register
def _(node: ex.BinaryOp) -> str:
    left, right = compile_expr(node.left), compile_expr(node.right)
    lt, rt = _dtype(node.left), _dtype(node.right)
    op = node.op
    if op == "&":
        return f"({left} AND {right})"
    if op == "|":
        return f"({left} OR {right})"
    if op in ex.COMPARISON_OPS:
        common = t.supertype(lt, rt)
        if not t.is_null(common):
            left, right = cast_to(left, lt, common), cast_to(right, rt, common)
        sql_op = {"==": "=", "!=": "<>"}.get(op, op)
        if pa.types.is_floating(common):
            return _nan_compare(op, sql_op, left, right, _nan_flag(node.left), _nan_flag(node.right))
        return f"({left} {sql_op} {right})"
    out = _dtype(node)
    if op in ("/", "**"):
        lf, rf = cast_to(left, lt, pa.float64()), cast_to(right, rt, pa.float64())
        if op == "**":
            return f"POWER({lf}, {rf})"
        return f"(CASE WHEN {rf} = 0 THEN CAST(NULL AS DOUBLE) ELSE {lf} / {rf} END)"
    if op in ("+", "-", "*"):
        if pa.types.is_decimal(out):
            return cast_to(f"({left} {op} {right})", None, out)
        result = f"({cast_to(left, lt, out)} {op} {cast_to(right, rt, out)})"
        if pa.types.is_unsigned_integer(out) and out.bit_width < 64:
            # held in the next wider signed type: wrap into [0, 2**bits) (S-INT-WRAP); a product that overflowed
            # the wider type wrapped modulo a multiple of 2**bits, so the low bits are still right
            m = f"CAST({2 ** out.bit_width} AS BIGINT)"
            result = f"MOD(MOD({result}, {m}) + {m}, {m})"
        return cast_to(result, None, out)
    a, b = cast_to(left, lt, out), cast_to(right, rt, out)
    if pa.types.is_integer(out):
        if op == "%":
            result = _floor_mod(a, b)
        else:  # floor division: truncating division, one less when the remainder has the other sign
            result = f"({a} / {b} - (CASE WHEN MOD({a}, {b}) <> 0 AND (MOD({a}, {b}) < 0) <> ({b} < 0) " \
                     f"THEN 1 ELSE 0 END))"
    else:
        quotient = f"FLOOR({a} / {b})"
        result = quotient if op == "//" else f"({a} - {b} * {quotient})"
    return f"(CASE WHEN {b} = 0 THEN CAST(NULL AS {flink_type(out)}) ELSE {cast_to(result, None, out)} END)"


@compile_expr.register
def _(node: ex.Case) -> str:
    out = _dtype(node)
    parts = [f"WHEN {compile_expr(c)} THEN {cast_to(compile_expr(v), _dtype(v), out)}" for c, v in node.branches]
    return f"(CASE {' '.join(parts)} ELSE {cast_to(compile_expr(node.otherwise), _dtype(node.otherwise), out)} END)"


_STRIP = r"'^[ \t\n\r\x0B\f]+|[ \t\n\r\x0B\f]+$'"
_UNITS = {"year": "YEAR", "quarter": "QUARTER", "month": "MONTH", "day": "DAY", "hour": "HOUR",
          "minute": "MINUTE", "second": "SECOND"}


def _local(node: ex.ExprNode, x: str) -> str:
    """A timestamp in its own zone's wall time (tz-aware values are held in UTC)."""
    dtype = _dtype(node)
    tz = getattr(dtype, "tz", None)
    if not tz or tz.upper() in ("UTC", "Z", "+00:00", "ETC/UTC"):
        return x
    return f"TO_TIMESTAMP(CONVERT_TZ(DATE_FORMAT({x}, 'yyyy-MM-dd HH:mm:ss'), 'UTC', {string_literal(tz)}))"


def _to_utc(dtype: pa.DataType, x: str) -> str:
    tz = getattr(dtype, "tz", None)
    if not tz or tz.upper() in ("UTC", "Z", "+00:00", "ETC/UTC"):
        return x
    return f"TO_TIMESTAMP(CONVERT_TZ(DATE_FORMAT({x}, 'yyyy-MM-dd HH:mm:ss'), {string_literal(tz)}, 'UTC'))"


def _iso_weekday(x: str) -> str:
    return f"(MOD(CAST(EXTRACT(DOW FROM {x}) AS INT) + 5, 7) + 1)"


def _part(unit: str) -> Callable[[ex.Call, list[str]], str]:
    def build(node: ex.Call, a: list[str]) -> str:
        return f"CAST(EXTRACT({unit} FROM {_local(node.args[0], a[0])}) AS INT)"

    return build


def _truncate(node: ex.Call, a: list[str]) -> str:
    unit = node.params[0]
    dtype = _dtype(node)
    x = _local(node.args[0], a[0])
    if unit == "week":
        day = f"FLOOR({x} TO DAY)" if pa.types.is_timestamp(dtype) else x
        out = f"TIMESTAMPADD(DAY, 1 - {_iso_weekday(x)}, {day})"
    else:
        out = f"FLOOR({x} TO {_UNITS[unit]})"
    out = cast_to(out, None, dtype)
    return _to_utc(dtype, out)


def _is_in(node: ex.Call, a: list[str]) -> str:
    values = [v for v in node.params[0] if v is not None]
    if not values:
        return f"(CASE WHEN {a[0]} IS NULL THEN CAST(NULL AS BOOLEAN) ELSE FALSE END)"
    common = _dtype(node.args[0])
    for v in values:
        common = t.supertype(common, t.literal_type(v))
    x = cast_to(a[0], _dtype(node.args[0]), common)
    nan = [v for v in values if isinstance(v, float) and math.isnan(v)]
    numbers = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    # NaN in the list matches NaN (S-ISIN); SQL's IN compares with =, under which NaN equals nothing
    tests = [f"{x} IN ({', '.join(literal_sql(v, common) for v in numbers)})"] if numbers else []
    if nan and pa.types.is_floating(common):
        tests.append(_is_nan(x))
    return f"(CASE WHEN {x} IS NULL THEN CAST(NULL AS BOOLEAN) ELSE {' OR '.join(tests) or 'FALSE'} END)"


def _round(node: ex.Call, a: list[str]) -> str:
    dtype = _dtype(node)
    if pa.types.is_integer(dtype) or t.is_null(_dtype(node.args[0])):
        return cast_to(a[0], _dtype(node.args[0]), dtype)
    rounded = f"ROUND({a[0]}, {int(node.params[0])})"
    if pa.types.is_floating(dtype):  # Flink rounds through BigDecimal, which has no NaN or infinity
        rounded = f"(CASE WHEN {_not_finite(a[0])} THEN {a[0]} ELSE {rounded} END)"
    return cast_to(rounded, None, dtype)


def _slice(node: ex.Call, a: list[str]) -> str:
    offset, length = node.params
    x = a[0]
    if offset >= 0:
        if length is None:
            return f"SUBSTRING({x} FROM {offset + 1})"
        return f"SUBSTRING({x} FROM {offset + 1} FOR {length})"
    n = f"CHAR_LENGTH({x})"
    start = f"GREATEST({n} + ({offset}), 0)"
    if length is None:
        return f"SUBSTRING({x} FROM {start} + 1)"
    end = f"LEAST(GREATEST({n} + ({offset + length}), 0), {n})"
    return f"SUBSTRING({x} FROM {start} + 1 FOR GREATEST({end} - {start}, 0))"


def _ends_with(node: ex.Call, a: list[str]) -> str:
    suffix = node.params[0]
    n = len(suffix)
    return (f"(CASE WHEN CHAR_LENGTH({a[0]}) < {n} THEN FALSE ELSE SUBSTRING({a[0]} FROM CHAR_LENGTH({a[0]}) - "
            f"{n - 1}) = {string_literal(suffix)} END)")


def _coalesce(node: ex.Call, a: list[str]) -> str:
    out = _dtype(node)
    parts = [cast_to(x, _dtype(arg), out) for x, arg in zip(a, node.args)]
    # Arguments after the first non-null literal are never reached. Flink's planner fails when its constant
    # folding turns an argument into a non-null literal ("Cannot add expression of different type": the
    # folded COALESCE becomes NOT NULL); a never-false RAND() guard keeps the expression's type nullable.
    for i, arg in enumerate(node.args):
        if isinstance(arg, ex.Literal) and arg.value is not None:
            parts = parts[: i + 1]
            break
    if len(parts) == 1:
        return parts[0]
    return f"(CASE WHEN RAND() < 2 THEN COALESCE({', '.join(parts)}) END)"


def _not_finite(x: str) -> str:
    return f"(CAST({x} AS STRING) IN ('NaN', 'Infinity', '-Infinity'))"


def _is_nan(x: str) -> str:
    # Flink folds ``x <> x`` to false, so NaN is recognised by its text.
    return f"(CAST({x} AS STRING) = 'NaN')"


FUNCTIONS: dict[str, Callable[[ex.Call, list[str]], str]] = {
    "is_null": lambda n, a: f"({a[0]} IS NULL)",
    "is_not_null": lambda n, a: f"({a[0]} IS NOT NULL)",
    "is_nan": lambda n, a: _is_nan(a[0]),
    "fill_null": _coalesce,
    "coalesce": _coalesce,
    "is_in": _is_in,
    "abs": lambda n, a: cast_to(f"ABS({a[0]})", None, _dtype(n)),
    "round": _round,
    "str_len": lambda n, a: f"CAST(CHAR_LENGTH({a[0]}) AS BIGINT)",
    "str_lower": lambda n, a: f"LOWER({a[0]})",
    "str_upper": lambda n, a: f"UPPER({a[0]})",
    "str_strip": lambda n, a: f"REGEXP_REPLACE({a[0]}, {_STRIP}, '')",
    "str_contains": lambda n, a: f"(POSITION({string_literal(n.params[0])} IN {a[0]}) > 0)",
    "str_starts_with": lambda n, a: f"(POSITION({string_literal(n.params[0])} IN {a[0]}) = 1)",
    "str_ends_with": _ends_with,
    "str_like": lambda n, a: f"({a[0]} LIKE {string_literal(n.params[0])} ESCAPE '\\')",
    "str_slice": _slice,
    "str_replace": lambda n, a: f"REPLACE({a[0]}, {string_literal(n.params[0])}, {string_literal(n.params[1])})",
    "concat_str": lambda n, a: "(" + f" || {string_literal(n.params[0])} || ".join(a) + ")" if n.params[0]
    else "(" + " || ".join(a) + ")",
    "dt_year": _part("YEAR"),
    "dt_month": _part("MONTH"),
    "dt_day": _part("DAY"),
    "dt_hour": _part("HOUR"),
    "dt_minute": _part("MINUTE"),
    "dt_second": _part("SECOND"),
    "dt_weekday": lambda n, a: f"CAST({_iso_weekday(_local(n.args[0], a[0]))} AS INT)",
    "dt_truncate": _truncate,
}


@compile_expr.register
def _(node: ex.Call) -> str:
    if node.name not in FUNCTIONS:
        raise UnsupportedOperationError(ENGINE, f"function:{node.name}")
    return FUNCTIONS[node.name](node, [compile_expr(a) for a in node.args])


def agg_sql(node: ex.Agg, over: str = "") -> str:
    """An aggregate as SQL; ``over`` (e.g. ``" OVER (PARTITION BY ...)"``) follows every aggregate call."""
    if node.func == "len":
        return f"COUNT(*){over}"
    assert node.operand is not None
    in_type = _dtype(node.operand)
    out = _dtype(node)
    x = compile_expr(node.operand)
    if pa.types.is_boolean(in_type) and node.func in ("sum", "mean", "std", "var"):
        x, in_type = f"(CASE WHEN {x} THEN 1 WHEN NOT {x} THEN 0 END)", pa.int64()
    floating = pa.types.is_floating(in_type)
    match node.func:
        case "sum":
            return cast_to(f"SUM({cast_to(x, in_type, out)}){over}", None, out)
        case "mean":
            return cast_to(f"AVG({cast_to(x, in_type, pa.float64())}){over}", None, out)
        case "min" if floating:
            numbers = f"MIN(CASE WHEN {_is_nan(x)} THEN NULL ELSE {x} END){over}"
            has_nan = f"MAX(CASE WHEN {_is_nan(x)} THEN 1 ELSE 0 END){over}"
            return cast_to(f"COALESCE({numbers}, CASE WHEN {has_nan} = 1 THEN {NAN} END)", None, out)
        case "max" if floating:
            numbers = f"MAX(CASE WHEN {_is_nan(x)} THEN NULL ELSE {x} END){over}"
            has_nan = f"MAX(CASE WHEN {_is_nan(x)} THEN 1 ELSE 0 END){over}"
            return cast_to(f"(CASE WHEN {has_nan} = 1 THEN {NAN} ELSE {numbers} END)", None, out)
        case "min" | "max":
            return cast_to(f"{node.func.upper()}({x}){over}", None, out)
        case "count":
            return f"COUNT({x}){over}"
        case "n_unique":
            if over:
                raise UnsupportedOperationError(
                    ENGINE, "agg:n_unique inside window:over", "Flink does not allow DISTINCT in window "
                    "aggregates. Run it on another engine, e.g. collect(engine='polars').")
            return f"COUNT(DISTINCT {key_sql(node.operand)})"
        case "std" | "var":
            # Flink gives -1.0, not null, for a single value it proved constant (found by a 5,000-plan run):
            # under two values the result is null by the semantics (S-AGG-STD) whatever Flink computes.
            fn = "STDDEV_SAMP" if node.func == "std" else "VAR_SAMP"
            stat = f"{fn}({cast_to(x, in_type, pa.float64())}){over}"
            return cast_to(f"(CASE WHEN COUNT({x}){over} < 2 THEN CAST(NULL AS DOUBLE) ELSE {stat} END)", None, out)
        case "first":
            return f"FIRST_VALUE({x}){over}"
        case "last":
            return f"LAST_VALUE({x}){over}"
    raise UnsupportedOperationError(ENGINE, f"agg:{node.func}")


compile_expr.register(ex.Agg, agg_sql)


def _zero_key(x: str, dtype: pa.DataType) -> str:
    """A float key with -0.0 replaced by 0.0: Flink hashes keys by their bytes, so the two zeros were two keys
    (S-NAN-EQ). (``x + 0.0`` would do it, but Flink's planner simplifies it away.)"""
    if not pa.types.is_floating(dtype):
        return x
    zero = f"CAST(0.0 AS {flink_type(dtype)})"
    return f"(CASE WHEN {x} = {zero} THEN {zero} ELSE {x} END)"


def key_sql(node: ex.ExprNode) -> str:
    """An expression used as a grouping, partition or distinct key (see :func:`_zero_key`)."""
    return _zero_key(compile_expr(node), _dtype(node))


def sort_key_sql(node: ex.ExprNode) -> list[str]:
    """The sort keys of one expression. A float is two keys: a NaN flag (NaN sorts above every number), then
    the value with NaN and -0.0 made 0.0 (the semantics order -0.0 and 0.0 as equal). Flink compares doubles
    with ``<``/``>``, for which NaN is neither: left in the value, it scrambled the order around it."""
    x = compile_expr(node)
    dtype = _dtype(node)
    if pa.types.is_floating(dtype):
        nan = _is_nan(x)
        zero = f"CAST(0 AS {flink_type(dtype)})"
        return [f"(CASE WHEN {x} IS NULL THEN CAST(NULL AS INT) WHEN {nan} THEN 1 ELSE 0 END)",
                f"(CASE WHEN {x} = 0 OR {nan} THEN {zero} ELSE {x} END)"]
    return [x]


def order_sql(keys: list[ex.ExprNode], descending: tuple[bool, ...], nulls_last: tuple[bool, ...]) -> str:
    """``ORDER BY`` items for expressions (each expanded by :func:`sort_key_sql`)."""
    return ", ".join(order_items([(sort_key_sql(k), d, last) for k, d, last in zip(keys, descending, nulls_last)]))


# A last ORDER BY key that is 0 on every row but that Flink cannot fold (RAND is not deterministic): when
# every real key is a constant once Flink inlines the projections below (``False AS c``, a null, a partition
# key), Flink refuses a ranking window ("requires order by clause with non-constant fields"). Being equal on
# every row, it changes no order and breaks no tie.
UNFOLDABLE_ZERO = "(CASE WHEN RAND() < 2 THEN 0 ELSE 1 END)"  # always 0, but Flink's planner cannot know it
ORDER_GUARD = f"{UNFOLDABLE_ZERO} ASC"


def order_items(terms: list[tuple[list[str], bool, bool]]) -> list[str]:
    """``ORDER BY`` items, each key with its direction and null placement."""
    return [f"{k} {'DESC' if d else 'ASC'} NULLS {'LAST' if last else 'FIRST'}" for keys, d, last in terms
            for k in keys]


def _n_unique_over(node: ex.Over) -> tuple[str, Callable[[str], str]]:
    """``n_unique`` over a partition in two window layers: dense ranks of the non-null values, then their
    maximum (0 when the partition has no non-null value)."""
    assert isinstance(node.operand, ex.Agg) and node.operand.operand is not None
    partition = [key_sql(p) for p in node.partition_by]
    part = f"PARTITION BY {', '.join(partition)}" if partition else ""
    x = key_sql(node.operand.operand)
    ranked = (f"(CASE WHEN {x} IS NULL THEN NULL ELSE DENSE_RANK() OVER ({part} ORDER BY {x} ASC NULLS LAST, "
              f"{ORDER_GUARD}) END)")  # the guard: a constant value (a literal column) is refused as the only key
    return ranked, lambda col: f"COALESCE(MAX({col}) OVER ({part}), CAST(0 AS BIGINT))"


def _window_spec(node: ex.Over) -> tuple[Any, ...]:
    """What makes two windows one window group (same partition and order)."""
    return (tuple(node.partition_by), tuple(node.order_by), tuple(node.descending), tuple(node.nulls_last))


def window_sql(node: ex.Over) -> str:
    """A window expression (an aggregate over a whole partition, or a window function by order)."""
    partition = [key_sql(p) for p in node.partition_by]
    part = f"PARTITION BY {', '.join(partition)}" if partition else ""
    order = order_sql(list(node.order_by), node.descending, node.nulls_last)
    op = node.operand
    if isinstance(op, ex.Agg):
        return agg_sql(op, f" OVER ({part})")
    assert isinstance(op, ex.WindowFunc)
    # Flink wants an ORDER BY for ranking functions; without one, any order (rows are unordered).
    order_clause = f"ORDER BY {order}, {ORDER_GUARD}" if order else f"ORDER BY {ORDER_GUARD}"
    match op.func:
        case "row_number":
            return f"ROW_NUMBER() OVER ({part} {order_clause})"
        case "rank" | "dense_rank" if op.operand is None:
            return f"{op.func.upper()}() OVER ({part} {order_clause})"
        case "rank" | "dense_rank":
            assert op.operand is not None
            x = compile_expr(op.operand)
            desc = bool(op.params and op.params[0])
            return (f"(CASE WHEN {x} IS NULL THEN CAST(NULL AS BIGINT) ELSE CAST({op.func.upper()}() OVER ({part} "
                    f"ORDER BY {order_sql([op.operand], (desc,), (True,))}, {ORDER_GUARD}) AS BIGINT) END)")
        case "cum_sum":
            assert op.operand is not None
            in_type, out = _dtype(op.operand), _dtype(op)
            x = compile_expr(op.operand)
            if pa.types.is_boolean(in_type):
                x, in_type = f"(CASE WHEN {x} THEN 1 WHEN NOT {x} THEN 0 END)", pa.int64()
            return cast_to(f"SUM({cast_to(x, in_type, out)}) OVER ({part} {order_clause} ROWS BETWEEN UNBOUNDED "
                           f"PRECEDING AND CURRENT ROW)", None, out)
        case "shift":
            assert op.operand is not None
            n = int(op.params[0])
            x = compile_expr(op.operand)
            if n == 0:
                return x
            fn = "LAG" if n > 0 else "LEAD"
            return f"{fn}({x}, {abs(n)}) OVER ({part} {order_clause})"
    raise UnsupportedOperationError(ENGINE, f"window:{op.func}")


compile_expr.register(ex.Over, window_sql)


# -- plan nodes ---------------------------------------------------------------------------------------------


@dataclass
class Relation:
    """A SELECT statement producing ``names`` (plus the hidden ``__us_ord`` column when ``ordered``)."""

    sql: str
    names: list[str]
    ordered: bool = False

    def columns(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote(n) for n in self.names)


@dataclass
class Input:
    """A table the worker registers before running the query."""

    name: str
    kind: str  # "arrow" or "ddl"
    columns: list[list[str]] = field(default_factory=list)
    table: pa.Table | None = None
    ddl: str = ""
    via_main_process: bool = False  # read by unistack (pyarrow) and shipped, not by Flink


@dataclass
class Compiled:
    """A whole query: the inputs to register and the SQL text."""

    sql: str
    inputs: list[Input]


class Context:
    def __init__(self) -> None:
        self.inputs: list[Input] = []
        self.by_key: dict[Any, str] = {}
        self.counter = 0
        self.sorting = 0  # > 0 while compiling the input of a Sort

    def where(self, predicate: str, ordered_input: bool = False) -> str:
        """A filter's predicate. Below a sort's row numbering (or over it), one Flink could prove false
        (``x > 5 AND x < 3``) is written so it cannot: Flink would turn the input into an empty VALUES and
        then fail to plan the ROW_NUMBER window over it ("Cannot generate a valid execution plan")."""
        if self.sorting or ordered_input:
            return f"(CASE WHEN RAND() < 2 THEN {predicate} ELSE TRUE END)"
        return predicate

    def fresh(self, prefix: str = "s") -> str:
        self.counter += 1
        return f"__us_{prefix}{self.counter}"

    def add(self, key: Any, make: Callable[[str], Input]) -> str:
        if key not in self.by_key:
            name = f"__us_t{len(self.inputs)}"
            self.inputs.append(make(name))
            self.by_key[key] = name
        return self.by_key[key]


def _arrow_input(table: pa.Table, via_main: bool) -> Callable[[str], Input]:
    def make(name: str) -> Input:
        wire, columns = to_wire(table)
        return Input(name, "arrow", columns, table=wire, via_main_process=via_main)

    return make


def _read_in_main_process(src: pn.FileSource, columns: tuple[str, ...] | None) -> pa.Table:
    """Parquet files and headed CSV files, read with pyarrow (Flink's pip distribution cannot)."""
    from unistack.errors import DataSourceError

    wanted = list(columns) if columns is not None else None
    try:
        if src.format == "parquet":
            import pyarrow.parquet as pq

            tables = [pq.read_table(p, columns=wanted) for p in src.paths]
        else:
            import pyarrow.csv as pcsv

            schema = src.file_schema
            convert = pcsv.ConvertOptions(
                column_types={f.name: wire_type(f.type) for f in schema},
                null_values=list(src.option("null_values", ("",))), strings_can_be_null=True,
                include_columns=wanted)
            tables = [pcsv.read_csv(p, parse_options=pcsv.ParseOptions(delimiter=src.option("separator", ",")),
                                    convert_options=convert) for p in src.paths]
    except (OSError, pa.ArrowException) as e:
        raise DataSourceError(f"cannot read {src.format} input: {e}") from e
    target = pa.schema([src.schema.field(c) for c in (wanted or src.schema.names)])
    tables = [tb.select(target.names).cast(pa.schema([pa.field(f.name, wire_type(f.type)) for f in target]))
              for tb in tables]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _ddl(name: str, src: pn.FileSource, path: str) -> str:
    cols = ", ".join(f"{quote(f.name)} {flink_type(t.canonical(f.type))}" for f in src.file_schema)
    opts: dict[str, str] = {"connector": "filesystem", "path": path}
    if src.format == "csv":
        nulls = [v for v in src.option("null_values", ("",))]
        opts["format"] = "csv"
        opts["csv.field-delimiter"] = src.option("separator", ",")
        if nulls == [""]:
            opts["csv.empty-string-as-null"] = "true"
        elif nulls:
            opts["csv.null-literal"] = nulls[0]
    else:
        opts.update({"format": "json", "json.fail-on-missing-field": "false", "json.ignore-parse-errors": "false",
                     "json.timestamp-format.standard": "ISO-8601"})
    with_ = ", ".join(f"{string_literal(k)} = {string_literal(v)}" for k, v in opts.items())
    return f"CREATE TEMPORARY TABLE {quote(name)} ({cols}) WITH ({with_})"


def reads_in_main_process(src: pn.FileSource) -> bool:
    """Whether a file source is read by the main process (pyarrow) and shipped as Arrow."""
    nulls = list(src.option("null_values", ("",)))
    return src.format == "parquet" or (src.format == "csv" and (bool(src.option("has_header", True))
                                                                or len(nulls) > 1))


@singledispatch
def compile_node(node: pn.PlanNode, ctx: Context) -> Relation:
    raise UnsupportedOperationError(ENGINE, f"node:{type(node).__name__}")


@compile_node.register
def _(node: pn.Scan, ctx: Context) -> Relation:
    src = node.source
    names = list(node.schema.names)
    # pushed-down filters may read columns the projection dropped
    needed = list(dict.fromkeys(names + sorted(c for f in node.filters for c in ex.columns_used(f))))
    if isinstance(src, pn.InMemorySource):
        # only the columns the query reads are shipped
        table = src.table if needed == list(src.table.schema.names) else src.table.select(needed)
        table_name = ctx.add(("mem", src.key, tuple(needed)), _arrow_input(table, False))
        froms = [table_name]
    else:
        assert isinstance(src, pn.FileSource)
        if reads_in_main_process(src):
            wanted = tuple(needed) if node.columns is not None else None

            def read(name: str) -> Input:
                return _arrow_input(_read_in_main_process(src, wanted), True)(name)

            froms = [ctx.add(("file", src.format, src.paths, src.options, wanted), read)]
        else:
            froms = []
            for path in src.paths:

                def ddl(name: str, p: str = path) -> Input:
                    return Input(name, "ddl", ddl=_ddl(name, src, p))

                froms.append(ctx.add(("file", src.format, path, src.options), ddl))
    cols = ", ".join(quote(n) for n in names)
    parts = [f"SELECT {', '.join(quote(n) for n in needed)} FROM {quote(f)}" for f in froms]
    sql = " UNION ALL ".join(parts) if len(parts) > 1 else parts[0]
    if len(parts) > 1 or node.filters or node.limit is not None or needed != names:
        sql = f"SELECT {cols} FROM ({sql}) AS {ctx.fresh()}"
        if node.filters:
            sql += " WHERE " + ctx.where(" AND ".join(compile_expr(f) for f in node.filters))
        if node.limit is not None:
            sql += f" LIMIT {int(node.limit)}"
    return Relation(sql, names)


def _extract_windows(node: ex.ExprNode, found: list[ex.Over]) -> ex.ExprNode:
    """Replace every window expression by a column ``__us_w<i>`` (computed one per query layer)."""
    if isinstance(node, ex.Over):
        found.append(node)
        col = ex.Column(f"__us_w{len(found) - 1}")
        object.__setattr__(col, "dtype", node.dtype)
        return col
    kids = node.children()
    if not kids:
        return node
    new = tuple(_extract_windows(k, found) for k in kids)
    if all(a is b for a, b in zip(new, kids)):
        return node
    out = ex.replace_children(node, new)
    object.__setattr__(out, "dtype", node.dtype)
    return out


@compile_node.register
def _(node: pn.Project, ctx: Context) -> Relation:
    child = compile_node(node.input, ctx)
    sql, carried = child.sql, list(child.names) + ([ORD] if child.ordered else [])
    exprs = list(node.exprs)
    if any(ex.has_window(e) for e in exprs):
        windows: list[ex.Over] = []
        exprs = [_extract_windows(e, windows) for e in exprs]
        # All windows in one SELECT (Flink splits it into one OverAggregate per window spec; stacking
        # window queries trips its planner). n_unique first needs a layer of dense ranks.
        ranks = []
        for i, w in enumerate(windows):
            if isinstance(w.operand, ex.Agg) and w.operand.func == "n_unique":
                ranked, _ = _n_unique_over(w)
                ranks.append(f"{ranked} AS {quote(f'__us_r{i}')}")
        if ranks:
            cols = ", ".join(quote(c) for c in carried)
            sql = f"SELECT {cols}, {', '.join(ranks)} FROM ({sql}) AS {ctx.fresh()}"
            carried += [r.rsplit(" AS ", 1)[1].strip("`") for r in ranks]  # read by a later window layer
        computed: list[tuple[tuple[Any, ...], str, str]] = []  # (window spec, column, SQL)
        for i, w in enumerate(windows):
            if isinstance(w.operand, ex.Agg) and w.operand.func == "n_unique":
                value = _n_unique_over(w)[1](quote(f"__us_r{i}"))
            else:
                value = window_sql(w)
            computed.append((_window_spec(w), f"__us_w{i}", value))
        specs = list(dict.fromkeys(spec for spec, _, _ in computed))
        shifts = any(isinstance(w.operand, ex.WindowFunc) and w.operand.func == "shift" for w in windows)
        # LEAD/LAG next to a window of another spec in one SELECT crashes Flink's batch planner
        # (IndexOutOfBoundsException in BatchExecOverAggregate.createOverWindowFrames): then one layer per spec.
        # Each layer also gets an unused literal column: without it the planner merges three stacked window
        # layers and fails on the names it gives them ("Field names must be unique: [w0$o0]").
        groups = specs if shifts and len(specs) > 1 else [None]
        for k, group in enumerate(groups):
            layer = [(name, value) for spec, name, value in computed if group is None or spec == group]
            cols = ", ".join(quote(c) for c in carried)
            values = ", ".join(f"{value} AS {quote(name)}" for name, value in layer)
            barrier = f", 1 AS {quote(f'__us_layer{k}')}" if len(groups) > 1 else ""
            sql = f"SELECT {cols}, {values}{barrier} FROM ({sql}) AS {ctx.fresh()}"
            carried += [name for name, _ in layer]
    names = [ex.output_name(e) for e in node.exprs]
    items = [f"{compile_expr(e)} AS {quote(n)}" for e, n in zip(exprs, names)]
    if child.ordered:
        items.append(quote(ORD))
    return Relation(f"SELECT {', '.join(items)} FROM ({sql}) AS {ctx.fresh()}", names, child.ordered)


@compile_node.register
def _(node: pn.Filter, ctx: Context) -> Relation:
    child = compile_node(node.input, ctx)
    cols = child.columns() + (f", {quote(ORD)}" if child.ordered else "")
    predicate = ctx.where(compile_expr(node.predicate), child.ordered)
    return Relation(f"SELECT {cols} FROM ({child.sql}) AS {ctx.fresh()} WHERE {predicate}", child.names,
                    child.ordered)


@compile_node.register
def _(node: pn.Aggregate, ctx: Context) -> Relation:
    child = compile_node(node.input, ctx)
    names = list(node.schema.names)
    keys = [key_sql(k) for k in node.keys]
    items = [f"{k} AS {quote(n)}" for k, n in zip(keys, names)]
    items += [f"{compile_expr(a)} AS {quote(ex.output_name(a))}" for a in node.aggs]
    sql = f"SELECT {', '.join(items)} FROM ({child.sql}) AS {ctx.fresh()}"
    if keys:
        sql += " GROUP BY " + ", ".join(keys)
    return Relation(sql, names)


@compile_node.register
def _(node: pn.Join, ctx: Context) -> Relation:
    left, right = compile_node(node.left, ctx), compile_node(node.right, ctx)
    la, ra = ctx.fresh("l"), ctx.fresh("r")
    lschema, rschema = node.left.schema, node.right.schema
    conds = []
    for lk, rk in zip(node.left_on, node.right_on):
        lt, rt = lschema.field(lk).type, rschema.field(rk).type
        common = t.supertype(lt, rt, "join on")
        lkey = _zero_key(cast_to(f"{la}.{quote(lk)}", lt, common), common)
        rkey = _zero_key(cast_to(f"{ra}.{quote(rk)}", rt, common), common)
        conds.append(f"{lkey} = {rkey}")
    on = " AND ".join(conds) or "TRUE"
    lsql, rsql = f"({left.sql}) AS {la}", f"({right.sql}) AS {ra}"
    if node.how == "cross":
        # Flink pushes an aggregate above a cross join into both sides, and a side's aggregate without keys
        # gives one row even when that side is empty: the product with an empty table had rows (found by a
        # 5,000-plan run). A join on one constant key it cannot fold is the same product without that rewrite.
        key = quote("__us_x")
        lsql = f"(SELECT {left.columns()}, {UNFOLDABLE_ZERO} AS {key} FROM ({left.sql}) AS {ctx.fresh()}) AS {la}"
        rsql = f"(SELECT {right.columns()}, {UNFOLDABLE_ZERO} AS {key} FROM ({right.sql}) AS {ctx.fresh()}) AS {ra}"
        on = f"{la}.{key} = {ra}.{key}"
    names = [c.name for c in node.output_columns]
    if node.how in ("semi", "anti"):
        exists = "EXISTS" if node.how == "semi" else "NOT EXISTS"
        cols = ", ".join(f"{la}.{quote(c.source)} AS {quote(c.name)}" for c in node.output_columns)
        return Relation(f"SELECT {cols} FROM {lsql} WHERE {exists} (SELECT 1 FROM {rsql} WHERE {on})", names)
    items = []
    for c in node.output_columns:
        if c.side == "left":
            items.append(f"{la}.{quote(c.source)} AS {quote(c.name)}")
        elif c.side == "right":
            items.append(f"{ra}.{quote(c.source)} AS {quote(c.name)}")
        else:
            lt = lschema.field(c.source).type
            rcol = cast_to(f"{ra}.{quote(c.right_source or c.source)}",
                           rschema.field(c.right_source or c.source).type, lt)
            lcol = f"{la}.{quote(c.source)}"
            value = {"full": f"COALESCE({lcol}, {rcol})", "right": rcol}.get(node.how, lcol)
            items.append(f"{value} AS {quote(c.name)}")
    kind = {"inner": "INNER JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "full": "FULL OUTER JOIN",
            "cross": "INNER JOIN"}[node.how]
    join = f"{lsql} {kind} {rsql} ON {on}"
    return Relation(f"SELECT {', '.join(items)} FROM {join}", names)


@compile_node.register
def _(node: pn.Sort, ctx: Context) -> Relation:
    ctx.sorting += 1
    try:
        child = compile_node(node.input, ctx)
    finally:
        ctx.sorting -= 1
    terms: list[tuple[list[str], bool, bool]] = []
    computed: list[str] = []
    for key, desc, last in zip(node.keys, node.descending, node.nulls_last):
        names = []
        for sql in sort_key_sql(key):
            names.append(quote(f"__us_k{len(computed)}"))
            computed.append(f"{sql} AS {names[-1]}")
        terms.append((names, desc, last))
    inner = ", ".join([child.columns(), *computed])
    order = ", ".join([*order_items(terms), ORDER_GUARD])
    if child.ordered:  # a stable sort: ties keep the previous order
        order += f", {quote(ORD)} ASC"
        inner += f", {quote(ORD)}"
    sql = (f"SELECT {child.columns()}, ROW_NUMBER() OVER (ORDER BY {order}) AS {quote(ORD)} "
           f"FROM (SELECT {inner} FROM ({child.sql}) AS {ctx.fresh()}) AS {ctx.fresh()}")
    return Relation(sql, child.names, True)


@compile_node.register
def _(node: pn.Limit, ctx: Context) -> Relation:
    child = compile_node(node.input, ctx)
    if child.ordered:
        sql = (f"SELECT {child.columns()}, {quote(ORD)} FROM ({child.sql}) AS {ctx.fresh()} "
               f"ORDER BY {quote(ORD)} LIMIT {int(node.n)}")
        return Relation(sql, child.names, True)
    return Relation(f"SELECT {child.columns()} FROM ({child.sql}) AS {ctx.fresh()} LIMIT {int(node.n)}",
                    child.names)


@compile_node.register
def _(node: pn.Distinct, ctx: Context) -> Relation:
    child = compile_node(node.input, ctx)
    schema = node.input.schema

    def key(name: str) -> str:
        return _zero_key(quote(name), schema.field(name).type)

    if node.subset is None or set(node.subset) == set(child.names):
        cols = ", ".join(f"{key(n)} AS {quote(n)}" for n in child.names)
        return Relation(f"SELECT DISTINCT {cols} FROM ({child.sql}) AS {ctx.fresh()}", child.names)
    subset = ", ".join(key(c) for c in node.subset) or "1"
    order = quote(ORD) if child.ordered else (quote(node.subset[0]) if node.subset else "1")
    extra = f", {quote(ORD)}" if child.ordered else ""
    inner = (f"SELECT {child.columns()}{extra}, ROW_NUMBER() OVER (PARTITION BY {subset} ORDER BY {order}) AS "
             f"`__us_rn` FROM ({child.sql}) AS {ctx.fresh()}")
    return Relation(f"SELECT {child.columns()} FROM ({inner}) AS {ctx.fresh()} WHERE `__us_rn` = 1", child.names)


@compile_node.register
def _(node: pn.Union, ctx: Context) -> Relation:
    parts = []
    for child_node in node.inputs:
        child = compile_node(child_node, ctx)
        cols = ", ".join(f"{cast_to(quote(f.name), cf.type, f.type)} AS {quote(f.name)}"
                         for f, cf in zip(node.schema, child_node.schema))
        parts.append(f"SELECT {cols} FROM ({child.sql}) AS {ctx.fresh()}")
    return Relation(" UNION ALL ".join(parts), list(node.schema.names))


def compile_plan(plan: pn.PlanNode, ctx: Context | None = None) -> Compiled:
    """The Flink SQL for a plan and the inputs it needs (``ctx``: share input names and aliases
    between several plans that run as one query, e.g. the stages of a stream).

    Examples
    --------
    >>> import unistack as us
    >>> q = compile_plan(us.from_dict({"a": [1, 2]}).filter(us.col("a") > 1).plan)
    >>> q.sql.startswith("SELECT `a` FROM")
    True
    """
    ctx = Context() if ctx is None else ctx
    rel = compile_node(plan, ctx)
    sql = f"SELECT {rel.columns()} FROM ({rel.sql}) AS {ctx.fresh()}"
    if rel.ordered:
        sql += f" ORDER BY {quote(ORD)}"
    return Compiled(sql, ctx.inputs)


def shipped_bytes(plan: pn.PlanNode) -> int:
    """Bytes of input a plan sends from the main process to Flink as Arrow (in-memory tables, plus
    Parquet and headed CSV files, estimated by their size on disk); the planner's transfer cost."""
    import os

    total = 0
    for node in plan.walk():
        if isinstance(node, pn.Scan):
            src = node.source
            if isinstance(src, pn.InMemorySource):
                total += sum(src.table.column(c).nbytes for c in node.schema.names)
            elif isinstance(src, pn.FileSource) and reads_in_main_process(src):
                total += sum(os.path.getsize(p) for p in src.paths if os.path.exists(p))
    return total


def implemented_operations() -> set[str]:
    """Operation names this translator implements (the engine's capabilities derive from it)."""
    return translator_operations(compile_node.registry, FUNCTIONS)
