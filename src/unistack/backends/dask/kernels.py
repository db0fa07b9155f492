"""Vectorised column kernels run inside Dask partitions.

The Dask translator composes row-level expressions from these functions over a partition's Arrow arrays
(pyarrow.compute and numpy), applied by ``dask.dataframe.map_partitions``. None loops over rows in Python.
"""

from __future__ import annotations

import contextlib
import contextvars
import decimal
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from unistack.backends.base import widening_cast
from unistack.plan import types as t

ARRAYS = (pa.Array, pa.ChunkedArray)
ArrowValue = Any  # a pyarrow Array or Scalar (pyarrow ships no precise stubs)


def to_arrow(series: pd.Series, combine: bool = True) -> Any:
    """The Arrow data behind a pandas Series (zero-copy for ``pd.ArrowDtype`` columns); with
    ``combine=False`` a column of several chunks stays a ChunkedArray (no copy)."""
    arr = series.array
    if isinstance(series.dtype, pd.ArrowDtype):
        data = arr._pa_array
        if not combine and isinstance(data, pa.ChunkedArray) and data.num_chunks > 1:
            return data
        return data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data
    out = pa.array(series, from_pandas=True)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def to_series(arr: pa.Array | pa.ChunkedArray, index: pd.Index, name: Any = None) -> pd.Series:
    """A pandas Series with ``pd.ArrowDtype`` holding ``arr``."""
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=index, name=name, copy=False)


def broadcast(value: pa.Scalar, n: int) -> pa.Array:
    """``n`` copies of a scalar, as an array (vectorised)."""
    if not value.is_valid:
        return pa.nulls(n, value.type)
    return pa.array([value.as_py()], type=value.type).take(pa.array(np.zeros(n, dtype=np.int64)))


def empty_series(dtype: pa.DataType, name: Any = None) -> pd.Series:
    return to_series(pa.array([], type=dtype), pd.RangeIndex(0), name)


def empty_frame(schema: pa.Schema) -> pd.DataFrame:
    return pa.table({f.name: pa.array([], type=f.type) for f in schema}).to_pandas(types_mapper=pd.ArrowDtype)


_CAST_CACHE: contextvars.ContextVar[dict[tuple[int, pa.DataType], tuple[Any, Any]] | None] = contextvars.ContextVar(
    "unistack_dask_cast_cache", default=None)


@contextlib.contextmanager
def cast_cache() -> Iterator[None]:
    """Within one partition's evaluation, cast each array to a given type once (``a >= 0.05 & a <= 0.07``
    on a decimal column casts it to float64 once, not twice)."""
    token = _CAST_CACHE.set({})
    try:
        yield
    finally:
        _CAST_CACHE.reset(token)


def cast_value(value: Any, dtype: pa.DataType) -> Any:
    """Cast an Arrow array or scalar to ``dtype`` (no-op when it already has it)."""
    if value.type == dtype:
        return value
    if pa.types.is_null(value.type):
        return pa.nulls(len(value), dtype) if isinstance(value, ARRAYS) else pa.scalar(None, dtype)
    cache = _CAST_CACHE.get() if isinstance(value, ARRAYS) else None
    if cache is None:
        return widening_cast(value, dtype)
    key = (id(value), dtype)
    hit = cache.get(key)
    if hit is not None and hit[0] is value:
        return hit[1]
    out = widening_cast(value, dtype)
    cache[key] = (value, out)  # keeps ``value`` alive, so its id is not reused during the evaluation
    return out


def length_of(*args: ArrowValue) -> int | None:
    return next((len(a) for a in args if isinstance(a, ARRAYS)), None)


def null_where(mask: ArrowValue, value: ArrowValue) -> ArrowValue:
    """``value`` with null where ``mask`` is true (mask nulls count as false)."""
    mask = pc.fill_null(mask, False)
    return pc.if_else(mask, pa.scalar(None, value.type), value)


# -- casts: a value that cannot be converted becomes null --------------------------------------------------

_INT_RE = r"^[+-]?[0-9]{1,18}$"
_FLOAT_RE = r"(?i)^[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(e[+-]?[0-9]+)?|inf|infinity|nan)$"
_BOOL_TRUE = ("true",)
_BOOL_FALSE = ("false",)


def _int_bounds(dtype: pa.DataType) -> tuple[int, int]:
    info = np.iinfo(dtype.to_pandas_dtype())
    return int(info.min), int(info.max)


