"""Which columns of a plan can hold no null, from what the input files guarantee.

Parquet files declare fields ``not null`` (TPC-H data from ``tpchgen-cli`` does for every column). Engines
use this to skip null bookkeeping they would otherwise need for the semantics, such as the all-null check
of a grouped ``sum`` or the is-null flags of shuffle keys. Unknown means "may be null": the analysis only
ever answers ``True`` when it is sure.
"""

from __future__ import annotations

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn

# arithmetic and comparisons of non-null values are non-null (integers wrap, floats give inf/NaN);
# division, floor division and modulo give null for a zero divisor
_NULL_FREE_OPS = frozenset(("+", "-", "*", "**", *ex.COMPARISON_OPS))


def nonnull_columns(node: pn.PlanNode) -> frozenset[str]:
    """Columns of ``node``'s output that can hold no null.

    >>> import pyarrow as pa, unistack as us
    >>> t = pa.table({"a": pa.array([1, 2]), "b": pa.array([1, None])},
    ...              schema=pa.schema([pa.field("a", pa.int64(), nullable=False), ("b", pa.int64())]))
    >>> import pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet"); pq.write_table(t, path)
    >>> sorted(nonnull_columns(us.read_parquet(path).with_columns(c=us.col("a") + 1)._plan))
    ['a', 'c']
    """
    match node:
        case pn.Scan(source=pn.FileSource(format="parquet", file_schema=schema)):
            return frozenset(f.name for f in schema if not f.nullable) & set(node.schema.names)
        case pn.Filter() | pn.Sort() | pn.Limit() | pn.Distinct():
            return nonnull_columns(node.input)
        case pn.Project(input=inp, exprs=exprs):
            below = nonnull_columns(inp)
            return frozenset(ex.output_name(e) for e in exprs if never_null(e, below))
        case pn.Aggregate(input=inp, keys=keys, aggs=aggs) if keys:
            below = nonnull_columns(inp)
            counts = {ex.output_name(a) for a in aggs if _is_count(a)}
            return frozenset(ex.output_name(k) for k in keys if never_null(k, below)) | counts
        case pn.Join(how=how):
            keep = {"inner": ("left", "right", "key"), "left": ("left", "key"), "semi": ("left", "key"),
                    "anti": ("left", "key"), "right": ("right",), "cross": ("left", "right", "key")}.get(how, ())
            left, right = nonnull_columns(node.left), nonnull_columns(node.right)
            out = set()
            for c in node.output_columns:
                if c.side in keep and c.source in (right if c.side == "right" else left):
                    out.add(c.name)
            return frozenset(out)
    return frozenset()


def _is_count(node: ex.ExprNode) -> bool:
    while isinstance(node, ex.Alias):
        node = node.operand
    return isinstance(node, ex.Agg) and node.func in ("count", "len", "n_unique")


def never_null(node: ex.ExprNode, nonnull: frozenset[str]) -> bool:
    """Whether a row-level expression can never be null, given columns known to hold no null.

    >>> import unistack as us
    >>> never_null((us.col("a") * 2)._node, frozenset({"a"})), never_null((us.col("a") / 2)._node, frozenset({"a"}))
    (True, False)
    """
    match node:
        case ex.Column(name=name):
            return name in nonnull
        case ex.Literal(value=value):
            return value is not None
        case ex.Alias(operand=operand):
            return never_null(operand, nonnull)
        case ex.BinaryOp(op=op, left=left, right=right) if op in _NULL_FREE_OPS:
            return never_null(left, nonnull) and never_null(right, nonnull)
        case ex.Case(branches=branches, otherwise=otherwise):
            # a branch is cast to the result type, which can only fail (null) for a non-literal of another type
            values = [v for _, v in branches] + [otherwise]
            return all(never_null(v, nonnull) and (isinstance(v, ex.Literal) or v.dtype == node.dtype)
                       for v in values)
        case ex.Call(name="is_null" | "is_not_null"):
            return True
    return False
