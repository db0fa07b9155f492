"""Evaluate operators whose operands are all literals, and simplify boolean identities.

Example: ``Filter (1 + 2) > a`` becomes ``Filter 3 > a``; ``Filter true`` disappears;
``x & true`` becomes ``x``. Only integer, float and boolean literals are folded, with the semantics of
docs/semantics.md (division by zero is null; ``//`` and ``%`` floor); anything else is left to engines.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pyarrow as pa

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.planner.rules._util import typed

_INT64 = (-(2**63), 2**63 - 1)


def _num(node: ex.ExprNode) -> bool:
    return (isinstance(node, ex.Literal) and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool) and node.dtype is not None
            and (pa.types.is_int64(node.dtype) or pa.types.is_float64(node.dtype)))


def _order_key(v: Any) -> tuple[int, Any]:
    """Comparison key where NaN equals NaN and is above every number (docs/semantics.md S-NAN-CMP)."""
    return (1, 0) if isinstance(v, float) and math.isnan(v) else (0, v)


def _evaluate(op: str, a: Any, b: Any) -> tuple[bool, Any]:
    """(folded?, value) for two Python numbers under the plan's semantics."""
    if op in ("==", "!=", "<", "<=", ">", ">="):
        a, b = _order_key(a), _order_key(b)
    try:
        match op:
            case "+": return True, a + b
            case "-": return True, a - b
            case "*": return True, a * b
            case "/": return True, None if b == 0 else a / b
            case "//": return True, None if b == 0 else a // b
            case "%": return True, None if b == 0 else a % b
            case "==": return True, a == b
            case "!=": return True, a != b
            case "<": return True, a < b
            case "<=": return True, a <= b
            case ">": return True, a > b
            case ">=": return True, a >= b
    except (OverflowError, ZeroDivisionError):
        return False, None
    return False, None


def fold_expr(node: ex.ExprNode) -> ex.ExprNode:
    """Fold one expression bottom-up.

    >>> from unistack.plan.typecheck import bind
    >>> import pyarrow as pa
    >>> e = bind(ex.BinaryOp(">", ex.BinaryOp("+", ex.Literal(1), ex.Literal(2)), ex.Column("a")),
    ...          pa.schema({"a": pa.int64()}))
    >>> from unistack.plan.text import expr_text
    >>> expr_text(fold_expr(e))
    '3 > a'
    """
    kids = node.children()
    if kids:
        new = tuple(fold_expr(k) for k in kids)
        if any(a is not b for a, b in zip(new, kids)):
            node = typed(ex.replace_children(node, new), node.dtype)
    if isinstance(node, ex.BinaryOp):
        left, right = node.left, node.right
        if node.op in ("&", "|"):
            return _fold_bool(node)
        if _num(left) and _num(right):
            assert isinstance(left, ex.Literal) and isinstance(right, ex.Literal)
            ok, value = _evaluate(node.op, left.value, right.value)
            if ok and node.dtype is not None:
                if pa.types.is_int64(node.dtype) and isinstance(value, int) and not (
                        _INT64[0] <= value <= _INT64[1]):
                    return node  # overflow: leave it to the engine, which wraps (docs/semantics.md)
                if pa.types.is_float64(node.dtype) and value is not None:
                    value = float(value)
                if pa.types.is_int64(node.dtype) and isinstance(value, float):
                    return node
                return typed(ex.Literal(value, weak=False), node.dtype)
    if isinstance(node, ex.UnaryOp) and isinstance(node.operand, ex.Literal) and node.dtype is not None:
        v = node.operand.value
        if node.op == "not" and isinstance(v, bool):
            return typed(ex.Literal(not v, weak=False), node.dtype)
        if node.op == "neg" and _num(node.operand) and (not isinstance(v, int) or -v <= _INT64[1]):
            return typed(ex.Literal(-v, weak=False), node.dtype)
    return node


def _is_bool_lit(node: ex.ExprNode, value: bool) -> bool:
    return isinstance(node, ex.Literal) and node.value is value


def _fold_bool(node: ex.BinaryOp) -> ex.ExprNode:
    left, right = node.left, node.right
    if not all(side.dtype is not None and pa.types.is_boolean(side.dtype) for side in (left, right)):
        return node  # ``null_column & true`` is a bool; returning the null-typed column would change the type
    if node.op == "&":
        if _is_bool_lit(left, True):
            return right
        if _is_bool_lit(right, True):
            return left
        if _is_bool_lit(left, False) or _is_bool_lit(right, False):
            return typed(ex.Literal(False, weak=False), pa.bool_())
    else:
        if _is_bool_lit(left, False):
            return right
        if _is_bool_lit(right, False):
            return left
        if _is_bool_lit(left, True) or _is_bool_lit(right, True):
            return typed(ex.Literal(True, weak=False), pa.bool_())
    return node


def fold_constants(plan: pn.PlanNode) -> pn.PlanNode:
    """Fold constants in every expression; drop filters that are always true."""

    def visit(node: pn.PlanNode) -> pn.PlanNode:
        match node:
            case pn.Filter(input=child, predicate=pred):
                folded = fold_expr(pred)
                if _is_bool_lit(folded, True):
                    return child
                return node if folded is pred else dataclasses.replace(node, predicate=folded)
            case pn.Project(exprs=exprs):
                new = tuple(fold_expr(e) for e in exprs)
                return node if all(a is b for a, b in zip(new, exprs)) else dataclasses.replace(node, exprs=new)
            case pn.Aggregate(keys=keys, aggs=aggs):
                nk, na = tuple(fold_expr(e) for e in keys), tuple(fold_expr(e) for e in aggs)
                if all(a is b for a, b in zip(nk + na, keys + aggs)):
                    return node
                return dataclasses.replace(node, keys=nk, aggs=na)
        return node

    return pn.transform_up(plan, visit)
