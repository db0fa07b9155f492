"""Plan -> ``ray.data.Dataset``: one translation per plan node, run inside Ray.

Row-wise expressions are evaluated in Ray workers by ``map_batches`` over Arrow batches with
:mod:`unistack.backends.ray.arrow_eval`; group-by, join, sort, distinct, union and limit use Ray Data's
own operators (hash-shuffle aggregate and join, range-partitioned sort). The semantics of
docs/semantics.md are enforced while translating:

- group keys and aggregate arguments are computed into private columns first, so Ray groups plain
  columns (its Arrow hash aggregation puts all null keys in one group and all NaN keys in another);
- ``sum``/``min``/``max``/``mean`` over no values give null (Ray's aggregates use ``min_count=1``);
  NaN-aware ``min``/``max`` are finished from a NaN count; ``std``/``var`` are null below two values;
- joins run on private key columns (Ray coalesces same-named keys), never matching null keys;
  cross joins join on a constant key;
- sorting goes by encoded keys: a null flag (placing nulls first or last), a NaN flag (NaN above every
  number) and the value with nulls and NaN filled, so Ray's sort never compares nulls or NaN itself.

Window functions and ``first``/``last`` are declared unsupported (Ray Data has no window operator and
its shuffles do not keep input order).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from dataclasses import dataclass
from functools import singledispatch
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from unistack.backends.base import apply_batch_function, canonical_batch
from unistack.backends.persist import persisted_object
from unistack.backends.ray import arrow_eval as ae
from unistack.backends.ray.session import current_session
from unistack.errors import DataSourceError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan import types as t

UNSUPPORTED: dict[str, str] = {
    "window:over": "Ray Data has no window operator (no ordered per-partition computation)",
    **{f"window:{w}": "Ray Data has no window operator" for w in ex.WINDOW_FUNCTIONS},
    "agg:first": "Ray Data's shuffle does not keep input order, so the first value in input order is unknown",
    "agg:last": "Ray Data's shuffle does not keep input order, so the last value in input order is unknown",
}

BATCH_FORMAT = "pyarrow"
USER_FUNCTION_RETRIES = 2


@dataclass(frozen=True)
class Settings:
    """Translation settings: how many partitions Ray's shuffles (group-by, join, distinct) use, and the plan's
    root (a global aggregate there needs no marker row: the engine makes the row of an empty input itself)."""

    shuffle_partitions: int = 4
    root: pn.PlanNode | None = None


# -- batch functions (run inside Ray workers) ----------------------------------------------------------------


def _table(batch: pa.Table | pa.RecordBatch) -> pa.Table:
    return batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])


def _cast_to(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select ``schema``'s columns from a block and cast them (vectorised) to its types."""
    cols = []
    for f in schema:
        c = table.column(f.name)
        if c.type != f.type:
            c = pa.nulls(len(c), f.type) if pa.types.is_null(c.type) else c.cast(f.type)
        cols.append(c)
    return pa.Table.from_arrays(cols, schema=schema)


