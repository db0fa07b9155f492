"""The lazy frame: every method builds one checked plan node; nothing runs until ``collect``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from unistack.errors import (
    ColumnNotFoundError,
    InvalidOperationError,
    InvalidTypeError,
    SchemaError,
)
from unistack.expr import Expr, _per_key, flatten, to_column_node
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan.typecheck import bind, bool_predicate
from unistack.plan.types import canonical_schema, describe, parse_dtype

if TYPE_CHECKING:
    import pandas
    import polars

    from unistack.explain import Explanation

IntoColumn = str | Expr


def _bind_named(items: Sequence[Any], named: Mapping[str, Any], schema: pa.Schema) -> list[ex.ExprNode]:
    nodes = [to_column_node(i) for i in flatten(items)]
    for name, value in named.items():
        node = to_column_node(value) if isinstance(value, (Expr, str)) else ex.Literal(value)
        if isinstance(value, str):  # a keyword value that is a string is a literal, as in Polars
            node = ex.Literal(value)
        nodes.append(ex.Alias(node, name))
    return [bind(n, schema) for n in nodes]


def _has_bare_column(node: ex.ExprNode) -> bool:
    """A column read outside any aggregate or window (so the expression is per row)."""
    if isinstance(node, (ex.Agg, ex.Over)):
        return False
    if isinstance(node, ex.Column):
        return True
    return any(_has_bare_column(c) for c in node.children())


def _check_row_level(node: ex.ExprNode, where: str) -> None:
    if ex.has_agg(node):
        raise InvalidOperationError(
            f"an aggregate cannot be used in {where}: {ex.expr_text_safe(node)}. Compute it with "
            "group_by().agg() first, or per row with .over(...)."
        )
    for sub in node.walk():
        if isinstance(sub, ex.WindowFunc) and not _under_over(node, sub):
            raise InvalidOperationError(
                f"{sub.func}() must be used with .over(...), e.g. us.row_number().over('g', order_by='t')."
            )


def _under_over(root: ex.ExprNode, target: ex.ExprNode) -> bool:
    return any(isinstance(sub, ex.Over) and any(s is target for s in sub.operand.walk()) for sub in root.walk())


class LazyFrame:
    """A lazy, immutable table: a logical plan with a known schema.

    Build one with a source (``us.read_parquet``, ``us.from_arrow``, ``us.from_dict``, ...); each method
    returns a new frame; ``collect()`` runs the plan on an engine and returns a ``pyarrow.Table``.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"k": ["a", "b", "a"], "v": [1, 2, 3]})
    >>> df.group_by("k").agg(us.col("v").sum()).sort("k").collect().to_pydict()
    {'k': ['a', 'b'], 'v': [4, 2]}
    """

    __slots__ = ("_plan",)

    def __init__(self, plan: pn.PlanNode) -> None:
        self._plan = plan

    # -- introspection ---------------------------------------------------------------------------------
    @property
    def plan(self) -> pn.PlanNode:
        """The logical plan (immutable nodes from :mod:`unistack.plan.nodes`)."""
        return self._plan

    @property
    def schema(self) -> pa.Schema:
        """The output schema, computed without running anything.

        >>> import unistack as us
        >>> us.from_dict({"a": [1]}).with_columns(b=us.col("a") / 2).schema.names
        ['a', 'b']
        """
        return self._plan.schema

    @property
    def columns(self) -> list[str]:
        """Output column names.

        >>> import unistack as us
        >>> us.from_dict({"a": [1], "b": [2]}).columns
        ['a', 'b']
        """
        return list(self.schema.names)

    def __repr__(self) -> str:
        from unistack.plan.text import plan_text

        return f"<unistack.LazyFrame [{', '.join(self.columns)}]>\n{plan_text(self._plan)}"

    # -- projection ------------------------------------------------------------------------------------
    def select(self, *exprs: IntoColumn | Sequence[IntoColumn], **named: Any) -> LazyFrame:
        """Compute exactly these columns. Aggregates alone give one row (a global aggregate).

        >>> import unistack as us
        >>> df = us.from_dict({"a": [1, 2], "b": [3, 4]})
        >>> df.select("a", c=us.col("a") + us.col("b")).collect().to_pydict()
        {'a': [1, 2], 'c': [4, 6]}
        >>> df.select(us.col("a").sum(), us.col("b").max()).collect().to_pydict()
        {'a': [3], 'b': [4]}
        """
        bound = _bind_named(exprs, named, self.schema)
        if not bound:
            raise InvalidOperationError("select() needs at least one column or expression.")
        aggregated = [e for e in bound if ex.has_agg(e)]
        if aggregated:
            row_level = [e for e in bound if _has_bare_column(e) or ex.has_window(e)]
            if row_level:
                raise InvalidOperationError(
                    "select() mixes aggregates with per-row columns: "
                    f"{', '.join(ex.expr_text_safe(e) for e in row_level[:3])}. Use group_by(...).agg(...) "
                    "to aggregate per group, or .over(...) to keep one value per row."
                )
            for e in bound:
                _check_no_nested(e)
            return LazyFrame(pn.Aggregate(self._plan, (), tuple(bound)))
        for e in bound:
            _check_row_level(e, "select")
        return LazyFrame(pn.Project(self._plan, tuple(bound)))._checked()

    def with_columns(self, *exprs: IntoColumn | Sequence[IntoColumn], **named: Any) -> LazyFrame:
        """Add columns, or replace those with the same name (keeping their position).

        A plain aggregate is broadcast to every row, as if written ``.over()``.

        >>> import unistack as us
        >>> df = us.from_dict({"a": [1, 2]})
        >>> df.with_columns(b=us.col("a") * 10, share=us.col("a") / us.col("a").sum()).collect().to_pydict()
        {'a': [1, 2], 'b': [10, 20], 'share': [0.3333333333333333, 0.6666666666666666]}
        """
        bound = [_broadcast_aggregates(e, self.schema) for e in _bind_named(exprs, named, self.schema)]
        for e in bound:
            _check_row_level(e, "with_columns")
        new = {ex.output_name(e): e for e in bound}
        if len(new) != len(bound):
            raise SchemaError("with_columns() got two expressions with the same output name; alias one of them.")
        out: list[ex.ExprNode] = []
        for f in self.schema:
            out.append(new.pop(f.name) if f.name in new else bind(ex.Column(f.name), self.schema))
        out.extend(new.values())
        return LazyFrame(pn.Project(self._plan, tuple(out)))._checked()

    def rename(self, mapping: Mapping[str, str]) -> LazyFrame:
        """Rename columns: ``{old: new}``.

        >>> import unistack as us
        >>> us.from_dict({"a": [1], "b": [2]}).rename({"a": "x"}).columns
        ['x', 'b']
        """
        for old in mapping:
            if old not in self.schema.names:
                raise ColumnNotFoundError(old, self.schema.names)
        exprs = []
        for f in self.schema:
            node = bind(ex.Column(f.name), self.schema)
            exprs.append(bind(ex.Alias(node, mapping[f.name]), self.schema) if f.name in mapping else node)
        return LazyFrame(pn.Project(self._plan, tuple(exprs)))._checked()

    def drop(self, *columns: str | Sequence[str]) -> LazyFrame:
        """Remove columns.

        >>> import unistack as us
        >>> us.from_dict({"a": [1], "b": [2]}).drop("a").columns
        ['b']
        """
        names = flatten(columns)
        for name in names:
            if name not in self.schema.names:
                raise ColumnNotFoundError(name, self.schema.names)
        keep = [f.name for f in self.schema if f.name not in names]
        if not keep:
            raise InvalidOperationError("drop() would remove every column; select the ones you want instead.")
        return LazyFrame(pn.Project(self._plan, tuple(bind(ex.Column(n), self.schema) for n in keep)))

    # -- rows ------------------------------------------------------------------------------------------
    def filter(self, *predicates: Expr) -> LazyFrame:
        """Keep rows where every predicate is true (null counts as false).

        >>> import unistack as us
        >>> df = us.from_dict({"a": [1, None, 3]})
        >>> df.filter(us.col("a") > 1).collect().to_pydict()
        {'a': [3]}
        """
        if not predicates:
            raise InvalidOperationError("filter() needs a predicate, e.g. us.col('a') > 1.")
        node = ex.BinaryOp("&", to_column_node(predicates[0]), to_column_node(predicates[1])) if len(
            predicates) > 1 else to_column_node(predicates[0])
        for p in predicates[2:]:
            node = ex.BinaryOp("&", node, to_column_node(p))
        bound = bool_predicate(node, self.schema, "filter()")
        if ex.has_agg(bound):
            raise InvalidOperationError(
                "an aggregate cannot be used inside filter(); aggregate first with group_by().agg() and "
                "filter the result, or use .over(...) to compare each row with its group."
            )
        _check_row_level(bound, "filter")
        return self._with_windows_hoisted([bound], lambda plan, es: pn.Filter(plan, es[0]))

    def sort(
        self,
        *by: IntoColumn | Sequence[IntoColumn],
        descending: bool | Sequence[bool] = False,
        nulls_last: bool | Sequence[bool] = True,
    ) -> LazyFrame:
        """Order rows. Nulls go last by default in both directions; NaN sorts above every number.

        >>> import unistack as us
        >>> df = us.from_dict({"a": [2, None, 1]})
        >>> df.sort("a", descending=True).collect().to_pydict()
        {'a': [2, 1, None]}
        """
        keys = [bind(to_column_node(k), self.schema) for k in flatten(by)]
        if not keys:
            raise InvalidOperationError("sort() needs at least one key.")
        for k in keys:
            _check_row_level(k, "sort")
        desc = _per_key(descending, len(keys), "descending")
        nl = _per_key(nulls_last, len(keys), "nulls_last")
        return self._with_windows_hoisted(keys, lambda plan, es: pn.Sort(plan, tuple(es), desc, nl))

    def limit(self, n: int = 5) -> LazyFrame:
        """The first ``n`` rows (which rows is defined only after a sort).

        >>> import unistack as us
        >>> us.from_dict({"a": [3, 1, 2]}).sort("a").limit(2).collect().to_pydict()
        {'a': [1, 2]}
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise InvalidTypeError(f"limit() takes a non-negative int, got {n!r}.")
        return LazyFrame(pn.Limit(self._plan, n))

    def head(self, n: int = 5) -> LazyFrame:
        """Same as :meth:`limit`.

        >>> import unistack as us
        >>> us.from_dict({"a": [3, 1, 2]}).sort("a").head(1).collect().to_pydict()
        {'a': [1]}
        """
        return self.limit(n)

    def distinct(self, subset: str | Sequence[str] | None = None) -> LazyFrame:
        """Drop duplicate rows (nulls equal nulls). With ``subset``, keep one row per distinct subset.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, 1, None, None]}).distinct().sort("a").collect().to_pydict()
        {'a': [1, None]}
        """
        cols: tuple[str, ...] | None = None
        if subset is not None:
            cols = tuple(flatten([subset]))
            for c in cols:
                if c not in self.schema.names:
                    raise ColumnNotFoundError(c, self.schema.names)
            if set(cols) == set(self.schema.names):
                cols = None
        return LazyFrame(pn.Distinct(self._plan, cols))

    # -- grouping and joining -------------------------------------------------------------------------
    def group_by(self, *keys: IntoColumn | Sequence[IntoColumn]) -> GroupBy:
        """Group rows by keys (all null keys form one group); finish with ``.agg(...)``.

        >>> import unistack as us
        >>> df = us.from_dict({"k": ["a", None, None], "v": [1, 2, 3]})
        >>> df.group_by("k").agg(n=us.count(), s=us.col("v").sum()).sort("k").collect().to_pydict()
        {'k': ['a', None], 'n': [1, 2], 's': [1, 5]}
        """
        bound = [bind(to_column_node(k), self.schema) for k in flatten(keys)]
        if not bound:
            raise InvalidOperationError("group_by() needs at least one key; for a global aggregate use select().")
        for k in bound:
            _check_row_level(k, "group_by")
            if ex.has_window(k):
                raise InvalidOperationError("group_by() keys cannot contain .over(); add the column first.")
        return GroupBy(self, tuple(bound))

    def join(
        self,
        other: LazyFrame,
        on: str | Sequence[str] | None = None,
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
        how: str = "inner",
        suffix: str = "_right",
    ) -> LazyFrame:
        """Join with another frame on equal keys; null keys never match.

        ``how`` is one of inner, left, right, full, semi, anti, cross. Keys named the same on both sides
        appear once (for ``full``, the non-null of the two); other right columns whose name is taken get
        ``suffix``.

        >>> import unistack as us
        >>> left = us.from_dict({"k": [1, 2, None], "a": ["x", "y", "z"]})
        >>> right = us.from_dict({"k": [1, None], "b": [10, 20]})
        >>> left.join(right, on="k", how="left").sort("k").collect().to_pydict()
        {'k': [1, 2, None], 'a': ['x', 'y', 'z'], 'b': [10, None, None]}
        """
        if not isinstance(other, LazyFrame):
            raise InvalidTypeError(f"join() takes a LazyFrame, got {type(other).__name__}.")
        if how not in pn.JOIN_KINDS:
            raise InvalidOperationError(f"join how={how!r} is not one of {', '.join(pn.JOIN_KINDS)}.")
        if how == "cross":
            if on is not None or left_on is not None or right_on is not None:
                raise InvalidOperationError("a cross join takes no keys; drop on=/left_on=/right_on=.")
            return LazyFrame(pn.Join(self._plan, other._plan, "cross", (), (), suffix))._checked()
        if on is not None:
            if left_on is not None or right_on is not None:
                raise InvalidOperationError("give either on= or left_on=/right_on=, not both.")
            lkeys = rkeys = tuple(flatten([on]))
        elif left_on is not None and right_on is not None:
            lkeys, rkeys = tuple(flatten([left_on])), tuple(flatten([right_on]))
        else:
            raise InvalidOperationError(f"a {how} join needs keys: on='k' or left_on='a', right_on='b'.")
        if len(lkeys) != len(rkeys) or not lkeys:
            raise InvalidOperationError("left_on and right_on must name the same number (at least one) of keys.")
        for lk, rk in zip(lkeys, rkeys):
            for key, frame, side in ((lk, self, "left"), (rk, other, "right")):
                if not isinstance(key, str):
                    raise InvalidTypeError(f"join keys are column names; got {key!r} on the {side} side.")
                if key not in frame.schema.names:
                    raise ColumnNotFoundError(key, frame.schema.names)
            lt, rt = self.schema.field(lk).type, other.schema.field(rk).type
            if lt != rt:
                raise InvalidTypeError(
                    f"join keys have different types: {lk!r} is {describe(lt)} on the left and {rk!r} is "
                    f"{describe(rt)} on the right. Cast one side first, e.g. "
                    f"with_columns(us.col({rk!r}).cast({describe(lt)!r}))."
                )
        return LazyFrame(pn.Join(self._plan, other._plan, how, lkeys, rkeys, suffix))._checked()

    # -- user functions -----------------------------------------------------------------------------------
    def map_batches(
        self,
        fn: Callable[[pa.RecordBatch], pa.RecordBatch | pa.Table],
        schema: pa.Schema | Mapping[str, pa.DataType | str],
        *,
        name: str | None = None,
    ) -> LazyFrame:
        """Apply a Python function to each Arrow record batch. It must return batches of ``schema``.

        >>> import unistack as us, pyarrow as pa, pyarrow.compute as pc
        >>> def double(batch):
        ...     return pa.record_batch({"a2": pc.multiply(batch["a"], 2)})
        >>> us.from_dict({"a": [1, 2]}).map_batches(double, {"a2": "int64"}).collect().to_pydict()
        {'a2': [2, 4]}
        """
        if not callable(fn):
            raise InvalidTypeError("map_batches() takes a function of one pyarrow.RecordBatch.")
        if isinstance(schema, Mapping):
            schema = pa.schema([pa.field(k, parse_dtype(v)) for k, v in schema.items()])
        elif not isinstance(schema, pa.Schema):
            raise InvalidTypeError("map_batches(schema=...) takes a pyarrow.Schema or a {name: type} mapping.")
        out = canonical_schema(schema)
        if len(set(out.names)) != len(out.names):
            raise SchemaError("map_batches schema has duplicate column names.")
        label = name or str(getattr(fn, "__name__", "map_batches"))
        return LazyFrame(pn.MapBatches(self._plan, fn, out, label))

    # -- running --------------------------------------------------------------------------------------------
    def collect(self, engine: str | None = None) -> pa.Table:
        """Run the plan and return a ``pyarrow.Table`` whose schema equals :attr:`schema`.

        ``engine`` forces an engine ("polars", "duckdb", "dask", "spark", "ray", "flink"); by default the
        planner picks one.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, 2]}).collect(engine="polars").num_rows
        2
        """
        from unistack.execution import execute

        return execute(self._plan, engine=engine)

    def persist(self, engine: str | None = None) -> LazyFrame:
        """Run the plan now and keep the result inside the engine; return a frame reading it there.

        The result stays in the engine's own form (a Polars frame, a DuckDB table, Spark's cache, Dask's
        persisted partitions, Ray's object store; Flink cannot keep results) until :meth:`unpersist` or
        until the engine's session stops. Queries on the returned frame read it in place on that engine;
        another engine gets it exported as Arrow first, and the planner counts that cost, so later queries
        tend to run where the data already is. ``engine`` forces the engine; by default the planner picks
        one among those that can keep results. Like any source, the kept rows have no defined order
        (docs/semantics.md, S-ORDER): sort after reading them where order matters.

        >>> import unistack as us
        >>> sales = us.from_dict({"k": ["a", "b", "a"], "v": [1, 2, 3]}).persist(engine="duckdb")
        >>> sales.group_by("k").agg(us.col("v").sum()).sort("k").collect().to_pydict()
        {'k': ['a', 'b'], 'v': [4, 2]}
        >>> us.explain(sales).engine
        'duckdb'
        >>> sales.unpersist()
        """
        from unistack.execution import persist

        return LazyFrame(pn.Scan(persist(self._plan, engine=engine)))

    def unpersist(self) -> None:
        """Release a result kept by :meth:`persist` (a no-op on a frame that reads no persisted result).

        >>> import unistack as us
        >>> kept = us.from_dict({"a": [1]}).persist(engine="polars")
        >>> kept.unpersist()
        >>> kept.collect()
        Traceback (most recent call last):
        ...
        unistack.errors.DataSourceError: the persisted result ... is no longer held by polars ...
        """
        from unistack.backends.registry import get_engine

        for node in self._plan.walk():
            if isinstance(node, pn.Scan) and isinstance(node.source, pn.PersistedSource):
                eng = get_engine(node.source.engine)
                release = getattr(eng, "unpersist", None)
                if callable(release):
                    release(node.source)

    def to_polars(self, engine: str | None = None) -> polars.DataFrame:
        """Collect into a Polars DataFrame.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, 2]}).to_polars().shape
        (2, 1)
        """
        import polars as pl

        return pl.from_arrow(self.collect(engine))  # type: ignore[return-value]

    def to_pandas(self, engine: str | None = None) -> pandas.DataFrame:
        """Collect into a pandas DataFrame (needs pandas installed).

        >>> import unistack as us
        >>> us.from_dict({"a": [1, 2]}).to_pandas()["a"].tolist()
        [1, 2]
        """
        return self.collect(engine).to_pandas()

    def to_batches(self, engine: str | None = None, max_chunksize: int | None = None) -> Iterator[pa.RecordBatch]:
        """Iterate over the result as Arrow record batches.

        >>> import unistack as us
        >>> sum(b.num_rows for b in us.from_dict({"a": [1, 2, 3]}).to_batches())
        3
        """
        from unistack.execution import execute_batches

        yield from execute_batches(self._plan, engine=engine, max_chunksize=max_chunksize)

    def write_parquet(self, path: str | os.PathLike[str], engine: str | None = None) -> None:
        """Write the result to one Parquet file, atomically (a temporary file renamed on success).

        >>> import unistack as us, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "out.parquet")
        >>> us.from_dict({"a": [1, 2]}).write_parquet(path)
        >>> us.read_parquet(path).collect().num_rows
        2
        """
        from unistack.io import write_table

        write_table(self, os.fspath(path), "parquet", engine)

    def write_csv(self, path: str | os.PathLike[str], engine: str | None = None) -> None:
        """Write the result to one CSV file with a header, atomically.

        >>> import unistack as us, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "out.csv")
        >>> us.from_dict({"a": [1, 2]}).write_csv(path)
        >>> open(path).read().split()
        ['"a"', '1', '2']
        """
        from unistack.io import write_table

        write_table(self, os.fspath(path), "csv", engine)

    def explain(self, engine: str | None = None) -> Explanation:
        """How the plan runs: logical and optimized plan, and the engine chosen (see :func:`unistack.explain`).

        >>> import unistack as us
        >>> print(us.from_dict({"a": [1]}).filter(us.col("a") > 0).explain().optimized_text)
        Scan arrow table ... filter a > 0
        """
        from unistack.explain import explain

        return explain(self, engine=engine)

    # -- helpers --------------------------------------------------------------------------------------------
    def _checked(self) -> LazyFrame:
        _ = self._plan.schema  # computing the schema raises on duplicate names and bad joins
        return self

    def _with_windows_hoisted(
        self, exprs: list[ex.ExprNode], build: Callable[[pn.PlanNode, list[ex.ExprNode]], pn.PlanNode]
    ) -> LazyFrame:
        """Window expressions in filter/sort are computed as temporary columns first, dropped after."""
        if not any(ex.has_window(e) for e in exprs):
            return LazyFrame(build(self._plan, exprs))._checked()
        rewritten, found = ex.hoist_windows(exprs, "__us_window_")
        temps = [bind(ex.Alias(window, name), self.schema) for window, name in found]
        keep = tuple(bind(ex.Column(n), self.schema) for n in self.schema.names)
        widened = pn.Project(self._plan, keep + tuple(temps))
        return LazyFrame(pn.Project(build(widened, rewritten), keep))._checked()