def safe_cast(x: ArrowValue, to: pa.DataType) -> ArrowValue:
    """Cast with the plan's rules: values that fail or do not fit become null; floats truncate to ints.

    Examples
    --------
    >>> safe_cast(pa.array(["12", "+4", "abc", "1e3"]), pa.int64()).to_pylist()
    [12, 4, None, None]
    >>> safe_cast(pa.array([2.7, -2.7, 300.0]), pa.int8()).to_pylist()
    [2, -2, None]
    """
    src = x.type
    if src == to:
        return x
    if pa.types.is_null(src):
        return cast_value(x, to)
    if t.is_string(src) and (pa.types.is_integer(to) or pa.types.is_floating(to) or pa.types.is_decimal(to)):
        # Arrow's number parser refuses a leading '+', which the plan accepts
        text = pc.replace_substring_regex(x, r"^\+", "")
        if pa.types.is_integer(to):
            ok = pc.match_substring_regex(text, _INT_RE)
            as_int = pc.cast(null_where(pc.invert(ok), text), pa.int64())
            return safe_cast(as_int, to)
        ok = pc.match_substring_regex(text, _FLOAT_RE)
        as_float = pc.cast(null_where(pc.invert(ok), text), pa.float64())
        return safe_cast(as_float, to) if not pa.types.is_float64(to) else as_float
    if t.is_string(src) and pa.types.is_boolean(to):
        low = pc.utf8_lower(x)
        is_true = pc.is_in(low, value_set=pa.array(_BOOL_TRUE))
        is_false = pc.is_in(low, value_set=pa.array(_BOOL_FALSE))
        return null_where(pc.invert(pc.or_(is_true, is_false)), is_true)
    if t.is_string(src) and t.is_temporal(to):
        return _parse_temporal(x, to)
    if pa.types.is_floating(src) and pa.types.is_integer(to):
        lo, hi = _int_bounds(to)
        ok = pc.and_(pc.and_(pc.greater_equal(x, float(lo)), pc.less_equal(x, float(hi))), pc.invert(pc.is_nan(x)))
        # float(hi) rounds up for 64-bit types; the largest exact double below 2**63 is safe
        if to.bit_width == 64:
            ok = pc.and_(ok, pc.less(x, float(2**63 if pa.types.is_signed_integer(to) else 2**64)))
        truncated = pc.trunc(null_where(pc.invert(ok), x))
        return pc.cast(truncated, to, safe=False)
    if pa.types.is_integer(src) and pa.types.is_integer(to):
        lo, hi = _int_bounds(to)
        slo, shi = _int_bounds(src)
        conds = []
        if slo < lo:
            conds.append(pc.less(x, pa.scalar(lo, src)))
        if shi > hi:
            conds.append(pc.greater(x, pa.scalar(hi, src)))
        for c in conds:
            x = null_where(c, x)
        return pc.cast(x, to, safe=False)
    if pa.types.is_decimal(to) and (pa.types.is_floating(src) or pa.types.is_decimal(src) or pa.types.is_integer(src)):
        digits = to.precision - to.scale
        limit = 10.0**digits
        as_float = pc.cast(x, pa.float64()) if not pa.types.is_floating(src) else x
        ok = pc.and_(pc.less(pc.abs(as_float), limit), pc.invert(pc.is_nan(as_float))) if pa.types.is_floating(
            src) else pc.less(pc.abs(as_float), limit)
        x = null_where(pc.invert(ok), x)
        if pa.types.is_floating(src):
            x = pc.round(x, to.scale, round_mode="half_towards_infinity")
        elif pa.types.is_integer(src):
            # Arrow wants a decimal wide enough for every value of the integer type first
            x = pc.cast(x, pa.decimal128(min(t.decimal_integer_digits(src) + to.scale, 38), to.scale))
        return pc.cast(x, to, safe=False)
    if pa.types.is_decimal(src) and pa.types.is_integer(to):
        return _decimal_to_int(x, to)
    try:
        return pc.cast(x, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pc.cast(x, to, safe=False)


def _decimal_to_int(x: ArrowValue, to: pa.DataType) -> ArrowValue:
    lo, hi = _int_bounds(to)
    as_dec0 = pc.cast(pc.trunc(x), pa.decimal128(38, 0), safe=False)
    lo_s, hi_s = pa.scalar(lo).cast(pa.decimal128(38, 0)), pa.scalar(hi).cast(pa.decimal128(38, 0))
    fits = pc.and_(pc.greater_equal(as_dec0, lo_s), pc.less_equal(as_dec0, hi_s))
    return pc.cast(null_where(pc.invert(fits), as_dec0), to, safe=False)


_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_DATE_RE = f"^{_DATE}$"
_TIMESTAMP_RE = (f"^{_DATE}" + r"([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?)?"
                 r"(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?$")
_ZONE_RE = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
_FRACTION_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _valid_day(text: pa.Array) -> pa.Array:
    """Whether ``YYYY-MM-DD...`` text names a real day (Feb 29 only in leap years)."""
    def part(start: int, stop: int, fill: str) -> np.ndarray:
        piece = pc.fill_null(pc.utf8_slice_codeunits(text, start, stop), fill)
        return pc.cast(piece, pa.int64()).to_numpy(zero_copy_only=False)

    year, month, day = part(0, 4, "2000"), part(5, 7, "01"), part(8, 10, "01")
    month = np.clip(month, 0, 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    limit = _DAYS_IN_MONTH[month] + ((month == 2) & leap)
    return pa.array((day >= 1) & (day <= limit))


def _parse_temporal(x: ArrowValue, to: pa.DataType) -> ArrowValue:
    """ISO 8601 text to a date/timestamp; text that is not a valid date or time (e.g. 2023-02-29, month 13)
    becomes null. Text without an offset is UTC for a zone-aware type; an offset is applied."""
    text = x
    ok = pc.match_substring_regex(text, _DATE_RE if pa.types.is_date(to) else _TIMESTAMP_RE)
    text = null_where(pc.invert(ok), text)
    text = null_where(pc.invert(_valid_day(text)), text)
    unit = to.unit if pa.types.is_timestamp(to) else "s"
    digits = _FRACTION_DIGITS[unit]
    text = pc.replace_substring_regex(text, rf"\.([0-9]{{{digits}}})[0-9]*" if digits else r"\.[0-9]*",
                                      r".\1" if digits else "")
    zoned = pc.fill_null(pc.match_substring_regex(text, _ZONE_RE), False)
    naive = pc.cast(null_where(zoned, text), pa.timestamp(unit))
    aware = pc.cast(null_where(pc.invert(zoned), text), pa.timestamp(unit, "UTC"))
    parsed = pc.if_else(zoned, aware.cast(pa.timestamp(unit)), naive)
    if pa.types.is_date(to):
        return parsed.cast(pa.date32())
    return parsed.cast(pa.timestamp(unit, "UTC")).cast(to) if to.tz is not None else parsed


# -- arithmetic -----------------------------------------------------------------------------------------------


def _numpy_filled(x: ArrowValue, fill: Any, n: int) -> np.ndarray:
    if isinstance(x, pa.Scalar):
        v = x.as_py()
        return np.full(n, fill if v is None else v, dtype=x.type.to_pandas_dtype())
    return pc.fill_null(x, pa.scalar(fill, x.type)).to_numpy(zero_copy_only=False)


def _valid(x: ArrowValue, n: int) -> np.ndarray:
    if isinstance(x, pa.Scalar):
        return np.full(n, x.is_valid)
    return pc.is_valid(x).to_numpy(zero_copy_only=False)


def floor_div_mod(a: ArrowValue, b: ArrowValue, dtype: pa.DataType, op: str) -> ArrowValue:
    """``a // b`` or ``a % b`` with floor semantics and null on division by zero (ints, floats, decimals).

    Examples
    --------
    >>> floor_div_mod(pa.array([-7, 7, 1]), pa.array([2, -2, 0]), pa.int64(), "%").to_pylist()
    [1, -1, None]
    """
    n = length_of(a, b)
    if n is None:
        out = floor_div_mod(pa.array([a.as_py()], a.type), pa.array([b.as_py()], b.type), dtype, op)
        return out[0]
    if pa.types.is_decimal(dtype):
        return _decimal_div_mod(a, b, dtype, op)
    np_type = dtype.to_pandas_dtype()
    av = _numpy_filled(a, 0, n).astype(np_type, copy=False)
    bv = _numpy_filled(b, 1, n).astype(np_type, copy=False)
    valid = _valid(a, n) & _valid(b, n) & (bv != 0)
    bv = np.where(bv == 0, np.ones(1, dtype=np_type), bv)
    with np.errstate(all="ignore"):
        res = np.floor_divide(av, bv) if op == "//" else np.mod(av, bv)
    return pa.array(res, type=dtype, mask=~valid)


def unscaled(x: ArrowValue, scale: int) -> ArrowValue:
    """A decimal's value times 10**scale as int64 (needs at most 18 digits)."""
    factor = pa.scalar(decimal.Decimal(10**scale), pa.decimal128(scale + 1, 0))
    return pc.cast(pc.multiply(pc.cast(x, pa.decimal128(18, x.type.scale), safe=False), factor), pa.int64())


def _decimal_div_mod(a: ArrowValue, b: ArrowValue, dtype: pa.DataType, op: str) -> ArrowValue:
    """Exact floor division/modulo of decimals through their unscaled integers (precision up to 18)."""
    scale = max(a.type.scale, b.type.scale)
    if max(a.type.precision - a.type.scale, b.type.precision - b.type.scale) + scale > 18:
        af, bf = cast_value(a, pa.float64()), cast_value(b, pa.float64())
        res = floor_div_mod(af, bf, pa.float64(), op)
        return safe_cast(res, dtype)
    au, bu = unscaled(a, scale), unscaled(b, scale)
    res = floor_div_mod(au, bu, pa.int64(), op)
    if op == "//":
        return pc.cast(pc.cast(res, pa.decimal128(19, 0)), dtype, safe=False)
    return from_unscaled(res, scale, dtype)


def from_unscaled(x: ArrowValue, scale: int, dtype: pa.DataType) -> ArrowValue:
    unit = pa.scalar(decimal.Decimal(1).scaleb(-scale), pa.decimal128(max(scale, 1), scale))
    return pc.cast(pc.multiply(pc.cast(x, pa.decimal128(19, 0)), unit), dtype, safe=False)


def true_divide(a: ArrowValue, b: ArrowValue) -> ArrowValue:
    a, b = cast_value(a, pa.float64()), cast_value(b, pa.float64())
    zero = pc.equal(b, 0.0)
    return null_where(zero, pc.divide(a, null_where(zero, b)))

