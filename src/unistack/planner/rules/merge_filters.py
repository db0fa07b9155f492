"""Merge stacked filters into one: ``Filter a`` over ``Filter b`` becomes ``Filter b & a``.

Example::

    Filter x < 10              Filter (x > 1) & (x < 10)
      Filter x > 1      ->       Scan ...
        Scan ...
"""

from __future__ import annotations

from unistack.plan import nodes as pn
from unistack.planner.rules._util import conjoin, conjuncts


def merge_filters(plan: pn.PlanNode) -> pn.PlanNode:
    """Merge every chain of directly nested filters."""

    def visit(node: pn.PlanNode) -> pn.PlanNode:
        if isinstance(node, pn.Filter) and isinstance(node.input, pn.Filter):
            inner = node.input
            return pn.Filter(inner.input, conjoin(conjuncts(inner.predicate) + conjuncts(node.predicate)))
        return node

    return pn.transform_up(plan, visit)
