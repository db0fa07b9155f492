"""Plan -> one DuckDB SQL query: one translation per node type and per expression type.

Each plan node becomes one ``SELECT`` whose columns are named by position (``c0``, ``c1``, ...), nested
as a subquery in its parent (a subtree the plan uses twice becomes one common table expression), so user
column names never appear inside the query: DuckDB matches identifiers case-insensitively, and positional
names keep ``a`` and ``A`` apart. Only the outermost ``SELECT`` names the columns, through
:func:`unistack.backends.duckdb.sql.quote_ident`. Every literal is written by
:mod:`unistack.backends.duckdb.sql`.

The semantics of docs/semantics.md are enforced here, in SQL: explicit null placement in every
``ORDER BY``; division by zero gives null (``NULLIF`` on the divisor); ``//`` and ``%`` floor; integer
``+ - *`` are computed in ``HUGEINT`` and wrapped to the result type (two's complement); failed casts
give null (``TRY_CAST``), float to integer truncates; first/last are ordered by input position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, singledispatch
from typing import Protocol

import pyarrow as pa

from unistack.backends.duckdb.sql import quote_ident, quote_literal, quote_string, sql_type
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan import types as t

# -- the compilation context ----------------------------------------------------------------------------


class Registrar(Protocol):
    """What the translator needs from the engine: relations it can select from by name."""

    def register_table(self, table: pa.Table) -> str:
        """Make an Arrow table selectable under a fresh name; return that name."""
        ...

    def register_batches(self, node: pn.MapBatches) -> str:
        """Run ``node.input`` streaming (its SQL from :func:`compile_plan` with a registrar of the child's
        own connection), apply ``node``'s function per batch, and expose the output by name."""
        ...


@dataclass
class Scope:
    """How an expression refers to the columns of its input: name -> SQL text."""

    columns: dict[str, str]
    position: str | None = None  # a column holding each row's input position (for first/last)


@lru_cache(maxsize=4096)
def col_name(i: int) -> str:
    """The quoted positional column name ``"c{i}"``."""
    return quote_ident(f"c{i}")


def positional(n: int, prefix: str = "") -> list[str]:
    """SQL references to the positional columns ``c0 .. c{n-1}`` (optionally qualified)."""
    return [prefix + col_name(i) for i in range(n)]


def scope_of(schema: pa.Schema, prefix: str = "", position: str | None = None) -> Scope:
    return Scope(dict(zip(schema.names, positional(len(schema), prefix))), position)


# -- small SQL helpers ----------------------------------------------------------------------------------


def cast(sql: str, src: pa.DataType | None, dst: pa.DataType) -> str:
    """``sql`` as type ``dst`` (no cast when the plan types already agree, or ``dst`` is the null type)."""
    if (src is not None and src == dst) or t.is_null(dst):
        return sql
    return f"CAST({sql} AS {sql_type(dst)})"


def wrap_integer(sql: str, dtype: pa.DataType) -> str:
    """An integer value of any size (HUGEINT) wrapped into ``dtype`` (two's complement, like C)."""
    bits = dtype.bit_width
    mask = (1 << bits) - 1
    if pa.types.is_unsigned_integer(dtype):
        return f"CAST(({sql}) & CAST({mask} AS HUGEINT) AS {sql_type(dtype)})"
    offset = 1 << (bits - 1)
    return (f"CAST(((({sql}) + CAST({offset} AS HUGEINT)) & CAST({mask} AS HUGEINT)) - CAST({offset} AS HUGEINT)"
            f" AS {sql_type(dtype)})")


def _hugeint(sql: str, dtype: pa.DataType | None) -> str:
    return f"CAST({sql} AS HUGEINT)"


def order_clause(keys: list[str], descending: tuple[bool, ...], nulls_last: tuple[bool, ...]) -> str:
    """``k1 ASC NULLS LAST, ...``: direction and null placement always explicit."""
    parts = []
    for k, d, last in zip(keys, descending, nulls_last):
        parts.append(f"{k} {'DESC' if d else 'ASC'} NULLS {'LAST' if last else 'FIRST'}")
    return ", ".join(parts)


# -- expressions ------------------------------------------------------------------------------------------


@singledispatch
def compile_expr(node: ex.ExprNode, scope: Scope) -> str:
    raise NotImplementedError(type(node).__name__)


@compile_expr.register
def _(node: ex.Column, scope: Scope) -> str:
    return scope.columns[node.name]


@compile_expr.register
def _(node: ex.Literal, scope: Scope) -> str:
    return quote_literal(node.value, node.dtype)


