"""Evaluate bound plan expressions on Arrow data with ``pyarrow.compute``, under unistack's semantics.

This module is engine-neutral: it turns a bound expression tree (:mod:`unistack.plan.exprs`) into a
vectorised computation over a ``pyarrow.Table`` or ``pyarrow.RecordBatch``. Engines that run Python
functions over Arrow batches (Ray Data's ``map_batches``, for example) use it to evaluate projections,
filters and computed keys inside their workers. The rules of docs/semantics.md are enforced here in
Arrow kernels: three-valued logic, division by zero gives null, floor ``//`` and ``%``, wrapping integer
arithmetic, casts that fail give null, NaN is the largest float and equal to itself, literal string
functions, ISO weekdays, and so on. Rows are never looped over in Python.

Window functions (``.over``) and aggregates are not row-wise and are not evaluated here.

Examples
--------
>>> import pyarrow as pa
>>> from unistack.plan import exprs as ex
>>> from unistack.plan.typecheck import bind
>>> batch = pa.table({"a": [7, -7, 3], "b": [2, 2, 0]})
>>> node = bind(ex.BinaryOp("//", ex.Column("a"), ex.Column("b")), batch.schema)
>>> evaluate(node, batch).to_pylist()
[3, -4, None]
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from functools import singledispatch
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from unistack.backends.base import widening_cast
from unistack.plan import exprs as ex
from unistack.plan import types as t

# an Arrow array, chunked array or scalar (pyarrow ships no precise stubs, so typed loosely)
Value: TypeAlias = Any
Data: TypeAlias = pa.Table | pa.RecordBatch

ASCII_WHITESPACE = " \t\n\r\x0b\x0c"


class _Context:
    """The batch an expression is evaluated over (its columns and its length)."""

    def __init__(self, data: Data) -> None:
        self.data = data
        self.num_rows = data.num_rows


# -- public entry points -----------------------------------------------------------------------------------


def evaluate(node: ex.ExprNode, data: Data) -> pa.Array | pa.ChunkedArray:
    """Evaluate a bound expression over every row of ``data``; the result has ``node.dtype``.

    Parameters
    ----------
    node : ExprNode
        A bound expression (every ``dtype`` filled in by :func:`unistack.plan.typecheck.bind`).
    data : pyarrow.Table or pyarrow.RecordBatch
        The rows; its columns are the ones the expression reads.

    Returns
    -------
    pyarrow.Array or pyarrow.ChunkedArray
        One value per row, of type ``node.dtype``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan import exprs as ex
    >>> from unistack.plan.typecheck import bind
    >>> tbl = pa.table({"x": [1.0, None, 4.0]})
    >>> evaluate(bind(ex.BinaryOp("/", ex.Column("x"), ex.Literal(0)), tbl.schema), tbl).to_pylist()
    [None, None, None]
    """
    ctx = _Context(data)
    value = _eval(node, ctx)
    return _as_array(value, node.dtype, ctx.num_rows)


def evaluate_predicate(node: ex.ExprNode, data: Data) -> pa.Array | pa.ChunkedArray:
    """A boolean mask with no nulls: true exactly where ``node`` is true (null counts as false).

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan import exprs as ex
    >>> from unistack.plan.typecheck import bind
    >>> tbl = pa.table({"x": [1, None, 3]})
    >>> evaluate_predicate(bind(ex.BinaryOp(">", ex.Column("x"), ex.Literal(1)), tbl.schema), tbl).to_pylist()
    [False, False, True]
    """
    mask = evaluate(node, data)
    if pa.types.is_null(mask.type):
        return pa.array([False] * 0, pa.bool_()) if len(mask) == 0 else pc.fill_null(
            pa.nulls(len(mask), pa.bool_()), False)
    return pc.fill_null(mask, False)


def project(exprs: tuple[ex.ExprNode, ...], data: Data, schema: pa.Schema) -> pa.Table:
    """A table with one column per expression, typed as ``schema``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan import exprs as ex
    >>> from unistack.plan.typecheck import bind
    >>> tbl = pa.table({"s": ["  a ", None]})
    >>> e = bind(ex.Alias(ex.Call("str_strip", (ex.Column("s"),)), "t"), tbl.schema)
    >>> project((e,), tbl, pa.schema([("t", pa.large_string())])).to_pydict()
    {'t': ['a', None]}
    """
    columns = [evaluate(e, data) for e in exprs]
    columns = [c.cast(f.type) if c.type != f.type else c for c, f in zip(columns, schema)]
    return pa.Table.from_arrays(columns, schema=schema)


def implemented_operations() -> set[str]:
    """Operation names (see :mod:`unistack.plan.operations`) this evaluator implements."""
    ops = {f"function:{name}" for name in FUNCTIONS}
    ops |= {f"op:{op}" for op in (*ex.ARITHMETIC_OPS, *ex.COMPARISON_OPS, *ex.BOOLEAN_OPS, "neg", "not")}
    ops |= {"expr:Cast", "expr:Case"}
    return ops


# -- helpers -----------------------------------------------------------------------------------------------


def _as_array(value: Value, dtype: pa.DataType | None, n: int) -> pa.Array | pa.ChunkedArray:
    """Broadcast a scalar to ``n`` rows and give the result ``dtype``."""
    if isinstance(value, pa.Scalar):
        target = dtype if dtype is not None else value.type
        if not value.is_valid or pa.types.is_null(value.type):
            return pa.nulls(n, target)
        if value.type != target:
            value = value.cast(target)
        return pc.fill_null(pa.nulls(n, target), value)
    if dtype is not None and value.type != dtype:
        if pa.types.is_null(value.type):
            return pa.nulls(len(value), dtype)
        value = value.cast(dtype)
    return value


def _null_of(dtype: pa.DataType) -> pa.Scalar:
    return pa.scalar(None, type=dtype)


def _cast(value: Value, dtype: pa.DataType) -> Value:
    """A plain Arrow cast used between compatible types (widening, same-kind)."""
    if value.type == dtype:
        return value
    if pa.types.is_null(value.type):
        return _null_of(dtype) if isinstance(value, pa.Scalar) else pa.nulls(len(value), dtype)
    return widening_cast(value, dtype)


def _where(cond: Value, then: Value, otherwise: Value) -> Value:
    return pc.if_else(cond, then, otherwise)


@singledispatch
def _eval(node: ex.ExprNode, ctx: _Context) -> Value:
    raise NotImplementedError(f"cannot evaluate {type(node).__name__} row by row")


@_eval.register
def _(node: ex.Column, ctx: _Context) -> Value:
    col = ctx.data.column(node.name)
    if node.dtype is not None and col.type != node.dtype and not pa.types.is_null(col.type):
        col = col.cast(node.dtype)
    return col


@_eval.register
def _(node: ex.Literal, ctx: _Context) -> Value:
    dtype = node.dtype if node.dtype is not None else t.literal_type(node.value)
    if node.value is None:
        return _null_of(dtype)
    return t.literal_scalar(node.value, dtype)


@_eval.register
def _(node: ex.Alias, ctx: _Context) -> Value:
    return _eval(node.operand, ctx)


@_eval.register
def _(node: ex.UnaryOp, ctx: _Context) -> Value:
    inner = _eval(node.operand, ctx)
    if node.op == "not":
        return pc.invert(_cast(inner, pa.bool_()))
    assert node.dtype is not None
    return pc.negate(_cast(inner, node.dtype))


# -- binary operators -------------------------------------------------------------------------------------


def _float_compare(op: str, a: Value, b: Value) -> Value:
    """Comparisons where NaN equals NaN and is greater than every number (nulls stay null)."""
    a_nan, b_nan = pc.is_nan(a), pc.is_nan(b)
    both_nan = pc.and_kleene(a_nan, b_nan)
    if op in ("==", "!="):
        eq = pc.or_kleene(pc.equal(a, b), both_nan)
        return eq if op == "==" else pc.invert(eq)
    # a < b  <=>  plain a < b, or a is a number and b is NaN
    if op in ("<", ">="):
        lt = pc.or_kleene(pc.less(a, b), pc.and_kleene(pc.invert(a_nan), b_nan))
        return lt if op == "<" else pc.invert(lt)
    gt = pc.or_kleene(pc.greater(a, b), pc.and_kleene(a_nan, pc.invert(b_nan)))
    return gt if op == ">" else pc.invert(gt)


_COMPARE: dict[str, Callable[[Value, Value], Value]] = {
    "==": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater,
    ">=": pc.greater_equal,
}


def _compare(node: ex.BinaryOp, a: Value, b: Value) -> Value:
    lt, rt = node.left.dtype, node.right.dtype
    assert lt is not None and rt is not None
    common = t.supertype(lt, rt, "compare")
    if t.is_null(common):
        return _null_of(pa.bool_())
    a, b = _cast(a, common), _cast(b, common)
    if pa.types.is_floating(common):
        return _float_compare(node.op, a, b)
    return _COMPARE[node.op](a, b)


def _nonzero_divisor(divisor: Value) -> tuple[Value, Value]:
    """(is the divisor zero, the divisor with zeros replaced by one): division by zero gives null."""
    zero = pc.equal(divisor, pa.scalar(0, type=divisor.type) if not pa.types.is_decimal(divisor.type)
                    else pa.scalar(0).cast(divisor.type))
    one = pa.scalar(1).cast(divisor.type)
    return zero, _where(pc.fill_null(zero, False), one, divisor)


def _floor_div_mod(op: str, a: Value, b: Value, dtype: pa.DataType) -> Value:
    """``//`` or ``%`` with floor semantics and null on a zero divisor."""
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        fa, fb = _cast(a, pa.float64()), _cast(b, pa.float64())
        zero, safe = _nonzero_divisor(fb)
        q = pc.floor(pc.divide(fa, safe))
        out = q if op == "//" else pc.subtract(fa, pc.multiply(q, safe))
        out = _where(zero, _null_of(pa.float64()), out)
        return _cast(out, dtype)
    a, b = _cast(a, dtype), _cast(b, dtype)
    zero, safe = _nonzero_divisor(b)
    if pa.types.is_signed_integer(dtype):
        # x // -1 is -x (wrapping: int min // -1 is int min); Arrow's kernel does not wrap it
        minus_one = pc.fill_null(pc.equal(safe, pa.scalar(-1, type=dtype)), False)
        safe = _where(minus_one, pa.scalar(1, type=dtype), safe)
        a = _where(minus_one, pc.negate(a), a)
    q = pc.divide(a, safe)  # truncates toward zero
    r = pc.subtract(a, pc.multiply(q, safe))
    if pa.types.is_unsigned_integer(dtype):
        out = q if op == "//" else r
    else:
        zero_r = pa.scalar(0, type=dtype)
        adjust = pc.and_(pc.not_equal(r, zero_r), pc.not_equal(pc.less(r, zero_r), pc.less(safe, zero_r)))
        if op == "//":
            out = _where(adjust, pc.subtract(q, pa.scalar(1, type=dtype)), q)
        else:
            out = _where(adjust, pc.add(r, safe), r)
    return _where(zero, _null_of(dtype), out)


