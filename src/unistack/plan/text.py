"""Plan and expression text: one plan node per line, indented by depth (as Polars and DataFusion do)."""

from __future__ import annotations

import datetime as _dt
import decimal
import os
from collections.abc import Callable

from unistack.plan.exprs import (
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
from unistack.plan.nodes import (
    Aggregate,
    Distinct,
    FileSource,
    Filter,
    InMemorySource,
    Join,
    Limit,
    MapBatches,
    PersistedSource,
    PlanNode,
    Project,
    Scan,
    Sort,
    Union,
)
from unistack.plan.types import describe


def literal_text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return repr(value)


def expr_text(node: ExprNode) -> str:
    """Compact text of an expression.

    Examples
    --------
    >>> from unistack.plan.exprs import Agg, BinaryOp, Column, Literal
    >>> expr_text(Agg("sum", BinaryOp("*", Column("price"), BinaryOp("-", Literal(1), Column("disc")))))
    'sum(price * (1 - disc))'
    """
    return _expr(node, top=True)


def _expr(node: ExprNode, top: bool = False) -> str:
    match node:
        case Column(name=name):
            return name if name.isidentifier() else f'"{name}"'
        case Literal(value=value):
            return literal_text(value)
        case Alias(operand=operand, name=name):
            return f"{_expr(operand, top=True)} AS {name}"
        case BinaryOp(op=op, left=left, right=right):
            text = f"{_expr(left)} {op} {_expr(right)}"
            return text if top else f"({text})"
        case UnaryOp(op="neg", operand=operand):
            return f"-{_expr(operand)}"
        case UnaryOp(op="not", operand=operand):
            return f"~{_expr(operand)}"
        case Cast(operand=operand, to=to):
            return f"cast({_expr(operand, True)} AS {describe(to)})"
        case Call(name=name, args=args, params=params):
            parts = [_expr(a, True) for a in args] + [literal_text(p) if not isinstance(p, tuple)
                                                      else "[" + ", ".join(map(literal_text, p)) + "]"
                                                      for p in params]
            return f"{name}({', '.join(parts)})"
        case Case(branches=branches, otherwise=otherwise):
            body = " ".join(f"WHEN {_expr(c, True)} THEN {_expr(v, True)}" for c, v in branches)
            return f"CASE {body} ELSE {_expr(otherwise, True)} END"
        case Agg(func="len"):
            return "count()"
        case Agg(func=func, operand=operand):
            assert operand is not None
            return f"{func}({_expr(operand, True)})"
        case WindowFunc(func=func, operand=operand, params=params):
            texts = ([_expr(operand, True)] if operand is not None else []) + [literal_text(p) for p in params]
            return f"{func}({', '.join(texts)})"
        case Over(operand=operand, partition_by=part, order_by=order, descending=desc):
            spec = []
            if part:
                spec.append("partition by " + ", ".join(_expr(p, True) for p in part))
            if order:
                keys = [_expr(o, True) + (" desc" if d else "") for o, d in zip(order, desc)]
                spec.append("order by " + ", ".join(keys))
            return f"{_expr(operand, True)} OVER ({' '.join(spec)})"
    return type(node).__name__


def _exprs(exprs: tuple[ExprNode, ...]) -> str:
    return "[" + ", ".join(expr_text(e) for e in exprs) + "]"


def _source_text(node: Scan) -> str:
    src = node.source
    if isinstance(src, FileSource):
        names = [os.path.basename(p) for p in src.paths]
        what = names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} files)"
        head = f"Scan {src.format} {what}"
    elif isinstance(src, InMemorySource):
        head = f"Scan arrow table {src.key} ({src.table.num_rows} rows)"
    elif isinstance(src, PersistedSource):
        head = f"Scan persisted in {src.engine} {src.key} ({src.rows} rows)"
    else:
        head = f"Scan {type(src).__name__}"
    total = len(src.schema)
    if node.columns is not None:
        head += f" [{len(node.columns)} of {total} cols: {', '.join(node.columns)}]"
    else:
        head += f" [{total} cols]"
    if node.filters:
        head += " filter " + " AND ".join(expr_text(f) for f in node.filters)
    if node.limit is not None:
        head += f" limit {node.limit}"
    return head


def node_text(node: PlanNode) -> str:
    """One line describing a plan node (without its children)."""
    match node:
        case Scan():
            return _source_text(node)
        case Project(exprs=exprs):
            return f"Select {_exprs(exprs)}"
        case Filter(predicate=predicate):
            return f"Filter {expr_text(predicate)}"
        case Aggregate(keys=keys, aggs=aggs):
            by = f"by {_exprs(keys)} " if keys else ""
            return f"Aggregate {by}{_exprs(aggs)}"
        case Join(how=how, left_on=lo, right_on=ro):
            if how == "cross":
                return "Join cross"
            cond = ", ".join(f"{a} = {b}" for a, b in zip(lo, ro))
            return f"Join {how} {cond}"
        case Sort(keys=keys, descending=desc, nulls_last=nl):
            parts = []
            for k, d, n in zip(keys, desc, nl):
                parts.append(expr_text(k) + (" desc" if d else "") + ("" if n else " nulls first"))
            return f"Sort [{', '.join(parts)}]"
        case Limit(n=n):
            return f"Limit {n}"
        case Distinct(subset=subset):
            return "Distinct" + (f" on [{', '.join(subset)}]" if subset else "")
        case Union(inputs=inputs):
            return f"Union all ({len(inputs)} inputs)"
        case MapBatches(name=name, output_schema=schema):
            return f"MapBatches {name} -> [{', '.join(schema.names)}]"
    return type(node).__name__


def plan_text(node: PlanNode, annotate: Callable[[PlanNode], str] | None = None) -> str:
    """The whole plan, one node per line, children indented two spaces below their parent.

    ``annotate`` may add a suffix per node (the planner adds estimated rows there).
    """
    lines: list[str] = []

    def visit(n: PlanNode, depth: int) -> None:
        line = "  " * depth + node_text(n)
        if annotate is not None:
            line = f"{line}{annotate(n)}"
        lines.append(line)
        for child in n.children():
            visit(child, depth + 1)

    visit(node, 0)
    return "\n".join(lines)
