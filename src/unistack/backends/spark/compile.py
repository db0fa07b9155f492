"""Plan -> ``pyspark.sql.DataFrame``: one translation per node type and per expression type.

Everything runs inside Spark: scans use Spark's own readers (or ship in-memory Arrow data through
Arrow), and every expression becomes a Spark ``Column``. The semantics of docs/semantics.md are enforced
in those columns, never by post-processing rows in Python:

- ANSI mode is off in unistack sessions, so integer ``+ - *`` wrap in the result type; unsigned types
  (which Spark lacks) are held in the next wider signed type and wrapped with ``pmod``;
- user casts are ``try_cast`` (a failed or out-of-range cast is null; float -> int truncates);
- division, floor division and modulo by zero are null, and ``//`` / ``%`` use floor semantics;
- ``first``/``last`` take the first/last non-null value in input order, ordered by a
  ``monotonically_increasing_id`` taken right before the aggregate (Spark's ``first`` is unordered);
- sorts are stable (the same row id breaks ties) with per-key null placement;
- naive timestamps are ``TIMESTAMP_NTZ``; aware ones are Spark timestamps in a UTC session, converted
  to their own zone for ``.dt`` parts and truncation.

Known limits (Spark's types): timestamps hold microseconds, so nanosecond inputs lose their last three
digits; a ``uint64`` sum that exceeds 2**64 - 1 gives null instead of wrapping. CSV is read with
``multiLine`` so quoted fields may hold line breaks; Spark then reads each CSV file in one task instead of
splitting large files (many files still read in parallel).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import os
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import reduce, singledispatch
from typing import Any

import pyarrow as pa
import pyspark.sql.functions as F
import pyspark.sql.types as T
from pyspark.sql import Column, DataFrame, SparkSession, Window

from unistack.backends.base import apply_batch_function, canonical_batch, translator_operations
from unistack.backends.persist import persisted_object
from unistack.errors import DataSourceError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan import types as t
from unistack.plan.functions import like_to_regex

ORDER_COLUMN = "__us_ord"  # row id in input order (first/last, stable sorts), dropped before output
_UNBOUNDED = (Window.unboundedPreceding, Window.unboundedFollowing)

# -- types -------------------------------------------------------------------------------------------------

_INTEGERS: dict[pa.DataType, T.DataType] = {
    pa.int8(): T.ByteType(), pa.int16(): T.ShortType(), pa.int32(): T.IntegerType(), pa.int64(): T.LongType(),
    # Spark has no unsigned integers: each is held in the next wider signed type (uint64 as decimal(20, 0)).
    pa.uint8(): T.ShortType(), pa.uint16(): T.IntegerType(), pa.uint32(): T.LongType(),
    pa.uint64(): T.DecimalType(20, 0),
}


def spark_type(dtype: pa.DataType) -> T.DataType:
    """The Spark SQL type that holds values of a (canonical) Arrow type.

    Examples
    --------
    >>> spark_type(pa.timestamp("us"))
    TimestampNTZType()
    >>> spark_type(pa.uint32())
    LongType()
    """
    if dtype in _INTEGERS:
        return _INTEGERS[dtype]
    if pa.types.is_null(dtype):
        return T.NullType()
    if pa.types.is_boolean(dtype):
        return T.BooleanType()
    if pa.types.is_float16(dtype) or pa.types.is_float32(dtype):
        return T.FloatType()
    if pa.types.is_float64(dtype):
        return T.DoubleType()
    if t.is_string(dtype):
        return T.StringType()
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return T.BinaryType()
    if pa.types.is_date(dtype):
        return T.DateType()
    if pa.types.is_timestamp(dtype):
        return T.TimestampNTZType() if dtype.tz is None else T.TimestampType()
    if pa.types.is_decimal(dtype):
        return T.DecimalType(min(dtype.precision, t.MAX_DECIMAL_PRECISION), dtype.scale)
    if pa.types.is_dictionary(dtype):
        return spark_type(dtype.value_type)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return T.ArrayType(spark_type(dtype.value_type))
    if pa.types.is_struct(dtype):
        return T.StructType([T.StructField(f.name, spark_type(f.type)) for f in dtype])
    if pa.types.is_duration(dtype):
        return T.DayTimeIntervalType()
    raise TypeError(f"no Spark type for {dtype}")


def spark_schema(schema: pa.Schema) -> T.StructType:
    """A Spark schema for an Arrow schema (used to read CSV and JSON with the declared types)."""
    return T.StructType([T.StructField(f.name, spark_type(f.type)) for f in schema])


def spark_arrow_type(dtype: pa.DataType) -> pa.DataType:
    """The Arrow type Spark accepts for data of a canonical type (Spark has no unsigned integers,
    no nanosecond timestamps and no view or dictionary types)."""
    if dtype in _INTEGERS and pa.types.is_unsigned_integer(dtype):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64(), 64: pa.decimal128(20, 0)}[dtype.bit_width]
    if pa.types.is_timestamp(dtype):
        return pa.timestamp("us", None if dtype.tz is None else "UTC")
    if t.is_string(dtype):
        return pa.large_string()
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_dictionary(dtype):
        return spark_arrow_type(dtype.value_type)
    if pa.types.is_float16(dtype):
        return pa.float32()
    if pa.types.is_date64(dtype):
        return pa.date32()
    if pa.types.is_decimal(dtype):
        return pa.decimal128(min(dtype.precision, t.MAX_DECIMAL_PRECISION), dtype.scale)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_list_view(dtype):
        return pa.list_(spark_arrow_type(dtype.value_type))
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, spark_arrow_type(f.type)) for f in dtype])
    return dtype


def to_spark_arrow(data: pa.Table | pa.RecordBatch) -> Any:
    """Cast Arrow data to types Spark can take (a vectorised Arrow cast; values are unchanged except
    timestamps below a microsecond, which Spark cannot hold)."""
    schema = pa.schema([pa.field(f.name, spark_arrow_type(f.type)) for f in data.schema])
    if data.schema.equals(schema):
        return data
    arrays = [c if c.type == f.type else c.cast(f.type, safe=not pa.types.is_timestamp(f.type))
              for c, f in zip(data.columns, schema)]
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatch.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays(arrays, schema=schema)


def col(name: str) -> Column:
    """A column reference that is safe for any name (dots, spaces, backticks)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _as(c: Column, dtype: pa.DataType | None) -> Column:
    """``c`` as the Spark type of ``dtype`` (a plain, wrapping cast: used for our own results)."""
    if dtype is None or pa.types.is_null(dtype):
        return c
    return c.cast(spark_type(dtype))