def _decimal_shape(dtype: pa.DataType) -> tuple[int, int]:
    """(precision, scale) of an operand of decimal arithmetic once it is a decimal."""
    if pa.types.is_decimal(dtype):
        return dtype.precision, dtype.scale
    if pa.types.is_integer(dtype):
        return t.decimal_integer_digits(dtype), 0
    return (19, 0) if pa.types.is_boolean(dtype) else (38, 0)


def _decimal_width(op: str, left: pa.DataType, right: pa.DataType) -> int:
    """128 when Arrow's decimal128 result of ``left op right`` holds every value exactly (its precision is at
    most 38), else 256: the narrow kernels are several times faster and need no cast of decimal128 input."""
    (p1, s1), (p2, s2) = _decimal_shape(left), _decimal_shape(right)
    need = p1 + p2 + 1 if op == "*" else max(p1 - s1, p2 - s2) + max(s1, s2) + 1
    return 128 if need <= 38 else 256


def _decimal_operand(value: Value, dtype: pa.DataType, width: int = 256) -> Value:
    """An operand of decimal arithmetic as a decimal of ``width`` bits (see :func:`_decimal_width`)."""
    p, s = _decimal_shape(dtype)
    target = pa.decimal128(p, s) if width == 128 else pa.decimal256(p, s)
    if pa.types.is_boolean(dtype):
        value = _cast(value, pa.int64())
    return _cast(value, target)


