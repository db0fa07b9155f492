"""Drop a sort whose order nothing uses.

Row order is defined only right after a sort and kept only by row-wise nodes directly above it (docs/
semantics.md, S-ORDER): a union, a join, a distinct or a group-by whose aggregates ignore input order
(everything but ``first``/``last``) returns its rows in any order. A sort reaching one of those through
filters and row-wise projections only is wasted work (a full sort, or on SQL engines that number sorted
rows, a window that some planners cannot place, e.g. Flink's over an input it proved empty), so it goes.

Example::

    Union all (2 inputs)              Union all (2 inputs)
      Sort [a]                  ->      Scan ...
        Scan ...                        Filter a > 1
      Filter a > 1                        Scan ...
        Sort [a]
          Scan ...
"""

from __future__ import annotations

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn

ORDER_AWARE_AGGREGATES = ("first", "last")


def _row_wise(expr: ex.ExprNode) -> bool:
    """True when the expression reads one row at a time (no window and no aggregate inside)."""
    return not any(isinstance(e, (ex.Over, ex.WindowFunc, ex.Agg)) for e in expr.walk())


def _uses_order(node: pn.PlanNode) -> bool:
    """True when ``node``'s result depends on the order of its input rows."""
    if isinstance(node, (pn.Union, pn.Join, pn.Distinct)):
        return False
    if isinstance(node, pn.Aggregate):
        return any(isinstance(e, ex.Agg) and e.func in ORDER_AWARE_AGGREGATES for a in node.aggs for e in a.walk())
    return True


def _without_sorts(node: pn.PlanNode) -> pn.PlanNode:
    """``node`` with the sorts removed that only row-wise nodes separate from it (its order being unused)."""
    if isinstance(node, pn.Sort):
        return _without_sorts(node.input)
    if isinstance(node, pn.Filter) and _row_wise(node.predicate):
        inner = _without_sorts(node.input)
        return node if inner is node.input else pn.Filter(inner, node.predicate)
    if isinstance(node, pn.Project) and all(_row_wise(e) for e in node.exprs):
        inner = _without_sorts(node.input)
        return node if inner is node.input else pn.Project(inner, node.exprs)
    return node


def drop_unused_sorts(plan: pn.PlanNode) -> pn.PlanNode:
    """Remove every sort whose order is discarded by the node consuming it."""

    def visit(node: pn.PlanNode) -> pn.PlanNode:
        if _uses_order(node):
            return node
        kids = node.children()
        new = tuple(_without_sorts(k) for k in kids)
        if any(a is not b for a, b in zip(new, kids)):
            return pn.replace_inputs(node, new)
        return node

    return pn.transform_up(plan, visit)