# -- expressions ------------------------------------------------------------------------------------------


@singledispatch
def compile_expr(node: ex.ExprNode) -> Column:
    """A bound expression node as a Spark ``Column``."""
    raise NotImplementedError(type(node).__name__)


@compile_expr.register
def _(node: ex.Column) -> Column:
    return col(node.name)


def literal(value: Any, dtype: pa.DataType) -> Column:
    """A literal of exactly the Spark type for ``dtype``."""
    target = spark_type(dtype)
    if value is None:
        return F.lit(None) if pa.types.is_null(dtype) else F.lit(None).cast(target)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            return F.lit(value.isoformat(sep=" ")).cast(T.TimestampNTZType()).cast(target)
        utc = value.astimezone(_dt.UTC).replace(tzinfo=None)
        return F.lit(utc.isoformat(sep=" ") + "+00:00").cast(T.TimestampType()).cast(target)
    if isinstance(value, bool):
        return F.lit(value).cast(target)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return F.lit(decimal.Decimal(value)).cast(target)
    if isinstance(value, bytes):
        return F.lit(bytearray(value)).cast(target)
    return F.lit(value).cast(target)


@compile_expr.register
def _(node: ex.Literal) -> Column:
    assert node.dtype is not None
    return literal(node.value, node.dtype)


@compile_expr.register
def _(node: ex.Alias) -> Column:
    return compile_expr(node.operand)


