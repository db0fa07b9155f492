"""Helpers shared by the rules: building typed boolean expressions, splitting conjunctions."""

from __future__ import annotations

import pyarrow as pa

from unistack.plan import exprs as ex


def typed(node: ex.ExprNode, dtype: pa.DataType) -> ex.ExprNode:
    object.__setattr__(node, "dtype", dtype)
    return node


def conjuncts(pred: ex.ExprNode) -> list[ex.ExprNode]:
    """``a & (b & c)`` -> ``[a, b, c]``."""
    if isinstance(pred, ex.BinaryOp) and pred.op == "&":
        return conjuncts(pred.left) + conjuncts(pred.right)
    return [pred]


def conjoin(preds: list[ex.ExprNode]) -> ex.ExprNode:
    """``[a, b, c]`` -> ``a & b & c`` (typed bool)."""
    out = preds[0]
    for p in preds[1:]:
        out = typed(ex.BinaryOp("&", out, p), pa.bool_())
    return out
