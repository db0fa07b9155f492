"""The operations a plan uses, named the way engines declare what they support.

Names: ``node:<Node>``, ``join:<how>``, ``format:<fmt>``, ``source:<kind>``, ``expr:<Node>``,
``op:<operator>``, ``function:<name>``, ``agg:<name>``, ``window:<name>``, ``window:over``.
"""

from __future__ import annotations

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn


def node_expressions(node: pn.PlanNode) -> tuple[ex.ExprNode, ...]:
    """The expressions held directly by a plan node."""
    match node:
        case pn.Scan(filters=filters):
            return filters
        case pn.Project(exprs=exprs):
            return exprs
        case pn.Filter(predicate=predicate):
            return (predicate,)
        case pn.Aggregate(keys=keys, aggs=aggs):
            return keys + aggs
        case pn.Sort(keys=keys):
            return keys
    return ()


def expr_operations(node: ex.ExprNode) -> set[str]:
    ops: set[str] = set()
    for sub in node.walk():
        match sub:
            case ex.BinaryOp(op=op):
                ops.add(f"op:{op}")
            case ex.UnaryOp(op=op):
                ops.add(f"op:{op}")
            case ex.Call(name=name):
                ops.add(f"function:{name}")
            case ex.Agg(func=func):
                ops.add(f"agg:{func}")
            case ex.WindowFunc(func=func):
                ops.add(f"window:{func}")
            case ex.Over():
                ops.add("window:over")
            case ex.Cast():
                ops.add("expr:Cast")
            case ex.Case():
                ops.add("expr:Case")
    return ops


def operations(plan: pn.PlanNode) -> set[str]:
    """Every operation name the plan needs.

    Examples
    --------
    >>> import unistack as us
    >>> sorted(operations(us.from_dict({"a": [1]}).filter(us.col("a") > 0).plan))
    ['node:Filter', 'node:Scan', 'op:>', 'source:arrow']
    """
    # planning and the engine's own check both ask for the plan just optimized: remember the last few
    hit = _recent.get(id(plan))
    if hit is not None and hit[0] is plan:
        return set(hit[1])
    ops = _operations(plan)
    known_operations(plan, frozenset(ops))
    return ops


def known_operations(plan: pn.PlanNode, ops: frozenset[str]) -> None:
    """Tell :func:`operations` the operations of ``plan``, known from elsewhere (the planner's memo of a plan
    with the same text), so the engine's own check of the plan does not walk it again.

    Examples
    --------
    >>> import unistack as us
    >>> plan = us.from_dict({"a": [1]}).plan
    >>> known_operations(plan, frozenset({"node:Scan", "source:arrow"}))
    >>> sorted(operations(plan))
    ['node:Scan', 'source:arrow']
    """
    if len(_recent) >= 16 and id(plan) not in _recent:
        _recent.pop(next(iter(_recent)))
    _recent[id(plan)] = (plan, ops)


_recent: dict[int, tuple[pn.PlanNode, frozenset[str]]] = {}  # id -> (plan kept alive, so ids stay unique)


def _operations(plan: pn.PlanNode) -> set[str]:
    ops: set[str] = set()
    for node in plan.walk():
        ops.add(f"node:{type(node).__name__}")
        if isinstance(node, pn.Join):
            ops.add(f"join:{node.how}")
        if isinstance(node, pn.Scan):
            src = node.source
            if isinstance(src, pn.FileSource):
                ops.add(f"format:{src.format}")
            else:
                ops.add("source:arrow")
        for e in node_expressions(node):
            ops |= expr_operations(e)
    return ops