def _check_no_nested(node: ex.ExprNode) -> None:
    if isinstance(node, ex.Agg):
        return
    for c in node.children():
        _check_no_nested(c)


def _broadcast_aggregates(node: ex.ExprNode, schema: pa.Schema) -> ex.ExprNode:
    """In with_columns, a bare aggregate means its value over the whole frame: wrap it in ``.over()``."""
    if isinstance(node, ex.Agg):
        return bind(ex.Over(node), schema)
    if isinstance(node, ex.Over) or not node.children():
        return node
    out = ex.replace_children(node, tuple(_broadcast_aggregates(c, schema) for c in node.children()))
    object.__setattr__(out, "dtype", node.dtype)
    return out


class GroupBy:
    """``frame.group_by(keys)``: finish with :meth:`agg`.

    Examples
    --------
    >>> import unistack as us
    >>> grouped = us.from_dict({"k": ["a", "b", "a"], "v": [1, 2, 3]}).group_by("k")
    >>> grouped.agg(us.col("v").sum()).sort("k").collect().to_pydict()
    {'k': ['a', 'b'], 'v': [4, 2]}
    """

    def __init__(self, frame: LazyFrame, keys: tuple[ex.ExprNode, ...]) -> None:
        self._frame = frame
        self._keys = keys

    def agg(self, *exprs: Expr | Sequence[Expr], **named: Expr) -> LazyFrame:
        """Aggregate each group: one row per group, keys first.

        >>> import unistack as us
        >>> df = us.from_dict({"k": [1, 1, 2], "v": [1.0, 3.0, None]})
        >>> df.group_by("k").agg(us.col("v").mean(), n=us.count()).sort("k").collect().to_pydict()
        {'k': [1, 2], 'v': [2.0, None], 'n': [2, 1]}
        """
        schema = self._frame.schema
        bound = _bind_named(exprs, named, schema)
        if not bound:
            raise InvalidOperationError("agg() needs at least one aggregate, e.g. us.col('x').sum().")
        for e in bound:
            if _has_bare_column(e) or not ex.has_agg(e):
                raise InvalidOperationError(
                    f"{ex.expr_text_safe(e)} in agg() is not an aggregate; wrap it, e.g. "
                    "us.col('x').first() or .sum()."
                )
            if ex.has_window(e):
                raise InvalidOperationError("agg() cannot contain .over(); use with_columns() for windows.")
        return LazyFrame(pn.Aggregate(self._frame._plan, self._keys, tuple(bound)))._checked()