@compile_expr.register
def _(node: ex.Alias, scope: Scope) -> str:
    return compile_expr(node.operand, scope)


def cast_value(sql: str, src: pa.DataType, dst: pa.DataType) -> str:
    """A user cast: failures give null; float/decimal to integer truncates toward zero; a string becomes
    an integer only when it is written as one (optional sign, digits)."""
    if src == dst:
        return sql
    target = sql_type(dst)
    if t.is_null(src):
        return f"CAST({sql} AS {target})"
    if pa.types.is_integer(dst) and (pa.types.is_floating(src) or pa.types.is_decimal(src)):
        return f"TRY_CAST(trunc({sql}) AS {target})"
    if pa.types.is_integer(dst) and t.is_string(src):
        return f"CASE WHEN regexp_full_match({sql}, '[+-]?[0-9]+') THEN TRY_CAST({sql} AS {target}) END"
    if t.is_string(dst) and pa.types.is_floating(src):
        text = f"regexp_replace(CAST({sql} AS VARCHAR), 'e([+-])0+([0-9])', 'e\\1\\2')"
        return f"CASE WHEN isnan({sql}) THEN 'NaN' ELSE {text} END"
    if t.is_string(dst) and pa.types.is_timestamp(src):
        return _timestamp_text(sql, src)
    if pa.types.is_boolean(dst) and t.is_string(src):
        return f"CASE lower({sql}) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END"
    if pa.types.is_timestamp(dst) and pa.types.is_timestamp(src) and (dst.tz is None) != (src.tz is None):
        # naive <-> aware: the naive value is read as (or given as) UTC wall time
        return f"TRY_CAST(timezone('UTC', {sql}) AS {target})"
    return f"TRY_CAST({sql} AS {target})"


_FRACTION = {"s": "%g", "ms": "%g", "us": "%f", "ns": "%n"}


def _timestamp_text(sql: str, src: pa.DataType) -> str:
    """ISO text with a fixed number of fraction digits per unit, and the UTC offset when zoned."""
    fmt = quote_string("%Y-%m-%d %H:%M:%S." + _FRACTION[src.unit])
    if src.tz is None:
        return f"strftime({sql}, {fmt})"
    local = f"timezone({quote_string(src.tz)}, {sql})"
    offset = f"CAST(epoch({local}) - epoch(timezone('UTC', {sql})) AS BIGINT)"
    sign = f"CASE WHEN {offset} < 0 THEN '-' ELSE '+' END"
    text = f"printf('%02d:%02d', abs({offset}) // 3600, (abs({offset}) % 3600) // 60)"
    return f"(strftime({local}, {fmt}) || {sign} || {text})"


@compile_expr.register
def _(node: ex.Cast, scope: Scope) -> str:
    inner = node.operand
    assert inner.dtype is not None
    return cast_value(compile_expr(inner, scope), inner.dtype, node.to)


@compile_expr.register
def _(node: ex.UnaryOp, scope: Scope) -> str:
    inner = compile_expr(node.operand, scope)
    if node.op == "not":
        return f"(NOT {inner})"
    assert node.dtype is not None
    if pa.types.is_integer(node.dtype):
        return wrap_integer(f"-{_hugeint(inner, node.operand.dtype)}", node.dtype)
    return f"(-{cast(inner, node.operand.dtype, node.dtype)})"


_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "&": "AND", "|": "OR",
            "+": "+", "-": "-", "*": "*"}


def _floor_div(a: str, b: str, dtype: pa.DataType) -> str:
    if pa.types.is_integer(dtype):
        qa, qb = f"CAST({a} AS HUGEINT)", f"NULLIF(CAST({b} AS HUGEINT), 0)"
        q = f"(({qa} // {qb}) - CASE WHEN ({qa} % {qb} <> 0) AND (({qa} < 0) <> ({qb} < 0)) THEN 1 ELSE 0 END)"
        return wrap_integer(q, dtype)
    if pa.types.is_floating(dtype):
        return cast(f"floor(CAST({a} AS DOUBLE) / NULLIF(CAST({b} AS DOUBLE), 0))", t.FLOAT64, dtype)
    return cast(f"floor({a} / NULLIF({b}, 0))", None, dtype)


def _floor_mod(a: str, b: str, dtype: pa.DataType) -> str:
    target = "DOUBLE" if pa.types.is_floating(dtype) else sql_type(dtype)
    qa, qb = f"CAST({a} AS {target})", f"NULLIF(CAST({b} AS {target}), 0)"
    r = f"({qa} % {qb})"
    out = f"CASE WHEN {r} <> 0 AND (({r} < 0) <> ({qb} < 0)) THEN {r} + {qb} ELSE {r} END"
    return cast(out, t.FLOAT64, dtype) if pa.types.is_floating(dtype) else out


