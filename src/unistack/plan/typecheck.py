"""Binding: check an expression against a schema and fill in every node's type.

All build-time errors about expressions come from here: unknown columns (with suggestions), type
mismatches, nested aggregates, and aggregates or windows where they are not allowed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal

import pyarrow as pa

from unistack.errors import ColumnNotFoundError, InvalidOperationError, InvalidTypeError
from unistack.plan import types as t
from unistack.plan.exprs import (
    ARITHMETIC_OPS,
    BOOLEAN_OPS,
    COMPARISON_OPS,
    Agg,
    Alias,
    BinaryOp,
    Call,
    Case,
    Cast,
    Column,
    ExprNode,
    Literal,
    Over,
    UnaryOp,
    WindowFunc,
)
from unistack.plan.functions import FUNCTIONS


def _typed(node: ExprNode, dtype: pa.DataType) -> ExprNode:
    object.__setattr__(node, "dtype", dtype)
    return node


def bind(node: ExprNode, schema: pa.Schema) -> ExprNode:
    """Return ``node`` with every ``dtype`` filled in from ``schema``; raise a clear error if invalid.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from unistack.plan.exprs import BinaryOp, Column, Literal
    >>> bind(BinaryOp("+", Column("a"), Literal(1)), pa.schema({"a": pa.int32()})).dtype
    DataType(int32)
    """
    return _Binder(schema).bind(node, inside_agg=False)


def bool_predicate(node: ExprNode, schema: pa.Schema, where: str) -> ExprNode:
    bound = bind(node, schema)
    if not (pa.types.is_boolean(bound.dtype) or t.is_null(bound.dtype)):
        raise InvalidTypeError(f"{where} needs a boolean expression, got {t.describe(bound.dtype)}.")
    return bound


class _Binder:
    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.names = schema.names

    def bind(self, node: ExprNode, inside_agg: bool) -> ExprNode:
        method = getattr(self, "_" + type(node).__name__.lower())
        return method(node, inside_agg)

    def _column(self, node: Column, inside_agg: bool) -> ExprNode:
        if node.name not in self.names:
            raise ColumnNotFoundError(node.name, self.names)
        if self.names.count(node.name) > 1:
            raise InvalidOperationError(f"column name {node.name!r} is ambiguous: it appears more than once.")
        return _typed(Column(node.name), self.schema.field(node.name).type)

    def _literal(self, node: Literal, inside_agg: bool) -> ExprNode:
        dtype = node.dtype if node.dtype is not None else t.literal_type(node.value)
        return _typed(Literal(node.value, node.weak), dtype)

    def _alias(self, node: Alias, inside_agg: bool) -> ExprNode:
        inner = self.bind(node.operand, inside_agg)
        return _typed(Alias(inner, node.name), inner.dtype)

    def _cast(self, node: Cast, inside_agg: bool) -> ExprNode:
        inner = self.bind(node.operand, inside_agg)
        src, dst = inner.dtype, node.to
        if not _castable(src, dst):
            raise InvalidTypeError(f"cannot cast {t.describe(src)} to {t.describe(dst)}.")
        return _typed(Cast(inner, dst), dst)

    def _unaryop(self, node: UnaryOp, inside_agg: bool) -> ExprNode:
        inner = self.bind(node.operand, inside_agg)
        if node.op == "not":
            if not (pa.types.is_boolean(inner.dtype) or t.is_null(inner.dtype)):
                raise InvalidTypeError(f"'~' needs a boolean, got {t.describe(inner.dtype)}.")
            return _typed(UnaryOp("not", inner), t.BOOL)
        if not (t.is_numeric(inner.dtype) or t.is_null(inner.dtype)):
            raise InvalidTypeError(f"unary minus needs a number, got {t.describe(inner.dtype)}.")
        dtype = t.INT64 if t.is_null(inner.dtype) else inner.dtype
        return _typed(UnaryOp("neg", _retype_weak(inner, dtype)), dtype)

    def _binaryop(self, node: BinaryOp, inside_agg: bool) -> ExprNode:
        left = self.bind(node.left, inside_agg)
        right = self.bind(node.right, inside_agg)
        op = node.op
        if op in ARITHMETIC_OPS:  # the operator's own message ("arithmetic needs numbers") comes first
            t.arithmetic_type(op, left.dtype, right.dtype)
        left, right = _unify_weak(left, right)
        if op in BOOLEAN_OPS:
            for side in (left, right):
                if not (pa.types.is_boolean(side.dtype) or t.is_null(side.dtype)):
                    raise InvalidTypeError(
                        f"'{op}' needs boolean operands, got {t.describe(side.dtype)}. "
                        "Wrap comparisons in parentheses: (us.col('a') > 1) & (us.col('b') < 2)."
                    )
            return _typed(BinaryOp(op, _as_bool(left), _as_bool(right)), t.BOOL)
        if op in COMPARISON_OPS:
            common = t.supertype(left.dtype, right.dtype, "compare")
            return _typed(BinaryOp(op, left, right), t.BOOL) if common is not None else node
        if op in ARITHMETIC_OPS:
            return _typed(BinaryOp(op, left, right), t.arithmetic_type(op, left.dtype, right.dtype))
        raise InvalidOperationError(f"unknown operator {op!r}")

    def _call(self, node: Call, inside_agg: bool) -> ExprNode:
        spec = FUNCTIONS.get(node.name)
        if spec is None:
            raise InvalidOperationError(f"unknown function {node.name!r}")
        args = tuple(self.bind(a, inside_agg) for a in node.args)
        if node.name in ("fill_null", "coalesce"):
            # like when/then: Python literals take the type of the expressions they meet (fill_null(0) on int32)
            strong = [a.dtype for a in args if not _is_weak(a)] or [a.dtype for a in args]
            common = spec.infer(strong, node.params) if len(strong) > 1 else strong[0]
            for a in args:
                if _is_weak(a):
                    common = _weak_supertype(a, common)
            args = tuple(_retype_weak(a, common) for a in args)
        return _typed(Call(node.name, args, node.params), spec.infer([a.dtype for a in args], node.params))

    def _case(self, node: Case, inside_agg: bool) -> ExprNode:
        branches = []
        for cond, value in node.branches:
            c = self.bind(cond, inside_agg)
            if not (pa.types.is_boolean(c.dtype) or t.is_null(c.dtype)):
                raise InvalidTypeError(f"when() needs a boolean condition, got {t.describe(c.dtype)}.")
            branches.append((c, self.bind(value, inside_agg)))
        otherwise = self.bind(node.otherwise, inside_agg)
        values = [v for _, v in branches] + [otherwise]
        strong = [v.dtype for v in values if not _is_weak(v)] or [v.dtype for v in values]
        dtype = strong[0]
        for d in strong[1:]:
            dtype = t.supertype(dtype, d, "combine the branches of when/then/otherwise:")
        for v in values:
            if _is_weak(v):
                dtype = _weak_supertype(v, dtype)
        if t.is_null(dtype):
            dtype = t.INT64
        branches2 = tuple((_as_bool(c), _retype_weak(v, dtype)) for c, v in branches)
        return _typed(Case(branches2, _retype_weak(otherwise, dtype)), dtype)

    def _agg(self, node: Agg, inside_agg: bool) -> ExprNode:
        if inside_agg:
            raise InvalidOperationError(
                "nested aggregate: an aggregate cannot take another aggregate. "
                "Aggregate in two steps: group_by(...).agg(...) then another group_by or select."
            )
        if node.operand is None:
            return _typed(Agg(node.func, None), t.INT64)
        inner = self.bind(node.operand, inside_agg=True)
        for sub in inner.walk():
            if isinstance(sub, Over):
                raise InvalidOperationError(
                    "a window expression (.over) cannot be aggregated directly; add it as a column with "
                    "with_columns() first."
                )
        return _typed(Agg(node.func, inner), _agg_type(node.func, inner.dtype))

    def _windowfunc(self, node: WindowFunc, inside_agg: bool) -> ExprNode:
        inner = None if node.operand is None else self.bind(node.operand, inside_agg)
        func = node.func
        if func in ("row_number", "rank", "dense_rank"):
            if inner is not None and not _orderable(inner.dtype):
                raise InvalidTypeError(f"cannot rank values of type {t.describe(inner.dtype)}.")
            dtype = t.INT64
        elif func == "cum_sum":
            assert inner is not None
            dtype = t.sum_type(inner.dtype)
        elif func == "shift":
            assert inner is not None
            (n,) = node.params
            if not isinstance(n, int) or isinstance(n, bool):
                raise InvalidTypeError(f"shift(n) takes an integer, got {n!r}.")
            dtype = t.INT64 if t.is_null(inner.dtype) else inner.dtype
        else:
            raise InvalidOperationError(f"unknown window function {func!r}")
        return _typed(WindowFunc(func, inner, node.params), dtype)

    def _over(self, node: Over, inside_agg: bool) -> ExprNode:
        operand = node.operand
        base = operand.operand if isinstance(operand, Alias) else operand
        if not isinstance(base, (Agg, WindowFunc)):
            raise InvalidOperationError(
                ".over() applies to an aggregate (e.g. us.col('x').sum()) or a window function "
                "(us.row_number(), rank(), cum_sum(), shift(n)); got a plain expression."
            )
        inner = self.bind(base, inside_agg=False)
        if isinstance(base, WindowFunc) and base.func in ("row_number", "rank", "dense_rank", "cum_sum", "shift"):
            if base.func in ("row_number", "cum_sum", "shift") and not node.order_by:
                # Without an order these depend on row order, which is undefined: demand one.
                raise InvalidOperationError(
                    f"{base.func}() over a window needs order_by=..., because row order is only defined "
                    "after a sort."
                )
            if base.func in ("rank", "dense_rank") and base.operand is None and not node.order_by:
                raise InvalidOperationError("us.rank() needs order_by=... in .over(); or rank a column.")
        partition = tuple(self.bind(p, False) for p in node.partition_by)
        order = tuple(self.bind(o, False) for o in node.order_by)
        for e in (*partition, *order):
            if any(isinstance(s, (Agg, Over)) for s in e.walk()):
                raise InvalidOperationError("window partition and order keys must be plain expressions.")
        return _typed(Over(inner, partition, order, node.descending, node.nulls_last), inner.dtype)


def _agg_type(func: str, dtype: pa.DataType) -> pa.DataType:
    if func in ("count", "n_unique", "len"):
        return t.INT64
    if func in ("sum",):
        return t.sum_type(dtype)
    if func in ("mean", "std", "var"):
        if not (t.is_numeric(dtype) or pa.types.is_boolean(dtype) or t.is_null(dtype)):
            raise InvalidTypeError(f"{func} needs numbers, got {t.describe(dtype)}.")
        return t.FLOAT64
    if func in ("min", "max"):
        if not _orderable(dtype):
            raise InvalidTypeError(f"{func} needs orderable values, got {t.describe(dtype)}.")
        return dtype
    if func in ("first", "last"):
        return dtype
    raise InvalidOperationError(f"unknown aggregate {func!r}")


def _orderable(dtype: pa.DataType) -> bool:
    return (
        t.is_numeric(dtype) or t.is_string(dtype) or t.is_temporal(dtype) or pa.types.is_boolean(dtype)
        or t.is_null(dtype) or pa.types.is_large_binary(dtype)
    )


def _castable(src: pa.DataType, dst: pa.DataType) -> bool:
    if src == dst or t.is_null(src):
        return True
    scalarish = (t.is_numeric, t.is_string, t.is_temporal, pa.types.is_boolean)
    if any(f(src) for f in scalarish) and any(f(dst) for f in scalarish):
        # date <-> number and bool <-> temporal casts are refused: engines disagree on their meaning.
        return t.is_temporal(src) == t.is_temporal(dst) or t.is_string(src) or t.is_string(dst)
    return pa.types.is_large_binary(dst) and t.is_string(src)


def _is_weak(node: ExprNode) -> bool:
    return isinstance(node, Literal) and node.weak and node.value is not None and not isinstance(
        node.value, (str, bytes, bool)
    )


def _weak_supertype(lit: ExprNode, other: pa.DataType) -> pa.DataType:
    assert isinstance(lit, Literal)
    value, own = lit.value, lit.dtype
    if t.is_numeric(other) and isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        if isinstance(value, int) and t.is_numeric(other) and t.literal_fits(value, other):
            return other
        if isinstance(value, float) and pa.types.is_floating(other):
            return other
        if isinstance(value, decimal.Decimal) and pa.types.is_decimal(other) and t.literal_fits(value, other):
            return other
    if isinstance(value, _dt.datetime) and pa.types.is_timestamp(other):
        if (value.tzinfo is None) != (other.tz is None):
            kind = "naive" if value.tzinfo is None else "time-zone aware"
            raise InvalidTypeError(
                f"cannot compare a {kind} datetime literal with {t.describe(other)}; "
                "use a datetime with matching tzinfo."
            )
        return other
    assert own is not None
    if pa.types.is_boolean(other) and t.is_numeric(own):
        return own  # bool + 1: arithmetic counts a bool as int64 (arithmetic_type); comparisons still refuse it
    return t.supertype(own, other, "combine")


def _retype_weak(node: ExprNode, dtype: pa.DataType) -> ExprNode:
    if isinstance(node, Literal) and node.weak and node.dtype != dtype and t.literal_fits(node.value, dtype):
        return _typed(Literal(node.value, weak=False), dtype)
    if isinstance(node, Literal) and node.value is None and t.is_null(node.dtype or pa.null()):
        return _typed(Literal(None, weak=False), dtype)
    return node


def _unify_weak(left: ExprNode, right: ExprNode) -> tuple[ExprNode, ExprNode]:
    """Give a weak Python literal the type of the expression it meets, when its value fits."""
    if _is_weak(right) and not _is_weak(left):
        return left, _retype_weak(right, _weak_supertype(right, left.dtype))
    if _is_weak(left) and not _is_weak(right):
        return _retype_weak(left, _weak_supertype(left, right.dtype)), right
    return left, right


def _as_bool(node: ExprNode) -> ExprNode:
    if t.is_null(node.dtype):
        return _typed(dataclasses.replace(node), t.BOOL) if isinstance(node, Literal) else node
    return node