def cast(c: Column, src: pa.DataType, dst: pa.DataType) -> Column:
    """A user cast: null when it fails or the value is out of range; float -> int truncates."""
    if pa.types.is_null(src):
        return F.lit(None).cast(spark_type(dst))
    if t.is_string(src) and pa.types.is_boolean(dst):
        # Spark also reads 't', 'yes', '1', ... as booleans; the semantics accept true/false only (S-CAST-FAIL)
        word = F.lower(c)
        return F.when(word == "true", F.lit(True)).when(word == "false", F.lit(False))
    if pa.types.is_unsigned_integer(dst):
        if pa.types.is_floating(src):
            c = c - c % 1  # truncate toward zero before the (rounding) cast to decimal(20, 0)
        out = c.try_cast(spark_type(dst))
        top = literal(2 ** dst.bit_width - 1, pa.uint64() if dst.bit_width == 64 else pa.int64())
        return F.when((out >= 0) & (out <= top), out)
    if pa.types.is_floating(src) and pa.types.is_signed_integer(dst):
        # Spark's try_cast saturates doubles beyond the range (2**63 -> 2**63 - 1); the semantics say null
        # (S-CAST-TRUNC). The bounds are exact doubles: -2**(bits-1) is in range, 2**(bits-1) is not.
        bound = float(2 ** (dst.bit_width - 1))
        return F.when((c >= -bound) & (c < bound), c.try_cast(spark_type(dst)))
    return c.try_cast(spark_type(dst))


@compile_expr.register
def _(node: ex.Cast) -> Column:
    assert node.operand.dtype is not None
    return cast(compile_expr(node.operand), node.operand.dtype, node.to)


def wrap_unsigned(c: Column, dtype: pa.DataType) -> Column:
    """Wrap an unsigned result computed in a wider type back into ``[0, 2**bits)``."""
    if not pa.types.is_unsigned_integer(dtype):
        return c
    modulus = literal(2**dtype.bit_width, pa.decimal128(20, 0) if dtype.bit_width == 64 else pa.int64())
    return _as(F.pmod(c, modulus), dtype)


def _uint64_product(a: Column, b: Column) -> Column:
    """``a * b mod 2**64`` for uint64 values held as decimal(20, 0), without overflowing decimal(38)."""
    two32 = F.lit(2**32).cast(T.LongType())
    a_lo, b_lo = F.pmod(a, two32).cast(T.LongType()), F.pmod(b, two32).cast(T.LongType())
    a_hi, b_hi = F.call_function("div", a, two32), F.call_function("div", b, two32)
    cross = F.pmod(a_hi * b_lo + a_lo * b_hi, two32).cast(T.DecimalType(20, 0))  # long products wrap: fine mod 2**32
    low = a_lo.cast(T.DecimalType(20, 0)) * b_lo.cast(T.DecimalType(20, 0))
    return cross * two32.cast(T.DecimalType(20, 0)) + low


def boolean(node: ex.ExprNode) -> Column:
    """A condition as a Spark boolean column (an untyped null literal is a null boolean, which Spark's
    ``CASE WHEN``, ``NOT``, ``AND`` and ``filter`` require)."""
    c = compile_expr(node)
    return c.cast(T.BooleanType()) if node.dtype is not None and t.is_null(node.dtype) else c


@compile_expr.register
def _(node: ex.UnaryOp) -> Column:
    if node.op == "not":
        return ~boolean(node.operand)
    inner = compile_expr(node.operand)
    assert node.dtype is not None
    if pa.types.is_unsigned_integer(node.dtype):
        return wrap_unsigned(-_as(inner, node.dtype), node.dtype)
    return _as(-_as(inner, node.dtype), node.dtype)


def _floor_mod(a: Column, b: Column) -> Column:
    r = a % b
    return F.when((r != 0) & ((r < 0) != (b < 0)), r + b).otherwise(r)


def _floor_double(q: Column) -> Column:
    """floor() that stays a double (Spark's floor returns bigint), exact for NaN and infinities."""
    r = F.rint(q)
    return F.when(r > q, r - F.lit(1.0)).otherwise(r)


def _floor_div(a: Column, b: Column, dtype: pa.DataType) -> Column:
    if pa.types.is_floating(dtype):
        return _as(_floor_double(a / b), dtype)
    r = a % b
    q = F.call_function("div", a, b)  # truncating integer division (bigint)
    return _as(F.when((r != 0) & ((r < 0) != (b < 0)), q - 1).otherwise(q), dtype)


def _common(node: ex.BinaryOp, left: Column, right: Column) -> tuple[Column, Column]:
    a, b = node.left.dtype, node.right.dtype
    assert a is not None and b is not None
    if a == b:
        return left, right
    common = t.supertype(a, b)
    if t.is_null(common):
        return left, right
    return _as(left, common), _as(right, common)