@compile_expr.register
def _(node: ex.BinaryOp, scope: Scope) -> str:
    left, right = compile_expr(node.left, scope), compile_expr(node.right, scope)
    op = node.op
    lt, rt = node.left.dtype, node.right.dtype
    assert lt is not None and rt is not None and node.dtype is not None
    if op in ex.BOOLEAN_OPS:
        return f"({left} {_SQL_OPS[op]} {right})"
    if op in ex.COMPARISON_OPS:
        common = t.supertype(lt, rt)
        if not t.is_null(common) and lt != rt:
            left, right = cast(left, lt, common), cast(right, rt, common)
        return f"({left} {_SQL_OPS[op]} {right})"
    out = node.dtype
    if op == "/":
        return f"(CAST({left} AS DOUBLE) / NULLIF(CAST({right} AS DOUBLE), 0))"
    if op == "**":
        return f"pow(CAST({left} AS DOUBLE), CAST({right} AS DOUBLE))"
    if op == "//":
        return _floor_div(left, right, out)
    if op == "%":
        return _floor_mod(left, right, out)
    if pa.types.is_integer(out):
        return wrap_integer(f"({_hugeint(left, lt)} {op} {_hugeint(right, rt)})", out)
    if pa.types.is_floating(out):
        return f"({cast(left, lt, out)} {op} {cast(right, rt, out)})"
    # decimals: DuckDB's exact decimal arithmetic gives the same value and scale; the plan's precision
    # is applied where the type matters (outputs, unions, branches).
    if pa.types.is_boolean(lt) or t.is_null(lt):
        left = cast(left, lt, t.INT64)
    if pa.types.is_boolean(rt) or t.is_null(rt):
        right = cast(right, rt, t.INT64)
    return f"({left} {op} {right})"


def _branch(value: ex.ExprNode, dtype: pa.DataType, scope: Scope) -> str:
    sql = compile_expr(value, scope)
    src = value.dtype
    if src is not None and pa.types.is_decimal(src) and pa.types.is_decimal(dtype) and src.scale == dtype.scale:
        return sql  # same scale: DuckDB's CASE widens the precision itself, no per-row cast needed
    return cast(sql, src if isinstance(value, ex.Literal) else None, dtype)


@compile_expr.register
def _(node: ex.Case, scope: Scope) -> str:
    assert node.dtype is not None
    parts = ["CASE"]
    for cond, value in node.branches:
        parts.append(f"WHEN {compile_expr(cond, scope)} THEN {_branch(value, node.dtype, scope)}")
    parts.append(f"ELSE {_branch(node.otherwise, node.dtype, scope)} END")
    return " ".join(parts)


_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
_TRUNCATE_UNITS = {"year", "quarter", "month", "week", "day", "hour", "minute", "second"}


def _is_in(node: ex.Call, a: list[str]) -> str:
    x = a[0]
    dtype = node.args[0].dtype
    assert dtype is not None
    values = [v for v in node.params[0] if v is not None]  # nulls in the list are ignored
    if not values:
        return f"CASE WHEN {x} IS NULL THEN NULL ELSE FALSE END"
    common = dtype
    for v in values:  # compare in the common type: an int column is never "in" [1.5]
        common = t.supertype(common, t.literal_type(v), "compare")
    if not t.is_null(dtype):
        x = cast(x, dtype, common)
    items = ", ".join(quote_literal(v, common) for v in values)
    return f"({x} IN ({items}))"  # null for a null input (the list holds no null)


def _like(x: str, pattern: str) -> str:
    # DuckDB's LIKE has no escape character unless given one; its plain LIKE is the faster path
    escape = " ESCAPE '\\'" if "\\" in pattern else ""
    return f"({x} LIKE {quote_string(pattern)}{escape})"


def _round(node: ex.Call, a: list[str]) -> str:
    assert node.dtype is not None
    if pa.types.is_integer(node.dtype) or t.is_null(node.dtype):
        return a[0]
    # DuckDB rounds half away from zero (docs/semantics.md) for floats and decimals.
    return cast(f"round({a[0]}, {int(node.params[0])})", None, node.dtype)