def _fit_product(a: Value, b: Value) -> tuple[Value, Value]:
    """Arrow gives a decimal product precision p1 + p2 + 1, at most 76: narrow the wider operand when two
    wide ones would exceed it (a value that does not fit then fails the cast loudly, never silently)."""
    pa_, pb = a.type.precision, b.type.precision
    excess = pa_ + pb + 1 - 76
    if excess <= 0:
        return a, b
    if pa_ >= pb:
        return _cast(a, pa.decimal256(pa_ - excess, a.type.scale)), b
    return a, _cast(b, pa.decimal256(pb - excess, b.type.scale))


_ARITH: dict[str, Callable[[Value, Value], Value]] = {"+": pc.add, "-": pc.subtract, "*": pc.multiply}


def _arithmetic(node: ex.BinaryOp, a: Value, b: Value) -> Value:
    op, dtype = node.op, node.dtype
    assert dtype is not None and node.left.dtype is not None and node.right.dtype is not None
    if op in ("/", "**"):
        fa, fb = _cast(a, pa.float64()), _cast(b, pa.float64())
        if op == "**":
            return pc.power(fa, fb)
        zero, safe = _nonzero_divisor(fb)
        return _where(zero, _null_of(pa.float64()), pc.divide(fa, safe))
    if op in ("//", "%"):
        return _floor_div_mod(op, a, b, dtype)
    if pa.types.is_decimal(dtype):
        width = _decimal_width(op, node.left.dtype, node.right.dtype)
        da, db = _decimal_operand(a, node.left.dtype, width), _decimal_operand(b, node.right.dtype, width)
        if op == "*" and width == 256:
            da, db = _fit_product(da, db)
        return _ARITH[op](da, db).cast(dtype)
    # integers wrap around in the result type (the unchecked kernels); floats are IEEE
    return _ARITH[op](_cast(a, dtype), _cast(b, dtype))


