"""Move limits towards the data: through projections without windows, into each input of a union, into
scans without filters; merge stacked limits.

Example::

    Limit 10                      Select [a, b=a * 2]
      Select [a, b=a * 2]   ->      Scan t.parquet [1 cols] limit 10
        Scan t.parquet
"""

from __future__ import annotations

import dataclasses

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn


def _push(node: pn.PlanNode, n: int | None) -> pn.PlanNode:
    match node:
        case pn.Limit(input=child, n=m):
            return _push(child, m if n is None else min(n, m))
        case pn.Project(input=child, exprs=exprs) if n is not None and not any(ex.has_window(e) for e in exprs):
            return dataclasses.replace(node, input=_push(child, n))
        case pn.Union(inputs=inputs) if n is not None:
            return pn.Limit(dataclasses.replace(node, inputs=tuple(_push(i, n) for i in inputs)), n)
        case pn.Scan(filters=()) if n is not None:
            limit = n if node.limit is None else min(n, node.limit)
            return dataclasses.replace(node, limit=limit)
    kids = node.children()
    new = pn.replace_inputs(node, tuple(_push(k, None) for k in kids)) if kids else node
    return new if n is None else pn.Limit(new, n)


def push_limits(plan: pn.PlanNode) -> pn.PlanNode:
    """Push every limit as far down as it safely goes."""
    return _push(plan, None)