def _str_slice(node: ex.Call, a: list[str]) -> str:
    x = a[0]
    offset, length = int(node.params[0]), node.params[1]
    if offset >= 0:
        if length is None:
            return f"substring({x}, {offset + 1})"
        return f"substring({x}, {offset + 1}, {int(length)})"
    start = f"(length({x}) + ({offset}))"  # 0-based, may be below zero: the slice is clipped
    if length is None:
        return f"substring({x}, greatest({start}, 0) + 1)"
    end = f"least({start} + {int(length)}, length({x}))"
    return f"substring({x}, greatest({start}, 0) + 1, greatest({end} - greatest({start}, 0), 0))"


def _str_replace(node: ex.Call, a: list[str]) -> str:
    old, new = node.params  # literal, non-empty (checked by the API); DuckDB's replace is literal
    return f"replace({a[0]}, {quote_string(old)}, {quote_string(new)})"


def _local(node: ex.Call, x: str) -> str:
    """A timestamp's wall-clock value in its own time zone (naive timestamps and dates unchanged)."""
    dtype = node.args[0].dtype
    if dtype is not None and pa.types.is_timestamp(dtype) and dtype.tz is not None:
        return f"timezone({quote_string(dtype.tz)}, {x})"
    return x


def _dt_part(part: str) -> Callable[[ex.Call, list[str]], str]:
    def fn(node: ex.Call, a: list[str]) -> str:
        return f"CAST({part}({_local(node, a[0])}) AS INTEGER)"

    return fn


def _dt_truncate(node: ex.Call, a: list[str]) -> str:
    (unit,) = node.params
    assert unit in _TRUNCATE_UNITS and node.dtype is not None
    dtype = node.args[0].dtype
    truncated = f"date_trunc({quote_string(unit)}, {_local(node, a[0])})"
    if dtype is not None and pa.types.is_timestamp(dtype) and dtype.tz is not None:
        truncated = f"timezone({quote_string(dtype.tz)}, {truncated})"
    return f"CAST({truncated} AS {sql_type(node.dtype)})"


def _coalesce(node: ex.Call, a: list[str]) -> str:
    assert node.dtype is not None
    args = [cast(s, arg.dtype, node.dtype) for s, arg in zip(a, node.args)]
    return f"COALESCE({', '.join(args)})"


FUNCTIONS: dict[str, Callable[[ex.Call, list[str]], str]] = {
    "is_null": lambda n, a: f"({a[0]} IS NULL)",
    "is_not_null": lambda n, a: f"({a[0]} IS NOT NULL)",
    "is_nan": lambda n, a: f"isnan({a[0]})",
    "fill_null": _coalesce,
    "coalesce": _coalesce,
    "is_in": _is_in,
    "abs": lambda n, a: wrap_integer(f"abs(CAST({a[0]} AS HUGEINT))", n.dtype)
    if pa.types.is_signed_integer(n.dtype) else f"abs({a[0]})",
    "round": _round,
    "str_len": lambda n, a: f"CAST(length({a[0]}) AS BIGINT)",
    "str_lower": lambda n, a: f"lower({a[0]})",
    "str_upper": lambda n, a: f"upper({a[0]})",
    "str_strip": lambda n, a: f"trim({a[0]}, {quote_string(_ASCII_WHITESPACE)})",
    "str_contains": lambda n, a: f"contains({a[0]}, {quote_string(n.params[0])})",
    "str_starts_with": lambda n, a: f"starts_with({a[0]}, {quote_string(n.params[0])})",
    "str_ends_with": lambda n, a: f"ends_with({a[0]}, {quote_string(n.params[0])})",
    "str_like": lambda n, a: _like(a[0], n.params[0]),
    "str_slice": _str_slice,
    "str_replace": _str_replace,
    "concat_str": lambda n, a: "(" + f" || {quote_string(n.params[0])} || ".join(a) + ")" if n.params[0] else
    "(" + " || ".join(a) + ")",
    "dt_year": _dt_part("year"),
    "dt_month": _dt_part("month"),
    "dt_day": _dt_part("day"),
    "dt_hour": _dt_part("hour"),
    "dt_minute": _dt_part("minute"),
    "dt_second": _dt_part("second"),
    "dt_weekday": _dt_part("isodow"),
    "dt_truncate": _dt_truncate,
}


@compile_expr.register
def _(node: ex.Call, scope: Scope) -> str:
    args = [compile_expr(a, scope) for a in node.args]
    return FUNCTIONS[node.name](node, args)


