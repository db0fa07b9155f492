"""Move filter conditions as close to the data as possible: below projections, sorts, unions,
aggregates (conditions on group keys), into the matching side of joins, and into scans.

Example::

    Filter a > 1                          Join inner k = k
      Join inner k = k          ->          Scan l.parquet filter a > 1
        Scan l.parquet                      Scan r.parquet
        Scan r.parquet

Conditions are split at ``&``; each part moves on its own and stops where moving it further could change
the result (below a limit, a user function, a window, or the null-extended side of an outer join).
"""

from __future__ import annotations

import dataclasses

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.planner.rules._util import conjoin, conjuncts


def _filter(node: pn.PlanNode, preds: list[ex.ExprNode]) -> pn.PlanNode:
    return pn.Filter(node, conjoin(preds)) if preds else node


def _push(node: pn.PlanNode, preds: list[ex.ExprNode]) -> pn.PlanNode:
    """Place ``preds`` (conditions over ``node``'s output) as deep as they can go below ``node``."""
    match node:
        case pn.Filter(input=child, predicate=pred):
            return _push(child, conjuncts(pred) + preds)
        case pn.Scan():
            if not preds:
                return node
            if node.limit is not None:
                return _filter(node, preds)
            return dataclasses.replace(node, filters=node.filters + tuple(preds))
        case pn.Project(input=child, exprs=exprs):
            if any(ex.has_window(e) for e in exprs):
                return _filter(dataclasses.replace(node, input=_push(child, [])), preds)
            mapping = {ex.output_name(e): ex.strip_alias(e) for e in exprs}
            down = [ex.rename_columns(p, mapping) for p in preds]
            return dataclasses.replace(node, input=_push(child, down))
        case pn.Sort(input=child):
            return dataclasses.replace(node, input=_push(child, preds))
        case pn.Distinct(input=child, subset=None):
            return dataclasses.replace(node, input=_push(child, preds))
        case pn.Union(inputs=inputs):
            return dataclasses.replace(node, inputs=tuple(_push(i, list(preds)) for i in inputs))
        case pn.Aggregate(input=child, keys=keys):
            plain = {ex.output_name(k): k for k in keys if isinstance(k, ex.Column)}
            down = [p for p in preds if ex.columns_used(p) and ex.columns_used(p) <= set(plain)]
            stay = [p for p in preds if not any(p is d for d in down)]
            return _filter(dataclasses.replace(node, input=_push(child, down)), stay)
        case pn.Join():
            return _push_join(node, preds)
    # Limit, MapBatches, Distinct on a subset: conditions stay above; keep optimizing below.
    kids = node.children()
    new = pn.replace_inputs(node, tuple(_push(k, []) for k in kids)) if kids else node
    return _filter(new, preds)


def _push_join(node: pn.Join, preds: list[ex.ExprNode]) -> pn.PlanNode:
    left_ok = node.how in ("inner", "left", "semi", "anti", "cross")
    right_ok = node.how in ("inner", "right", "cross")
    to_left: dict[str, ex.ExprNode] = {}
    to_right: dict[str, ex.ExprNode] = {}
    lschema, rschema = node.left.schema, node.right.schema
    for c in node.output_columns:
        if c.side == "left" or (c.side == "key" and node.how in ("inner", "left")):
            to_left[c.name] = _col(c.source, lschema)
        if c.side == "right" or (c.side == "key" and node.how in ("inner", "right")):
            to_right[c.name] = _col(c.right_source or c.source if c.side == "key" else c.source, rschema)
    left_preds, right_preds, stay = [], [], []
    for p in preds:
        used = ex.columns_used(p)
        if used and left_ok and used <= set(to_left):
            left_preds.append(ex.rename_columns(p, to_left))
        elif used and right_ok and used <= set(to_right):
            right_preds.append(ex.rename_columns(p, to_right))
        else:
            stay.append(p)
    new = dataclasses.replace(node, left=_push(node.left, left_preds), right=_push(node.right, right_preds))
    return _filter(new, stay)


def _col(name: str, schema: object) -> ex.ExprNode:
    col = ex.Column(name)
    object.__setattr__(col, "dtype", schema.field(name).type)  # type: ignore[attr-defined]
    return col


def push_predicates(plan: pn.PlanNode) -> pn.PlanNode:
    """Push every filter condition down as far as it safely goes."""
    return _push(plan, [])