_BOOLEAN: dict[str, Callable[[Value, Value], Value]] = {"&": pc.and_kleene, "|": pc.or_kleene}


@_eval.register
def _(node: ex.BinaryOp, ctx: _Context) -> Value:
    a, b = _eval(node.left, ctx), _eval(node.right, ctx)
    if node.op in ex.BOOLEAN_OPS:
        return _BOOLEAN[node.op](_cast(a, pa.bool_()), _cast(b, pa.bool_()))
    if node.op in ex.COMPARISON_OPS:
        return _compare(node, a, b)
    return _arithmetic(node, a, b)


@_eval.register
def _(node: ex.Case, ctx: _Context) -> Value:
    assert node.dtype is not None
    result = _as_array(_eval(node.otherwise, ctx), node.dtype, ctx.num_rows)
    for cond, value in reversed(node.branches):
        c = _as_array(_eval(cond, ctx), pa.bool_(), ctx.num_rows)
        v = _cast(_eval(value, ctx), node.dtype)
        result = pc.if_else(pc.fill_null(c, False), v, result)
    return result


# -- casts ------------------------------------------------------------------------------------------------

_INT_RE = r"^[+-]?[0-9]{1,38}$"
_FLOAT_RE = r"(?i)^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf|infinity|nan)$"
_DECIMAL_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"


def _int_bounds(dtype: pa.DataType) -> tuple[int, int]:
    bits = dtype.bit_width
    if pa.types.is_unsigned_integer(dtype):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