def agg_sql(node: ex.Agg, scope: Scope, over: str = "") -> str:
    """An aggregate call; ``over`` (``OVER (...)``) makes it a window aggregate."""
    if node.func == "len":
        return f"count(*){over}"
    assert node.operand is not None and node.dtype is not None
    x = compile_expr(node.operand, scope)
    in_type = node.operand.dtype
    assert in_type is not None
    if pa.types.is_boolean(in_type) and node.func in ("sum", "mean", "std", "var"):
        x = f"CAST({x} AS BIGINT)"
    elif t.is_null(in_type):
        x = cast(x, None, node.dtype)
    out = node.dtype
    match node.func:
        case "sum":
            if pa.types.is_integer(out):
                return wrap_integer(f"sum({x}){over}", out)
            if pa.types.is_floating(out):
                return f"sum(CAST({x} AS DOUBLE)){over}"
            return f"CAST(sum({x}){over} AS {sql_type(out)})"
        case "mean":
            return f"CAST(avg({x}){over} AS DOUBLE)"
        case "min" | "max":
            # DuckDB orders NaN above every number, so max is NaN when any is and min only when all are.
            return f"{node.func}({x}){over}"
        case "count":
            return f"count({x}){over}"
        case "n_unique":
            return f"count(DISTINCT {x}){over}"
        case "std":
            return f"stddev_samp(CAST({x} AS DOUBLE)){over}"
        case "var":
            return f"var_samp(CAST({x} AS DOUBLE)){over}"
        case "first" | "last":
            assert scope.position is not None, "first/last need the input position"
            fn = "arg_min" if node.func == "first" else "arg_max"
            return f"{fn}({x}, {scope.position}) FILTER (WHERE {x} IS NOT NULL){over}"
    raise NotImplementedError(node.func)


compile_expr.register(ex.Agg, agg_sql)


def _over_clause(node: ex.Over, scope: Scope, order: bool, frame: str = "") -> str:
    parts = []
    if node.partition_by:
        parts.append("PARTITION BY " + ", ".join(compile_expr(p, scope) for p in node.partition_by))
    if order and node.order_by:
        keys = [compile_expr(o, scope) for o in node.order_by]
        parts.append("ORDER BY " + order_clause(keys, node.descending, node.nulls_last))
    if frame:
        parts.append(frame)
    return f" OVER ({' '.join(parts)})"


def window_sql(node: ex.Over, scope: Scope) -> str:
    op = ex.strip_alias(node.operand)
    if isinstance(op, ex.Agg):
        # aggregates cover the whole partition: no ORDER BY, so the frame is every row of it
        return agg_sql(op, scope, _over_clause(node, scope, order=False))
    assert isinstance(op, ex.WindowFunc)
    match op.func:
        case "row_number":
            return f"row_number(){_over_clause(node, scope, order=True)}"
        case "rank" | "dense_rank" if op.operand is None:
            return f"{op.func}(){_over_clause(node, scope, order=True)}"
        case "rank" | "dense_rank":
            assert op.operand is not None
            x = compile_expr(op.operand, scope)
            desc = bool(op.params and op.params[0])
            parts = []
            if node.partition_by:
                parts.append("PARTITION BY " + ", ".join(compile_expr(p, scope) for p in node.partition_by))
            parts.append(f"ORDER BY {x} {'DESC' if desc else 'ASC'} NULLS LAST")
            return f"CASE WHEN {x} IS NULL THEN NULL ELSE {op.func}() OVER ({' '.join(parts)}) END"
        case "cum_sum":
            assert op.operand is not None and op.dtype is not None
            agg = ex.Agg("sum", op.operand)
            object.__setattr__(agg, "dtype", op.dtype)
            frame = "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
            return agg_sql(agg, scope, _over_clause(node, scope, order=True, frame=frame))
        case "shift":
            assert op.operand is not None
            n = int(op.params[0])
            x = compile_expr(op.operand, scope)
            if n == 0:
                return x
            fn = "lag" if n > 0 else "lead"
            return f"{fn}({x}, {abs(n)}){_over_clause(node, scope, order=True)}"
    raise NotImplementedError(op.func)


compile_expr.register(ex.Over, window_sql)


def _needs_position(exprs: tuple[ex.ExprNode, ...]) -> bool:
    return any(isinstance(n, ex.Agg) and n.func in ("first", "last") for e in exprs for n in e.walk())


# -- plan nodes ---------------------------------------------------------------------------------------------


_TOKEN = re.compile("\x00([^\x00\x01]*)\x01([^\x00]*)\x00")


def _materialize(select: str) -> str:
    """``MATERIALIZED`` for a shared part that filters, joins or aggregates, so it runs once (TPC-H Q21 at
    SF 1: 163 ms instead of 182 ms when DuckDB inlines it); a bare scan is cheaper to read twice."""
    return "MATERIALIZED " if any(k in select for k in (" WHERE ", " GROUP BY ", " JOIN ")) else ""