def concat(frames: Sequence[LazyFrame]) -> LazyFrame:
    """All rows of every frame (union all). Schemas must be identical: names, order and types.

    Examples
    --------
    >>> import unistack as us
    >>> a, b = us.from_dict({"x": [1]}), us.from_dict({"x": [2]})
    >>> us.concat([a, b]).sort("x").collect().to_pydict()
    {'x': [1, 2]}
    """
    frames = list(frames)
    if not frames:
        raise InvalidOperationError("concat() needs at least one frame.")
    for f in frames:
        if not isinstance(f, LazyFrame):
            raise InvalidTypeError(f"concat() takes LazyFrames, got {type(f).__name__}.")
    first = frames[0].schema
    for i, f in enumerate(frames[1:], start=1):
        if not f.schema.equals(first):
            diff = _schema_diff(first, f.schema)
            raise SchemaError(
                f"concat() needs identical schemas; frame {i} differs from frame 0: {diff}. "
                "Use select()/cast() to line them up."
            )
    if len(frames) == 1:
        return frames[0]
    return LazyFrame(pn.Union(tuple(f._plan for f in frames)))


def _schema_diff(a: pa.Schema, b: pa.Schema) -> str:
    if a.names != b.names:
        return f"columns {a.names} vs {b.names}"
    for fa, fb in zip(a, b):
        if fa.type != fb.type:
            return f"column {fa.name!r} is {describe(fa.type)} vs {describe(fb.type)}"
    return "schemas differ"