_ISO = (r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:[ T](?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
        r"(?:\.(?P<frac>[0-9]{1,9}))?)?$")


def _parse_timestamp(value: Value, date_only: bool) -> Value:
    """ISO dates and timestamps (``T`` or space, optional seconds and fraction) as ``timestamp[ns]``;
    anything else, including impossible dates such as 2023-02-29, gives null."""
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    parts = pc.extract_regex(value, _ISO if not date_only else r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})$")
    date = pc.struct_field(parts, "date")
    day = pc.strptime(date, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls impossible days over (2023-02-29 -> 2023-03-01): keep only dates that print back the same
    same = pc.equal(pc.strftime(day, format="%Y-%m-%d"), date.cast(pa.string()))
    day = pc.if_else(same, day, pa.scalar(None, day.type)).cast(pa.timestamp("ns"))
    if date_only:
        return day
    time = pc.struct_field(parts, "time")
    padded = pc.if_else(pc.equal(pc.utf8_length(time), 5), pc.binary_join_element_wise(
        time, pa.scalar(":00", time.type), pa.scalar("", time.type)), time)
    clock = pc.strptime(pc.binary_join_element_wise(pa.scalar("1970-01-01 ", time.type), padded,
                                                    pa.scalar("", time.type)),
                        format="%Y-%m-%d %H:%M:%S", unit="ns", error_is_null=True)
    clock_ns = pc.fill_null(pc.cast(clock, pa.int64()), 0)
    has_time = pc.fill_null(pc.greater(pc.utf8_length(time), 0), False)
    clock_ok = pc.or_(pc.invert(has_time), pc.is_valid(clock))
    frac = pc.struct_field(parts, "frac")
    frac_ns = pc.fill_null(pc.cast(pc.utf8_rpad(pc.if_else(pc.equal(frac, ""), pa.scalar("0", frac.type), frac),
                                               width=9, padding="0"), pa.int64()), 0)
    total = pc.add(pc.add(pc.cast(day, pa.int64()), clock_ns), frac_ns)
    return pc.if_else(clock_ok, pc.cast(total, pa.timestamp("ns")), pa.scalar(None, pa.timestamp("ns")))


def _valid_strings(value: Value, pattern: str, fallback: str) -> tuple[Value, Value]:
    """(mask of strings matching ``pattern``, the strings with the others replaced by ``fallback``)."""
    ok = pc.fill_null(pc.match_substring_regex(value, pattern), False)
    return ok, _where(ok, value, pa.scalar(fallback, type=value.type))


def _null_unless(ok: Value, value: Value) -> Value:
    return _where(ok, value, _null_of(value.type))


def _decimal_to_int(value: Value, dtype: pa.DataType) -> Value:
    lo, hi = _int_bounds(dtype)
    truncated = pc.trunc(_cast(value, pa.decimal256(value.type.precision, value.type.scale)))
    wide = pa.decimal256(76, 0)
    whole = truncated.cast(wide)
    ok = pc.and_(pc.greater_equal(whole, pa.scalar(decimal.Decimal(lo), wide)),
                 pc.less_equal(whole, pa.scalar(decimal.Decimal(hi), wide)))
    ok = pc.fill_null(ok, False)
    safe = _where(ok, whole, pa.scalar(decimal.Decimal(0), wide))
    return _null_unless(ok, safe.cast(dtype))


def _float_to_int(value: Value, dtype: pa.DataType) -> Value:
    lo, hi = _int_bounds(dtype)
    x = _cast(value, pa.float64())
    truncated = pc.trunc(x)
    # 2**63 is exactly representable; values at or above it do not fit int64
    ok = pc.and_(pc.greater_equal(truncated, float(lo)), pc.less(truncated, float(hi) + 1.0))
    ok = pc.fill_null(pc.and_(ok, pc.invert(pc.is_nan(x))), False)
    safe = _where(ok, truncated, 0.0)
    return _null_unless(ok, safe.cast(dtype, safe=False))


def _int_to_int(value: Value, dtype: pa.DataType) -> Value:
    lo, hi = _int_bounds(dtype)
    src_lo, src_hi = _int_bounds(value.type)
    if src_lo >= lo and src_hi <= hi:
        return value.cast(dtype)
    checks = []
    if src_lo < lo:
        checks.append(pc.greater_equal(value, pa.scalar(max(lo, src_lo)).cast(value.type)))
    if src_hi > hi:
        checks.append(pc.less_equal(value, pa.scalar(min(hi, src_hi)).cast(value.type)))
    ok = checks[0] if len(checks) == 1 else pc.and_(checks[0], checks[1])
    ok = pc.fill_null(ok, False)
    safe = _where(ok, value, pa.scalar(0, type=value.type))
    return _null_unless(ok, safe.cast(dtype))


def _string_to(value: Value, dtype: pa.DataType) -> Value:
    value = _cast(value, pa.large_string())
    if pa.types.is_integer(dtype):
        ok, clean = _valid_strings(value, _INT_RE, "0")
        wide = clean.cast(pa.decimal128(38, 0))
        return _null_unless(ok, _decimal_to_int(wide, dtype))
    if pa.types.is_floating(dtype):
        ok, clean = _valid_strings(value, _FLOAT_RE, "0")
        return _null_unless(ok, clean.cast(dtype))
    if pa.types.is_decimal(dtype):
        ok, clean = _valid_strings(value, _DECIMAL_RE, "0")
        wide = pa.decimal256(76, dtype.scale)
        try:
            parsed = clean.cast(wide)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parsed = pc.round(clean.cast(pa.float64()), dtype.scale).cast(wide, safe=False)
        return _numeric_to_decimal(_null_unless(ok, parsed), dtype)
    if pa.types.is_boolean(dtype):
        lowered = pc.utf8_lower(value)
        is_true = pc.is_in(lowered, value_set=pa.array(["true", "1"], pa.large_string()))
        is_false = pc.is_in(lowered, value_set=pa.array(["false", "0"], pa.large_string()))
        return _where(is_true, True, _where(is_false, pa.scalar(False), _null_of(pa.bool_())))
    if pa.types.is_date(dtype):
        return _parse_timestamp(value, date_only=True).cast(pa.date32()).cast(dtype)
    if pa.types.is_timestamp(dtype):
        parsed = _parse_timestamp(value, date_only=False)
        if dtype.tz is not None:  # no offset in the text: the time is UTC
            parsed = pc.assume_timezone(parsed, "UTC")
            return parsed.cast(pa.timestamp("ns", "UTC")).cast(dtype, safe=False)
        return parsed.cast(dtype, safe=False)
    if pa.types.is_large_binary(dtype):
        return value.cast(dtype)
    return value.cast(dtype)


def _numeric_to_decimal(value: Value, dtype: pa.DataType) -> Value:
    """A number as ``decimal(p, s)``; values with more than ``p - s`` integer digits become null."""
    if pa.types.is_floating(value.type):
        x = pc.round(value, dtype.scale, round_mode="half_towards_infinity")
        limit = 10.0 ** (dtype.precision - dtype.scale)
        ok = pc.fill_null(pc.less(pc.abs(x), limit), False)
        return _null_unless(ok, _where(ok, x, 0.0).cast(dtype, safe=False))
    if pa.types.is_integer(value.type) or pa.types.is_boolean(value.type):
        value = _cast(_cast(value, pa.int64()) if pa.types.is_boolean(value.type) else value,
                      pa.decimal256(t.decimal_integer_digits(value.type) if pa.types.is_integer(value.type) else 1, 0))
    wide = pa.decimal256(76, dtype.scale)
    try:
        scaled = value.cast(wide)
    except pa.ArrowInvalid:  # more decimals than the target: round half away from zero first
        scaled = pc.round(value, dtype.scale, round_mode="half_towards_infinity").cast(wide)
    limit = pa.scalar(decimal.Decimal(10) ** (dtype.precision - dtype.scale), pa.decimal256(76, 0)).cast(wide)
    ok = pc.fill_null(pc.less(pc.abs(scaled), limit), False)
    return _null_unless(ok, _where(ok, scaled, pa.scalar(decimal.Decimal(0), wide)).cast(dtype))


def _to_string(value: Value, src: pa.DataType) -> Value:
    if pa.types.is_boolean(src):
        return _where(value, pa.scalar("true", pa.large_string()), pa.scalar("false", pa.large_string()))
    if pa.types.is_floating(src):
        text = value.cast(pa.large_string())
        # Arrow writes 1.0 as "1"; add ".0" to whole numbers so the text reads as a float everywhere
        whole = pc.fill_null(pc.match_substring_regex(text, r"^-?[0-9]+$"), False)
        suffix = pa.scalar(".0", pa.large_string())
        return _where(whole, pc.binary_join_element_wise(text, suffix, pa.scalar("", pa.large_string())), text)
    return value.cast(pa.large_string())


def cast_value(value: Value, src: pa.DataType, dst: pa.DataType) -> Value:
    """Cast under the semantics: failures and out-of-range values give null; float to int truncates.

    Examples
    --------
    >>> import pyarrow as pa
    >>> cast_value(pa.array([2.7, -2.7, 1e20]), pa.float64(), pa.int64()).to_pylist()
    [2, -2, None]
    >>> cast_value(pa.array(["12", "abc"], pa.large_string()), pa.large_string(), pa.int32()).to_pylist()
    [12, None]
    """
    if isinstance(value, pa.Scalar):
        return cast_value(pa.array([value.as_py()], type=value.type), src, dst)[0]
    if pa.types.is_null(value.type) or src == dst:
        return _cast(value, dst)
    if isinstance(value, pa.ChunkedArray):
        chunks = [cast_value(c, src, dst) for c in value.chunks]
        return pa.chunked_array(chunks, type=dst)
    value = _cast(value, src)
    if t.is_string(src):
        return _string_to(value, dst)
    if t.is_string(dst):
        return _to_string(value, src)
    if pa.types.is_integer(dst):
        if pa.types.is_floating(src):
            return _float_to_int(value, dst)
        if pa.types.is_decimal(src):
            return _decimal_to_int(value, dst)
        if pa.types.is_integer(src):
            return _int_to_int(value, dst)
        return value.cast(dst)
    if pa.types.is_decimal(dst) and pa.types.is_decimal(src) and dst.scale >= src.scale and (
            dst.precision - dst.scale >= src.precision - src.scale):
        return value.cast(dst)  # widening: always exact
    if pa.types.is_decimal(dst) and (t.is_numeric(src) or pa.types.is_boolean(src)):
        return _numeric_to_decimal(value, dst)
    if pa.types.is_boolean(dst) and t.is_numeric(src):
        return pc.not_equal(value, pa.scalar(0).cast(src))
    if pa.types.is_date(dst) and pa.types.is_timestamp(src):
        if src.tz is not None:
            value = pc.local_timestamp(value)
        return pc.floor_temporal(value, unit="day").cast(pa.timestamp(src.unit)).cast(pa.date32(), safe=False)
    return value.cast(dst, safe=False)


@_eval.register
def _(node: ex.Cast, ctx: _Context) -> Value:
    inner = _eval(node.operand, ctx)
    src = node.operand.dtype
    assert src is not None
    return cast_value(inner, src, node.to)


# -- functions --------------------------------------------------------------------------------------------


def _is_in(node: ex.Call, x: Value) -> Value:
    src = node.args[0].dtype
    assert src is not None
    values = [v for v in node.params[0] if v is not None]
    if not values:
        return _where(pc.is_null(x), _null_of(pa.bool_()), pa.scalar(False))
    common = src
    for v in values:
        common = t.supertype(common, t.literal_type(v), "compare")
    if t.is_null(common):
        return _null_of(pa.bool_())
    value_set = pa.array(values, type=common)
    x = _cast(x, common)
    if pa.types.is_floating(common):  # Arrow's is_in hashes -0.0 and 0.0 apart; x + 0.0 makes -0.0 0.0
        zero = pa.scalar(0.0, common)
        value_set, x = pc.add(value_set, zero), pc.add(x, zero)
    member = pc.is_in(x, value_set=value_set, skip_nulls=True)
    return _where(pc.is_null(x), _null_of(pa.bool_()), member)


def _round(node: ex.Call, x: Value) -> Value:
    if pa.types.is_integer(node.dtype) or pa.types.is_null(x.type):
        return x
    return pc.round(x, node.params[0], round_mode="half_towards_infinity")


def _str_slice(node: ex.Call, x: Value) -> Value:
    offset, length = node.params
    big = 2**62
    if length is None:
        stop = big
    elif offset >= 0:
        stop = offset + length
    else:
        stop = offset + length if offset + length < 0 else big
    return pc.utf8_slice_codeunits(x, start=offset, stop=stop)


_TRUNCATE_UNITS = {"year": "year", "quarter": "quarter", "month": "month", "week": "week", "day": "day",
                   "hour": "hour", "minute": "minute", "second": "second"}


def _dt_truncate(node: ex.Call, x: Value) -> Value:
    unit = _TRUNCATE_UNITS[node.params[0]]
    if pa.types.is_date(x.type):
        ts = x.cast(pa.timestamp("s"))
        return pc.floor_temporal(ts, unit=unit, week_starts_monday=True).cast(x.type)
    return pc.floor_temporal(x, unit=unit, week_starts_monday=True)


def _part(fn: Callable[[Value], Value]) -> Callable[[ex.Call, list[Value]], Value]:
    return lambda n, a: fn(a[0]).cast(pa.int32())


def _coalesce(node: ex.Call, args: list[Value]) -> Value:
    assert node.dtype is not None
    return pc.coalesce(*[_cast(a, node.dtype) for a in args])


FUNCTIONS: dict[str, Callable[[ex.Call, list[Value]], Value]] = {
    "is_null": lambda n, a: pc.is_null(a[0]),
    "is_not_null": lambda n, a: pc.is_valid(a[0]),
    "is_nan": lambda n, a: pc.is_nan(a[0]),
    "fill_null": _coalesce,
    "coalesce": _coalesce,
    "is_in": lambda n, a: _is_in(n, a[0]),
    "abs": lambda n, a: pc.abs(a[0]),
    "round": lambda n, a: _round(n, a[0]),
    "str_len": lambda n, a: pc.utf8_length(a[0]).cast(pa.int64()),
    "str_lower": lambda n, a: pc.utf8_lower(a[0]),
    "str_upper": lambda n, a: pc.utf8_upper(a[0]),
    "str_strip": lambda n, a: pc.utf8_trim(a[0], characters=ASCII_WHITESPACE),
    "str_contains": lambda n, a: pc.match_substring(a[0], pattern=n.params[0]),
    "str_starts_with": lambda n, a: pc.starts_with(a[0], pattern=n.params[0]),
    "str_ends_with": lambda n, a: pc.ends_with(a[0], pattern=n.params[0]),
    "str_like": lambda n, a: pc.match_like(a[0], pattern=n.params[0]),
    "str_slice": lambda n, a: _str_slice(n, a[0]),
    "str_replace": lambda n, a: pc.replace_substring(a[0], pattern=n.params[0], replacement=n.params[1]),
    "concat_str": lambda n, a: pc.binary_join_element_wise(
        *[_cast(x, pa.large_string()) for x in a], pa.scalar(n.params[0], pa.large_string()),
        null_handling="emit_null"),
    "dt_year": _part(pc.year),
    "dt_month": _part(pc.month),
    "dt_day": _part(pc.day),
    "dt_hour": _part(pc.hour),
    "dt_minute": _part(pc.minute),
    "dt_second": _part(pc.second),
    "dt_weekday": _part(lambda x: pc.day_of_week(x, count_from_zero=False, week_start=1)),
    "dt_truncate": lambda n, a: _dt_truncate(n, a[0]),
}

_NULLABLE_FUNCTIONS = {"is_null", "is_not_null", "fill_null", "coalesce", "is_in"}


@_eval.register
def _(node: ex.Call, ctx: _Context) -> Value:
    args = [_eval(a, ctx) for a in node.args]
    assert node.dtype is not None
    if node.name not in _NULLABLE_FUNCTIONS and any(pa.types.is_null(a.type) for a in args):
        return _null_of(node.dtype)  # a function of a null-typed input is null
    if node.name.startswith("str_") or node.name == "concat_str":
        args = [_cast(a, pa.large_string()) for a in args]
    return FUNCTIONS[node.name](node, args)


def scalar_value(value: Any, dtype: pa.DataType) -> pa.Scalar:
    """A Python value as an Arrow scalar of ``dtype`` (``None`` gives a typed null)."""
    return _null_of(dtype) if value is None else pa.scalar(value, type=dtype)