@dataclass
class Query:
    """The query under construction: one part (a ``SELECT``) per distinct plan subtree.

    Parts refer to each other through placeholder tokens (NUL-delimited: no identifier or literal this
    translator writes can contain a raw NUL). When the text is made, a part used once is nested in place
    as a subquery; a part the plan uses twice (a frame reused in two branches yields the same ``SELECT``
    text) becomes one common table expression, materialized when it does work (see :func:`_materialize`).
    """

    registrar: Registrar
    parts: dict[str, str] = field(default_factory=dict)  # name -> SELECT text with tokens
    by_text: dict[str, str] = field(default_factory=dict)
    uses: dict[str, int] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # references made by the part being built

    def add(self, select: str) -> str:
        refs, self.pending = self.pending, []
        name = self.by_text.get(select)
        if name is None:
            name = f"q{len(self.parts)}"
            self.parts[name] = select
            self.by_text[select] = name
            for r in refs:  # only a part that is kept counts as a user of its inputs
                self.uses[r] = self.uses.get(r, 0) + 1
        return name

    def ref(self, name: str, alias: str = "") -> str:
        """A reference to part ``name`` from the part being built (``alias`` names it there)."""
        self.pending.append(name)
        return f"\x00{name}\x01{alias}\x00"

    def _render(self, sql: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name, alias = m[1], m[2]
            if self.uses.get(name, 0) > 1:
                return quote_ident(name) + (f" AS {alias}" if alias else "")
            return f"(\n{self._render(self.parts[name])}\n) AS {alias or quote_ident(name)}"

        return _TOKEN.sub(sub, sql)

    def text(self, final: str) -> str:
        for r in self.pending:
            self.uses[r] = self.uses.get(r, 0) + 1
        self.pending = []
        shared = [n for n in self.parts if self.uses.get(n, 0) > 1]
        body = self._render(final)
        if not shared:
            return body
        rendered = {n: self._render(self.parts[n]) for n in shared}
        ctes = ",\n".join(f"{quote_ident(n)} AS {_materialize(sql)}(\n{sql}\n)" for n, sql in rendered.items())
        return f"WITH {ctes}\n{body}"


@singledispatch
def compile_node(node: pn.PlanNode, q: Query) -> str:
    """Add the node (and its inputs) to ``q``; return the name of the relation holding its rows."""
    raise NotImplementedError(type(node).__name__)


def _select_list(items: list[str]) -> str:
    return ", ".join(f"{sql} AS {col_name(i)}" for i, sql in enumerate(items))


def _file_relation(src: pn.FileSource) -> str:
    paths = "[" + ", ".join(quote_string(p) for p in src.paths) + "]"
    n = len(src.file_schema)
    alias = "s(" + ", ".join(col_name(i) for i in range(n)) + ")"
    if src.format == "parquet":
        return f"read_parquet({paths}, hive_partitioning = false, union_by_name = false) AS {alias}"
    if src.format == "csv":
        columns = "{" + ", ".join(f"{quote_string(f'c{i}')}: {quote_string(sql_type(f.type))}"
                                  for i, f in enumerate(src.file_schema)) + "}"
        nulls = "[" + ", ".join(quote_string(v) for v in src.option("null_values", ("",))) + "]"
        header = "true" if src.option("has_header", True) else "false"
        return (f"read_csv({paths}, columns = {columns}, header = {header}, "
                f"delim = {quote_string(src.option('separator', ','))}, quote = '\"', escape = '\"', "
                f"nullstr = {nulls}, auto_detect = false, hive_partitioning = false) AS {alias}")
    if src.format == "json":
        columns = "{" + ", ".join(f"{quote_string(f.name)}: {quote_string(sql_type(f.type))}"
                                  for f in src.file_schema) + "}"
        return (f"read_json({paths}, format = 'newline_delimited', columns = {columns}, "
                f"hive_partitioning = false) AS {alias}")
    raise NotImplementedError(f"format {src.format}")


def persisted_table(src: pn.PersistedSource) -> str:
    """The DuckDB table holding a result persisted in DuckDB (checks that it is still held)."""
    from unistack.backends.persist import persisted_object

    return str(persisted_object(src, "duckdb"))


@compile_node.register
def _(node: pn.Scan, q: Query) -> str:
    src = node.source
    if isinstance(src, pn.InMemorySource):
        name = q.registrar.register_table(src.table)
        n = src.table.num_columns
        source_schema = src.schema
        alias = "s(" + ", ".join(col_name(i) for i in range(n)) + ")"
        relation = f"{quote_ident(name)} AS {alias}"
        raw_types = src.table.schema.types
    elif isinstance(src, pn.PersistedSource):  # one of this engine's (localize() exported any other)
        source_schema = src.schema
        alias = "s(" + ", ".join(col_name(i) for i in range(len(source_schema))) + ")"
        relation = f"{quote_ident(persisted_table(src))} AS {alias}"
        raw_types = source_schema.types
    else:
        assert isinstance(src, pn.FileSource)
        relation = _file_relation(src)
        source_schema = src.schema
        raw_types = src.file_schema.types
    scope = scope_of(source_schema)
    wanted = list(node.columns) if node.columns is not None else source_schema.names
    items = []
    for name in wanted:
        i = source_schema.get_field_index(name)
        ref = scope.columns[name]
        raw, canon = raw_types[i], source_schema.field(i).type
        # dictionary / view / float16 inputs are read as their canonical value type
        items.append(ref if sql_type(raw) == sql_type(canon) else f"CAST({ref} AS {sql_type(canon)})")
    sql = f"SELECT {_select_list(items)} FROM {relation}"
    if node.filters:
        sql += " WHERE " + " AND ".join(compile_expr(f, scope) for f in node.filters)
    if node.limit is not None:
        sql += f" LIMIT {int(node.limit)}"
    return q.add(sql)


def _with_position(child: str, n: int, q: Query) -> tuple[str, str]:
    """Number the child's rows in their current order (for first/last)."""
    pos = quote_ident("__pos")
    cols = ", ".join(positional(n))
    return q.add(f"SELECT {cols}, row_number() OVER () AS {pos} FROM {q.ref(child)}"), pos


@compile_node.register
def _(node: pn.Project, q: Query) -> str:
    child = compile_node(node.input, q)
    position = None
    # DuckDB's window operator emits rows in its own order; above a sort, the rows are numbered first
    # and put back in that order, so a following limit or the result keeps the sorted order.
    keep_order = pn.sorted_below(node.input) and any(ex.has_window(e) for e in node.exprs)
    if keep_order or _needs_position(node.exprs):
        child, position = _with_position(child, len(node.input.schema), q)
    scope = scope_of(node.input.schema, position=position)
    items = [compile_expr(e, scope) for e in node.exprs]
    sql = f"SELECT {_select_list(items)} FROM {q.ref(child)}"
    if keep_order:
        sql += f" ORDER BY {position} ASC"
    return q.add(sql)


@compile_node.register
def _(node: pn.Filter, q: Query) -> str:
    child = compile_node(node.input, q)
    scope = scope_of(node.input.schema)
    return q.add(f"SELECT * FROM {q.ref(child)} WHERE {compile_expr(node.predicate, scope)}")


@compile_node.register
def _(node: pn.Aggregate, q: Query) -> str:
    child = compile_node(node.input, q)
    position = None
    if _needs_position(node.aggs):
        child, position = _with_position(child, len(node.input.schema), q)
    scope = scope_of(node.input.schema, position=position)
    keys = [compile_expr(k, scope) for k in node.keys]
    aggs = [compile_expr(a, scope) for a in node.aggs]
    sql = f"SELECT {_select_list(keys + aggs)} FROM {q.ref(child)}"
    if keys:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(keys)))
    return q.add(sql)