class _Canonical:
    """Cast every block to a canonical schema (readers and ``from_arrow`` may keep file types)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _cast_to(_table(batch), self.schema)


class _Project:
    def __init__(self, exprs: tuple[ex.ExprNode, ...], schema: pa.Schema) -> None:
        self.exprs, self.schema = exprs, schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        return ae.project(self.exprs, _table(batch), self.schema)


def _cannot_raise(node: ex.ExprNode) -> bool:
    """Whether a predicate only compares and combines columns and literals (it cannot fail on any row)."""
    if isinstance(node, (ex.Column, ex.Literal)):
        return True
    if isinstance(node, ex.BinaryOp) and node.op in (*ex.COMPARISON_OPS, *ex.BOOLEAN_OPS):
        return _cannot_raise(node.left) and _cannot_raise(node.right)
    if isinstance(node, ex.UnaryOp) and node.op == "not":
        return _cannot_raise(node.operand)
    return False


class _Filter:
    """Keep the rows where every predicate is true. The predicates that cannot fail are evaluated on the
    whole block and combined into one mask (one copy of the block instead of one per predicate); the others
    follow one by one, each on the rows the earlier ones kept (a cast guarded by an earlier test)."""

    def __init__(self, predicates: tuple[ex.ExprNode, ...]) -> None:
        n = next((i for i, p in enumerate(predicates) if not _cannot_raise(p)), len(predicates))
        self.combined, self.rest = predicates[:n], predicates[n:]

    def __call__(self, batch: pa.Table) -> pa.Table:
        table = _table(batch)
        if self.combined:
            mask = ae.evaluate_predicate(self.combined[0], table)
            for p in self.combined[1:]:
                mask = pc.and_(mask, ae.evaluate_predicate(p, table))  # null (unknown) drops the row, as filter
            table = table.filter(mask)
        for p in self.rest:
            table = table.filter(ae.evaluate_predicate(p, table))
        return table


class _AddColumns:
    """Append computed columns (private names) to each block, keeping the input columns."""

    def __init__(self, columns: tuple[tuple[str, Callable[[pa.Table], Any]], ...], keep: tuple[str, ...] | None = None
                 ) -> None:
        self.columns, self.keep = columns, keep

    def __call__(self, batch: pa.Table) -> pa.Table:
        table = _table(batch)
        out = table.select(list(self.keep)) if self.keep is not None else table
        for name, fn in self.columns:
            value = fn(table)
            if isinstance(value, pa.Scalar):
                value = ae._as_array(value, value.type, table.num_rows)
            out = out.append_column(name, value)
        return out


class _Expr:
    """A picklable ``table -> array`` for one expression, cast to ``dtype``."""

    def __init__(self, node: ex.ExprNode, dtype: pa.DataType | None = None) -> None:
        self.node, self.dtype = node, dtype

    def __call__(self, table: pa.Table) -> Any:
        value = ae.evaluate(self.node, table)
        if self.dtype is not None and value.type != self.dtype:
            value = ae.cast_value(value, value.type, self.dtype)
        return value


class _Key(_Expr):
    """A grouping, join or distinct key: -0.0 becomes 0.0 (``x + 0.0``), since Arrow hashes and groups the two
    zeros apart and the semantics call them equal (S-NAN-EQ)."""

    def __call__(self, table: pa.Table) -> Any:
        value = super().__call__(table)
        if pa.types.is_floating(value.type):
            value = pc.add(value, pa.scalar(0.0, value.type))
        return value


class _Derived:
    """A helper column derived from an expression: its NaN flag, or its values with NaN as null (with
    ``infinite``: infinities count as NaN too, for std/var, where one makes the result NaN)."""

    def __init__(self, node: ex.ExprNode, kind: str, dtype: pa.DataType | None = None, infinite: bool = False
                 ) -> None:
        self.node, self.kind, self.dtype, self.infinite = node, kind, dtype, infinite

    def __call__(self, table: pa.Table) -> Any:
        x = ae.evaluate(self.node, table)
        nan = pc.or_(pc.is_nan(x), pc.is_inf(x)) if self.infinite else pc.is_nan(x)
        if self.kind == "nan_count":
            return pc.cast(nan, pa.int64())
        x = pc.if_else(pc.fill_null(nan, False), pa.scalar(None, x.type), x)  # "no_nan"
        return x if self.dtype is None or x.type == self.dtype else ae.cast_value(x, x.type, self.dtype)


class _MapBatches:
    def __init__(self, node: pn.MapBatches) -> None:
        self.node = node
        self.in_schema = node.input.schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        table = _cast_to(_table(batch), self.in_schema)
        batches = table.to_batches() or [pa.RecordBatch.from_pylist([], schema=self.in_schema)]
        out = [apply_batch_function(self.node, canonical_batch(b, self.in_schema)) for b in batches]
        return pa.Table.from_batches(out, schema=self.node.output_schema)


def _map(ds: Any, fn: Callable[[pa.Table], pa.Table]) -> Any:
    return ds.map_batches(fn, batch_format=BATCH_FORMAT, zero_copy_batch=True)


def canonical_blocks(ds: Any, schema: pa.Schema) -> Any:
    """``ds`` with every block cast to ``schema`` (the plan's canonical types)."""
    return _map(ds, _Canonical(schema))


# -- plan nodes ---------------------------------------------------------------------------------------------


@singledispatch
def compile_node(node: pn.PlanNode, settings: Settings) -> Any:
    """Translate a plan node (and its inputs) into a lazy ``ray.data.Dataset``."""
    raise NotImplementedError(type(node).__name__)


def _read(node: pn.Scan) -> Any:
    import ray.data as rd

    src = node.source
    if isinstance(src, pn.InMemorySource):
        table = src.table
        if node.columns is not None:
            table = table.select(list(node.columns))
        schema = pa.schema([src.schema.field(n) for n in table.schema.names])
        # canonical types before the data enters the object store (string_view, dictionaries, ...)
        return rd.from_arrow(_cast_to(table, schema))
    if isinstance(src, pn.PersistedSource):  # one of this engine's (localize() exported any other)
        session, ds = persisted_object(src, "ray")
        if session is not current_session():
            raise DataSourceError(f"the persisted result {src.key!r} was kept by an earlier Ray session, which "
                                  "stopped; persist the frame again.")
        return ds.select_columns(list(node.columns)) if node.columns is not None else ds
    assert isinstance(src, pn.FileSource)
    paths = list(src.paths)
    columns = list(node.columns) if node.columns is not None else None
    if src.format == "parquet":
        return rd.read_parquet(paths, columns=columns, file_extensions=None)
    if src.format == "csv":
        import pyarrow.csv as pacsv

        has_header = bool(src.option("has_header", True))
        read = pacsv.ReadOptions(column_names=None if has_header else src.file_schema.names,
                                 autogenerate_column_names=False)
        parse = pacsv.ParseOptions(delimiter=src.option("separator", ","))
        convert = pacsv.ConvertOptions(
            column_types=src.file_schema, null_values=list(src.option("null_values", ("",))),
            strings_can_be_null=True, quoted_strings_can_be_null=True, include_columns=columns,
        )
        return rd.read_csv(paths, read_options=read, parse_options=parse, convert_options=convert,
                           file_extensions=None)
    if src.format == "json":
        import pyarrow.json as pajson

        parse = pajson.ParseOptions(explicit_schema=src.file_schema, unexpected_field_behavior="ignore")
        # Arrow's JSON reader takes newline-delimited JSON; Ray's lines=True mode ignores parse options
        return rd.read_json(paths, parse_options=parse, file_extensions=None)
    raise NotImplementedError(f"format {src.format}")


@compile_node.register
def _(node: pn.Scan, settings: Settings) -> Any:
    ds = _read(node)
    if not isinstance(node.source, pn.PersistedSource):  # persisted blocks were made canonical when kept
        ds = _map(ds, _Canonical(node.schema) if node.columns is not None else _Canonical(node.source.schema))
    if node.filters:
        ds = _map(ds, _Filter(node.filters))
    if node.limit is not None:
        ds = ds.limit(node.limit)
    return ds


@compile_node.register
def _(node: pn.Project, settings: Settings) -> Any:
    return _map(compile_node(node.input, settings), _Project(node.exprs, node.schema))


@compile_node.register
def _(node: pn.Filter, settings: Settings) -> Any:
    return _map(compile_node(node.input, settings), _Filter((node.predicate,)))


# -- aggregate ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AggPlan:
    """How one aggregate is computed: Ray aggregate functions over private columns, then a finisher."""

    dtype: pa.DataType
    func: str
    columns: tuple[tuple[str, Callable[[pa.Table], Any]], ...]
    ray_aggs: tuple[tuple[str, str, str | None], ...]  # (kind, output name, input column)


def _plan_agg(i: int, agg: ex.Agg) -> _AggPlan:
    assert agg.dtype is not None
    out = f"__us_o{i}"
    if agg.func == "len":
        return _AggPlan(agg.dtype, "len", (), (("count_rows", out, None),))
    assert agg.operand is not None and agg.operand.dtype is not None
    arg, in_type = f"__us_a{i}", agg.operand.dtype
    func = agg.func
    if func == "count":
        return _AggPlan(agg.dtype, func, ((arg, _Expr(agg.operand)),), (("count", out, arg),))
    if func == "n_unique":
        return _AggPlan(agg.dtype, func, ((arg, _Key(agg.operand)),), (("count_distinct", out, arg),))
    kinds = {"sum": ("sum",), "mean": ("mean",), "std": ("std", "count"), "var": ("std", "count"),
             "min": ("min",), "max": ("max",)}
    if func not in kinds:
        raise NotImplementedError(f"aggregate {func} on Ray")
    cast_to: pa.DataType | None = {"sum": agg.dtype, "mean": pa.float64(), "std": pa.float64(),
                                   "var": pa.float64()}.get(func)
    if pa.types.is_boolean(in_type) and func in ("min", "max"):
        cast_to = pa.int8()
    if func == "sum" and pa.types.is_decimal(in_type) and pa.types.is_decimal(agg.dtype) \
            and in_type.scale == agg.dtype.scale and agg.dtype.precision == t.MAX_DECIMAL_PRECISION:
        cast_to = None  # Arrow sums decimal(p, s) into decimal(38, s) itself: no cast of every row
    names = {"sum": out, "mean": out, "std": out, "min": out, "max": out, "count": f"{out}_n"}
    aggs = tuple((k, names[k], arg) for k in kinds[func])
    # Ray's std of values with an infinity is null, not NaN (found by a 5,000-plan run): for std/var an
    # infinity is set aside and counted like a NaN (S-AGG-STD: NaN with one among two or more values)
    spread = func in ("std", "var") and pa.types.is_floating(in_type)
    if ex.may_be_nan(agg.operand) or spread:
        # Ray's aggregates skip NaN like null; the semantics keep NaN as a value: aggregate the values
        # without NaN and count the NaN beside them, the finisher puts NaN back where it belongs
        nan = f"__us_n{i}"
        return _AggPlan(agg.dtype, func, ((arg, _Derived(agg.operand, "no_nan", cast_to, spread)),
                                          (nan, _Derived(agg.operand, "nan_count", infinite=spread))),
                        (*aggs, ("sum", f"{out}_nan", nan)))
    return _AggPlan(agg.dtype, func, ((arg, _Expr(agg.operand, cast_to)),), aggs)


def _ray_agg(kind: str, out: str, on: str | None) -> Any:
    from ray.data.aggregate import Count, CountDistinct, Max, Mean, Min, Std, Sum

    match kind:
        case "count_rows":
            return Count(alias_name=out)
        case "count":
            return Count(on=on, ignore_nulls=True, alias_name=out)
        case "count_distinct":
            return CountDistinct(on=on or "", ignore_nulls=True, alias_name=out)
        case "sum":
            return Sum(on=on, ignore_nulls=True, alias_name=out)
        case "mean":
            return Mean(on=on, ignore_nulls=True, alias_name=out)
        case "std":
            return Std(on=on, ddof=1, ignore_nulls=True, alias_name=out)
        case "min":
            return Min(on=on, ignore_nulls=True, alias_name=out)
        case "max":
            return Max(on=on, ignore_nulls=True, alias_name=out)
    raise NotImplementedError(kind)


def _finish_agg(p: _AggPlan, out: str, table: pa.Table) -> Any:
    """The plan's value of one aggregate from Ray's columns (NaN put back, null std, counts)."""
    value = table.column(out)
    if p.func in ("len", "count", "n_unique"):
        return pc.fill_null(ae._cast(value, pa.int64()), 0)
    if p.func in ("min", "max") and pa.types.is_boolean(p.dtype):
        value = pc.not_equal(value, 0)
    value = ae._cast(value, p.dtype)
    if p.func in ("std", "var"):
        if p.func == "var":
            value = pc.multiply(value, value)
        enough = pc.fill_null(pc.greater_equal(table.column(f"{out}_n"), 2), False)
        value = pc.if_else(enough, value, pa.scalar(None, pa.float64()))
    if f"{out}_nan" in table.column_names:
        has_nan = pc.greater(pc.fill_null(ae._cast(table.column(f"{out}_nan"), pa.int64()), 0), 0)
        nan = pa.scalar(float("nan"), p.dtype)
        if p.func == "min":  # NaN only when every non-null value is NaN
            has_nan = pc.and_(has_nan, pc.is_null(value))
        elif p.func in ("std", "var"):  # with a NaN among two or more values
            n_all = pc.add(pc.fill_null(ae._cast(table.column(f"{out}_n"), pa.int64()), 0),
                           pc.fill_null(ae._cast(table.column(f"{out}_nan"), pa.int64()), 0))
            has_nan = pc.and_(has_nan, pc.greater_equal(n_all, 2))
        value = pc.if_else(has_nan, nan, value)
    return value


def _collect_aggs(node: ex.ExprNode, found: list[ex.Agg]) -> None:
    if isinstance(node, ex.Agg):
        if node not in found:
            found.append(node)
        return
    for child in node.children():
        _collect_aggs(child, found)


def _replace_aggs(node: ex.ExprNode, found: list[ex.Agg]) -> ex.ExprNode:
    """The expression with each aggregate replaced by a reference to its finished column."""
    if isinstance(node, ex.Agg):
        return _bound_col(f"__us_v{found.index(node)}", node.dtype)
    kids = node.children()
    if not kids:
        return node
    out = ex.replace_children(node, tuple(_replace_aggs(k, found) for k in kids))
    object.__setattr__(out, "dtype", node.dtype)
    return out


class _FinishAggregate:
    """Turn Ray's aggregate columns into the plan's output: finish each aggregate, then evaluate the
    expressions around them (``sum / count``, aliases) and give every column its plan type."""

    def __init__(self, keys: tuple[str, ...], plans: tuple[_AggPlan, ...], exprs: tuple[ex.ExprNode, ...],
                 schema: pa.Schema) -> None:
        self.keys, self.plans, self.exprs, self.schema = keys, plans, exprs, schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        table = _table(batch)
        if _GLOBAL_MARKER in table.column_names:
            table = _global_row(table, self.plans)
        elif not table.num_rows:  # an empty block (Ray may hand one over without columns)
            return self.schema.empty_table()
        n = table.num_rows
        finished = pa.table({f"__us_v{i}": ae._as_array(_finish_agg(p, f"__us_o{i}", table), p.dtype, n)
                             for i, p in enumerate(self.plans)}) if self.plans else pa.table({"__us_none": pa.nulls(n)})
        cols: list[Any] = [table.column(k) for k in self.keys]
        cols += [ae.evaluate(e, finished) for e in self.exprs]
        fixed = [ae._as_array(c, f.type, n) for c, f in zip(cols, self.schema)]
        return pa.Table.from_arrays(fixed, schema=self.schema)


def _aggregate_plans(node: pn.Aggregate) -> tuple[tuple[_AggPlan, ...], tuple[ex.ExprNode, ...]]:
    """Each distinct aggregate's plan, and the output expressions over their finished columns."""
    found: list[ex.Agg] = []
    for a in node.aggs:
        _collect_aggs(a, found)
    return tuple(_plan_agg(i, a) for i, a in enumerate(found)), tuple(_replace_aggs(a, found) for a in node.aggs)


def empty_global_result(node: pn.Aggregate) -> pa.Table:
    """The one row of a global aggregate at the plan's root when Ray produced none (an input whose blocks
    have no columns): counts 0, other aggregates null, finished as on a worker."""
    plans, exprs = _aggregate_plans(node)
    return _FinishAggregate((), plans, exprs, node.schema)(pa.table({_GLOBAL_MARKER: [True]}))


@compile_node.register
def _(node: pn.Aggregate, settings: Settings) -> Any:
    ds = compile_node(node.input, settings)
    key_cols = tuple((f"__us_k{i}", _Key(k)) for i, k in enumerate(node.keys))
    plans, exprs = _aggregate_plans(node)
    columns = key_cols + tuple(c for p in plans for c in p.columns)
    if not columns:
        columns = (("__us_one", _Const()),)
    ds = _map(ds, _AddColumns(columns, keep=()))
    aggs = [_ray_agg(kind, out, on) for p in plans for kind, out, on in p.ray_aggs]
    if not aggs:
        aggs = [_ray_agg("count_rows", "__us_c", None)]
    keys = [k for k, _ in key_cols]
    grouped = ds.groupby(keys if keys else None, num_partitions=settings.shuffle_partitions if keys else None)
    ds = grouped.aggregate(*aggs)
    if not keys and node is not settings.root:  # at the root, the engine makes a missing row itself
        ds = _with_global_marker(ds)
    return _map(ds, _FinishAggregate(tuple(keys), plans, exprs, node.schema))


_GLOBAL_MARKER = "__us_global"
_COUNTING = ("count_rows", "count", "count_distinct")


def _with_global_marker(ds: Any) -> Any:
    """A global aggregate's result plus a marker row, in one block. Ray's global aggregate of an input
    whose blocks have no columns (an empty join or filter result) has no row at all, while the semantics
    want one row (counts 0, other aggregates null); the finishing step makes that row when only the
    marker is there (:func:`_global_row`)."""
    import ray.data as rd

    return ds.union(rd.from_arrow(pa.table({_GLOBAL_MARKER: [True]}))).repartition(1)


def _global_row(table: pa.Table, plans: tuple[_AggPlan, ...]) -> pa.Table:
    """The aggregate's one row: Ray's, or the empty input's when Ray produced none."""
    real = table.filter(pc.is_null(table.column(_GLOBAL_MARKER)))
    if real.num_rows:
        return real.drop_columns([_GLOBAL_MARKER])
    columns = {out: pa.array([0], pa.int64()) if kind in _COUNTING else pa.nulls(1)
               for p in plans for kind, out, _ in p.ray_aggs}
    return pa.table(columns) if columns else pa.table({"__us_none": pa.nulls(1)})


# -- join ---------------------------------------------------------------------------------------------------

_RAY_JOIN = {"inner": "inner", "left": "left_outer", "right": "right_outer", "full": "full_outer",
             "semi": "left_semi", "anti": "left_anti", "cross": "inner"}


class _Const:
    def __call__(self, table: pa.Table) -> Any:
        return pa.scalar(0, pa.int8())


class _Rename:
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def __call__(self, batch: pa.Table) -> pa.Table:
        table = _table(batch)
        return table.rename_columns([self.mapping.get(n, n) for n in table.column_names])


_SENTINEL_LEFT, _SENTINEL_RIGHT = "__us_sl", "__us_sr"


class _Flag:
    """The sentinel flag of real rows: false."""

    def __call__(self, table: pa.Table) -> Any:
        return pa.scalar(False)


def _with_sentinel(ds: Any, columns: pa.Schema) -> Any:
    """``ds`` plus one all-null row flagged as a sentinel (the last column of ``columns``).

    Ray's hash join fails on a partition whose blocks from one side are all empty blocks without columns
    (``map_batches`` over an empty block yields one, e.g. for an empty input or a filter that keeps
    nothing). The sentinel gives every partition of the side a block with columns; its keys are null, so it
    never matches, and the join's finishing step drops it by its flag.
    """
    import ray.data as rd

    arrays = [*(pa.nulls(1, f.type) for f in list(columns)[:-1]), pa.array([True])]
    return ds.union(rd.from_arrow(pa.Table.from_arrays(arrays, schema=columns)))


class _FinishJoin:
    def __init__(self, node: pn.Join, rnames: dict[str, str]) -> None:
        self.columns = node.output_columns
        self.how = node.how
        self.rnames = rnames
        self.schema = node.schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        table = _table(batch)
        sentinel = None
        for flag in (_SENTINEL_LEFT, _SENTINEL_RIGHT):
            if flag in table.column_names:
                hit = pc.fill_null(table.column(flag), False)
                sentinel = hit if sentinel is None else pc.or_(sentinel, hit)
        if sentinel is not None:
            table = table.filter(pc.invert(sentinel))
        n = table.num_rows

        def column(name: str, dtype: pa.DataType) -> Any:
            # an empty side may reach the join without its columns: its values are all null
            return table.column(name) if name in table.column_names else pa.nulls(n, dtype)

        cols = []
        for c, f in zip(self.columns, self.schema):
            if c.side == "left":
                value = column(c.source, f.type)
            elif c.side == "right":
                value = column(self.rnames[c.source], f.type)
            else:
                left = ae._cast(column(c.source, f.type), f.type)
                right = ae._cast(column(self.rnames[c.right_source or c.source], f.type), f.type)
                value = pc.coalesce(left, right) if self.how == "full" else right if self.how == "right" else left
            cols.append(ae._cast(value, f.type))
        return pa.Table.from_arrays(cols, schema=self.schema)


@compile_node.register
def _(node: pn.Join, settings: Settings) -> Any:
    left, right = compile_node(node.left, settings), compile_node(node.right, settings)
    lschema, rschema = node.left.schema, node.right.schema
    rnames = {name: f"__us_r{i}" for i, name in enumerate(rschema.names)}
    if node.how == "cross":
        lkeys: tuple[tuple[str, Callable[[pa.Table], Any]], ...] = (("__us_j0", _Const()),)
        rkeys: tuple[tuple[str, Callable[[pa.Table], Any]], ...] = (("__us_j0", _Const()),)
    else:
        lk, rk = [], []
        for i, (a, b) in enumerate(zip(node.left_on, node.right_on)):
            la, rb = lschema.field(a).type, rschema.field(b).type
            common = t.supertype(la, rb, "join on")
            lk.append((f"__us_j{i}", _Key(_bound_col(a, la), common)))
            rk.append((f"__us_j{i}", _Key(_bound_col(b, rb), common)))
        lkeys, rkeys = tuple(lk), tuple(rk)
    left = _map(left, _AddColumns((*lkeys, (_SENTINEL_LEFT, _Flag()))))
    right = _map(_map(right, _Rename(rnames)),
                 _AddColumns((*((n, _Renamed(f, rnames)) for n, f in rkeys), (_SENTINEL_RIGHT, _Flag()))))
    key_types = _join_key_types(node)
    flag = pa.field("", pa.bool_())
    left = _with_sentinel(left, pa.schema([*lschema, *(pa.field(n, k) for (n, _), k in zip(lkeys, key_types)),
                                           flag.with_name(_SENTINEL_LEFT)]))
    right = _with_sentinel(right, pa.schema([*(f.with_name(rnames[f.name]) for f in rschema),
                                             *(pa.field(n, k) for (n, _), k in zip(rkeys, key_types)),
                                             flag.with_name(_SENTINEL_RIGHT)]))
    on = tuple(n for n, _ in lkeys)
    joined = left.join(right, _RAY_JOIN[node.how], settings.shuffle_partitions, on=on, right_on=on)
    return _map(joined, _FinishJoin(node, rnames))


def _join_key_types(node: pn.Join) -> list[pa.DataType]:
    if node.how == "cross":
        return [pa.int8()]
    return [t.supertype(node.left.schema.field(a).type, node.right.schema.field(b).type, "join on")
            for a, b in zip(node.left_on, node.right_on)]


class _Renamed:
    """Evaluate a key expression written against the right input's names on its renamed columns."""

    def __init__(self, fn: Callable[[pa.Table], Any], rnames: dict[str, str]) -> None:
        self.fn, self.back = fn, {v: k for k, v in rnames.items()}

    def __call__(self, table: pa.Table) -> Any:
        return self.fn(table.rename_columns([self.back.get(n, n) for n in table.column_names]))


def _bound_col(name: str, dtype: pa.DataType) -> ex.Column:
    col = ex.Column(name)
    object.__setattr__(col, "dtype", dtype)
    return col


# -- sort ---------------------------------------------------------------------------------------------------


def _fill_value(dtype: pa.DataType) -> pa.Scalar:
    if pa.types.is_decimal(dtype):
        return pa.scalar(decimal.Decimal(0), dtype)  # an int64 zero cast needs 19 integer digits
    if t.is_numeric(dtype):
        return pa.scalar(0).cast(dtype)
    if t.is_string(dtype):
        return pa.scalar("", dtype)
    if pa.types.is_large_binary(dtype) or pa.types.is_binary(dtype):
        return pa.scalar(b"", dtype)
    if pa.types.is_date(dtype):
        return pa.scalar(0, pa.int32()).cast(dtype)
    if pa.types.is_timestamp(dtype):
        return pa.scalar(0, pa.int64()).cast(dtype)
    raise NotImplementedError(f"sorting by {dtype}")


class _SortKey:
    """One encoded sort column of a key: its null flag, NaN flag or filled value."""

    def __init__(self, node: ex.ExprNode, part: str, nulls_last: bool) -> None:
        self.node, self.part, self.nulls_last = node, part, nulls_last

    def __call__(self, table: pa.Table) -> Any:
        x = ae.evaluate(self.node, table)
        if pa.types.is_null(x.type):
            x = pa.nulls(len(x), pa.int64())
        if self.part == "null":
            flag = pc.is_null(x) if self.nulls_last else pc.is_valid(x)
            return pc.cast(flag, pa.int8())
        if self.part == "nan":
            return pc.cast(pc.fill_null(pc.is_nan(x), False), pa.int8())
        if pa.types.is_boolean(x.type):
            x = pc.cast(x, pa.int8())
        if pa.types.is_floating(x.type):
            x = pc.if_else(pc.fill_null(pc.is_nan(x), False), pa.scalar(0.0, x.type), x)
        if pa.types.is_dictionary(x.type):
            x = x.cast(x.type.value_type)
        return pc.fill_null(x, _fill_value(x.type))


@compile_node.register
def _(node: pn.Sort, settings: Settings) -> Any:
    ds = compile_node(node.input, settings)
    columns: list[tuple[str, Callable[[pa.Table], Any]]] = []
    keys: list[str] = []
    descending: list[bool] = []
    for i, (k, desc, last) in enumerate(zip(node.keys, node.descending, node.nulls_last)):
        columns.append((f"__us_s{i}n", _SortKey(k, "null", last)))
        keys.append(f"__us_s{i}n")
        descending.append(False)
        if k.dtype is not None and pa.types.is_floating(k.dtype):
            columns.append((f"__us_s{i}f", _SortKey(k, "nan", last)))
            keys.append(f"__us_s{i}f")
            descending.append(desc)
        columns.append((f"__us_s{i}v", _SortKey(k, "value", last)))
        keys.append(f"__us_s{i}v")
        descending.append(desc)
    ds = _map(ds, _AddColumns(tuple(columns)))
    ds = ds.sort(keys, descending=descending)
    return _map(ds, _Canonical(node.schema))


@compile_node.register
def _(node: pn.Limit, settings: Settings) -> Any:
    return compile_node(node.input, settings).limit(node.n)


# -- distinct -----------------------------------------------------------------------------------------------


class _PackRest:
    def __init__(self, rest: tuple[str, ...]) -> None:
        self.rest = rest

    def __call__(self, table: pa.Table) -> Any:
        arrays = [table.column(n).combine_chunks() for n in self.rest]
        if not arrays:
            return pa.nulls(table.num_rows, pa.int8())
        return pa.StructArray.from_arrays(arrays, names=list(self.rest))


def _any_row(on: str, out: str) -> Any:
    from ray.data.aggregate import AggregateFnV2
    from ray.data.block import BlockAccessor

    class AnyRow(AggregateFnV2):
        """Keep one (arbitrary) value of a packed-row column per group."""

        def __init__(self) -> None:
            super().__init__(out, zero_factory=lambda: None, on=on, ignore_nulls=True)

        def aggregate_block(self, block: Any) -> Any:
            rows = BlockAccessor.for_block(block).to_arrow().column(on)
            return rows[0].as_py() if len(rows) else None

        def combine(self, current: Any, new: Any) -> Any:
            return current if current is not None else new

    return AnyRow()


class _FinishDistinct:
    def __init__(self, subset: tuple[str, ...], rest: tuple[str, ...], schema: pa.Schema) -> None:
        self.subset, self.rest, self.schema = subset, rest, schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        table = _table(batch)
        cols: dict[str, Any] = {n: table.column(f"__us_d{i}") for i, n in enumerate(self.subset)}
        if self.rest:
            packed = table.column("__us_row")
            if isinstance(packed, pa.ChunkedArray):
                packed = packed.combine_chunks()
            for n in self.rest:
                if pa.types.is_struct(packed.type):
                    cols[n] = pc.struct_field(packed, n)
                else:
                    cols[n] = pa.nulls(table.num_rows, self.schema.field(n).type)
        out = [ae._cast(cols[f.name], f.type) for f in self.schema]
        return pa.Table.from_arrays(out, schema=self.schema)


@compile_node.register
def _(node: pn.Distinct, settings: Settings) -> Any:
    ds = compile_node(node.input, settings)
    schema = node.input.schema
    subset = node.subset if node.subset is not None else tuple(schema.names)
    rest = tuple(n for n in schema.names if n not in subset)
    columns: list[tuple[str, Callable[[pa.Table], Any]]] = [
        (f"__us_d{i}", _Key(_bound_col(n, schema.field(n).type))) for i, n in enumerate(subset)]
    aggs: list[Any]
    if rest:
        columns.append(("__us_row", _PackRest(rest)))
        aggs = [_any_row("__us_row", "__us_row")]
    else:
        aggs = [_ray_agg("count_rows", "__us_c", None)]
    ds = _map(ds, _AddColumns(tuple(columns), keep=()))
    keys = [n for n, _ in columns if n != "__us_row"]
    ds = ds.groupby(keys, num_partitions=settings.shuffle_partitions).aggregate(*aggs)
    return _map(ds, _FinishDistinct(subset, rest, node.schema))


@compile_node.register
def _(node: pn.Union, settings: Settings) -> Any:
    parts = [_map(compile_node(i, settings), _Canonical(node.schema)) for i in node.inputs]
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def _ship_by_value(fn: Callable[..., Any]) -> None:
    """Let Ray workers run a user function whose module they cannot import (a script, a test module):
    cloudpickle then sends the module's code with the function instead of a reference to it."""
    import sys

    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = getattr(module, "__file__", None) or ""
    if module is None or module.__name__ in ("__main__", "builtins") or "site-packages" in path or not path:
        return
    if module.__name__.split(".")[0] in ("unistack", "pyarrow", "numpy", "pandas", "polars"):
        return
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)


@compile_node.register
def _(node: pn.MapBatches, settings: Settings) -> Any:
    _ship_by_value(node.fn)
    # a user function that kills its worker is retried a few times, then the query fails (Ray Data's own
    # default retries crashed tasks forever)
    return compile_node(node.input, settings).map_batches(
        _MapBatches(node), batch_format=BATCH_FORMAT, zero_copy_batch=True, max_retries=USER_FUNCTION_RETRIES)


def implemented_operations() -> set[str]:
    """Operation names this translator implements (the engine's capabilities derive from it)."""
    ops = {f"node:{cls.__name__}" for cls in compile_node.registry if cls is not object}
    ops |= {f"join:{how}" for how in pn.JOIN_KINDS}
    ops |= {"format:parquet", "format:csv", "format:json", "source:arrow"}
    ops |= ae.implemented_operations()
    ops |= {f"agg:{a}" for a in ("sum", "mean", "min", "max", "count", "len", "n_unique", "std", "var")}
    return ops
