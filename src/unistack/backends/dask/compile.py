"""Plan -> ``dask.dataframe``: one translation per node type and per expression type.

Columns are ``pd.ArrowDtype`` throughout, so null and NaN stay distinct. Plan nodes become Dask's own
operations (readers, ``merge``, ``groupby().agg``, ``sort_values``, ``shuffle``, ``drop_duplicates``,
``concat``, ``head``); row-level expressions are composed into :class:`PExpr` trees (pyarrow.compute
over each partition's Arrow arrays) and applied with one ``map_partitions`` step per projection.
The semantics of docs/semantics.md are enforced here, never by post-processing rows on the driver.
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
import io
import itertools
import math
import uuid
from collections.abc import Callable, Sequence
from functools import singledispatch
from typing import Any, ClassVar

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dask.dataframe.io.parquet.arrow import ArrowDatasetEngine

from unistack.backends.base import apply_batch_function, canonical_batch, translator_operations
from unistack.backends.dask import kernels as k
from unistack.backends.dask.kernels import cast_value, null_where, safe_cast
from unistack.backends.dask.session import get_session
from unistack.backends.persist import persisted_object
from unistack.config import get_option
from unistack.errors import DataSourceError, UnsupportedOperationError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan import types as t
from unistack.plan.nullability import never_null, nonnull_columns
from unistack.plan.types import canonical_schema

ENGINE = "dask"


class _Step:
    """Base of the functions this translator hands to ``map_partitions``: each instance has its own Dask
    token, so Dask never pickles closures and Arrow scalars just to name a task."""

    _token: str | None = None

    def __dask_tokenize__(self) -> str:
        if self._token is None:
            self._token = f"{type(self).__name__}-{uuid.uuid4().hex}"
        return self._token


@dataclasses.dataclass(frozen=True, eq=False)
class PExpr:
    """A row-level expression over the columns of a partition, evaluated with pyarrow.compute.

    Expressions are composed at translation time and turned into Dask operations only where a column is
    needed (:func:`assign`, :func:`series`, :func:`frame_of`), so a whole ``select`` is one fused
    ``map_partitions`` step in Dask's plan instead of one step per operator.
    """

    cols: tuple[str, ...]
    fn: Callable[[dict[str, pa.Array]], Any]
    dtype: pa.DataType | None
    label: str
    column: str | None = None
    const: pa.Scalar | None = None


def col_x(name: str, dtype: pa.DataType | None = None) -> PExpr:
    """A column of the frame."""
    return PExpr((name,), lambda arrays: arrays[name], dtype, name, column=name)


def const_x(value: pa.Scalar) -> PExpr:
    """A constant (broadcast to every row where it becomes a column)."""
    return PExpr((), lambda arrays: value, value.type, str(value), const=value)


def ew(name: str, fn: Callable[..., Any], args: Sequence[PExpr], dtype: pa.DataType) -> PExpr:
    """An element-wise Arrow function of other expressions (computed now when every input is constant)."""
    if args and all(a.const is not None for a in args):
        return const_x(cast_value(fn(*[a.const for a in args]), dtype))
    cols = tuple(dict.fromkeys(c for a in args for c in a.cols))
    fns = [a.fn for a in args]

    def run(arrays: dict[str, pa.Array]) -> Any:
        return cast_value(fn(*[f(arrays) for f in fns]), dtype)

    label = f"{name}({', '.join(a.label for a in args)})"
    return PExpr(cols, run, dtype, label if len(label) <= 80 else label[:77] + "...")


class Evaluate(_Step):
    """Computes expressions over one partition: the ``map_partitions`` function of every projection."""

    def __init__(self, outputs: Sequence[tuple[str, PExpr]], keep: Sequence[str] = ()) -> None:
        self.outputs, self.keep = list(outputs), list(keep)

    def __repr__(self) -> str:
        text = ", ".join(f"{n}={e.label}" for n, e in self.outputs)
        return f"evaluate[{text if len(text) <= 200 else text[:197] + '...'}]"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        n = len(pdf)
        arrays = _LazyArrays(pdf)
        out: dict[str, pd.Series] = {c: pdf[c] for c in self.keep}
        with k.cast_cache():
            values = [e.fn(arrays) for _, e in self.outputs]
        for (name, e), value in zip(self.outputs, values):
            if isinstance(value, pa.Scalar):
                value = k.broadcast(value, n)
            if e.dtype is not None:
                value = cast_value(value, e.dtype)
            out[name] = k.to_series(value, pdf.index)
        return pd.DataFrame(out, index=pdf.index)


class _LazyArrays(dict):
    """Arrow arrays of a partition's columns, converted on first use."""

    def __init__(self, pdf: pd.DataFrame) -> None:
        super().__init__()
        self.pdf = pdf

    def __missing__(self, name: str) -> pa.Array:
        arr = k.to_arrow(self.pdf[name], combine=False)
        self[name] = arr
        return arr


def _meta_dtype(df: dd.DataFrame, name: str) -> pd.api.extensions.ExtensionDtype | Any:
    return df._meta[name].dtype


def assign(df: dd.DataFrame, columns: dict[str, PExpr]) -> dd.DataFrame:
    """``df`` with more columns computed from expressions (one Dask step)."""
    if not columns:
        return df
    meta = df._meta.assign(**{n: k.empty_series(e.dtype) for n, e in columns.items()})
    return df.map_partitions(Evaluate(list(columns.items()), [c for c in df.columns if c not in columns]),
                             meta=meta, enforce_metadata=False)


def series(df: dd.DataFrame, e: PExpr) -> dd.Series:
    """One expression as a Dask series aligned with ``df``."""
    if e.column is not None:
        return df[e.column]
    return frame_of(df, [e], ["__us_t"])["__us_t"]


def frame_of(df: dd.DataFrame, values: Sequence[PExpr], names: Sequence[str]) -> dd.DataFrame:
    """A frame whose columns are ``values`` (expressions over ``df``) named ``names`` (one Dask step).

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd, pyarrow as pa, pyarrow.compute as pc
    >>> df = dd.from_pandas(pd.DataFrame({"a": pd.array([1, 2], dtype="int64[pyarrow]")}), npartitions=1)
    >>> doubled = ew("double", lambda x: pc.multiply(x, 2), [col_x("a")], pa.int64())
    >>> frame_of(df, [col_x("a"), doubled], ["a", "b"]).compute(scheduler="sync")["b"].tolist()
    [2, 4]
    """
    direct = [v.column for v in values]
    if all(d is not None for d in direct) and len(set(direct)) == len(direct):
        out = df[list(direct)]
        rename = {d: n for d, n in zip(direct, names) if d != n}
        return out.rename(columns=rename) if rename else out
    needed = list(dict.fromkeys(c for v in values for c in v.cols)) or list(df.columns[:1])
    meta = k.empty_frame(pa.schema([pa.field(n, v.dtype if v.dtype is not None else pa.null())
                                    for n, v in zip(names, values)]))
    base = df[needed] if needed else df
    return base.map_partitions(Evaluate(list(zip(names, values))), meta=meta, enforce_metadata=False)


# -- expressions ------------------------------------------------------------------------------------------


@singledispatch
def compile_expr(node: ex.ExprNode, df: dd.DataFrame) -> PExpr:
    raise NotImplementedError(type(node).__name__)


@compile_expr.register
def _(node: ex.Column, df: dd.DataFrame) -> PExpr:
    return col_x(node.name, node.dtype)


@compile_expr.register
def _(node: ex.Literal, df: dd.DataFrame) -> PExpr:
    assert node.dtype is not None
    if node.value is None:
        return const_x(pa.scalar(None, node.dtype))
    return const_x(t.literal_scalar(node.value, node.dtype))


@compile_expr.register
def _(node: ex.Alias, df: dd.DataFrame) -> PExpr:
    return compile_expr(node.operand, df)


@compile_expr.register
def _(node: ex.Cast, df: dd.DataFrame) -> PExpr:
    to = node.to
    return ew(f"cast[{to}]", lambda x: safe_cast(x, to), [compile_expr(node.operand, df)], to)


@compile_expr.register
def _(node: ex.UnaryOp, df: dd.DataFrame) -> PExpr:
    assert node.dtype is not None
    x = compile_expr(node.operand, df)
    if node.op == "not":
        return ew("not", lambda a: pc.invert(cast_value(a, pa.bool_())), [x], pa.bool_())
    dtype = node.dtype
    return ew("neg", lambda a: pc.negate(cast_value(a, dtype)), [x], dtype)


_COMPARE = {"==": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater,
            ">=": pc.greater_equal}
_ARITH = {"+": pc.add, "-": pc.subtract, "*": pc.multiply}