_JOINS = {"inner": "INNER JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "full": "FULL OUTER JOIN",
          "semi": "SEMI JOIN", "anti": "ANTI JOIN", "cross": "CROSS JOIN"}


@compile_node.register
def _(node: pn.Join, q: Query) -> str:
    left, right = compile_node(node.left, q), compile_node(node.right, q)
    ls = scope_of(node.left.schema, "l.")
    rs = scope_of(node.right.schema, "r.")
    items = []
    for c in node.output_columns:
        if c.side == "left":
            items.append(ls.columns[c.source])
        elif c.side == "right":
            items.append(rs.columns[c.source])
        else:
            lref, rref = ls.columns[c.source], rs.columns[c.right_source or c.source]
            items.append({"full": f"COALESCE({lref}, {rref})", "right": rref}.get(node.how, lref))
    sql = f"SELECT {_select_list(items)} FROM {q.ref(left, 'l')} {_JOINS[node.how]} {q.ref(right, 'r')}"
    if node.how != "cross":
        # '=' never matches a null key; DuckDB's '=' treats NaN as equal to NaN
        cond = " AND ".join(f"{ls.columns[lk]} = {rs.columns[rk]}" for lk, rk in zip(node.left_on, node.right_on))
        sql += f" ON {cond}"
    return q.add(sql)