@compile_expr.register
def _(node: ex.BinaryOp) -> Column:
    op = node.op
    if op in ex.BOOLEAN_OPS:
        left, right = boolean(node.left), boolean(node.right)
        return left & right if op == "&" else left | right
    left, right = compile_expr(node.left), compile_expr(node.right)
    if op in ex.COMPARISON_OPS:
        return _COMPARE[op](*_common(node, left, right))
    out = node.dtype
    assert out is not None
    if op in ("/", "**"):
        lf, rf = left.cast(T.DoubleType()), right.cast(T.DoubleType())
        return F.pow(lf, rf) if op == "**" else F.when(rf != 0, lf / rf)
    decimal_mul = op == "*" and pa.types.is_decimal(out)
    if not decimal_mul:
        left, right = _as(left, out), _as(right, out)
    if op == "//":
        return F.when(right != 0, _floor_div(left, right, out))
    if op == "%":
        return F.when(right != 0, _as(_floor_mod(left, right), out))
    if pa.types.is_unsigned_integer(out):
        if op == "*" and out.bit_width == 64:
            return wrap_unsigned(_uint64_product(left, right), out)
        if op == "*" and out.bit_width == 32:
            return wrap_unsigned(left * right, out)  # long product wraps mod 2**64, fine mod 2**32
        return wrap_unsigned(_ARITH[op](left, right), out)
    return _as(_ARITH[op](left, right), out)