def _decimal_operand(x: Any) -> Any:
    """Integers meet decimals as decimals of scale 0 (Arrow's decimal kernels need two decimals)."""
    if pa.types.is_integer(x.type):
        return x.cast(pa.decimal128(t.decimal_integer_digits(x.type), 0))
    if pa.types.is_boolean(x.type):
        return x.cast(pa.int64()).cast(pa.decimal128(19, 0))
    if pa.types.is_null(x.type):
        return cast_value(x, pa.decimal128(1, 0))
    return x


def _narrow(x: Any, integer_digits: int) -> Any:
    """``x`` as a decimal with at most ``integer_digits`` digits before the point (a value that does not
    fit raises, it is never altered)."""
    if not pa.types.is_decimal(x.type) or x.type.precision - x.type.scale <= integer_digits:
        return x
    return x.cast(pa.decimal128(max(integer_digits, 1) + x.type.scale, x.type.scale))


def _fit_decimals(a: Any, b: Any, op: str) -> tuple[Any, Any]:
    """Arrow's decimal kernels refuse results wider than 38 digits even when the values are small; the
    plan caps the result at 38 digits, so the operands' declared integer digits are reduced to fit."""
    if not (pa.types.is_decimal(a.type) and pa.types.is_decimal(b.type)):
        return a, b
    (pa_, sa), (pb, sb) = (a.type.precision, a.type.scale), (b.type.precision, b.type.scale)
    if op == "*":
        ia, ib = pa_ - sa, pb - sb
        room = t.MAX_DECIMAL_PRECISION - 1 - sa - sb  # integer digits both operands may share
        if ia + ib > room:
            # the wider operand gives up digits first
            if ia >= ib:
                ia = min(ia, max(room - ib, room // 2))
                ib = min(ib, room - ia)
            else:
                ib = min(ib, max(room - ia, room // 2))
                ia = min(ia, room - ib)
            a, b = _narrow(a, ia), _narrow(b, ib)
        return a, b
    digits, scale = max(pa_ - sa, pb - sb), max(sa, sb)
    excess = digits + scale + 1 - t.MAX_DECIMAL_PRECISION
    if excess > 0:
        a, b = _narrow(a, digits - excess), _narrow(b, digits - excess)
    return a, b


def _arith(op: str, out: pa.DataType) -> Callable[[Any, Any], Any]:
    if op == "/":
        return k.true_divide
    if op == "**":
        return lambda a, b: pc.power(cast_value(a, pa.float64()), cast_value(b, pa.float64()))
    if pa.types.is_decimal(out):
        if op in ("//", "%"):
            return lambda a, b: k.floor_div_mod(_decimal_operand(a), _decimal_operand(b), out, op)

        def dec(a: Any, b: Any, fn: Callable[..., Any] = _ARITH[op]) -> Any:
            a, b = _fit_decimals(_decimal_operand(a), _decimal_operand(b), op)
            return pc.cast(fn(a, b), out, safe=False)

        return dec
    if op in ("//", "%"):
        return lambda a, b: k.floor_div_mod(cast_value(a, out), cast_value(b, out), out, op)
    fn = _ARITH[op]
    return lambda a, b: fn(cast_value(a, out), cast_value(b, out))


def _float_compare(op: str, common: pa.DataType) -> Callable[[Any, Any], Any]:
    """Comparisons of floats where NaN equals NaN and is above every number (nulls still give null)."""

    def eq(a: Any, b: Any) -> Any:
        return pc.or_(pc.equal(a, b), pc.and_(pc.is_nan(a), pc.is_nan(b)))

    def lt(a: Any, b: Any) -> Any:
        return pc.or_(pc.less(a, b), pc.and_(pc.invert(pc.is_nan(a)), pc.is_nan(b)))

    fns: dict[str, Callable[[Any, Any], Any]] = {
        "==": eq, "!=": lambda a, b: pc.invert(eq(a, b)), "<": lt, "<=": lambda a, b: pc.or_(lt(a, b), eq(a, b)),
        ">": lambda a, b: lt(b, a), ">=": lambda a, b: pc.or_(lt(b, a), eq(a, b)),
    }
    fn = fns[op]
    return lambda a, b: fn(cast_value(a, common), cast_value(b, common))


@compile_expr.register
def _(node: ex.BinaryOp, df: dd.DataFrame) -> PExpr:
    left, right = compile_expr(node.left, df), compile_expr(node.right, df)
    op = node.op
    lt, rt = node.left.dtype, node.right.dtype
    assert lt is not None and rt is not None and node.dtype is not None
    if op in ex.BOOLEAN_OPS:
        fn = pc.and_kleene if op == "&" else pc.or_kleene
        return ew(op, lambda a, b: fn(cast_value(a, pa.bool_()), cast_value(b, pa.bool_())), [left, right],
                  pa.bool_())
    if op in ex.COMPARISON_OPS:
        common = t.supertype(lt, rt)
        cmp = _COMPARE[op]
        if t.is_null(common):
            return ew(op, lambda a, b: pa.scalar(None, pa.bool_()), [left, right], pa.bool_())

        if pa.types.is_floating(common) and (ex.may_be_nan(node.left) or ex.may_be_nan(node.right)):
            return ew(op, _float_compare(op, common), [left, right], pa.bool_())

        def compare(a: Any, b: Any) -> Any:
            return cmp(cast_value(a, common), cast_value(b, common))

        return ew(op, compare, [left, right], pa.bool_())
    return ew(op, _arith(op, node.dtype), [left, right], node.dtype)


@compile_expr.register
def _(node: ex.Case, df: dd.DataFrame) -> PExpr:
    assert node.dtype is not None
    dtype = node.dtype
    args: list[PExpr] = []
    for cond, value in node.branches:
        args += [compile_expr(cond, df), compile_expr(value, df)]
    args.append(compile_expr(node.otherwise, df))

    def case(*vals: Any) -> Any:
        out = cast_value(vals[-1], dtype)
        for i in range(len(vals) // 2 - 1, -1, -1):
            cond = pc.fill_null(cast_value(vals[2 * i], pa.bool_()), False)
            out = pc.if_else(cond, cast_value(vals[2 * i + 1], dtype), out)
        return out

    return ew("case", case, args, dtype)


_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"


def _is_in(node: ex.Call) -> Callable[[Any], Any]:
    values = [v for v in node.params[0] if v is not None]
    arg_type = node.args[0].dtype
    assert arg_type is not None
    common = arg_type
    for v in values:
        common = t.supertype(common, t.literal_type(v))
    value_set = pa.array(values, type=common) if values else None
    # Arrow's is_in hashes -0.0 and 0.0 apart; they are equal (x + 0.0 turns -0.0 into 0.0)
    plus_zero = _plus_zero(common) if pa.types.is_floating(common) else (lambda v: v)
    if value_set is not None:
        value_set = plus_zero(value_set)

    def is_in(x: Any) -> Any:
        x = plus_zero(cast_value(x, common))
        member = pc.and_(pc.is_valid(x), pa.scalar(False)) if value_set is None else pc.is_in(
            x, value_set=value_set)
        return null_where(pc.is_null(x), member)

    return is_in


def _round(node: ex.Call) -> Callable[[Any], Any]:
    n = node.params[0]
    if pa.types.is_integer(node.dtype) or t.is_null(node.dtype):
        return lambda x: x
    return lambda x: pc.round(x, n, round_mode="half_towards_infinity")


def _str_slice(node: ex.Call) -> Callable[[Any], Any]:
    offset, length = node.params
    big = 2**62
    # a negative offset with a length reaching past the end runs to the end of the string
    stop = big if length is None or (offset < 0 and offset + length >= 0) else offset + length
    return lambda x: pc.utf8_slice_codeunits(x, start=offset, stop=stop)


def _part(fn: Callable[[Any], Any]) -> Callable[[ex.Call], Callable[[Any], Any]]:
    return lambda n: (lambda x: pc.cast(fn(x), pa.int32()))


def _concat_str(node: ex.Call) -> Callable[..., Any]:
    sep = node.params[0]
    sep_scalar = pa.scalar(sep, t.STRING)
    return lambda *xs: pc.binary_join_element_wise(*[cast_value(x, t.STRING) for x in xs], sep_scalar)


def _coalesce(node: ex.Call) -> Callable[..., Any]:
    dtype = node.dtype
    return lambda *xs: pc.coalesce(*[cast_value(x, dtype) for x in xs])


FUNCTIONS: dict[str, Callable[[ex.Call], Callable[..., Any]]] = {
    "is_null": lambda n: lambda x: pc.is_null(x),
    "is_not_null": lambda n: lambda x: pc.is_valid(x),
    "is_nan": lambda n: lambda x: pc.is_nan(x) if not pa.types.is_null(x.type) else cast_value(x, pa.bool_()),
    "fill_null": _coalesce,
    "coalesce": _coalesce,
    "is_in": _is_in,
    "abs": lambda n: lambda x: pc.abs(x),
    "round": _round,
    "str_len": lambda n: lambda x: pc.cast(pc.utf8_length(x), pa.int64()),
    "str_lower": lambda n: lambda x: pc.utf8_lower(x),
    "str_upper": lambda n: lambda x: pc.utf8_upper(x),
    "str_strip": lambda n: lambda x: pc.utf8_trim(x, characters=_ASCII_WHITESPACE),
    "str_contains": lambda n: lambda x: pc.match_substring(x, n.params[0]),
    "str_starts_with": lambda n: lambda x: pc.starts_with(x, n.params[0]),
    "str_ends_with": lambda n: lambda x: pc.ends_with(x, n.params[0]),
    "str_like": lambda n: lambda x: pc.match_like(x, n.params[0]),
    "str_slice": _str_slice,
    "str_replace": lambda n: lambda x: pc.replace_substring(x, n.params[0], n.params[1]),
    "concat_str": _concat_str,
    "dt_year": _part(pc.year),
    "dt_month": _part(pc.month),
    "dt_day": _part(pc.day),
    "dt_hour": _part(pc.hour),
    "dt_minute": _part(pc.minute),
    "dt_second": _part(pc.second),
    "dt_weekday": _part(lambda x: pc.day_of_week(x, count_from_zero=False, week_start=1)),
    "dt_truncate": lambda n: lambda x: pc.floor_temporal(x, 1, n.params[0], week_starts_monday=True),
}


@compile_expr.register
def _(node: ex.Call, df: dd.DataFrame) -> PExpr:
    assert node.dtype is not None
    args = [compile_expr(a, df) for a in node.args]
    return ew(node.name, FUNCTIONS[node.name](node), args, node.dtype)


@compile_expr.register
def _(node: ex.Over, df: dd.DataFrame) -> PExpr:
    raise AssertionError("windows are computed by the Project translation")  # pragma: no cover


@compile_expr.register
def _(node: ex.Agg, df: dd.DataFrame) -> PExpr:
    raise AssertionError("aggregates are computed by the Aggregate translation")  # pragma: no cover


# -- keys: null-safe encoding -------------------------------------------------------------------------------


def _fill_value(dtype: pa.DataType) -> pa.Scalar:
    if t.is_string(dtype):
        return pa.scalar("", dtype)
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return pa.scalar(b"", dtype)
    if pa.types.is_boolean(dtype):
        return pa.scalar(False)
    if pa.types.is_date(dtype):
        return pa.scalar(0, pa.int32()).cast(dtype)
    if pa.types.is_decimal(dtype):
        return pa.scalar(decimal.Decimal(0), dtype)
    return pa.scalar(0, pa.int64()).cast(dtype)


def _plus_zero(dtype: pa.DataType) -> Callable[[Any], Any]:
    """``x + 0.0``: turns -0.0 into 0.0 and keeps every other float (NaN and infinities too), since pandas
    and Arrow tell the two zeros apart when they group, deduplicate or merge, and SQL does not."""
    zero = pa.scalar(0.0, dtype)
    return lambda x: pc.add(x, zero)


def _key_value(dtype: pa.DataType) -> tuple[pa.DataType, Callable[[Any], Any]]:
    if t.is_null(dtype):
        return pa.int8(), lambda x: pa.scalar(0, pa.int8())
    fill = _fill_value(dtype)
    if pa.types.is_floating(dtype):
        plus_zero = _plus_zero(dtype)
        return dtype, lambda x: plus_zero(pc.fill_null(x, fill))
    return dtype, lambda x: pc.fill_null(x, fill)


def encode_keys(keys: Sequence[tuple[PExpr, pa.DataType]], prefix: str,
                never_null: Sequence[bool] = ()) -> dict[str, PExpr]:
    """Per key, a never-null value column and an is-null flag, so grouping, merging and shuffling on them
    treat all nulls as one key (and NaN as NaN) without relying on pandas' null handling. A key known to
    hold no nulls (``never_null``) is used as it is."""
    cols: dict[str, PExpr] = {}
    for i, (value, dtype) in enumerate(keys):
        if i < len(never_null) and never_null[i]:
            cols[f"{prefix}v{i}"] = (ew("key", _plus_zero(dtype), [value], dtype) if pa.types.is_floating(dtype)
                                     else value)
            continue
        vtype, fill = _key_value(dtype)
        cols[f"{prefix}v{i}"] = ew("key", fill, [value], vtype)
        cols[f"{prefix}n{i}"] = ew("key_null", lambda x: pc.is_null(x), [value], pa.bool_())
    return cols


def decode_key(value: pa.Array, is_null: pa.Array, dtype: pa.DataType) -> pa.Array:
    if t.is_null(dtype):
        return pa.nulls(len(value), dtype)
    return null_where(is_null, cast_value(value, dtype))


# -- aggregates ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _AggPlan:
    """The Dask named aggregations one plan aggregate needs, and how to finish it from their results."""

    specs: dict[str, tuple[str, str]]
    finish: Callable[[dict[str, pa.Array]], pa.Array]


def _plan_agg(j: int, node: ex.Agg, df: dd.DataFrame, inputs: dict[str, PExpr], count_col: str,
              nonnull: frozenset[str] = frozenset()) -> _AggPlan:
    out_type = node.dtype
    assert out_type is not None
    name = f"__us_a{j}"
    if node.func == "len":
        # one shared row count however many times count() appears (Dask refuses the same function on the
        # same column twice in one aggregation)
        return _AggPlan({"__us_size": (count_col, "size")},
                        lambda r: pc.cast(pc.fill_null(r["__us_size"], 0), pa.int64()))
    assert node.operand is not None and node.operand.dtype is not None
    in_type = node.operand.dtype
    x = compile_expr(node.operand, df)
    func = node.func
    if t.is_null(in_type):
        x, in_type = const_x(pa.scalar(None, pa.int64())), pa.int64()
    if func == "count":
        inputs[name] = x
        return _AggPlan({f"{name}_c": (name, "count")}, lambda r: pc.cast(pc.fill_null(r[f"{name}_c"], 0), pa.int64()))
    if func == "n_unique":
        inputs[name] = ew("key", _plus_zero(in_type), [x], in_type) if pa.types.is_floating(in_type) else x
        return _AggPlan({}, lambda r: pc.cast(pc.fill_null(r[f"{name}_nu"], 0), pa.int64()))
    if func in ("first", "last"):
        inputs[name] = x
        return _AggPlan({f"{name}_f": (name, func)}, lambda r: cast_value(r[f"{name}_f"], out_type))
    work_type = {"sum": out_type, "mean": pa.float64(), "std": pa.float64(), "var": pa.float64()}.get(func, in_type)
    if func == "sum" and pa.types.is_decimal(in_type):
        work_type = in_type  # pandas sums decimal(p, s) into decimal(38, s) itself: no cast of every row
    if pa.types.is_boolean(work_type) and func in ("min", "max"):
        work_type = pa.int8()
    # NaN can only come from float input; then NaN is tracked apart (pandas' reductions skip it). A float cast
    # from an exact number is finite and never NaN: no bookkeeping (std/var also track infinities)
    floating = (pa.types.is_floating(in_type) and pa.types.is_floating(work_type)
                and (ex.may_be_nan(node.operand) or func in ("std", "var")))
    if floating:
        # std/var with an infinity among two or more values are NaN (IEEE: inf - inf), but pandas gives null
        # for NaN results of Arrow columns: there infinities are tracked apart like NaN
        odd: Callable[[Any], Any] = ((lambda v: pc.invert(pc.is_finite(v))) if func in ("std", "var")
                                     else pc.is_nan)
        inputs[name] = ew("nan_to_null", lambda v: null_where(pc.fill_null(odd(v), False), cast_value(v, work_type)),
                          [x], work_type)
        inputs[f"{name}_isnan"] = ew("is_nan", lambda v: pc.cast(pc.fill_null(odd(
            cast_value(v, work_type)), False), pa.int64()), [x], pa.int64())
    else:
        inputs[name] = ew(f"as_{work_type}", lambda v: cast_value(v, work_type), [x], work_type)
    # pandas gives null for min/max/mean/var of a group without values, but 0 for its sum
    need_count = floating or (func == "sum" and not never_null(node.operand, nonnull))
    specs = {f"{name}_c": (name, "count")} if need_count else {}
    if floating:
        specs[f"{name}_nan"] = (f"{name}_isnan", "sum")
    dask_func = {"sum": "sum", "mean": "mean", "std": "var", "var": "var", "min": "min", "max": "max"}[func]
    specs[f"{name}_r"] = (name, dask_func)
    nan_value = pa.scalar(float("nan"), pa.float64())

    def finish(r: dict[str, pa.Array]) -> pa.Array:
        res = r[f"{name}_r"]
        count = pc.fill_null(r[f"{name}_c"], 0) if need_count else None
        if func in ("std", "var"):
            res = cast_value(res, pa.float64())
            res = null_where(pc.is_nan(res), res)
            if func == "std":
                res = pc.sqrt(res)
        res = cast_value(res, work_type) if not pa.types.is_integer(work_type) or func != "mean" else res
        if not floating:
            if count is not None:
                res = null_where(pc.equal(count, 0), res)
            return cast_value(res, out_type)
        nans = pc.fill_null(r[f"{name}_nan"], 0)
        any_nan = pc.greater(nans, 0)
        total = pc.add(count, nans)
        if func == "min":
            res = pc.if_else(pc.and_(pc.equal(count, 0), any_nan), nan_value.cast(work_type), res)
        elif func in ("std", "var"):
            res = null_where(pc.less(total, 2), pc.if_else(any_nan, nan_value.cast(work_type), res))
        else:
            res = pc.if_else(any_nan, nan_value.cast(work_type), null_where(pc.equal(count, 0), res))
        return cast_value(res, out_type)

    return _AggPlan(specs, finish)


class _Finish(_Step):
    """Turns a partition of Dask's grouped results into the plan's columns (keys decoded, aggregates exact)."""

    def __init__(self, key_types: list[pa.DataType], plans: list[_AggPlan], names: list[str],
                 keep_encoded: list[str] | None, one_row: bool = False) -> None:
        self.key_types, self.plans, self.names, self.keep_encoded = key_types, plans, names, keep_encoded
        self.one_row = one_row  # a global aggregate: one row even over no input rows

    def __repr__(self) -> str:
        return "finish_aggregates"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        cols = {c: k.to_arrow(pdf[c]) for c in pdf.columns}
        index = pdf.index
        if self.one_row and len(pdf) == 0:
            cols = {c: pa.nulls(1, a.type) for c, a in cols.items()}
            index = pd.RangeIndex(1)
        out: dict[str, pa.Array] = {}
        if self.keep_encoded is not None:
            for c in self.keep_encoded:
                out[c] = cols[c]
        else:
            for i, dtype in enumerate(self.key_types):
                value = cols[f"__us_kv{i}"]
                flag = cols.get(f"__us_kn{i}")
                out[self.names[i]] = cast_value(value, dtype) if flag is None else decode_key(value, flag, dtype)
        for plan, name in zip(self.plans, self.names[len(self.key_types):], strict=True):
            out[name] = plan.finish(cols)
        table = pa.table(out)
        return table.to_pandas(types_mapper=pd.ArrowDtype).set_axis(index)


_GLOBAL_FUNCS = ("count", "size", "sum", "min", "max", "mean", "first", "last")


def _arrow_type_of(df: dd.DataFrame, name: str) -> pa.DataType:
    dtype = df._meta[name].dtype
    return dtype.pyarrow_dtype if isinstance(dtype, pd.ArrowDtype) else pa.from_numpy_dtype(dtype)


def _global_type(func: str, dtype: pa.DataType) -> pa.DataType:
    if func in ("count", "size"):
        return pa.int64()
    if func == "mean":
        return pa.float64()
    if func == "sum":
        return pc.sum(pa.array([], dtype)).type
    return dtype


def _reduce(arr: Any, func: str) -> pa.Scalar:
    """One partial or final value of a global aggregate over an Arrow array."""
    if func == "count":
        return pc.count(arr)
    if func == "size":
        return pa.scalar(len(arr), pa.int64())
    if func == "sum":
        return pc.sum(arr)
    if func in ("min", "max"):
        return pc.min(arr) if func == "min" else pc.max(arr)
    valid = pc.drop_null(arr)
    if len(valid) == 0:
        return pa.scalar(None, arr.type)
    return valid[0] if func == "first" else valid[len(valid) - 1]


class _GlobalPartial(_Step):
    """Per partition: partial results of global aggregates, one row (means as a sum and a count)."""

    def __init__(self, specs: dict[str, tuple[str, str]]) -> None:
        self.specs = specs

    def __repr__(self) -> str:
        return "global_partials"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, pa.Array] = {}
        for name, (col, func) in self.specs.items():
            arr = k.to_arrow(pdf[col])
            if func == "mean":
                out[f"{name}__s"] = _one(pc.sum(cast_value(arr, pa.float64())))
                out[f"{name}__n"] = _one(pc.count(arr))
            else:
                out[name] = _one(_reduce(arr, func))
        return pa.table(out).to_pandas(types_mapper=pd.ArrowDtype)


class _GlobalCombine(_Step):
    """Combines partial rows (in partition order) into partial rows, or into the final values."""

    _MERGE: ClassVar[dict[str, str]] = {"count": "sum", "size": "sum", "sum": "sum", "min": "min", "max": "max",
                                        "first": "first", "last": "last"}

    def __init__(self, specs: dict[str, tuple[str, str]], final: bool) -> None:
        self.specs, self.final = specs, final

    def __repr__(self) -> str:
        return "global_aggregate" if self.final else "global_combine"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, pa.Array] = {}
        for name, (_, func) in self.specs.items():
            if func == "mean":
                total = pc.sum(k.to_arrow(pdf[f"{name}__s"]))
                count = pc.sum(k.to_arrow(pdf[f"{name}__n"]))
                if self.final:
                    n = count.as_py() or 0
                    out[name] = _one(pa.scalar(total.as_py() / n if n else None, pa.float64()))
                else:
                    out[f"{name}__s"], out[f"{name}__n"] = _one(total), _one(count)
            else:
                arr = k.to_arrow(pdf[name])
                value = _reduce(arr, self._MERGE[func])
                out[name] = _one(cast_value(value, pa.int64()) if func in ("count", "size") else value)
        return pa.table(out).to_pandas(types_mapper=pd.ArrowDtype)


def _one(value: pa.Scalar) -> pa.Array:
    return pa.array([value.as_py()], type=value.type)


def _collect_aggs(exprs: Sequence[ex.ExprNode]) -> tuple[list[ex.Agg], list[ex.ExprNode]]:
    """The plain aggregates inside ``exprs``, and ``exprs`` with each replaced by a column ``__us_a{j}``."""
    found: list[ex.Agg] = []

    def rewrite(node: ex.ExprNode) -> ex.ExprNode:
        if isinstance(node, ex.Agg):
            col = ex.Column(f"__us_a{len(found)}")
            found.append(node)
            object.__setattr__(col, "dtype", node.dtype)
            return col
        kids = node.children()
        if not kids:
            return node
        out = ex.replace_children(node, tuple(rewrite(c) for c in kids))
        object.__setattr__(out, "dtype", node.dtype)
        return out

    return found, [rewrite(e) for e in exprs]


def aggregate(df: dd.DataFrame, keys: Sequence[ex.ExprNode], aggs: Sequence[ex.ExprNode], names: list[str],
              keep_encoded: bool = False, nonnull: frozenset[str] = frozenset()) -> dd.DataFrame:
    """Group ``df`` by ``keys`` (null keys form one group) and compute ``aggs`` (expressions of aggregates).

    With ``keep_encoded`` the result keeps the encoded key columns (``__us_kv*``/``__us_kn*``) instead of
    the decoded keys, ready to be merged back onto the rows (windows).
    """
    plain, finals = _collect_aggs(aggs)
    key_vals = [(compile_expr(kx, df), kx.dtype) for kx in keys]
    known = [] if keep_encoded else [never_null(kx, nonnull) for kx in keys]
    enc_cols = encode_keys(key_vals, "__us_k", known) if key_vals else {"__us_g": const_x(pa.scalar(0, pa.int8()))}
    enc = list(enc_cols)
    inputs: dict[str, PExpr] = {}
    plans = [_plan_agg(j, a, df, inputs, enc[0], nonnull) for j, a in enumerate(plain)]
    work = {**enc_cols, **inputs}
    df2 = frame_of(df, list(work.values()), list(work))
    specs: dict[str, tuple[str, str]] = {}
    for p in plans:
        specs.update(p.specs)
    if not specs:
        specs["__us_size"] = (enc[0], "size")
    used = sorted({c for c, _ in specs.values()} | set(enc))
    if not keys and all(f in _GLOBAL_FUNCS for _, f in specs.values()) and not any(
            a.func == "n_unique" for a in plain):
        # a global aggregate: one Dask reduction over Arrow partials, without group-by machinery
        types = {c: _arrow_type_of(df2, c) for c, _ in specs.values()}
        meta = k.empty_frame(pa.schema([pa.field(n, _global_type(f, types[c])) for n, (c, f) in specs.items()]))
        grouped = df2[sorted({c for c, _ in specs.values()})].reduction(
            _GlobalPartial(specs), combine=_GlobalCombine(specs, final=False),
            aggregate=_GlobalCombine(specs, final=True), meta=meta)
        return _finish_aggregate(grouped, keys, names, plain, plans, finals, keep_encoded)
    # first/last need the partial results combined in partition (input) order: a tree reduction into one
    # output partition keeps it, a hash shuffle (split_out > 1) may not
    ordered = not keys or any(a.func in ("first", "last") for a in plain)
    grouped = df2[used].groupby(enc, dropna=False, sort=False).agg(
        **specs, **({"split_out": 1} if ordered else {})).reset_index()
    for j, agg in enumerate(plain):
        if agg.func == "n_unique":
            name = f"__us_a{j}"
            sub = df2[[*enc, name]]
            sub = sub[series(sub, ew("is_valid", lambda v: pc.is_valid(v), [col_x(name)], pa.bool_()))]
            counts = sub.drop_duplicates().groupby(enc, dropna=False, sort=False).agg(
                **{f"{name}_nu": (name, "size")}).reset_index()
            grouped = grouped.merge(counts, on=enc, how="left")
    return _finish_aggregate(grouped, keys, names, plain, plans, finals, keep_encoded)


def _finish_aggregate(grouped: dd.DataFrame, keys: Sequence[ex.ExprNode], names: list[str], plain: list[ex.Agg],
                      plans: list[_AggPlan], finals: list[ex.ExprNode], keep_encoded: bool) -> dd.DataFrame:
    key_types = [kx.dtype for kx in keys]
    key_names = names[:len(keys)]
    fields = []
    if keep_encoded:
        for i, kt in enumerate(key_types):
            fields += [pa.field(f"__us_kv{i}", _key_value(kt)[0]), pa.field(f"__us_kn{i}", pa.bool_())]
    else:
        fields += [pa.field(n, kt) for n, kt in zip(key_names, key_types)]
    agg_names = [f"__us_a{j}" for j in range(len(plain))]
    fields += [pa.field(n, a.dtype) for n, a in zip(agg_names, plain)]
    finish = _Finish(key_types, plans, key_names + agg_names,
                     [f.name for f in fields[:2 * len(keys)]] if keep_encoded else None,
                     one_row=not keys)
    done = grouped.map_partitions(finish, meta=k.empty_frame(pa.schema(fields)), enforce_metadata=False)
    key_cols = [f.name for f in fields[:len(fields) - len(plain)]]
    values = [col_x(c, f.type) for c, f in zip(key_cols, fields)] + [compile_expr(e, done) for e in finals]
    return frame_of(done, values, key_cols + names[len(keys):])


# -- windows --------------------------------------------------------------------------------------------------


def _sort_keys_table(arrays: list[tuple[pa.Array, bool, bool]]) -> tuple[pa.Table, list[tuple[str, str]]]:
    """Columns and Arrow sort keys that order by each key with its own direction and null placement."""
    cols: dict[str, pa.Array] = {}
    sort_keys: list[tuple[str, str]] = []
    for i, (arr, desc, nulls_last) in enumerate(arrays):
        cols[f"n{i}"] = pc.cast(pc.is_null(arr), pa.int8())
        sort_keys.append((f"n{i}", "ascending" if nulls_last else "descending"))
        if pa.types.is_floating(arr.type):
            # Arrow places NaN with the nulls; the plan puts NaN above every number (first when descending)
            cols[f"f{i}"] = pc.cast(pc.fill_null(pc.is_nan(arr), False), pa.int8())
            sort_keys.append((f"f{i}", "descending" if desc else "ascending"))
        if not pa.types.is_null(arr.type):
            cols[f"v{i}"] = arr
            sort_keys.append((f"v{i}", "descending" if desc else "ascending"))
    return pa.table(cols), sort_keys


def _peer_change(arr: pa.Array) -> np.ndarray:
    """True where a sorted array's value differs from the previous one (null = null, NaN = NaN)."""
    n = len(arr)
    out = np.zeros(n, dtype=bool)
    if n <= 1 or pa.types.is_null(arr.type):
        return out
    prev, cur = arr.slice(0, n - 1), arr.slice(1)
    same = pc.equal(prev, cur)
    if pa.types.is_floating(arr.type):
        same = pc.or_(same, pc.and_(pc.is_nan(prev), pc.is_nan(cur)))
    both_null = pc.and_(pc.is_null(prev), pc.is_null(cur))
    same = pc.if_else(both_null, True, pc.fill_null(same, False))
    out[1:] = ~same.to_numpy(zero_copy_only=False)
    return out


_LONG_GROUP = 64


def _segmented_cumsum(values: np.ndarray, new_group: np.ndarray) -> np.ndarray:
    """Running float sums of ``values`` that restart where ``new_group`` is true, added strictly left to right.

    Plain IEEE addition, as a SQL window ``sum`` does: an infinity stays an infinity and NaN reaches only the
    rows at or after it. (pandas' grouped ``cumsum`` compensates its sums (Kahan), which turns every row
    after an infinity into NaN; subtracting an offset from one global ``cumsum`` would carry an earlier
    group's infinity or rounding into the next group.) Long groups get one ``np.cumsum`` each; the short
    ones advance together, one position within the group per step, so both loops stay short.

    >>> _segmented_cumsum(np.array([1.0, -np.inf, 0.0, 2.0, 3.0]), np.array([1, 0, 0, 1, 0], dtype=bool))
    array([  1., -inf, -inf,   2.,   5.])
    """
    n = len(values)
    out = np.array(values, dtype=np.float64, copy=True)
    if n == 0:
        return out
    starts = np.flatnonzero(new_group)
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    lengths = np.diff(np.append(starts, n))
    long = lengths > _LONG_GROUP
    with np.errstate(all="ignore"):
        for s, ln in zip(starts[long], lengths[long]):
            np.cumsum(values[s:s + ln], out=out[s:s + ln])
        short_rows = np.flatnonzero(~np.repeat(long, lengths))
        if len(short_rows):
            offset = (np.arange(n) - np.repeat(starts, lengths))[short_rows]
            order = np.argsort(offset, kind="stable")
            by_offset = short_rows[order]
            bounds = np.searchsorted(offset[order], np.arange(1, int(offset.max()) + 2))
            for lo, hi in itertools.pairwise(bounds):
                rows = by_offset[lo:hi]
                out[rows] = out[rows - 1] + values[rows]
    return out


class _WindowFn(_Step):
    """Computes one window function over the rows of a partition (all rows of a window key are in it)."""

    def __init__(self, over: ex.Over, name: str, part_cols: list[str], order_cols: list[str],
                 operand_col: str | None) -> None:
        self.over, self.name = over, name
        self.part_cols, self.order_cols, self.operand_col = part_cols, order_cols, operand_col

    def __repr__(self) -> str:
        op = self.over.operand
        return f"window_{op.func if isinstance(op, ex.WindowFunc) else 'agg'}"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        op = self.over.operand
        assert isinstance(op, ex.WindowFunc) and op.dtype is not None
        n = len(pdf)
        keys: list[tuple[pa.Array, bool, bool]] = [(k.to_arrow(pdf[c]), False, True) for c in self.part_cols]
        n_part = len(keys)
        operand = k.to_arrow(pdf[self.operand_col]) if self.operand_col is not None else None
        ranks_column = op.func in ("rank", "dense_rank") and operand is not None
        if ranks_column:
            assert operand is not None
            keys.append((operand, bool(op.params and op.params[0]), True))
        else:
            keys += [(k.to_arrow(pdf[c]), d, nl) for c, d, nl in
                     zip(self.order_cols, self.over.descending, self.over.nulls_last)]
        if keys:
            table, sort_keys = _sort_keys_table(keys)
            perm = pc.sort_indices(table, sort_keys=sort_keys).to_numpy() if n else np.zeros(0, dtype=np.int64)
            sorted_keys = [pc.take(a, perm) for a, _, _ in keys]
        else:
            perm = np.arange(n, dtype=np.int64)
            sorted_keys = []
        pos = np.arange(n, dtype=np.int64)
        new_group = np.zeros(n, dtype=bool)
        if n:
            new_group[0] = True
        for a in sorted_keys[:n_part]:
            new_group |= _peer_change(a)
        group_start = np.maximum.accumulate(np.where(new_group, pos, 0)) if n else pos
        result: pa.Array
        if op.func == "row_number":
            result = pa.array(pos - group_start + 1, pa.int64())
        elif op.func in ("rank", "dense_rank"):
            new_peer = new_group.copy()
            for a in sorted_keys[n_part:]:
                new_peer |= _peer_change(a)
            if op.func == "rank":
                peer_start = np.maximum.accumulate(np.where(new_peer, pos, 0)) if n else pos
                values = peer_start - group_start + 1
            else:
                dense = np.cumsum(new_peer)
                values = dense - (dense[group_start] if n else dense) + 1
            mask = None
            if ranks_column:
                assert operand is not None
                mask = pc.is_null(pc.take(operand, perm)).to_numpy(zero_copy_only=False)
            result = pa.array(values.astype(np.int64), pa.int64(), mask=mask)
        elif op.func == "cum_sum":
            assert operand is not None
            vals = cast_value(pc.take(operand, perm), op.dtype)
            if pa.types.is_decimal(op.dtype):
                # exact, on the unscaled integers (Arrow has no decimal running sum)
                scale = op.dtype.scale
                filled = pc.fill_null(vals, _fill_value(op.dtype))
                magnitude = pc.sum(pc.abs(filled)).as_py() if n else 0
                if magnitude is not None and magnitude >= decimal.Decimal(10) ** (18 - scale):
                    raise ValueError("cum_sum of decimals whose running total needs more than 18 digits")
                ints = k.unscaled(filled, scale).to_numpy(zero_copy_only=False)
                total = np.cumsum(ints)
                running = total - (np.where(group_start > 0, total[group_start - 1], 0) if n else total)
                result = k.from_unscaled(pa.array(running, pa.int64()), scale, op.dtype)
            elif pa.types.is_floating(op.dtype):
                # running sums restart per group; NaN and infinities propagate (IEEE), nulls count as 0
                # here and are masked below
                filled_f = pc.fill_null(vals, _fill_value(op.dtype)).to_numpy(zero_copy_only=False)
                result = pa.array(_segmented_cumsum(filled_f, new_group), type=op.dtype)
            else:
                filled_np = pc.fill_null(vals, _fill_value(op.dtype)).to_numpy(zero_copy_only=False)
                total = np.cumsum(filled_np)
                offset = np.where(group_start > 0, total[group_start - 1], 0) if n else total
                with np.errstate(all="ignore"):
                    result = pa.array(total - offset, op.dtype)
            seen = np.cumsum(pc.is_valid(vals).to_numpy(zero_copy_only=False).astype(np.int64))
            seen_before = np.where(group_start > 0, seen[group_start - 1], 0) if n else seen
            result = null_where(pa.array(seen - seen_before == 0), result)
        elif op.func == "shift":
            assert operand is not None
            shift = int(op.params[0])
            src = pos - shift
            gid = np.cumsum(new_group)
            ok = (src >= 0) & (src < n)
            src_c = np.clip(src, 0, max(n - 1, 0))
            ok &= gid[src_c] == gid if n else ok
            vals = pc.take(operand, perm)
            taken = pc.take(vals, pa.array(src_c)) if n else vals
            result = null_where(pa.array(~ok), taken)
        else:  # pragma: no cover - capabilities list the functions
            raise NotImplementedError(op.func)
        inverse = np.empty(n, dtype=np.int64)
        inverse[perm] = pos
        result = cast_value(pc.take(result, pa.array(inverse)), op.dtype)
        return pdf.assign(**{self.name: k.to_series(result, pdf.index)})


def add_window(df: dd.DataFrame, over: ex.Over, name: str) -> dd.DataFrame:
    """``df`` with one more column ``name`` holding the window expression ``over``."""
    op = over.operand
    part = [(compile_expr(p, df), p.dtype) for p in over.partition_by]
    base_cols = list(df.columns)
    if isinstance(op, ex.Agg):
        agg_df = aggregate(df, over.partition_by, (op,), [*[f"__us_p{i}" for i in range(len(part))], name],
                           keep_encoded=True)
        if part:
            enc_cols = encode_keys(part, "__us_k")
            merged = assign(df, enc_cols).merge(agg_df, on=list(enc_cols), how="left")
        else:
            one = {"__us_j": const_x(pa.scalar(0, pa.int8()))}
            merged = assign(df, one).merge(assign(agg_df, one), on="__us_j", how="left")
        return merged[[*base_cols, name]]
    assert isinstance(op, ex.WindowFunc)
    extra: dict[str, PExpr] = {}
    part_cols = []
    for i, (v, _) in enumerate(part):
        extra[f"__us_wp{i}"] = v
        part_cols.append(f"__us_wp{i}")
    order_cols = []
    for i, o in enumerate(over.order_by):
        extra[f"__us_wo{i}"] = compile_expr(o, df)
        order_cols.append(f"__us_wo{i}")
    operand_col = None
    if op.operand is not None:
        extra["__us_wx"] = compile_expr(op.operand, df)
        operand_col = "__us_wx"
    if part:
        enc_cols = encode_keys(part, "__us_wk")
        work = assign(df, {**extra, **enc_cols}).shuffle(on=list(enc_cols))
    else:
        work = assign(df, extra).repartition(npartitions=1)
    meta = work._meta.assign(**{name: k.empty_series(op.dtype)})
    out = work.map_partitions(_WindowFn(over, name, part_cols, order_cols, operand_col), meta=meta,
                              enforce_metadata=False)
    return out[[*base_cols, name]]


def _hoist_windows(exprs: Sequence[ex.ExprNode]) -> tuple[list[ex.ExprNode], list[tuple[ex.Over, str]]]:
    return ex.hoist_windows(exprs, "__us_w")


# -- plan nodes ----------------------------------------------------------------------------------------------


@singledispatch
def compile_node(node: pn.PlanNode) -> dd.DataFrame:
    """A plan as a lazy ``dask.dataframe.DataFrame`` (nothing runs until it is computed).

    Examples
    --------
    >>> import unistack as us
    >>> ddf = compile_node(us.from_dict({"a": [1, 2, 3]}).filter(us.col("a") > 1).plan)
    >>> type(ddf).__module__.split(".")[:2]
    ['dask', 'dataframe']
    >>> ddf.compute(scheduler="sync")["a"].tolist()
    [2, 3]
    """
    raise NotImplementedError(type(node).__name__)


class _CanonicalParquet(ArrowDatasetEngine):
    """Dask's Arrow Parquet reader, converting view/dictionary types to the plan's canonical types (e.g.
    ``string_view`` from TPC-H generators) before pandas sees them, and keeping strings as Arrow strings."""

    @classmethod
    def _arrow_table_to_pandas(cls, arrow_table: pa.Table, categories: Any, dtype_backend: Any = None,
                               convert_string: bool = False, **kwargs: Any) -> pd.DataFrame:
        arrow_table = arrow_table.cast(canonical_schema(arrow_table.schema))
        return super()._arrow_table_to_pandas(
            arrow_table, categories, dtype_backend="pyarrow", convert_string=False, **kwargs)


class _JsonReader(_Step):
    """Reads one newline-delimited JSON file with Arrow's parser and an explicit schema."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def __call__(self, source: Any, **kwargs: Any) -> pd.DataFrame:
        import pyarrow.json as pajson

        opts = pajson.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="ignore")
        if hasattr(source, "read"):
            data = source.read()
        else:
            with open(source, "rb") as fh:
                data = fh.read()
        if isinstance(data, str):
            data = data.encode()
        table = pajson.read_json(io.BytesIO(data), parse_options=opts)
        table = table.select(self.schema.names).cast(canonical_schema(self.schema))
        return table.to_pandas(types_mapper=pd.ArrowDtype)


class _CsvCast(_Step):
    """Casts CSV columns read as text to the file schema with Arrow's parser rules."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def __repr__(self) -> str:
        return "csv_types"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        arrays = {}
        for f in self.schema:
            arr = k.to_arrow(pdf[f.name])
            if pa.types.is_boolean(f.type):
                arr = safe_cast(arr, f.type)
            elif not t.is_string(f.type):
                arr = pc.cast(arr, f.type)
            arrays[f.name] = cast_value(arr, t.canonical(f.type))
        return pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype).set_axis(pdf.index)


def _read_source(node: pn.Scan) -> dd.DataFrame:
    src = node.source
    columns = list(node.columns) if node.columns is not None else None
    if isinstance(src, pn.InMemorySource):
        table = src.table if columns is None else src.table.select(columns)
        table = table.cast(canonical_schema(table.schema))
        rows = max(int(get_option("dask.partition_rows")), 1)
        nparts = max(1, math.ceil(table.num_rows / rows))
        return dd.from_pandas(table.to_pandas(types_mapper=pd.ArrowDtype), npartitions=nparts, sort=False)
    if isinstance(src, pn.PersistedSource):  # one of this engine's (localize() exported any other)
        address, frame = persisted_object(src, "dask")
        if address != get_session().address:
            raise DataSourceError(f"the persisted result {src.key!r} is held by the Dask scheduler "
                                  f"{address or 'local'}, not the one configured now; persist the frame again.")
        return frame[columns] if columns is not None else frame
    assert isinstance(src, pn.FileSource)
    paths = list(src.paths)
    if src.format == "parquet":
        return _parquet_reader(tuple(paths), tuple(columns) if columns is not None else None, src.versions(),
                               str(get_option("dask.blocksize")))
    schema = src.file_schema
    if src.format == "csv":
        text = pd.ArrowDtype(pa.large_string())
        has_header = bool(src.option("has_header", True))
        df = dd.read_csv(paths, sep=src.option("separator", ","), header=0 if has_header else None,
                         names=schema.names, dtype={n: text for n in schema.names},
                         na_values=list(src.option("null_values", ("",))), keep_default_na=False)
        df = df.map_partitions(_CsvCast(schema), meta=k.empty_frame(canonical_schema(schema)),
                               enforce_metadata=False)
    elif src.format == "json":
        df = dd.read_json(paths, orient="records", lines=True, engine=_JsonReader(schema),
                          meta=k.empty_frame(canonical_schema(schema)))
    else:  # pragma: no cover
        raise NotImplementedError(src.format)
    return df[columns] if columns is not None else df


@functools.lru_cache(maxsize=64)
def _parquet_reader(paths: tuple[str, ...], columns: tuple[str, ...] | None, versions: Any,
                    blocksize: str) -> dd.DataFrame:
    """Dask's Parquet reader of these files and columns, reused while the files are unchanged (``versions``:
    their sizes and modification times, part of the cache key): building one reads the files' metadata and
    tokenizes it, a few milliseconds per query. Dask expressions are immutable, so sharing one is safe.

    ``blocksize`` (option ``dask.blocksize``): Dask's default of 256 MiB per partition leaves a file of a
    few hundred MiB in one partition, which runs on one core; 64 MiB made TPC-H SF 1 q1 and q6 1.2-1.5x
    faster on 2 cores (``benchmarks/bench_dask_native.py``)."""
    return dd.read_parquet(list(paths), columns=list(columns) if columns is not None else None,
                           engine=_CanonicalParquet, dtype_backend="pyarrow", index=False, blocksize=blocksize)


def filter_frame(df: dd.DataFrame, predicate: PExpr) -> dd.DataFrame:
    mask = ew("is_true", lambda m: pc.fill_null(cast_value(m, pa.bool_()), False), [predicate], pa.bool_())
    if mask.const is not None:
        return df if mask.const.as_py() else df.map_partitions(_Empty(), meta=df._meta)
    return df[series(df, mask)]


class _Empty(_Step):
    def __repr__(self) -> str:
        return "no_rows"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        return pdf.iloc[:0]


@compile_node.register
def _(node: pn.Scan) -> dd.DataFrame:
    df = _read_source(node)
    if node.filters:
        preds = [compile_expr(f, df) for f in node.filters]
        both = preds[0]
        for p in preds[1:]:
            both = ew("&", lambda a, b: pc.and_kleene(a, b), [both, p], pa.bool_())
        df = filter_frame(df, both)
    if node.limit is not None:
        df = df.head(node.limit, npartitions=-1, compute=False)
    return df


@compile_node.register
def _(node: pn.Project) -> dd.DataFrame:
    df = compile_node(node.input)
    exprs, windows = _hoist_windows(node.exprs)
    for over, name in windows:
        df = add_window(df, over, name)
    values = [compile_expr(e, df) for e in exprs]
    return frame_of(df, values, [ex.output_name(e) for e in node.exprs])


@compile_node.register
def _(node: pn.Filter) -> dd.DataFrame:
    df = compile_node(node.input)
    return filter_frame(df, compile_expr(node.predicate, df))


@compile_node.register
def _(node: pn.Aggregate) -> dd.DataFrame:
    df = compile_node(node.input)
    return aggregate(df, node.keys, node.aggs, list(node.schema.names), nonnull=nonnull_columns(node.input))


def _all_valid(cols: list[str]) -> PExpr:
    """True where every one of ``cols`` is non-null (a constant true for no columns)."""
    if not cols:
        return const_x(pa.scalar(True))

    def valid(*xs: Any) -> Any:
        out = pc.is_valid(xs[0])
        for x in xs[1:]:
            out = pc.and_(out, pc.is_valid(x))
        return out

    return ew("keys_valid", valid, [col_x(c) for c in cols], pa.bool_())


def _keep(df: dd.DataFrame, mask: PExpr) -> dd.DataFrame:
    """The rows of ``df`` where ``mask`` (never null) is true; nothing to do for a constant true."""
    if mask.const is not None and mask.const.as_py() is True:
        return df
    return df[series(df, mask)]


@compile_node.register
def _(node: pn.Join) -> dd.DataFrame:
    left, right = compile_node(node.left), compile_node(node.right)
    rnames = {name: f"__us_r{i}" for i, name in enumerate(node.right.schema.names)}
    right = right.rename(columns=rnames)
    how = node.how
    if how == "cross":
        one = {"__us_x": const_x(pa.scalar(0, pa.int8()))}
        joined = assign(left, one).merge(assign(right, one), on="__us_x", how="inner")
    else:
        lschema, rschema = node.left.schema, node.right.schema
        lcols, rcols = [], []
        lcast: dict[str, PExpr] = {}
        rcast: dict[str, PExpr] = {}
        ktypes: list[pa.DataType] = []
        for i, (a, b) in enumerate(zip(node.left_on, node.right_on)):
            ta, tb = lschema.field(a).type, rschema.field(b).type
            if ta == tb:
                lcols.append(a)
                rcols.append(rnames[b])
                ktypes.append(ta)
                continue
            common = t.supertype(ta, tb, "join on")
            ktypes.append(common)
            lcast[f"__us_lk{i}"] = ew("cast", lambda x, c=common: cast_value(x, c), [col_x(a)], common)
            rcast[f"__us_rk{i}"] = ew("cast", lambda x, c=common: cast_value(x, c), [col_x(rnames[b])], common)
            lcols.append(f"__us_lk{i}")
            rcols.append(f"__us_rk{i}")
        left, right = assign(left, lcast), assign(right, rcast)
        # keys the input files declare ``not null`` need no null filtering
        lknown, rknown = nonnull_columns(node.left), nonnull_columns(node.right)
        lcheck = [c for c, src in zip(lcols, node.left_on) if not (c == src and src in lknown)]
        rcheck = [c for c, src in zip(rcols, node.right_on) if not (c == rnames[src] and src in rknown)]
        lvalid, rvalid = _all_valid(lcheck), _all_valid(rcheck)
        if (lcheck and how in ("left", "anti", "full")) or (rcheck and how in ("right", "full")):
            # Dask hashes the key columns to co-partition the sides, and pandas hashes an Arrow column by way
            # of NumPy: differently in a partition holding nulls (True as 1.0) than in one without, so equal
            # keys could miss each other. A side that keeps its null keys joins on never-null encoded keys.
            lenc = encode_keys([(col_x(c, kt), kt) for c, kt in zip(lcols, ktypes)], "__us_lj")
            renc = encode_keys([(col_x(c, kt), kt) for c, kt in zip(rcols, ktypes)], "__us_rj")
            left, right = assign(left, lenc), assign(right, renc)
            lcols, rcols = list(lenc), list(renc)
        if how in ("semi", "anti"):
            rkeys = _keep(right, rvalid)[rcols].drop_duplicates()
            if how == "semi":
                joined = _keep(left, lvalid).merge(rkeys, left_on=lcols, right_on=rcols, how="inner")
            else:
                marked = left.merge(rkeys, left_on=lcols, right_on=rcols, how="left", indicator=True)
                joined = marked[marked["_merge"] == "left_only"]
            return joined[list(node.left.schema.names)]
        if how == "inner":
            joined = _keep(left, lvalid).merge(_keep(right, rvalid), left_on=lcols, right_on=rcols, how="inner")
        elif how == "left":
            joined = left.merge(_keep(right, rvalid), left_on=lcols, right_on=rcols, how="left")
        elif how == "right":
            joined = _keep(left, lvalid).merge(right, left_on=lcols, right_on=rcols, how="right")
        else:  # full: rows with a null key get a side-specific tag so they never match
            tag_l = ew("null_key_tag", lambda v: pc.if_else(v, 0, 1).cast(pa.int8()), [lvalid], pa.int8())
            tag_r = ew("null_key_tag", lambda v: pc.if_else(v, 0, 2).cast(pa.int8()), [rvalid], pa.int8())
            joined = assign(left, {"__us_nk": tag_l}).merge(
                assign(right, {"__us_rnk": tag_r}), left_on=[*lcols, "__us_nk"], right_on=[*rcols, "__us_rnk"],
                how="outer")
    values: list[PExpr] = []
    for c in node.output_columns:
        if c.side == "left":
            values.append(col_x(c.source))
        elif c.side == "right":
            values.append(col_x(rnames[c.source]))
        else:
            lcol, rcol = col_x(c.source), col_x(rnames[c.right_source or c.source])
            dtype = node.schema.field(c.name).type
            if how == "full":
                values.append(ew("coalesce", lambda a, b, d=dtype: pc.coalesce(cast_value(a, d), cast_value(b, d)),
                                 [lcol, rcol], dtype))
            elif how == "right":
                values.append(rcol)
            else:
                values.append(lcol)
    return frame_of(joined, values, [c.name for c in node.output_columns])


def _range_key(dtype: pa.DataType, desc: bool, nulls_last: bool) -> tuple[pa.DataType, Callable[[Any], Any]] | None:
    """A column monotone in the requested order of one sort key, used by Dask to range-partition rows."""
    # Dask partitions by this column ascending when ``desc`` is false, descending otherwise.
    null_high = nulls_last != desc
    if t.is_string(dtype):
        hi, lo = pa.scalar("\U0010ffff" * 4, t.STRING), pa.scalar("", t.STRING)
        return t.STRING, lambda x: pc.fill_null(cast_value(x, t.STRING), hi if null_high else lo)
    numeric = t.is_numeric(dtype) or pa.types.is_boolean(dtype) or t.is_temporal(dtype)
    if not numeric:
        return None
    inf = float("inf")

    def key(x: Any) -> Any:
        if pa.types.is_timestamp(x.type):
            x = pc.cast(x, pa.timestamp(x.type.unit)).cast(pa.int64())
        elif pa.types.is_date(x.type):
            x = x.cast(pa.int32())
        f = pc.cast(x, pa.float64(), safe=False)
        if pa.types.is_floating(x.type):
            f = pc.if_else(pc.is_nan(f), inf, f)
        return pc.fill_null(f, inf if null_high else -inf)

    return pa.float64(), key


class _LocalSort(_Step):
    """Sorts one partition by every key with its own direction and null placement (Arrow sort)."""

    def __init__(self, cols: list[str], descending: Sequence[bool], nulls_last: Sequence[bool]) -> None:
        self.cols, self.descending, self.nulls_last = cols, list(descending), list(nulls_last)

    def __repr__(self) -> str:
        return f"sort_by({', '.join(self.cols)})"

    def __call__(self, pdf: pd.DataFrame, **_: Any) -> pd.DataFrame:
        if len(pdf) <= 1:
            return pdf
        keys = [(k.to_arrow(pdf[c]), d, nl) for c, d, nl in zip(self.cols, self.descending, self.nulls_last)]
        table, sort_keys = _sort_keys_table(keys)
        return pdf.iloc[pc.sort_indices(table, sort_keys=sort_keys).to_numpy()]


class _Select(_Step):
    """Keep some columns of a partition (an opaque step, so Dask does not rewrite the sort before it)."""

    def __init__(self, cols: list[str]) -> None:
        self.cols = cols

    def __repr__(self) -> str:
        return "select"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        return pdf[self.cols]


@compile_node.register
def _(node: pn.Sort) -> dd.DataFrame:
    df = compile_node(node.input)
    cols = list(df.columns)
    key_cols = {f"__us_s{i}": compile_expr(kx, df) for i, kx in enumerate(node.keys)}
    first = node.keys[0]
    assert first.dtype is not None
    desc0, nl0 = node.descending[0], node.nulls_last[0]
    range_key = _range_key(first.dtype, desc0, nl0)
    if range_key is None:
        work = assign(df, key_cols).repartition(npartitions=1)
        part_col = "__us_s0"
    else:
        rk_type, rk_fn = range_key
        work = assign(df, {**key_cols, "__us_sk": ew("range_key", rk_fn, [key_cols["__us_s0"]], rk_type)})
        part_col = "__us_sk"
    by = [part_col, *key_cols]
    local = _LocalSort(list(key_cols), node.descending, node.nulls_last)
    ordered = work.sort_values(by=by, ascending=[not desc0] * len(by), sort_function=local)
    return ordered.map_partitions(_Select(cols), meta=df._meta, enforce_metadata=False)


class _TopN(_Step):
    """Sorts a partition and keeps its first ``n`` rows (top-n of a sorted frame without a full sort)."""

    def __init__(self, sort: _LocalSort, n: int) -> None:
        self.sort, self.n = sort, n

    def __repr__(self) -> str:
        return f"top_{self.n}_{self.sort!r}"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        return self.sort(pdf).iloc[: self.n]


@compile_node.register
def _(node: pn.Limit) -> dd.DataFrame:
    if isinstance(node.input, pn.Sort):
        # limit(n) of a sort: the first n rows of each partition, then of their union (no range shuffle)
        sort = node.input
        df = compile_node(sort.input)
        key_cols = {f"__us_s{i}": compile_expr(kx, df) for i, kx in enumerate(sort.keys)}
        work = assign(df, key_cols)
        top = _TopN(_LocalSort(list(key_cols), sort.descending, sort.nulls_last), node.n)
        best = work.map_partitions(top, meta=work._meta, enforce_metadata=False)
        # always: Dask may change the partition count when it lowers the plan (e.g. a hash join)
        best = best.repartition(npartitions=1).map_partitions(top, meta=work._meta, enforce_metadata=False)
        return best.map_partitions(_Select(list(df.columns)), meta=df._meta, enforce_metadata=False)
    return compile_node(node.input).head(node.n, npartitions=-1, compute=False)


class _DropDuplicates(_Step):
    """Keep the first row of each distinct value of some (encoded, never-null) columns in a partition."""

    def __init__(self, subset: list[str]) -> None:
        self.subset = subset

    def __repr__(self) -> str:
        return "drop_duplicates"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        return pdf.drop_duplicates(subset=self.subset, keep="first")


@compile_node.register
def _(node: pn.Distinct) -> dd.DataFrame:
    df = compile_node(node.input)
    schema = node.input.schema
    subset = list(node.subset) if node.subset is not None else list(schema.names)
    if not subset:
        return df.drop_duplicates(keep="first")
    # Dask's own drop_duplicates hashes the raw columns to shuffle them, and pandas hashes an Arrow column
    # by way of NumPy: 1 hashes differently in a partition with nulls (as 1.0) than in one without, so
    # duplicates could land in different partitions. The encoded keys never hold nulls.
    enc = encode_keys([(col_x(c, schema.field(c).type), schema.field(c).type) for c in subset], "__us_dk")
    work = assign(df, enc)
    dedupe = _DropDuplicates(list(enc))
    work = work.map_partitions(dedupe, meta=work._meta, enforce_metadata=False)
    if work.npartitions > 1:
        work = work.shuffle(on=list(enc)).map_partitions(dedupe, meta=work._meta, enforce_metadata=False)
    return work.map_partitions(_Select(list(df.columns)), meta=df._meta, enforce_metadata=False)


class _ToArrow(_Step):
    """Casts a partition's columns to the plan's Arrow types (pandas-typed columns become Arrow-typed)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def __repr__(self) -> str:
        return "to_arrow_types"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        arrays = {f.name: cast_value(k.to_arrow(pdf[f.name]), f.type) for f in self.schema}
        return pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype).set_axis(pdf.index)


def arrow_typed(df: dd.DataFrame, schema: pa.Schema) -> dd.DataFrame:
    """``df`` with exactly the Arrow dtypes of ``schema`` (a no-op when it has them already)."""
    if all(df._meta[f.name].dtype == pd.ArrowDtype(f.type) for f in schema):
        return df
    return df.map_partitions(_ToArrow(schema), meta=k.empty_frame(schema), enforce_metadata=False)


@compile_node.register
def _(node: pn.Union) -> dd.DataFrame:
    frames = [arrow_typed(compile_node(i), node.schema) for i in node.inputs]
    return dd.concat(frames, ignore_order=True) if len(frames) > 1 else frames[0]


class _BatchFn(_Step):
    """Runs a user's ``map_batches`` function on one partition as an Arrow record batch."""

    def __init__(self, node: pn.MapBatches) -> None:
        self.node = node

    def __repr__(self) -> str:
        return f"map_batches[{self.node.name}]"

    def __call__(self, pdf: pd.DataFrame) -> pd.DataFrame:
        in_schema = self.node.input.schema
        arrays = [cast_value(k.to_arrow(pdf[f.name]), f.type) for f in in_schema]
        batch = canonical_batch(pa.RecordBatch.from_arrays(arrays, schema=in_schema), in_schema)
        out = apply_batch_function(self.node, batch)
        return out.to_pandas(types_mapper=pd.ArrowDtype)


@compile_node.register
def _(node: pn.MapBatches) -> dd.DataFrame:
    df = compile_node(node.input)
    return df.map_partitions(_BatchFn(node), meta=k.empty_frame(node.output_schema), enforce_metadata=False,
                             clear_divisions=True)


def check_supported(plan: pn.PlanNode) -> None:
    """Raise :class:`UnsupportedOperationError` for plan shapes this translator declines (see capabilities)."""
    for node in plan.walk():
        if isinstance(node, pn.Sort) and not node.keys:
            raise UnsupportedOperationError(ENGINE, "node:Sort without keys")


def implemented_operations() -> set[str]:
    """Operation names this translator implements (the engine's capabilities derive from it).

    Examples
    --------
    >>> {"join:anti", "window:rank", "function:dt_truncate"} <= implemented_operations()
    True
    """
    return translator_operations(compile_node.registry, FUNCTIONS)