def _sort_sql(node: pn.Sort, q: Query, limit: int | None = None) -> str:
    child = compile_node(node.input, q)
    scope = scope_of(node.input.schema)
    keys = [compile_expr(k, scope) for k in node.keys]
    sql = f"SELECT * FROM {q.ref(child)} ORDER BY {order_clause(keys, node.descending, node.nulls_last)}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return q.add(sql)


@compile_node.register
def _(node: pn.Sort, q: Query) -> str:
    return _sort_sql(node, q)


@compile_node.register
def _(node: pn.Limit, q: Query) -> str:
    if isinstance(node.input, pn.Sort):
        return _sort_sql(node.input, q, limit=node.n)
    child = compile_node(node.input, q)
    return q.add(f"SELECT * FROM {q.ref(child)} LIMIT {int(node.n)}")


@compile_node.register
def _(node: pn.Distinct, q: Query) -> str:
    child = compile_node(node.input, q)
    if node.subset is None:
        return q.add(f"SELECT DISTINCT * FROM {q.ref(child)}")
    scope = scope_of(node.input.schema)
    on = ", ".join(scope.columns[c] for c in node.subset)
    return q.add(f"SELECT DISTINCT ON ({on}) * FROM {q.ref(child)}")


@compile_node.register
def _(node: pn.Union, q: Query) -> str:
    parts = []
    for child_node in node.inputs:
        child = compile_node(child_node, q)
        items = [f"CAST({ref} AS {sql_type(f.type)})" for ref, f in zip(positional(len(node.schema)), node.schema)]
        parts.append(f"SELECT {_select_list(items)} FROM {q.ref(child)}")
    return q.add(" UNION ALL ".join(parts))


@compile_node.register
def _(node: pn.MapBatches, q: Query) -> str:
    # The child runs as its own query, streamed batch by batch through the function; its output is a
    # registered Arrow stream the rest of this query reads (see the engine's register_batches).
    name = q.registrar.register_batches(node)
    n = len(node.output_schema)
    alias = "s(" + ", ".join(col_name(i) for i in range(n)) + ")"
    return q.add(f"SELECT * FROM {quote_ident(name)} AS {alias}")


def compile_plan(plan: pn.PlanNode, registrar: Registrar) -> str:
    """The whole plan as one SQL query whose columns are the plan's, in order.

    Parameters
    ----------
    plan : PlanNode
        An optimized, bound plan.
    registrar : Registrar
        Makes in-memory tables and map_batches streams selectable by name.

    Returns
    -------
    str
        A DuckDB ``SELECT`` statement.

    Examples
    --------
    >>> import unistack as us
    >>> class Names:
    ...     def register_table(self, table): return "t"
    ...     def register_batches(self, node): return "b"
    >>> print(compile_plan(us.from_dict({"a": [1]}).plan, Names()))
    SELECT "c0" AS "a" FROM (
    SELECT "c0" AS "c0" FROM "t" AS s("c0")
    ) AS "q0"
    """
    q = Query(registrar)
    last = compile_node(plan, q)
    names = plan.schema.names
    if all("\x00" not in n for n in names):
        # an all-null column leaves as NULL, which DuckDB hands to Arrow as the null type
        items = ", ".join(f"{'NULL' if t.is_null(f.type) else col_name(i)} AS {quote_ident(f.name)}"
                          for i, f in enumerate(plan.schema))
    else:  # a name DuckDB cannot carry: keep positions (the engine renames the Arrow result)
        items = "*"
    return q.text(f"SELECT {items} FROM {q.ref(last)}")


def implemented_operations() -> set[str]:
    """Operation names this translator implements (the engine's capabilities derive from it)."""
    ops = {f"node:{cls.__name__}" for cls in compile_node.registry if cls is not object}
    ops |= {f"join:{how}" for how in _JOINS}
    ops |= {"format:parquet", "format:csv", "format:json", "source:arrow"}
    ops |= {f"function:{name}" for name in FUNCTIONS}
    ops |= {f"op:{op}" for op in (*ex.ARITHMETIC_OPS, *ex.COMPARISON_OPS, *ex.BOOLEAN_OPS, "neg", "not")}
    ops |= {f"agg:{a}" for a in ex.AGGREGATES}
    ops |= {f"window:{w}" for w in ex.WINDOW_FUNCTIONS}
    ops |= {"window:over", "expr:Cast", "expr:Case"}
    return ops
