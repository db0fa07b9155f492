"""The optimizer: rules applied in one fixed order.

Each rule is a pure function ``PlanNode -> PlanNode`` in :mod:`unistack.planner.rules`; the result has
the same schema and the same rows (under docs/semantics.md) as the input.
"""

from __future__ import annotations

from collections.abc import Callable

from unistack.plan.nodes import PlanNode
from unistack.planner.rules.drop_unused_sorts import drop_unused_sorts
from unistack.planner.rules.fold_constants import fold_constants
from unistack.planner.rules.merge_filters import merge_filters
from unistack.planner.rules.prune_projections import prune_projections
from unistack.planner.rules.push_limits import push_limits
from unistack.planner.rules.push_predicates import push_predicates

Rule = Callable[[PlanNode], PlanNode]

RULES: tuple[Rule, ...] = (
    fold_constants,
    merge_filters,
    push_predicates,
    prune_projections,
    drop_unused_sorts,  # after pruning: a window or first() nothing reads no longer keeps a sort
    prune_projections,  # again: the dropped sorts' keys
    push_limits,
)


def optimize(plan: PlanNode, rules: tuple[Rule, ...] = RULES) -> PlanNode:
    """Apply ``rules`` in order.

    Examples
    --------
    >>> import unistack as us
    >>> from unistack.plan.text import plan_text
    >>> df = us.from_dict({"a": [1, 2], "b": [3, 4]}).select("a").filter(us.col("a") > 1 + 0)
    >>> print(plan_text(optimize(df.plan)).replace(df.plan.input.input.source.key, "t"))
    Select [a]
      Scan arrow table t (2 rows) [1 of 2 cols: a] filter a > 1
    """
    for rule in rules:
        plan = rule(plan)
    assert plan.schema is not None
    return plan