_ARITH: dict[str, Callable[[Column, Column], Column]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
}
_COMPARE: dict[str, Callable[[Column, Column], Column]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


@compile_expr.register
def _(node: ex.Case) -> Column:
    chain: Any = F
    for cond, value in node.branches:
        chain = chain.when(boolean(cond), _as(compile_expr(value), node.dtype))
    return chain.otherwise(_as(compile_expr(node.otherwise), node.dtype))


_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
_DATE_TRUNC = {"year": "year", "quarter": "quarter", "month": "month", "week": "week"}


def _is_in(node: ex.Call, x: Column) -> Column:
    src = node.args[0].dtype
    assert src is not None
    values = [v for v in node.params[0] if v is not None]
    if not values:
        return F.when(x.isNull(), F.lit(None).cast(T.BooleanType())).otherwise(F.lit(False))
    common = src
    for v in values:
        common = t.supertype(common, t.literal_type(v))
    lits = [literal(v, common) for v in values]
    return _as(x, common).isin(*lits)  # isin is null for a null input (no nulls are in the list)


def _round(node: ex.Call, x: Column) -> Column:
    if pa.types.is_integer(node.dtype):
        return x
    return _as(F.round(x, int(node.params[0])), node.dtype)  # Spark rounds half away from zero (HALF_UP)


def _local(node: ex.Call, x: Column) -> Column:
    """Timestamps with a zone other than UTC: shift to wall-clock time of their zone (session is UTC)."""
    dtype = node.args[0].dtype
    assert dtype is not None
    if pa.types.is_timestamp(dtype) and dtype.tz not in (None, "UTC", "utc", "+00:00", "Z"):
        return F.from_utc_timestamp(x, dtype.tz)
    return x


def _truncate(node: ex.Call, x: Column) -> Column:
    unit = node.params[0]
    dtype = node.args[0].dtype
    assert dtype is not None
    if pa.types.is_date(dtype):
        return x if unit == "day" else F.trunc(x, _DATE_TRUNC[unit])
    local = _local(node, x)
    truncated = F.date_trunc(unit, local)
    if dtype.tz is None:
        return truncated.cast(T.TimestampNTZType())
    if local is not x:
        return F.to_utc_timestamp(truncated, dtype.tz)
    return truncated.cast(T.TimestampType())


def _slice(node: ex.Call, x: Column) -> Column:
    offset, length = node.params
    if length is None:
        length = 2**30
    if offset >= 0:
        return x.substr(offset + 1, length)
    return x.substr(offset, length)  # negative: counts from the end, clamped at the start like Python


def _concat(node: ex.Call, args: list[Column]) -> Column:
    sep = F.lit(node.params[0])
    parts: list[Column] = []
    for i, a in enumerate(args):
        if i and node.params[0]:
            parts.append(sep)
        parts.append(a)
    return F.concat(*parts)  # null if any input is null


def _is_nan(x: Column) -> Column:
    return F.when(x.isNotNull(), F.isnan(x))


def _int32(c: Column) -> Column:
    return c.cast(T.IntegerType())


FUNCTIONS: dict[str, Callable[[ex.Call, list[Column]], Column]] = {
    "is_null": lambda n, a: a[0].isNull(),
    "is_not_null": lambda n, a: a[0].isNotNull(),
    "is_nan": lambda n, a: _is_nan(a[0]),
    "fill_null": lambda n, a: F.coalesce(*[_as(x, n.dtype) for x in a]),
    "coalesce": lambda n, a: F.coalesce(*[_as(x, n.dtype) for x in a]),
    "is_in": lambda n, a: _is_in(n, a[0]),
    "abs": lambda n, a: a[0] if pa.types.is_unsigned_integer(n.dtype) else _as(F.abs(a[0]), n.dtype),
    "round": lambda n, a: _round(n, a[0]),
    "str_len": lambda n, a: F.char_length(a[0]).cast(T.LongType()),
    "str_lower": lambda n, a: F.lower(a[0]),
    "str_upper": lambda n, a: F.upper(a[0]),
    "str_strip": lambda n, a: F.btrim(a[0], F.lit(_ASCII_WHITESPACE)),
    "str_contains": lambda n, a: a[0].contains(F.lit(n.params[0])),
    "str_starts_with": lambda n, a: a[0].startswith(F.lit(n.params[0])),
    "str_ends_with": lambda n, a: a[0].endswith(F.lit(n.params[0])),
    "str_like": lambda n, a: a[0].rlike(like_to_regex(n.params[0])),
    "str_slice": lambda n, a: _slice(n, a[0]),
    "str_replace": lambda n, a: F.replace(a[0], F.lit(n.params[0]), F.lit(n.params[1])),
    "concat_str": _concat,
    "dt_year": lambda n, a: _int32(F.year(_local(n, a[0]))),
    "dt_month": lambda n, a: _int32(F.month(_local(n, a[0]))),
    "dt_day": lambda n, a: _int32(F.dayofmonth(_local(n, a[0]))),
    "dt_hour": lambda n, a: _int32(F.hour(_local(n, a[0]))),
    "dt_minute": lambda n, a: _int32(F.minute(_local(n, a[0]))),
    "dt_second": lambda n, a: _int32(F.second(_local(n, a[0]))),
    "dt_weekday": lambda n, a: _int32(F.weekday(_local(n, a[0])) + 1),  # Spark: Monday=0
    "dt_truncate": lambda n, a: _truncate(n, a[0]),
}


@compile_expr.register
def _(node: ex.Call) -> Column:
    args = [compile_expr(a) for a in node.args]
    return FUNCTIONS[node.name](node, args)


def agg_expr(node: ex.Agg, window: Any = None) -> Column:
    """An aggregate as a Spark column; with ``window`` (a ``WindowSpec``), computed over that window
    (``over`` is applied to each aggregate function itself, casts go outside)."""

    def w(c: Column) -> Column:
        return c if window is None else c.over(window)

    if node.func == "len":
        return w(F.count(F.lit(1)))
    assert node.operand is not None and node.dtype is not None
    x = compile_expr(node.operand)
    out = node.dtype
    match node.func:
        case "sum":
            return _as(w(F.sum(_as(x, out))), out)  # Spark: null when the group has no non-null value
        case "mean":
            return w(F.avg(x.cast(T.DoubleType())))
        case "min":
            return w(F.min(x))  # Spark orders NaN above every number, as the semantics say
        case "max":
            return w(F.max(x))
        case "count":
            return w(F.count(x))
        case "n_unique":
            if window is not None:  # count(DISTINCT) is not allowed over a window; collect_set skips nulls
                return F.size(w(F.collect_set(x))).cast(T.LongType())
            return F.count_distinct(x)
        case "std":
            return w(F.stddev_samp(x.cast(T.DoubleType())))
        case "var":
            return w(F.var_samp(x.cast(T.DoubleType())))
        case "first" | "last":
            # first/last non-null value in input order: min/max of (row id, value) over non-null values
            pair = F.when(x.isNotNull(), F.struct(col(ORDER_COLUMN).alias("o"), x.alias("v")))
            return w(F.max(pair) if node.func == "last" else F.min(pair)).getField("v")
    raise NotImplementedError(node.func)


def _agg_node(node: ex.Agg) -> Column:
    return agg_expr(node)


compile_expr.register(ex.Agg, _agg_node)


def sort_column(c: Column, descending: bool, nulls_last: bool) -> Column:
    if descending:
        return c.desc_nulls_last() if nulls_last else c.desc_nulls_first()
    return c.asc_nulls_last() if nulls_last else c.asc_nulls_first()


def _window(node: ex.Over) -> Column:
    part = [compile_expr(p) for p in node.partition_by]
    spec = Window.partitionBy(*part)
    order = [sort_column(compile_expr(o), d, n)
             for o, d, n in zip(node.order_by, node.descending, node.nulls_last)]
    op = node.operand
    if isinstance(op, ex.Agg):  # aggregates cover the whole partition; order_by does not matter
        return agg_expr(op, window=spec.rowsBetween(*_UNBOUNDED))
    assert isinstance(op, ex.WindowFunc) and op.dtype is not None
    match op.func:
        case "row_number":
            return F.row_number().over(spec.orderBy(*order)).cast(T.LongType())
        case "rank" | "dense_rank" if op.operand is None:
            fn = F.rank() if op.func == "rank" else F.dense_rank()
            return fn.over(spec.orderBy(*order)).cast(T.LongType())
        case "rank" | "dense_rank":
            assert op.operand is not None
            x = compile_expr(op.operand)
            desc = bool(op.params and op.params[0])
            fn = F.rank() if op.func == "rank" else F.dense_rank()
            ranked = fn.over(spec.orderBy(sort_column(x, desc, True))).cast(T.LongType())
            return F.when(x.isNotNull(), ranked)
        case "cum_sum":
            assert op.operand is not None
            x = _as(compile_expr(op.operand), op.dtype)
            running = spec.orderBy(*order).rowsBetween(Window.unboundedPreceding, Window.currentRow)
            return _as(F.sum(x).over(running), op.dtype)
        case "shift":
            assert op.operand is not None
            x = compile_expr(op.operand)
            n = int(op.params[0])
            if n == 0:
                return x
            w = spec.orderBy(*order)
            return F.lag(x, n).over(w) if n > 0 else F.lead(x, -n).over(w)
    raise NotImplementedError(op.func)


compile_expr.register(ex.Over, _window)


def needs_order_column(exprs: tuple[ex.ExprNode, ...]) -> bool:
    """Whether expressions use ``first``/``last`` (which need the input-order row id)."""
    return any(isinstance(n, ex.Agg) and n.func in ("first", "last") for e in exprs for n in e.walk())


# -- plan nodes ---------------------------------------------------------------------------------------------


@dataclass
class Context:
    """What a translation needs besides the plan: the session and how to turn Arrow tables into Spark
    DataFrames (the engine caches those), and whether input order must be kept across files."""

    spark: SparkSession
    arrow_frame: Callable[[pn.InMemorySource], DataFrame]
    ordered_input: bool = False
    notes: list[str] = field(default_factory=list)


@singledispatch
def compile_node(node: pn.PlanNode, ctx: Context) -> DataFrame:
    """A plan node as a Spark ``DataFrame`` whose columns are ``node.schema`` (in Spark types)."""
    raise NotImplementedError(type(node).__name__)


def _nanos_to_timestamp(c: Column, dtype: pa.DataType) -> Column:
    """Parquet nanosecond timestamps arrive as longs (spark.sql.legacy.parquet.nanosAsLong)."""
    micros = F.call_function("div", c - F.pmod(c, F.lit(1000)), F.lit(1000))
    ts = F.timestamp_micros(micros)
    return ts.cast(T.TimestampNTZType()) if dtype.tz is None else ts


def normalise(df: DataFrame, schema: pa.Schema) -> DataFrame:
    """Select ``schema``'s columns in order, cast to their Spark types where a reader chose others."""
    actual = {f.name: f.dataType for f in df.schema.fields}
    cols = []
    changed = list(actual) != schema.names
    for f in schema:
        want = spark_type(f.type)
        c = col(f.name)
        have = actual.get(f.name)
        if have != want:
            changed = True
            if pa.types.is_timestamp(f.type) and isinstance(have, T.LongType):
                c = _nanos_to_timestamp(c, f.type)
            else:
                c = c.cast(want)
        cols.append(c.alias(f.name))
    return df.select(*cols) if changed else df


def _read_files(src: pn.FileSource, paths: list[str], ctx: Context) -> DataFrame:
    reader = ctx.spark.read
    if src.format == "parquet":
        return reader.parquet(*paths)
    if src.format == "json":
        return reader.schema(spark_schema(src.file_schema)).json(paths)
    assert src.format == "csv"
    nulls = list(src.option("null_values", ("",)))
    single = len(nulls) <= 1
    schema = spark_schema(src.file_schema)
    if not single:  # Spark takes one null marker: read text, then map every marker to null and convert
        schema = T.StructType([T.StructField(f.name, T.StringType()) for f in schema.fields])
    df = reader.csv(
        paths, schema=schema, sep=src.option("separator", ","), header=bool(src.option("has_header", True)),
        nullValue=nulls[0] if nulls else None, escape='"', enforceSchema=True, mode="PERMISSIVE",
        multiLine=True,
    )
    if single:
        return df
    cols = []
    for f in src.file_schema:
        c = col(f.name)
        c = F.when(~c.isin(*nulls), c)
        cols.append(c.try_cast(spark_type(f.type)).alias(f.name))
    return df.select(*cols)


def _scan_source(node: pn.Scan, ctx: Context) -> DataFrame:
    src = node.source
    if isinstance(src, pn.InMemorySource):
        return ctx.arrow_frame(src)
    if isinstance(src, pn.PersistedSource):  # one of this engine's (localize() exported any other)
        session, df = persisted_object(src, "spark")
        if session is not ctx.spark:
            raise DataSourceError(f"the persisted result {src.key!r} was kept by an earlier Spark session, "
                                  "which stopped; persist the frame again.")
        return df
    assert isinstance(src, pn.FileSource)
    paths = list(src.paths)
    if ctx.ordered_input and len(paths) > 1:
        # Spark packs file splits by size, which loses the file order; read each file and concatenate
        # (a union keeps its inputs' partitions in order) so first/last see rows in input order.
        frames = [normalise(_read_files(src, [p], ctx), src.schema) for p in paths]
        return reduce(DataFrame.union, frames)
    return normalise(_read_files(src, paths, ctx), src.schema)


@compile_node.register
def _(node: pn.Scan, ctx: Context) -> DataFrame:
    df = _scan_source(node, ctx)
    if node.columns is not None:
        df = df.select(*[col(c) for c in node.columns])
    for f in node.filters:
        df = df.filter(boolean(f))
    if node.limit is not None:
        df = df.limit(node.limit)
    return df


def with_order_column(df: DataFrame) -> DataFrame:
    """Add the input-order row id (partition index in the high bits, position in the low bits)."""
    return df.withColumn(ORDER_COLUMN, F.monotonically_increasing_id())


@compile_node.register
def _(node: pn.Project, ctx: Context) -> DataFrame:
    df = compile_node(node.input, ctx)
    # Spark's window operator reorders rows; above a sort they are numbered first and put back in order
    keep_order = pn.sorted_below(node.input) and any(ex.has_window(e) for e in node.exprs)
    if keep_order or needs_order_column(node.exprs):
        df = with_order_column(df)
    out = [compile_expr(e).alias(ex.output_name(e)) for e in node.exprs]
    if keep_order:
        return df.select(*out, col(ORDER_COLUMN)).orderBy(ORDER_COLUMN).drop(ORDER_COLUMN)
    return df.select(*out)


@compile_node.register
def _(node: pn.Filter, ctx: Context) -> DataFrame:
    return compile_node(node.input, ctx).filter(boolean(node.predicate))


@compile_node.register
def _(node: pn.Aggregate, ctx: Context) -> DataFrame:
    df = compile_node(node.input, ctx)
    if needs_order_column(node.aggs):
        df = with_order_column(df)
    aggs = [compile_expr(a).alias(ex.output_name(a)) for a in node.aggs]
    if not node.keys:
        return df.agg(*aggs) if aggs else df.limit(0)
    grouped = df.groupBy(*[compile_expr(k).alias(ex.output_name(k)) for k in node.keys])
    if not aggs:
        return grouped.agg(F.count(F.lit(1)).alias("__us_n")).drop("__us_n")
    return grouped.agg(*aggs)


_JOIN_HOW = {"inner": "inner", "left": "left", "right": "right", "full": "full", "semi": "left_semi",
             "anti": "left_anti"}


@compile_node.register
def _(node: pn.Join, ctx: Context) -> DataFrame:
    left = compile_node(node.left, ctx)
    right = compile_node(node.right, ctx)
    # Right columns get private names, so Spark never sees two columns with one name.
    rnames = {name: f"__us_r{i}" for i, name in enumerate(node.right.schema.names)}
    right = right.toDF(*[rnames[n] for n in node.right.schema.names])
    if node.how == "cross":
        joined = left.crossJoin(right)
    else:
        cond = reduce(lambda a, b: a & b, [col(lk) == col(rnames[rk]) for lk, rk in zip(node.left_on, node.right_on)])
        joined = left.join(right, on=cond, how=_JOIN_HOW[node.how])  # '==' never matches null keys
    out = []
    for c in node.output_columns:
        if c.side == "left":
            out.append(col(c.source).alias(c.name))
        elif c.side == "right":
            out.append(col(rnames[c.source]).alias(c.name))
        else:
            r = col(rnames[c.right_source or c.source])
            if node.how == "full":
                out.append(F.coalesce(col(c.source), r).alias(c.name))
            elif node.how == "right":
                out.append(r.alias(c.name))
            else:
                out.append(col(c.source).alias(c.name))
    return joined.select(*out)


@compile_node.register
def _(node: pn.Sort, ctx: Context) -> DataFrame:
    df = with_order_column(compile_node(node.input, ctx))
    keys = [sort_column(compile_expr(k), d, n) for k, d, n in zip(node.keys, node.descending, node.nulls_last)]
    return df.orderBy(*keys, col(ORDER_COLUMN).asc()).drop(ORDER_COLUMN)  # the row id makes it stable


@compile_node.register
def _(node: pn.Limit, ctx: Context) -> DataFrame:
    return compile_node(node.input, ctx).limit(node.n)


@compile_node.register
def _(node: pn.Distinct, ctx: Context) -> DataFrame:
    df = compile_node(node.input, ctx)
    if node.subset is None:
        return df.distinct()
    return df.dropDuplicates(list(node.subset))


@compile_node.register
def _(node: pn.Union, ctx: Context) -> DataFrame:
    frames = []
    for child in node.inputs:
        df = compile_node(child, ctx)
        frames.append(df.select(*[_as(col(n), f.type).alias(f.name)
                                  for n, f in zip(child.schema.names, node.schema)]))
    return reduce(DataFrame.union, frames)


def _batch_runner(node: pn.MapBatches) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function Spark's Python workers run: batches in Spark's Arrow types -> canonical -> user
    function (checked by apply_batch_function) -> Spark's Arrow types. Only the function and schemas are
    shipped to the workers (never the input plan, which may hold in-memory tables)."""
    in_schema = node.input.schema
    fn_bytes = _pickle_function(node.fn)
    out_schema, name, key = node.output_schema, node.name, node.key

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import cloudpickle

        fn = cloudpickle.loads(fn_bytes)
        light = pn.MapBatches(pn.Scan(pn.InMemorySource(in_schema.empty_table())), fn, out_schema, name, key)
        for batch in batches:
            out = apply_batch_function(light, canonical_batch(batch, in_schema))
            yield to_spark_arrow(out)

    return run


def _pickle_function(fn: Callable[..., Any]) -> bytes:
    """Pickle a user function for Spark's Python workers. Functions from modules the workers may not
    be able to import (test files, scripts, notebooks: anything outside site-packages and the standard
    library) are pickled by value."""
    from pyspark import cloudpickle

    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    by_value = False
    if module is not None and module.__name__ != "__main__" and not module.__name__.startswith("unistack."):
        path = os.path.abspath(getattr(module, "__file__", None) or "")
        stdlib = sysconfig.get_paths()["stdlib"]
        by_value = bool(path) and not ("site-packages" in path or "dist-packages" in path
                                       or path.startswith(stdlib))
    if not by_value:
        return cloudpickle.dumps(fn)
    cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(fn)
    finally:
        cloudpickle.unregister_pickle_by_value(module)


@compile_node.register
def _(node: pn.MapBatches, ctx: Context) -> DataFrame:
    df = compile_node(node.input, ctx)
    return df.mapInArrow(_batch_runner(node), spark_schema(node.output_schema))


def final_frame(df: DataFrame, schema: pa.Schema) -> DataFrame:
    """The plan's output with exactly its names and Spark types (types drift, e.g. decimal precision)."""
    return normalise(df, schema)


def implemented_operations() -> set[str]:
    """Operation names this translator implements (the engine's capabilities derive from it)."""
    return translator_operations(compile_node.registry, FUNCTIONS)
