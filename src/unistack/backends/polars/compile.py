"""Plan -> ``polars.LazyFrame``: one translation per node type and per expression type.

The semantics of docs/semantics.md are enforced here, in Polars expressions (null sums, division by
zero, NaN as the largest value, nulls-last sorting), never by post-processing rows in Python.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import singledispatch
from typing import Any, Literal

import polars as pl
import pyarrow as pa

from unistack.backends.base import apply_batch_function, canonical_batch, translator_operations
from unistack.backends.persist import persisted_object
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan import types as t
from unistack.plan.functions import like_to_regex
from unistack.plan.nullability import never_null, nonnull_columns

# -- types -------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def polars_dtype(dtype: pa.DataType) -> pl.DataType:
    """The Polars type for an Arrow type (cached: building it goes through an empty DataFrame)."""
    if pa.types.is_null(dtype):
        return pl.Null()
    return pl.DataFrame(pa.table({"x": pa.array([], type=dtype)})).schema["x"]


def polars_schema(schema: pa.Schema) -> pl.Schema:
    """The Polars schema of an Arrow schema (cached: plans convert the same schemas again and again)."""
    return _polars_schema(schema)


@functools.lru_cache(maxsize=512)
def _polars_schema(schema: pa.Schema) -> pl.Schema:
    return pl.DataFrame(pa.table({f.name: pa.array([], type=f.type) for f in schema})).schema


# -- expressions ------------------------------------------------------------------------------------------


@singledispatch
def compile_expr(node: ex.ExprNode) -> pl.Expr:
    raise NotImplementedError(type(node).__name__)


@compile_expr.register
def _(node: ex.Column) -> pl.Expr:
    return pl.col(node.name)


@compile_expr.register
def _(node: ex.Literal) -> pl.Expr:
    assert node.dtype is not None
    return pl.lit(node.value, dtype=polars_dtype(node.dtype))


@compile_expr.register
def _(node: ex.Alias) -> pl.Expr:
    return compile_expr(node.operand).alias(node.name)


@compile_expr.register
def _(node: ex.Cast) -> pl.Expr:
    x = compile_expr(node.operand)
    src, to = node.operand.dtype, node.to
    if src is not None and t.is_string(src):
        if pa.types.is_date(to):
            return x.str.to_date("%Y-%m-%d", strict=False)
        if pa.types.is_timestamp(to):
            return _parse_timestamp(x, to)
        if pa.types.is_boolean(to):
            lowered = x.str.to_lowercase()
            return pl.when(lowered == "true").then(True).when(lowered == "false").then(False).otherwise(None)
    return x.cast(polars_dtype(to), strict=False)


# ISO 8601 forms every engine parses (docs/semantics.md S-CAST-FAIL); anything else gives null.
_TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def _parse_timestamp(x: pl.Expr, to: pa.TimestampType) -> pl.Expr:
    unit: Literal["ns", "us", "ms"] = "ms" if to.unit == "s" else to.unit
    parsed = pl.coalesce([x.str.to_datetime(f, strict=False, time_unit=unit) for f in _TIMESTAMP_FORMATS])
    if to.tz is not None:  # a string without an offset is a UTC time
        parsed = parsed.dt.replace_time_zone("UTC").dt.convert_time_zone(to.tz)
    return parsed.cast(polars_dtype(to))


def _boolean(node: ex.ExprNode) -> pl.Expr:
    """A condition as a Polars Boolean (a column or literal of the null type is an all-null condition)."""
    x = compile_expr(node)
    return x.cast(pl.Boolean) if node.dtype is None or t.is_null(node.dtype) else x


@compile_expr.register
def _(node: ex.UnaryOp) -> pl.Expr:
    if node.op == "not":
        return ~_boolean(node.operand)
    inner = compile_expr(node.operand)
    assert node.dtype is not None
    return -(inner.cast(polars_dtype(node.dtype)))


def _null_if_zero(divisor: pl.Expr) -> pl.Expr:
    """The divisor with zeros (also -0.0) made null, so division by zero gives null (docs/semantics.md). It
    names the divisor once, which keeps Polars' common-subexpression elimination working when the divisor
    is an aggregate used elsewhere too."""
    return divisor.replace(0, None)


@compile_expr.register
def _(node: ex.BinaryOp) -> pl.Expr:
    op = node.op
    if op in ex.BOOLEAN_OPS:
        return _BINARY[op](_boolean(node.left), _boolean(node.right))
    left, right = compile_expr(node.left), compile_expr(node.right)
    if op in ex.COMPARISON_OPS or op in ex.BOOLEAN_OPS:
        if op in ex.COMPARISON_OPS:
            common = t.supertype(node.left.dtype, node.right.dtype)
            if not t.is_null(common) and node.left.dtype != node.right.dtype:
                left, right = left.cast(polars_dtype(common)), right.cast(polars_dtype(common))
        return _BINARY[op](left, right)
    assert node.dtype is not None
    if op in ("/", "**"):
        lf, rf = left.cast(pl.Float64), right.cast(pl.Float64)
        if op == "/":
            return lf / _null_if_zero(rf)
        # Polars turns x ** 0.5 into sqrt(x); IEEE pow differs from sqrt at -inf and -0.0 (S-FLOAT-IEEE).
        return pl.when((rf == 0.5) & (lf == float("-inf"))).then(float("inf")).when((rf == 0.5) & (lf == 0.0)).then(
            0.0).otherwise(lf.pow(rf))
    out = polars_dtype(node.dtype)
    if op in ("+", "-", "*") and not pa.types.is_decimal(node.dtype):
        left, right = left.cast(out), right.cast(out)
    elif op == "*":
        # Polars gives a decimal product the larger operand scale and rounds; widening one operand to the
        # product's scale (s1 + s2) keeps it exact (docs/semantics.md S-DECIMAL).
        left = left.cast(pl.Decimal(38, node.dtype.scale))
    if op in ("//", "%"):
        left, right = left.cast(out), right.cast(out)
        return _BINARY[op](left, _null_if_zero(right))
    if pa.types.is_decimal(node.dtype):
        # Polars' decimal sum, difference and (widened) product already have the plan's scale, at precision
        # 38; narrowing the precision here would only add a checked cast per row (results are cast to the
        # plan's schema once, at the end).
        return _BINARY[op](left, right)
    return _BINARY[op](left, right).cast(out)


_BINARY: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "&": lambda a, b: a & b, "|": lambda a, b: a | b,
}


@compile_expr.register
def _(node: ex.Case) -> pl.Expr:
    chain: Any = pl
    assert node.dtype is not None
    # every branch in the result type, so arithmetic above it is exact (decimals at Polars' precision 38, as
    # decimal arithmetic leaves them: see the BinaryOp translation)
    out = pl.Decimal(38, node.dtype.scale) if pa.types.is_decimal(node.dtype) else polars_dtype(node.dtype)
    for cond, value in node.branches:
        chain = chain.when(_boolean(cond)).then(compile_expr(value).cast(out, strict=False))
    return chain.otherwise(compile_expr(node.otherwise).cast(out, strict=False))


_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
_TRUNCATE = {"year": "1y", "quarter": "1q", "month": "1mo", "week": "1w", "day": "1d", "hour": "1h",
             "minute": "1m", "second": "1s"}


def _is_in(node: ex.Call, x: pl.Expr) -> pl.Expr:
    """Membership compared in the common type of the column and the values (``int_col.is_in([1, 2.5])``
    compares as float64, so 2.5 matches nothing); null input gives null, null values are ignored."""
    arg = node.args[0].dtype
    assert arg is not None
    values = [v for v in node.params[0] if v is not None]
    common = arg
    for v in values:
        common = t.supertype(common, t.literal_type(v), "compare")
    if t.is_null(common):
        return pl.lit(None, dtype=pl.Boolean)
    # a value the common type cannot hold (2**63 for int64) equals nothing in it
    values = [v for v in values if t.literal_fits(v, common)]
    if not values:
        return pl.when(x.is_null()).then(None).otherwise(pl.lit(False))
    target = polars_dtype(common)
    # Polars' is_in gives null for a null input, as the semantics want
    return x.cast(target).is_in(pl.lit(_value_series(tuple(values), common)).implode())


@functools.lru_cache(maxsize=256)
def _value_series(values: tuple[Any, ...], dtype: pa.DataType) -> pl.Series:
    """The values of an ``is_in`` as a Polars series of ``dtype`` (cached: queries repeat their lists)."""
    return pl.Series(pa.array(values, type=dtype)).cast(polars_dtype(dtype))


def _round(node: ex.Call, x: pl.Expr) -> pl.Expr:
    if pa.types.is_integer(node.dtype):
        return x
    return x.round(node.params[0], mode="half_away_from_zero")


FUNCTIONS: dict[str, Callable[[ex.Call, list[pl.Expr]], pl.Expr]] = {
    "is_null": lambda n, a: a[0].is_null(),
    "is_not_null": lambda n, a: a[0].is_not_null(),
    "is_nan": lambda n, a: a[0].is_nan(),
    "fill_null": lambda n, a: a[0].fill_null(a[1]),
    "coalesce": lambda n, a: pl.coalesce(a),
    "is_in": lambda n, a: _is_in(n, a[0]),
    "abs": lambda n, a: a[0].abs(),
    "round": lambda n, a: _round(n, a[0]),
    "str_len": lambda n, a: a[0].str.len_chars().cast(pl.Int64),
    "str_lower": lambda n, a: a[0].str.to_lowercase(),
    "str_upper": lambda n, a: a[0].str.to_uppercase(),
    "str_strip": lambda n, a: a[0].str.strip_chars(_ASCII_WHITESPACE),
    "str_contains": lambda n, a: a[0].str.contains(n.params[0], literal=True),
    "str_starts_with": lambda n, a: a[0].str.starts_with(n.params[0]),
    "str_ends_with": lambda n, a: a[0].str.ends_with(n.params[0]),
    "str_like": lambda n, a: a[0].str.contains(like_to_regex(n.params[0])),
    "str_slice": lambda n, a: a[0].str.slice(n.params[0], n.params[1]),
    "str_replace": lambda n, a: a[0].str.replace_all(n.params[0], n.params[1], literal=True),
    "concat_str": lambda n, a: pl.concat_str(a, separator=n.params[0]),
    "dt_year": lambda n, a: a[0].dt.year().cast(pl.Int32),
    "dt_month": lambda n, a: a[0].dt.month().cast(pl.Int32),
    "dt_day": lambda n, a: a[0].dt.day().cast(pl.Int32),
    "dt_hour": lambda n, a: a[0].dt.hour().cast(pl.Int32),
    "dt_minute": lambda n, a: a[0].dt.minute().cast(pl.Int32),
    "dt_second": lambda n, a: a[0].dt.second().cast(pl.Int32),
    "dt_weekday": lambda n, a: a[0].dt.weekday().cast(pl.Int32),
    "dt_truncate": lambda n, a: a[0].dt.truncate(_TRUNCATE[n.params[0]]),
}


@compile_expr.register
def _(node: ex.Call) -> pl.Expr:
    args = [compile_expr(a) for a in node.args]
    return FUNCTIONS[node.name](node, args)


def _max_with_nan(x: pl.Expr, dtype: pa.DataType) -> pl.Expr:
    if pa.types.is_floating(dtype):
        # NaN is larger than every number (docs/semantics.md); Polars' max skips NaN.
        return pl.when(x.is_nan().any()).then(pl.lit(float("nan"), dtype=polars_dtype(dtype))).otherwise(x.max())
    return x.max()


def _min_with_nan(x: pl.Expr, dtype: pa.DataType) -> pl.Expr:
    if pa.types.is_floating(dtype):
        numbers = x.filter(~x.is_nan())
        return pl.when(numbers.count() > 0).then(numbers.min()).otherwise(x.max())
    return x.min()


def _sums_to(in_type: pa.DataType, out_type: pa.DataType) -> bool:
    """Whether Polars' own sum of ``in_type`` already has the plan's result type (no cast needed)."""
    if pa.types.is_decimal(in_type):
        return True  # Polars sums decimal(p, s) as decimal(38, s), the plan's type
    return in_type == out_type and (pa.types.is_int64(in_type) or pa.types.is_float64(in_type))


def _plain_sum(node: ex.Agg, x: pl.Expr) -> pl.Expr:
    """Polars' own sum in the plan's result type (0 for an all-null group)."""
    assert node.operand is not None and node.operand.dtype is not None and node.dtype is not None
    return x.sum() if _sums_to(node.operand.dtype, node.dtype) else x.cast(polars_dtype(node.dtype)).sum()


def _group_agg(node: ex.ExprNode, nonnull: frozenset[str]) -> pl.Expr:
    """A grouped aggregate under its plan name. A group is never empty, so the sum of a column that can
    hold no null needs no all-null check (that check costs about a tenth of a sum-heavy group-by)."""
    inner = node
    while isinstance(inner, ex.Alias):
        inner = inner.operand
    if isinstance(inner, ex.Agg) and inner.func == "sum" and inner.operand is not None \
            and never_null(inner.operand, nonnull):
        return _plain_sum(inner, per_row(inner.operand)).alias(ex.output_name(node))
    return _named(node)


def per_row(node: ex.ExprNode) -> pl.Expr:
    """An aggregate's or window function's operand, one value per row even when it reads no column
    (Polars would aggregate a bare literal once, not once per row)."""
    x = compile_expr(node)
    if ex.columns_used(node):
        return x
    return pl.when(pl.int_range(pl.len()) >= 0).then(x)


def agg_expr(node: ex.Agg) -> pl.Expr:
    """An aggregate as a Polars expression (usable in group_by().agg(), select() and .over())."""
    if node.func == "len":
        return pl.len().cast(pl.Int64)
    assert node.operand is not None and node.dtype is not None
    x = per_row(node.operand)
    in_type = node.operand.dtype
    assert in_type is not None
    match node.func:
        case "sum":
            # Polars sums an all-null group to 0; the semantics say null.
            return pl.when(x.count() > 0).then(_plain_sum(node, x)).otherwise(None)
        case "mean":
            return x.cast(pl.Float64).mean()
        case "min":
            return _min_with_nan(x, in_type)
        case "max":
            return _max_with_nan(x, in_type)
        case "count":
            return x.count().cast(pl.Int64)
        case "n_unique":
            return x.drop_nulls().n_unique().cast(pl.Int64)
        case "std":
            return x.cast(pl.Float64).std(ddof=1)
        case "var":
            return x.cast(pl.Float64).var(ddof=1)
        case "first":
            return x.drop_nulls().first()
        case "last":
            return x.drop_nulls().last()
    raise NotImplementedError(node.func)


compile_expr.register(ex.Agg, agg_expr)


def _order_keys(node: ex.Over) -> tuple[list[pl.Expr], bool, bool]:
    """Polars' ``over`` takes one direction for all order keys; mixed directions are encoded as dense
    ranks (negated when descending, nulls mapped to the end they belong to), all ascending."""
    keys = [compile_expr(o) for o in node.order_by]
    desc, nl = node.descending, node.nulls_last
    if len(set(desc)) <= 1 and len(set(nl)) <= 1:
        return keys, bool(desc and desc[0]), bool(nl[0]) if nl else True
    return _rank_keys(node), False, True


def _window(node: ex.Over) -> pl.Expr:
    part = [compile_expr(p) for p in node.partition_by] or [pl.lit(0)]
    order, desc, nulls_last = _order_keys(node) if node.order_by else ([], False, True)
    kw: dict[str, Any] = {}
    if order:
        kw = {"order_by": order, "descending": desc, "nulls_last": nulls_last}
    op = node.operand
    if isinstance(op, ex.Agg):
        return agg_expr(op).over(part)
    assert isinstance(op, ex.WindowFunc)
    match op.func:
        case "row_number":
            return pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(part, **kw)
        case "rank" | "dense_rank" if op.operand is None:
            # SQL rank(): ties on every order key share the smallest position.
            method: Literal["min", "dense"] = "min" if op.func == "rank" else "dense"
            return pl.struct(_rank_keys(node)).rank(method).cast(pl.Int64).over(part)
        case "rank" | "dense_rank":
            assert op.operand is not None
            col_method: Literal["min", "dense"] = "min" if op.func == "rank" else "dense"
            return per_row(op.operand).rank(col_method, descending=bool(op.params and op.params[0])).cast(
                pl.Int64).over(part)
        case "cum_sum":
            assert op.operand is not None and op.dtype is not None
            x = per_row(op.operand).cast(polars_dtype(op.dtype))
            return x.cum_sum().forward_fill().over(part, **kw)
        case "shift":
            assert op.operand is not None
            return per_row(op.operand).shift(op.params[0]).over(part, **kw)
    raise NotImplementedError(op.func)


def _rank_keys(node: ex.Over) -> list[pl.Expr]:
    keys = []
    for o, d, last in zip(node.order_by, node.descending, node.nulls_last):
        r = compile_expr(o).rank("dense").cast(pl.Int64)
        r = -r if d else r
        keys.append(r.fill_null(pl.lit(2**62 if last else -(2**62), dtype=pl.Int64)))
    return keys


compile_expr.register(ex.Over, _window)


# -- plan nodes ---------------------------------------------------------------------------------------------


@singledispatch
def compile_node(node: pn.PlanNode) -> pl.LazyFrame:
    raise NotImplementedError(type(node).__name__)


@functools.lru_cache(maxsize=128)
def _parquet_scan(paths: tuple[str, ...], versions: tuple[tuple[int, int], ...] | None) -> pl.LazyFrame:
    """One Polars scan per version of the files: a scan resolves the Parquet footers once and keeps them,
    so reusing it for the next query over unchanged files saves reading them again."""
    return pl.scan_parquet(list(paths))


def _scan_source(node: pn.Scan) -> pl.LazyFrame:
    src = node.source
    if isinstance(src, pn.InMemorySource):
        return pl.from_arrow(src.table).lazy()  # type: ignore[union-attr]
    if isinstance(src, pn.PersistedSource):  # one of this engine's (localize() exported any other)
        return persisted_object(src, "polars").lazy()
    assert isinstance(src, pn.FileSource)
    paths = list(src.paths)
    if src.format == "parquet":
        return _parquet_scan(src.paths, src.versions())  # None (a missing file): Polars reports it
    schema = polars_schema(src.file_schema)
    if src.format == "csv":
        return pl.scan_csv(
            paths, separator=src.option("separator", ","), has_header=src.option("has_header", True),
            schema=schema, null_values=list(src.option("null_values", ("",))),
        )
    if src.format == "json":
        return pl.scan_ndjson(paths, schema=schema)
    raise NotImplementedError(f"format {src.format}")


def _raw_schema(src: pn.Source) -> pa.Schema | None:
    """The Arrow schema Polars reads a source with, known without touching the data."""
    if isinstance(src, pn.InMemorySource):
        return src.table.schema
    if isinstance(src, pn.FileSource):
        return src.file_schema
    return None


def _canonical(lf: pl.LazyFrame, schema: pa.Schema, raw: pa.Schema | None = None) -> pl.LazyFrame:
    """Cast what Polars read to the plan's canonical types (a dictionary column arrives as Categorical,
    which string functions and joins with plain strings refuse)."""
    expected = polars_schema(schema)
    # The source's own schema says what Polars will read; asking Polars (collect_schema) reads file footers.
    actual = polars_schema(raw) if raw is not None else lf.collect_schema()
    casts = {name: dtype for name, dtype in expected.items() if actual.get(name) != dtype}
    return lf.cast(casts) if casts else lf  # type: ignore[arg-type]


@compile_node.register
def _(node: pn.Scan) -> pl.LazyFrame:
    lf = _canonical(_scan_source(node), node.source.schema, _raw_schema(node.source))
    if node.columns is not None:
        lf = lf.select(list(node.columns))
    for f in node.filters:
        lf = lf.filter(_boolean(f))
    if node.limit is not None:
        lf = lf.head(node.limit)
    return lf


def _named(node: ex.ExprNode) -> pl.Expr:
    """An output expression under the plan's name for it (Polars' own default names differ, e.g. for
    ``us.rank().over(order_by="t")`` it would say ``t``)."""
    return compile_expr(node).alias(ex.output_name(node))


@compile_node.register
def _(node: pn.Project) -> pl.LazyFrame:
    lf = compile_node(node.input)
    exprs = [_named(e) for e in node.exprs]
    if any(ex.columns_used(e) or ex.has_window(e) for e in node.exprs):
        return lf.select(exprs)
    # Only literals: one value per input row (Polars' select would give one row).
    names = [ex.output_name(e) for e in node.exprs]
    return lf.with_columns(exprs).select(names)


@compile_node.register
def _(node: pn.Filter) -> pl.LazyFrame:
    return compile_node(node.input).filter(_boolean(node.predicate))


@compile_node.register
def _(node: pn.Aggregate) -> pl.LazyFrame:
    lf = compile_node(node.input)
    if not node.keys:
        return lf.select([_named(a) for a in node.aggs])
    nonnull = nonnull_columns(node.input)
    return lf.group_by([_named(k) for k in node.keys]).agg([_group_agg(a, nonnull) for a in node.aggs])


@compile_node.register
def _(node: pn.Join) -> pl.LazyFrame:
    left, right = compile_node(node.left), compile_node(node.right)
    # Right columns whose names clash with the left get private names, so Polars' own suffix rules never
    # apply; the others keep their names, which lets Polars share identical scans of both sides.
    left_names = set(node.left.schema.names)
    rnames = {name: (f"__us_r{i}" if name in left_names else name)
              for i, name in enumerate(node.right.schema.names)}
    if node.how not in ("semi", "anti") and any(k != v for k, v in rnames.items()):
        right = right.rename({k: v for k, v in rnames.items() if k != v})
    else:
        rnames = {name: name for name in rnames}
    if node.how == "cross":
        joined = left.join(right, how="cross")
    else:
        joined = left.join(
            right, left_on=list(node.left_on), right_on=[rnames[k] for k in node.right_on],
            how=node.how, nulls_equal=False, coalesce=False,  # type: ignore[arg-type]
        )
    out = []
    for c in node.output_columns:
        if c.side == "left":
            out.append(pl.col(c.source).alias(c.name))
        elif c.side == "right":
            out.append(pl.col(rnames[c.source]).alias(c.name))
        else:
            r = pl.col(rnames[c.right_source or c.source])
            if node.how == "full":
                out.append(pl.coalesce(pl.col(c.source), r).alias(c.name))
            elif node.how == "right":
                out.append(r.alias(c.name))
            else:
                out.append(pl.col(c.source).alias(c.name))
    return joined.select(out)


@compile_node.register
def _(node: pn.Sort) -> pl.LazyFrame:
    return compile_node(node.input).sort(
        [compile_expr(k) for k in node.keys], descending=list(node.descending), nulls_last=list(node.nulls_last),
        maintain_order=True,
    )


@compile_node.register
def _(node: pn.Limit) -> pl.LazyFrame:
    return compile_node(node.input).head(node.n)


@compile_node.register
def _(node: pn.Distinct) -> pl.LazyFrame:
    subset = list(node.subset) if node.subset is not None else None
    return compile_node(node.input).unique(subset=subset, keep="first", maintain_order=False)


@compile_node.register
def _(node: pn.Union) -> pl.LazyFrame:
    schema = polars_schema(node.schema)
    return pl.concat([compile_node(i).cast(dict(schema)) for i in node.inputs], how="vertical")  # type: ignore[arg-type]


@compile_node.register
def _(node: pn.MapBatches) -> pl.LazyFrame:
    in_schema = node.input.schema

    def run(df: pl.DataFrame) -> pl.DataFrame:
        batches = df.to_arrow(compat_level=pl.CompatLevel.oldest()).to_batches()
        out = [apply_batch_function(node, canonical_batch(b, in_schema)) for b in batches]
        if not out:
            out = [apply_batch_function(node, pa.RecordBatch.from_pylist([], schema=in_schema))]
        return pl.from_arrow(pa.Table.from_batches(out, schema=node.output_schema))  # type: ignore[return-value]

    return compile_node(node.input).map_batches(run, schema=polars_schema(node.output_schema),
                                                validate_output_schema=False)


def implemented_operations() -> set[str]:
    """Operation names this translator implements (the engine's capabilities derive from it)."""
    return translator_operations(compile_node.registry, FUNCTIONS)
