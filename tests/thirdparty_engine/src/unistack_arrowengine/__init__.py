"""A tiny unistack engine on ``pyarrow.compute``, registered through the ``unistack.engines`` entry point.

It implements a small part of the plan language and declares the rest unsupported with reasons, which the
conformance suite turns into expected ``UnsupportedOperationError``s.

Examples
--------
>>> import unistack as us
>>> df = us.from_dict({"k": ["a", "b", "a"], "v": [1, 2, 3]}).group_by("k").agg(us.col("v").sum()).sort("k")
>>> df.collect(engine="arrowcompute").to_pydict()
{'k': ['a', 'b'], 'v': [4, 2]}
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from unistack.backends.base import Capabilities, EngineStatus, conform
from unistack.errors import UnsupportedOperationError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan import types as t

IMPLEMENTED = {
    "node:Scan", "node:Project", "node:Filter", "node:Aggregate", "node:Join", "node:Sort", "node:Limit",
    "node:Union", "source:arrow",
    "join:inner", "join:left", "join:right", "join:full", "join:semi", "join:anti",
    "op:+", "op:-", "op:*", "op:==", "op:!=", "op:<", "op:<=", "op:>", "op:>=", "op:&", "op:|", "op:not",
    "function:is_null", "function:is_not_null", "function:fill_null", "function:coalesce", "function:str_len",
    "function:str_starts_with", "function:str_ends_with", "function:str_contains",
    "agg:sum", "agg:count", "agg:len", "agg:mean",
}
UNSUPPORTED = {
    "agg:min": "pyarrow.compute min/max skip NaN (the semantics say NaN is the largest value)",
    "agg:max": "pyarrow.compute min/max skip NaN (the semantics say NaN is the largest value)",
    "node:Distinct": "not implemented in this example engine",
    "join:cross": "not implemented in this example engine",
    "window:over": "pyarrow.compute has no window functions",
}

_JOIN_TYPES = {"inner": "inner", "left": "left outer", "right": "right outer", "full": "full outer",
               "semi": "left semi", "anti": "left anti"}
_AGGS = {"sum": ("sum", pc.ScalarAggregateOptions(min_count=1)),
         "mean": ("mean", pc.ScalarAggregateOptions(min_count=1)),
         "count": ("count", pc.CountOptions(mode="only_valid"))}


class ArrowComputeEngine:
    """Runs plans with pyarrow.compute, in process.

    Examples
    --------
    >>> ArrowComputeEngine().name
    'arrowcompute'
    """

    name = "arrowcompute"

    def capabilities(self) -> Capabilities:
        return Capabilities.from_translator(IMPLEMENTED, UNSUPPORTED)

    def status(self) -> EngineStatus:
        return EngineStatus(installed=True, warm=True, cores=os.cpu_count(), detail=f"pyarrow {pa.__version__}")

    def execute(self, plan: pn.PlanNode) -> pa.Table:
        return conform(run(plan), plan.schema)

    def explain_native(self, plan: pn.PlanNode) -> str:
        return f"pyarrow.compute evaluation of {type(plan).__name__}"


# -- expressions ----------------------------------------------------------------------------------------------

def _is_float(dtype: pa.DataType | None) -> bool:
    return dtype is not None and pa.types.is_floating(dtype)


def _nan(x: Any) -> Any:
    return pc.is_nan(x)


def _eq(a: Any, b: Any, floats: bool) -> Any:
    out = pc.equal(a, b)
    return pc.or_kleene(out, pc.and_kleene(_nan(a), _nan(b))) if floats else out


def _lt(a: Any, b: Any, floats: bool) -> Any:
    out = pc.less(a, b)
    return pc.or_kleene(out, pc.and_kleene(pc.invert(_nan(a)), _nan(b))) if floats else out


def evaluate(node: ex.ExprNode, table: pa.Table) -> Any:
    """An expression over ``table``: an Arrow array or scalar."""
    match node:
        case ex.Column(name=name):
            return table.column(name)
        case ex.Alias(operand=operand):
            return evaluate(operand, table)
        case ex.Literal(value=value):
            dtype = node.dtype if node.dtype is not None and not t.is_null(node.dtype) else pa.int64()
            return pa.scalar(value, type=dtype)
        case ex.UnaryOp(op="not", operand=operand):
            return pc.invert(evaluate(operand, table))
        case ex.BinaryOp(op=op, left=left, right=right):
            return _binary(node, op, left, right, table)
        case ex.Call(name=name, args=args, params=params):
            values = [evaluate(a, table) for a in args]
            if name == "is_null":
                return pc.is_null(values[0])
            if name == "is_not_null":
                return pc.is_valid(values[0])
            if name in ("fill_null", "coalesce"):
                return pc.coalesce(*[pc.cast(v, node.dtype) for v in values])
            if name == "str_len":
                return pc.cast(pc.utf8_length(values[0]), pa.int64())
            if name == "str_starts_with":
                return pc.starts_with(values[0], params[0])
            if name == "str_ends_with":
                return pc.ends_with(values[0], params[0])
            if name == "str_contains":
                return pc.match_substring(values[0], params[0])
    raise UnsupportedOperationError("arrowcompute", type(node).__name__)


def _binary(node: ex.BinaryOp, op: str, left: ex.ExprNode, right: ex.ExprNode, table: pa.Table) -> Any:
    a, b = evaluate(left, table), evaluate(right, table)
    if op in ("&", "|"):
        return pc.and_kleene(a, b) if op == "&" else pc.or_kleene(a, b)
    if op in ("==", "!=", "<", "<=", ">", ">="):
        common = t.supertype(left.dtype, right.dtype)
        if t.is_null(common):
            return pa.scalar(None, pa.bool_())
        a, b = pc.cast(a, common), pc.cast(b, common)
        floats = _is_float(common)
        if op == "==":
            return _eq(a, b, floats)
        if op == "!=":
            return pc.invert(_eq(a, b, floats))
        if op == "<":
            return _lt(a, b, floats)
        if op == ">":
            return _lt(b, a, floats)
        if op == "<=":
            return pc.or_kleene(_lt(a, b, floats), _eq(a, b, floats))
        return pc.or_kleene(_lt(b, a, floats), _eq(a, b, floats))
    out = node.dtype
    assert out is not None
    if not pa.types.is_decimal(out):
        a, b = pc.cast(a, out), pc.cast(b, out)
    fn = {"+": pc.add, "-": pc.subtract, "*": pc.multiply}[op]  # unchecked: integers wrap around
    return pc.cast(fn(a, b), out)


def _as_array(value: Any, n: int) -> pa.ChunkedArray:
    if isinstance(value, pa.Scalar):
        return pa.chunked_array([pa.repeat(value, n)], type=value.type)
    if isinstance(value, pa.Array):
        return pa.chunked_array([value], type=value.type)
    return value


def project(table: pa.Table, exprs: tuple[ex.ExprNode, ...]) -> pa.Table:
    columns = [_as_array(evaluate(e, table), table.num_rows) for e in exprs]
    return pa.Table.from_arrays(columns, names=[ex.output_name(e) for e in exprs])


# -- plan nodes -----------------------------------------------------------------------------------------------

def run(node: pn.PlanNode) -> pa.Table:
    """Run a plan node and return its rows (types are conformed by the engine afterwards)."""
    match node:
        case pn.Scan(source=pn.InMemorySource() as src):
            table = src.table
            table = table.select(list(node.columns)) if node.columns is not None else table
            for f in node.filters:
                table = table.filter(_as_array(evaluate(f, table), table.num_rows))
            return table.slice(0, node.limit) if node.limit is not None else table
        case pn.Project(input=child, exprs=exprs):
            return project(run(child), exprs)
        case pn.Filter(input=child, predicate=predicate):
            table = run(child)
            mask = _as_array(evaluate(predicate, table), table.num_rows)
            return table.filter(mask)
        case pn.Aggregate():
            return _aggregate(node)
        case pn.Join():
            return _join(node)
        case pn.Sort():
            return _sort(node)
        case pn.Limit(input=child, n=n):
            return run(child).slice(0, n)
        case pn.Union(inputs=inputs):
            return pa.concat_tables([conform(run(i), node.schema) for i in inputs])
    raise UnsupportedOperationError("arrowcompute", type(node).__name__)


def _aggregate(node: pn.Aggregate) -> pa.Table:
    table = run(node.input)
    key_names = [f"__k{i}" for i in range(len(node.keys))]
    aggs: list[ex.Agg] = [a for e in node.aggs for a in e.walk() if isinstance(a, ex.Agg)]
    inputs = project(table, tuple(ex.Alias(k, n) for k, n in zip(node.keys, key_names))) if node.keys else None
    arrays: list[pa.ChunkedArray] = []
    names: list[str] = []
    specs: list[tuple[Any, str, Any]] = []
    outputs: list[str] = []
    for i, agg in enumerate(aggs):
        if agg.func == "len":
            if ([], "count_all", None) not in specs:
                specs.append(([], "count_all", None))
            outputs.append("count_all")
            continue
        assert agg.operand is not None
        name = f"__a{i}"
        arrays.append(_as_array(evaluate(agg.operand, table), table.num_rows))
        names.append(name)
        fn, options = _AGGS[agg.func]
        specs.append((name, fn, options))
        outputs.append(f"{name}_{fn}")
    work = pa.Table.from_arrays([*(inputs.columns if inputs is not None else []), *arrays],
                                names=[*key_names, *names]) if (arrays or inputs is not None) else pa.table(
        {"__dummy": pa.nulls(table.num_rows, pa.int8())})
    result = work.group_by(key_names, use_threads=False).aggregate(specs)
    temps = {id(agg): f"__r{i}" for i, agg in enumerate(aggs)}
    renamed = pa.Table.from_arrays([*(result.column(k) for k in key_names), *(result.column(o) for o in outputs)],
                                   names=[*key_names, *temps.values()])

    def substitute(e: ex.ExprNode) -> ex.ExprNode:
        if isinstance(e, ex.Agg):
            col = ex.Column(temps[id(e)])
            object.__setattr__(col, "dtype", e.dtype)
            return col
        kids = e.children()
        if not kids:
            return e
        out = ex.replace_children(e, tuple(substitute(k) for k in kids))
        object.__setattr__(out, "dtype", e.dtype)
        return out

    keys = [ex.Alias(ex.Column(n), ex.output_name(k)) for n, k in zip(key_names, node.keys)]
    return project(renamed, (*keys, *(ex.Alias(substitute(a), ex.output_name(a)) for a in node.aggs)))


def _join(node: pn.Join) -> pa.Table:
    left, right = run(node.left), run(node.right)
    rnames = {name: f"__r{i}" for i, name in enumerate(right.column_names)}
    right = right.rename_columns([rnames[n] for n in right.column_names])
    joined = left.join(right, keys=list(node.left_on), right_keys=[rnames[k] for k in node.right_on],
                       join_type=_JOIN_TYPES[node.how], use_threads=False, coalesce_keys=False)
    columns, names = [], []
    for c in node.output_columns:
        if c.side == "left":
            columns.append(joined.column(c.source))
        elif c.side == "right":
            columns.append(joined.column(rnames[c.source]))
        else:
            r = rnames[c.right_source or c.source]
            if node.how == "full":
                columns.append(pc.coalesce(joined.column(c.source), joined.column(r)))
            elif node.how == "right":
                columns.append(joined.column(r))
            else:
                columns.append(joined.column(c.source))
        names.append(c.name)
    return pa.Table.from_arrays(columns, names=names)


def _sort(node: pn.Sort) -> pa.Table:
    table = run(node.input)
    helpers, keys = [], []
    for i, (key, desc, nulls_last) in enumerate(zip(node.keys, node.descending, node.nulls_last)):
        values = _as_array(evaluate(key, table), table.num_rows)
        helpers.append((f"__n{i}", pc.is_null(values)))
        keys.append((f"__n{i}", "ascending" if nulls_last else "descending"))
        if _is_float(key.dtype):  # NaN above every number
            helpers.append((f"__nan{i}", pc.fill_null(pc.is_nan(values), False)))
            keys.append((f"__nan{i}", "descending" if desc else "ascending"))
        helpers.append((f"__v{i}", values))
        keys.append((f"__v{i}", "descending" if desc else "ascending"))
    work = table
    for name, array in helpers:
        work = work.append_column(name, array)
    order = pc.sort_indices(work, sort_keys=keys)
    return table.take(order)


def create_engine() -> ArrowComputeEngine:
    """The entry-point factory (``unistack.engines``: ``arrowcompute = unistack_arrowengine:create_engine``).

    Examples
    --------
    >>> create_engine().name
    'arrowcompute'
    """
    return ArrowComputeEngine()
