"""Read and compute only the columns something above needs: scans list their columns, projections and
aggregates drop unused outputs.

Example::

    Select [a]                       Select [a]
      Filter b > 0          ->         Filter b > 0
        Scan t.parquet [5 cols]          Scan t.parquet [2 of 5 cols: a, b]

A node never loses its last column (row counts must survive), a full ``distinct`` keeps all its input
columns, and columns whose removal would change a join's suffixed names are kept.
"""

from __future__ import annotations

import dataclasses

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn


def _used(exprs: tuple[ex.ExprNode, ...] | list[ex.ExprNode]) -> set[str]:
    out: set[str] = set()
    for e in exprs:
        out |= ex.columns_used(e)
    return out


def _prune(node: pn.PlanNode, required: set[str] | None) -> pn.PlanNode:
    need: set[str] | None
    match node:
        case pn.Scan(source=source, filters=filters):
            if required is None:
                return node
            scan_need = required | _used(filters)
            names = source.schema.names
            cols = tuple(n for n in names if n in scan_need) or (names[0],)
            return dataclasses.replace(node, columns=None if len(cols) == len(names) else cols)
        case pn.Project(input=child, exprs=exprs):
            kept = exprs if required is None else tuple(e for e in exprs if ex.output_name(e) in required)
            kept = kept or exprs[:1]
            return dataclasses.replace(node, input=_prune(child, _used(kept)), exprs=kept)
        case pn.Filter(input=child, predicate=pred):
            need = None if required is None else required | ex.columns_used(pred)
            return dataclasses.replace(node, input=_prune(child, need))
        case pn.Aggregate(input=child, keys=keys, aggs=aggs):
            kept = aggs if required is None else tuple(a for a in aggs if ex.output_name(a) in required)
            if not kept and not keys:
                kept = aggs[:1]
            return dataclasses.replace(node, input=_prune(child, _used(keys + kept)), aggs=kept)
        case pn.Sort(input=child, keys=keys):
            need = None if required is None else required | _used(keys)
            return dataclasses.replace(node, input=_prune(child, need))
        case pn.Limit(input=child):
            return dataclasses.replace(node, input=_prune(child, required))
        case pn.Distinct(input=child, subset=subset):
            need = None if required is None or subset is None else required | set(subset)
            return dataclasses.replace(node, input=_prune(child, need))
        case pn.Join():
            return _prune_join(node, required)
        case pn.Union(inputs=inputs):
            if required is None:
                return dataclasses.replace(node, inputs=tuple(_prune(i, None) for i in inputs))
            names = [n for n in node.schema.names if n in required] or node.schema.names[:1]
            pruned = []
            for i in inputs:
                child = _prune(i, set(names))
                cols = tuple(_column(n, child) for n in names)
                pruned.append(child if child.schema.names == names else pn.Project(child, cols))
            return dataclasses.replace(node, inputs=tuple(pruned))
        case pn.MapBatches(input=child):
            return dataclasses.replace(node, input=_prune(child, None))
    return node


def _column(name: str, node: pn.PlanNode) -> ex.ExprNode:
    col = ex.Column(name)
    object.__setattr__(col, "dtype", node.schema.field(name).type)
    return col


def _prune_join(node: pn.Join, required: set[str] | None) -> pn.PlanNode:
    if required is None:
        return dataclasses.replace(node, left=_prune(node.left, None), right=_prune(node.right, None))
    left_need, right_need = set(node.left_on), set(node.right_on)
    left_names = set(node.left.schema.names)
    for c in node.output_columns:
        if c.name not in required:
            continue
        if c.side in ("left", "key"):
            left_need.add(c.source)
        if c.side == "right":
            right_need.add(c.source)
            if c.source in left_names:  # its suffix depends on the left column existing
                left_need.add(c.source)
    return dataclasses.replace(node, left=_prune(node.left, left_need), right=_prune(node.right, right_need))


def prune_projections(plan: pn.PlanNode) -> pn.PlanNode:
    """Prune unused columns throughout the plan (the root keeps all its output columns)."""
    return _prune(plan, None)
