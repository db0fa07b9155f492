"""The conformance oracle: a unistack plan compiled to DuckDB SQL that follows docs/semantics.md.

The oracle is independent of every engine: it shares no code with ``unistack.backends.duckdb`` (or any
other backend), it reads the *unoptimized* plan, and it spells every rule of the semantics out in SQL
(floor division, wrap-around integer arithmetic, division by zero giving null, nulls last, ...). A
disagreement between an engine and the oracle is a bug in one of them, or in the semantics file.

DuckDB is a test-only dependency; it is imported when an :class:`Oracle` is created.

Examples
--------
>>> import unistack as us
>>> from unistack.testing.oracle import Oracle
>>> df = us.from_dict({"a": [-7, 7, None]}).select(q=us.col("a") // 2, r=us.col("a") % 2)
>>> Oracle().run(df.plan).to_pydict()
{'q': [-4, 3, None], 'r': [1, 1, None]}
"""

from __future__ import annotations

import datetime as _dt
import decimal
import itertools
import math
from typing import Any

import pyarrow as pa

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan import types as t

ASCII_WHITESPACE = "chr(32)||chr(9)||chr(10)||chr(13)||chr(11)||chr(12)"
_TS_TYPES = {"s": "TIMESTAMP_S", "ms": "TIMESTAMP_MS", "us": "TIMESTAMP", "ns": "TIMESTAMP_NS"}


class OracleError(Exception):
    """The oracle cannot translate a plan (an operation it does not model)."""


class Undefined(OracleError):
    """The plan's result is not defined by docs/semantics.md (e.g. an integer sum that overflows)."""


def quote(name: str) -> str:
    """A SQL identifier, double-quoted.

    Examples
    --------
    >>> quote('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """A SQL string literal.

    Examples
    --------
    >>> sql_string("it's")
    "'it''s'"
    """
    return "'" + value.replace("'", "''") + "'"


def sql_type(dtype: pa.DataType) -> str:
    """The DuckDB type for a canonical Arrow type.

    Examples
    --------
    >>> sql_type(pa.decimal128(12, 2))
    'DECIMAL(12,2)'
    """
    simple = {
        pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
        pa.uint8(): "UTINYINT", pa.uint16(): "USMALLINT", pa.uint32(): "UINTEGER", pa.uint64(): "UBIGINT",
        pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN", t.STRING: "VARCHAR",
        pa.string(): "VARCHAR", t.BINARY: "BLOB", pa.date32(): "DATE", pa.null(): "INTEGER",
    }
    if dtype in simple:
        return simple[dtype]
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ" if dtype.tz is not None else _TS_TYPES[dtype.unit]
    raise OracleError(f"no DuckDB type for {dtype}")


def _bits(dtype: pa.DataType) -> int:
    return int(dtype.bit_width)


def wrap_int(sql: str, dtype: pa.DataType) -> str:
    """``sql`` (any integer) reduced modulo 2**bits into ``dtype``: two's complement wrap-around."""
    bits = _bits(dtype)
    mod = 2**bits
    if pa.types.is_unsigned_integer(dtype):
        inner = f"((CAST({sql} AS HUGEINT) % {mod}::HUGEINT) + {mod}::HUGEINT) % {mod}::HUGEINT"
        return f"CAST({inner} AS {sql_type(dtype)})"
    half = 2 ** (bits - 1)
    inner = (f"(((CAST({sql} AS HUGEINT) + {half}::HUGEINT) % {mod}::HUGEINT + {mod}::HUGEINT) "
             f"% {mod}::HUGEINT - {half}::HUGEINT)")
    return f"CAST({inner} AS {sql_type(dtype)})"


OVERFLOW_MARK = "unistack-oracle: integer sum overflow"


def checked_int(sql: str, dtype: pa.DataType) -> str:
    """An integer sum cast to ``dtype``, or a query error when it does not fit: integer sum overflow is not
    in the contract (S-AGG-TYPES), so the oracle refuses to give an answer (see :class:`Undefined`)."""
    lo, hi = (0, 2**dtype.bit_width - 1) if pa.types.is_unsigned_integer(dtype) else (
        -(2 ** (dtype.bit_width - 1)), 2 ** (dtype.bit_width - 1) - 1)
    return (f"(CASE WHEN ({sql}) IS NULL THEN NULL WHEN ({sql}) BETWEEN {lo}::HUGEINT AND {hi}::HUGEINT "
            f"THEN CAST(({sql}) AS {sql_type(dtype)}) ELSE error('{OVERFLOW_MARK}') END)")


def literal_sql(value: Any, dtype: pa.DataType) -> str:
    """A typed SQL literal.

    Examples
    --------
    >>> literal_sql(float("nan"), pa.float64())
    "CAST('NaN' AS DOUBLE)"
    """
    typ = sql_type(dtype)
    if value is None:
        return f"CAST(NULL AS {typ})"
    if isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, float):
        if math.isnan(value):
            text = "'NaN'"
        elif math.isinf(value):
            text = "'Infinity'" if value > 0 else "'-Infinity'"
        else:
            text = repr(value)
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, decimal.Decimal):
        text = sql_string(str(value))
    elif isinstance(value, str):
        text = sql_string(value)
    elif isinstance(value, bytes):
        return f"CAST(from_hex({sql_string(value.hex())}) AS {typ})"
    elif isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            text = sql_string(value.astimezone(_dt.UTC).replace(tzinfo=None).isoformat(sep=" ") + "+00")
        else:
            text = sql_string(value.isoformat(sep=" "))
    elif isinstance(value, _dt.date):
        text = sql_string(value.isoformat())
    else:
        raise OracleError(f"cannot write a literal of {type(value).__name__}")
    return f"CAST({text} AS {typ})"


class _Compiler:
    """Plan -> SQL text. Each plan node becomes one sub-query with exactly the node's output columns."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        self.counter = itertools.count()

    def alias(self) -> str:
        return f"q{next(self.counter)}"

    # -- expressions ------------------------------------------------------------------------------------
    def expr(self, node: ex.ExprNode) -> str:
        method = getattr(self, "_e_" + type(node).__name__.lower(), None)
        if method is None:
            raise OracleError(f"expression {type(node).__name__} is not modelled")
        return str(method(node))

    def cast_to(self, node: ex.ExprNode, dtype: pa.DataType) -> str:
        """An operand converted to the type an operator computes in (a widening, never lossy here)."""
        sql = self.expr(node)
        if node.dtype == dtype:
            return sql
        if node.dtype is not None and pa.types.is_boolean(node.dtype):
            sql = f"CAST({sql} AS BIGINT)"
        return f"CAST({sql} AS {sql_type(dtype)})"

    def _e_column(self, node: ex.Column) -> str:
        return quote(node.name)

    def _e_literal(self, node: ex.Literal) -> str:
        assert node.dtype is not None
        dtype = t.INT64 if t.is_null(node.dtype) else node.dtype
        return literal_sql(node.value, dtype)

    def _e_alias(self, node: ex.Alias) -> str:
        return self.expr(node.operand)

    def _e_cast(self, node: ex.Cast) -> str:
        src, dst = node.operand.dtype, node.to
        assert src is not None
        x = self.expr(node.operand)
        typ = sql_type(dst)
        if src == dst:
            return x
        if t.is_null(src):
            return f"CAST(NULL AS {typ})"
        if pa.types.is_integer(dst) and pa.types.is_floating(src):
            # truncate toward zero; NaN, infinities and values out of range give null
            return f"(CASE WHEN isfinite({x}) THEN TRY_CAST(trunc({x}) AS {typ}) END)"
        if pa.types.is_integer(dst) and pa.types.is_decimal(src):
            return f"TRY_CAST(trunc({x}) AS {typ})"
        if pa.types.is_integer(dst) and t.is_string(src):
            return f"(CASE WHEN regexp_full_match({x}, '[+-]?[0-9]+') THEN TRY_CAST({x} AS {typ}) END)"
        if t.is_string(dst) and pa.types.is_boolean(src):
            return f"(CASE WHEN {x} THEN 'true' WHEN NOT {x} THEN 'false' END)"
        if pa.types.is_boolean(dst) and t.is_string(src):
            return f"(CASE WHEN lower({x}) = 'true' THEN TRUE WHEN lower({x}) = 'false' THEN FALSE END)"
        if pa.types.is_timestamp(dst) and pa.types.is_timestamp(src) and dst.tz is not None and src.tz is None:
            # a naive timestamp read as UTC wall time
            return f"timezone('UTC', CAST({x} AS TIMESTAMP))"
        if pa.types.is_timestamp(dst) and pa.types.is_timestamp(src) and dst.tz is None and src.tz is not None:
            return f"CAST(timezone('UTC', {x}) AS {typ})"
        return f"TRY_CAST({x} AS {typ})"

    def _e_unaryop(self, node: ex.UnaryOp) -> str:
        if node.op == "not":
            return f"(NOT {self.expr(node.operand)})"
        assert node.dtype is not None
        x = self.cast_to(node.operand, node.dtype)
        if pa.types.is_integer(node.dtype):
            return wrap_int(f"(- CAST({x} AS HUGEINT))", node.dtype)
        return f"(- {x})"

    def _e_binaryop(self, node: ex.BinaryOp) -> str:
        op = node.op
        lt, rt = node.left.dtype, node.right.dtype
        assert lt is not None and rt is not None and node.dtype is not None
        if op in ex.BOOLEAN_OPS:
            word = "AND" if op == "&" else "OR"
            return f"({self.cast_to(node.left, t.BOOL)} {word} {self.cast_to(node.right, t.BOOL)})"
        if op in ex.COMPARISON_OPS:
            common = t.supertype(lt, rt)
            if t.is_null(common):
                return "CAST(NULL AS BOOLEAN)"
            sql_op = {"==": "=", "!=": "<>"}.get(op, op)
            return f"({self.cast_to(node.left, common)} {sql_op} {self.cast_to(node.right, common)})"
        out = node.dtype
        if op in ("/", "**"):
            a = self.cast_to(node.left, t.FLOAT64)
            b = self.cast_to(node.right, t.FLOAT64)
            if op == "**":
                return f"pow({a}, {b})"
            return f"(CASE WHEN {b} = 0 THEN NULL ELSE {a} / {b} END)"
        if pa.types.is_integer(out):
            a = f"CAST({self.cast_to(node.left, out)} AS HUGEINT)"
            b = f"CAST({self.cast_to(node.right, out)} AS HUGEINT)"
            if op in ("+", "-", "*"):
                return wrap_int(f"({a} {op} {b})", out)
            if op == "//":
                q = (f"(({a} // {b}) - CASE WHEN {a} % {b} <> 0 AND (({a} < 0) <> ({b} < 0)) "
                     "THEN 1 ELSE 0 END)")
                return f"(CASE WHEN {b} = 0 THEN NULL ELSE {wrap_int(q, out)} END)"
            if op == "%":
                m = f"({a} % {b})"
                r = f"(CASE WHEN {m} <> 0 AND (({m} < 0) <> ({b} < 0)) THEN {m} + {b} ELSE {m} END)"
                return f"(CASE WHEN {b} = 0 THEN NULL ELSE {wrap_int(r, out)} END)"
        if pa.types.is_floating(out):
            a, b = self.cast_to(node.left, out), self.cast_to(node.right, out)
            if op in ("+", "-", "*"):
                return f"({a} {op} {b})"
            return self._float_floor_op(op, a, b)
        if pa.types.is_decimal(out):
            a = self.cast_to(node.left, out) if op != "*" else self._dec_operand(node.left)
            b = self.cast_to(node.right, out) if op != "*" else self._dec_operand(node.right)
            typ = sql_type(out)
            if op in ("+", "-", "*"):
                return f"CAST(({a} {op} {b}) AS {typ})"
            if op == "//":
                return f"(CASE WHEN {b} = 0 THEN NULL ELSE CAST(floor({a} / {b}) AS {typ}) END)"
            if op == "%":
                return f"(CASE WHEN {b} = 0 THEN NULL ELSE CAST({a} - {b} * floor({a} / {b}) AS {typ}) END)"
        raise OracleError(f"operator {op} on {out} is not modelled")

    @staticmethod
    def _float_floor_op(op: str, a: str, b: str) -> str:
        """Float ``//`` and ``%`` exactly as Python computes them (S-DIV-FLOOR says "as in Python"): from
        ``fmod``, so ``-1.0 % inf == inf`` and ``-1.0 // inf == -1.0``."""
        # C fmod; DuckDB's fmod gives inf for fmod(-1, inf), C gives -1
        m = f"(CASE WHEN isinf({b}) AND isfinite({a}) THEN {a} ELSE fmod({a}, {b}) END)"
        adjust = f"({m} <> 0 AND (({b} < 0) <> ({m} < 0)))"
        if op == "%":
            mod = f"(CASE WHEN {adjust} THEN {m} + {b} WHEN {m} = 0 THEN (CASE WHEN {b} < 0 THEN -0.0 ELSE 0.0 END) " \
                  f"ELSE {m} END)"
            return f"(CASE WHEN {b} = 0 THEN NULL ELSE {mod} END)"
        div = f"(({a} - {m}) / {b} - CASE WHEN {adjust} THEN 1.0 ELSE 0.0 END)"
        rounded = f"(CASE WHEN {div} - floor({div}) > 0.5 THEN floor({div}) + 1.0 ELSE floor({div}) END)"
        zero = f"(CASE WHEN ({a} < 0) <> ({b} < 0) THEN -0.0 ELSE 0.0 END)"
        q = f"(CASE WHEN {div} = 0 THEN {zero} ELSE {rounded} END)"
        return f"(CASE WHEN {b} = 0 THEN NULL ELSE {q} END)"

    def _dec_operand(self, node: ex.ExprNode) -> str:
        sql = self.expr(node)
        if node.dtype is not None and pa.types.is_boolean(node.dtype):
            return f"CAST({sql} AS BIGINT)"
        return sql

    def _e_case(self, node: ex.Case) -> str:
        assert node.dtype is not None
        parts = ["CASE"]
        for cond, value in node.branches:
            parts.append(f"WHEN {self.cast_to(cond, t.BOOL)} THEN {self.cast_to(value, node.dtype)}")
        parts.append(f"ELSE {self.cast_to(node.otherwise, node.dtype)} END")
        return "(" + " ".join(parts) + ")"

    def _e_call(self, node: ex.Call) -> str:
        name, params = node.name, node.params
        assert node.dtype is not None
        args = node.args
        x = self.expr(args[0]) if args else ""
        if name == "is_null":
            return f"({x} IS NULL)"
        if name == "is_not_null":
            return f"({x} IS NOT NULL)"
        if name == "is_nan":
            return f"isnan({x})"
        if name in ("fill_null", "coalesce"):
            return "COALESCE(" + ", ".join(self.cast_to(a, node.dtype) for a in args) + ")"
        if name == "is_in":
            src = args[0].dtype
            assert src is not None
            values = [v for v in params[0] if v is not None]
            if not values:
                return f"(CASE WHEN {x} IS NULL THEN NULL ELSE FALSE END)"
            common = src
            for v in values:
                common = t.supertype(common, t.literal_type(v))
            if pa.types.is_integer(common) and pa.types.is_integer(src):
                common = src if all(t.literal_fits(v, src) for v in values) else common
            lits = ", ".join(literal_sql(v, common) for v in values)
            xs = self.cast_to(args[0], common)
            return f"(CASE WHEN {xs} IS NULL THEN NULL ELSE {xs} IN ({lits}) END)"
        if name == "abs":
            if pa.types.is_integer(node.dtype):
                return wrap_int(f"abs(CAST({x} AS HUGEINT))", node.dtype)
            return f"abs({x})"
        if name == "round":
            if pa.types.is_integer(node.dtype):
                return x
            (n,) = params
            if pa.types.is_decimal(node.dtype):
                return f"CAST(round({x}, {n}) AS {sql_type(node.dtype)})"
            # half away from zero, on the decimal value the float prints as
            return f"(CASE WHEN isfinite({x}) THEN round({x}, {n}) ELSE {x} END)"
        if name == "str_len":
            return f"CAST(length({x}) AS BIGINT)"
        if name == "str_lower":
            return f"lower({x})"
        if name == "str_upper":
            return f"upper({x})"
        if name == "str_strip":
            return f"trim({x}, {ASCII_WHITESPACE})"
        if name == "str_contains":
            return f"(strpos({x}, {sql_string(params[0])}) > 0)" if params[0] else f"({x} = {x})"
        if name == "str_starts_with":
            return f"starts_with({x}, {sql_string(params[0])})"
        if name == "str_like":
            return f"({x} LIKE {sql_string(params[0])} ESCAPE '\\')"
        if name == "str_ends_with":
            return f"suffix({x}, {sql_string(params[0])})"
        if name == "str_slice":
            offset, length = params
            n = f"length({x})"
            start = f"{offset}" if offset >= 0 else f"greatest({n} + ({offset}), 0)"
            start = f"least({start}, {n})"
            if length is None:
                end = n
            elif offset >= 0:
                end = f"least({offset} + {length}, {n})"
            else:
                end = f"least(greatest({n} + ({offset}) + {length}, 0), {n})"
            return f"substring({x}, {start} + 1, greatest({end} - {start}, 0))"
        if name == "str_replace":
            old, new = params
            return f"replace({x}, {sql_string(old)}, {sql_string(new)})"
        if name == "concat_str":
            (sep,) = params
            return "(" + f" || {sql_string(sep)} || ".join(self.expr(a) for a in args) + ")"
        if name.startswith("dt_"):
            return self._datetime(node, x)
        raise OracleError(f"function {name} is not modelled")

    def _local(self, node: ex.ExprNode, x: str) -> str:
        """A tz-aware timestamp as wall time in its own time zone."""
        dtype = node.dtype
        if dtype is not None and pa.types.is_timestamp(dtype) and dtype.tz is not None:
            return f"timezone({sql_string(dtype.tz)}, {x})"
        return x

    def _datetime(self, node: ex.Call, x: str) -> str:
        part = node.name.removeprefix("dt_")
        src = node.args[0].dtype
        assert src is not None
        local = self._local(node.args[0], x)
        if part == "weekday":
            return f"CAST(isodow({local}) AS INTEGER)"
        if part in ("year", "month", "day", "hour", "minute", "second"):
            return f"CAST(date_part('{part}', {local}) AS INTEGER)"
        if part == "truncate":
            (unit,) = node.params
            trunc = f"date_trunc('{unit}', {local})"
            if pa.types.is_date(src):
                return f"CAST({trunc} AS DATE)"
            if src.tz is not None:
                return f"timezone({sql_string(src.tz)}, CAST({trunc} AS TIMESTAMP))"
            return f"CAST({trunc} AS {sql_type(src)})"
        raise OracleError(f"function {node.name} is not modelled")

    # -- aggregates and windows ------------------------------------------------------------------------
    def agg(self, node: ex.Agg, over: str = "") -> str:
        assert node.dtype is not None
        if node.func == "len":
            return f"CAST(count(*){over} AS BIGINT)"
        assert node.operand is not None and node.operand.dtype is not None
        src = node.operand.dtype
        x = self.expr(node.operand)
        if pa.types.is_boolean(src) and node.func in ("sum", "mean", "std", "var"):
            x = f"CAST({x} AS BIGINT)"
        out = node.dtype
        match node.func:
            case "sum":
                if pa.types.is_integer(out):
                    return checked_int(f"sum(CAST({x} AS HUGEINT)){over}", out)
                return f"CAST(sum({x}){over} AS {sql_type(out)})"
            case "mean":
                return f"avg(CAST({x} AS DOUBLE)){over}"
            case "min" | "max":
                return f"{node.func}({x}){over}"
            case "count":
                return f"CAST(count({x}){over} AS BIGINT)"
            case "n_unique":
                return f"CAST(count(DISTINCT {x}){over} AS BIGINT)"
            case "std":
                return f"stddev_samp(CAST({x} AS DOUBLE)){over}"
            case "var":
                return f"var_samp(CAST({x} AS DOUBLE)){over}"
            case "first" | "last":
                direction = "ASC" if node.func == "first" else "DESC"
                if over:
                    raise OracleError("first/last over a window is not modelled")
                return f"first({x} ORDER BY {self.oracle_rowid} {direction}) FILTER (WHERE {x} IS NOT NULL)"
        raise OracleError(f"aggregate {node.func} is not modelled")

    oracle_rowid = '"__oracle_row"'

    def _e_agg(self, node: ex.Agg) -> str:
        return self.agg(node)

    def _order_clause(self, keys: tuple[ex.ExprNode, ...], desc: tuple[bool, ...], last: tuple[bool, ...]) -> str:
        items = []
        for k, d, nl in zip(keys, desc, last):
            items.append(f"{self.expr(k)} {'DESC' if d else 'ASC'} NULLS {'LAST' if nl else 'FIRST'}")
        return ", ".join(items)

    def _e_over(self, node: ex.Over) -> str:
        part = ", ".join(self.expr(p) for p in node.partition_by)
        part_sql = f"PARTITION BY {part}" if part else ""
        order = self._order_clause(node.order_by, node.descending, node.nulls_last)
        op = ex.strip_alias(node.operand)
        if isinstance(op, ex.Agg):
            return self.agg(op, over=f" OVER ({part_sql})")
        assert isinstance(op, ex.WindowFunc) and op.dtype is not None
        # ties in the window order keep the input order (as a stable sort would)
        order_sql = f"ORDER BY {order}, {self.oracle_rowid}" if order else ""
        window = f"OVER ({part_sql} {order_sql})"
        rank_window = f"OVER ({part_sql} ORDER BY {order})" if order else f"OVER ({part_sql})"
        match op.func:
            case "row_number":
                return f"CAST(row_number() {window} AS BIGINT)"
            case "rank" | "dense_rank" if op.operand is None:
                return f"CAST({op.func}() {rank_window} AS BIGINT)"
            case "rank" | "dense_rank":
                assert op.operand is not None
                x = self.expr(op.operand)
                d = "DESC" if op.params and op.params[0] else "ASC"
                inner = f"{op.func}() OVER ({part_sql} ORDER BY {x} {d} NULLS LAST)"
                return f"(CASE WHEN {x} IS NULL THEN NULL ELSE CAST({inner} AS BIGINT) END)"
            case "cum_sum":
                assert op.operand is not None and op.operand.dtype is not None
                x = self.expr(op.operand)
                if pa.types.is_boolean(op.operand.dtype):
                    x = f"CAST({x} AS BIGINT)"
                frame = f"OVER ({part_sql} {order_sql} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
                if pa.types.is_integer(op.dtype):
                    return checked_int(f"sum(CAST({x} AS HUGEINT)) {frame}", op.dtype)
                return f"CAST(sum({x}) {frame} AS {sql_type(op.dtype)})"
            case "shift":
                assert op.operand is not None
                x = self.cast_to(op.operand, op.dtype)
                (n,) = op.params
                if n == 0:
                    return x
                fn = "lag" if n > 0 else "lead"
                return f"{fn}({x}, {abs(n)}) {window}"
        raise OracleError(f"window function {op.func} is not modelled")

    def _e_windowfunc(self, node: ex.WindowFunc) -> str:
        raise OracleError("a window function outside .over()")

    # -- plan nodes --------------------------------------------------------------------------------------
    def select_list(self, exprs: tuple[ex.ExprNode, ...]) -> str:
        return ", ".join(f"{self.expr(e)} AS {quote(ex.output_name(e))}" for e in exprs)

    def columns(self, schema: pa.Schema, prefix: str = "") -> str:
        return ", ".join(prefix + quote(n) for n in schema.names)

    def plan(self, node: pn.PlanNode) -> str:
        method = getattr(self, "_p_" + type(node).__name__.lower(), None)
        if method is None:
            raise OracleError(f"plan node {type(node).__name__} is not modelled")
        return str(method(node))

    def _p_scan(self, node: pn.Scan) -> str:
        src = node.source
        rowid = self.oracle_rowid
        if isinstance(src, pn.InMemorySource):
            table = self.oracle.register(src.table, src.schema)
            base = f"SELECT *, row_number() OVER () AS {rowid} FROM {table}"
        elif isinstance(src, pn.FileSource):
            base = f"SELECT *, row_number() OVER () AS {rowid} FROM ({self._read_files(src)})"
        else:
            raise OracleError(f"source {type(src).__name__} is not modelled")
        schema = node.schema
        where = " AND ".join(self.expr(f) for f in node.filters) or "TRUE"
        limit = f" LIMIT {node.limit}" if node.limit is not None else ""
        cols = ", ".join(f"CAST({quote(n)} AS {sql_type(schema.field(n).type)}) AS {quote(n)}" for n in schema.names)
        return f"SELECT {cols}, {rowid} FROM ({base}) WHERE {where} ORDER BY {rowid}{limit}"

    def _read_files(self, src: pn.FileSource) -> str:
        paths = "[" + ", ".join(sql_string(p) for p in src.paths) + "]"
        file_schema = src.file_schema
        names = ", ".join(quote(n) for n in file_schema.names)
        if src.format == "parquet":
            return f"SELECT {names} FROM read_parquet({paths})"
        cols = "{" + ", ".join(f"{sql_string(f.name)}: {sql_string(sql_type(t.canonical(f.type)))}"
                               for f in file_schema) + "}"
        if src.format == "csv":
            sep = src.option("separator", ",")
            header = "true" if src.option("has_header", True) else "false"
            nulls = "[" + ", ".join(sql_string(v) for v in src.option("null_values", ("",))) + "]"
            return (f"SELECT {names} FROM read_csv({paths}, columns={cols}, delim={sql_string(sep)}, "
                    f"header={header}, nullstr={nulls}, auto_detect=false)")
        if src.format == "json":
            return f"SELECT {names} FROM read_json({paths}, columns={cols}, format='newline_delimited')"
        raise OracleError(f"format {src.format} is not modelled")

    def _p_project(self, node: pn.Project) -> str:
        child = self.plan(node.input)
        return f"SELECT {self.select_list(node.exprs)}, {self.oracle_rowid} FROM ({child}) AS {self.alias()}"

    def _p_filter(self, node: pn.Filter) -> str:
        child = self.plan(node.input)
        return f"SELECT * FROM ({child}) AS {self.alias()} WHERE {self.expr(node.predicate)}"

    def _p_aggregate(self, node: pn.Aggregate) -> str:
        child = self.plan(node.input)
        rowid = f"CAST(min({self.oracle_rowid}) AS BIGINT) AS {self.oracle_rowid}"
        sel = self.select_list(node.keys + node.aggs)
        if not node.keys:
            return f"SELECT {sel}, 0 AS {self.oracle_rowid} FROM ({child}) AS {self.alias()}"
        groups = ", ".join(self.expr(k) for k in node.keys)
        return f"SELECT {sel}, {rowid} FROM ({child}) AS {self.alias()} GROUP BY {groups}"

    def _p_join(self, node: pn.Join) -> str:
        left, right = self.plan(node.left), self.plan(node.right)
        la, ra = self.alias(), self.alias()
        rowid = self.oracle_rowid
        cond = " AND ".join(f"{la}.{quote(lk)} = {ra}.{quote(rk)}" for lk, rk in zip(node.left_on, node.right_on))
        if node.how in ("semi", "anti"):
            neg = "NOT " if node.how == "anti" else ""
            return (f"SELECT {self.columns(node.schema, la + '.')}, {la}.{rowid} FROM ({left}) AS {la} "
                    f"WHERE {neg}EXISTS (SELECT 1 FROM ({right}) AS {ra} WHERE {cond})")
        cols = []
        for c in node.output_columns:
            if c.side == "left":
                cols.append(f"{la}.{quote(c.source)} AS {quote(c.name)}")
            elif c.side == "right":
                cols.append(f"{ra}.{quote(c.source)} AS {quote(c.name)}")
            else:
                lcol, rcol = f"{la}.{quote(c.source)}", f"{ra}.{quote(c.right_source or c.source)}"
                expr = {"full": f"COALESCE({lcol}, {rcol})", "right": rcol}.get(node.how, lcol)
                cols.append(f"{expr} AS {quote(c.name)}")
        order_id = f"(COALESCE({la}.{rowid}, 0) * 1000003 + COALESCE({ra}.{rowid}, 0)) AS {rowid}"
        if node.how == "cross":
            return f"SELECT {', '.join(cols)}, {order_id} FROM ({left}) AS {la} CROSS JOIN ({right}) AS {ra}"
        kind = {"inner": "INNER", "left": "LEFT", "right": "RIGHT", "full": "FULL OUTER"}[node.how]
        return f"SELECT {', '.join(cols)}, {order_id} FROM ({left}) AS {la} {kind} JOIN ({right}) AS {ra} ON {cond}"

    def _p_sort(self, node: pn.Sort) -> str:
        child = self.plan(node.input)
        a = self.alias()
        order = self._order_clause(node.keys, node.descending, node.nulls_last)
        cols = self.columns(node.schema)
        # a stable sort: ties keep their input order; the new order is materialised as the row id
        return (f"SELECT {cols}, CAST(row_number() OVER (ORDER BY {order}, {self.oracle_rowid}) AS BIGINT) "
                f"AS {self.oracle_rowid} FROM ({child}) AS {a}")

    def _p_limit(self, node: pn.Limit) -> str:
        child = self.plan(node.input)
        return f"SELECT * FROM ({child}) AS {self.alias()} ORDER BY {self.oracle_rowid} LIMIT {node.n}"

    def _p_distinct(self, node: pn.Distinct) -> str:
        child = self.plan(node.input)
        keys = node.subset if node.subset is not None else tuple(node.schema.names)
        key_sql = ", ".join(quote(k) for k in keys)
        return (f"SELECT DISTINCT ON ({key_sql}) * FROM ({child}) AS {self.alias()} "
                f"ORDER BY {key_sql}, {self.oracle_rowid}")

    def _p_union(self, node: pn.Union) -> str:
        parts = []
        for i, child in enumerate(node.inputs):
            parts.append(f"SELECT {self.columns(node.schema)}, {self.oracle_rowid} + {i} * 1000000007 AS "
                         f"{self.oracle_rowid} FROM ({self.plan(child)}) AS {self.alias()}")
        return " UNION ALL ".join(parts)

    def _p_mapbatches(self, node: pn.MapBatches) -> str:
        from unistack.errors import UserFunctionError

        table = self.oracle.run(node.input)
        out = []
        for batch in table.to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]:
            try:
                result = node.fn(batch)
            except Exception as e:
                raise UserFunctionError(f"map_batches function {node.name!r} raised {type(e).__name__}: {e}") from e
            result = pa.table(result) if not isinstance(result, pa.Table) else result
            if result.schema.names != node.output_schema.names:
                raise UserFunctionError(f"map_batches function {node.name!r} returned columns "
                                        f"{result.schema.names}, declared {node.output_schema.names}")
            out.append(cast_table(result, node.output_schema))
        combined = pa.concat_tables(out) if out else node.output_schema.empty_table()
        name = self.oracle.register(combined, node.output_schema)
        return f"SELECT *, row_number() OVER () AS {self.oracle_rowid} FROM {name}"


def cast_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the names and exact types of ``schema`` (columns matched by position)."""
    if table.num_columns != len(schema):
        raise OracleError(f"oracle produced {table.num_columns} columns, plan has {len(schema)}")
    arrays = []
    for column, f in zip(table.columns, schema):
        if column.type == f.type:
            arrays.append(column)
        elif pa.types.is_null(column.type) or pa.types.is_null(f.type):
            # an all-null column: DuckDB types it (e.g. INTEGER) where Arrow's null type has no cast
            if pa.types.is_null(f.type) and column.null_count != len(column):
                raise OracleError(f"oracle produced values for the all-null column {f.name!r}")
            arrays.append(pa.chunked_array([pa.nulls(len(column), f.type)]))
        else:
            arrays.append(column.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class Oracle:
    """Runs unistack plans in DuckDB through an independent SQL translation.

    Parameters
    ----------
    connection
        A DuckDB connection to use; by default a new in-memory one.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"a": [1.0, None, float("nan")]}).sort("a", descending=True)
    >>> Oracle().run(df.plan).to_pydict()
    {'a': [nan, 1.0, None]}
    """

    def __init__(self, connection: Any = None) -> None:
        import duckdb

        self.con = connection if connection is not None else duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET default_null_order = 'nulls_last'")
        self.con.execute("SET preserve_insertion_order = true")
        self._tables: dict[int, str] = {}
        self._counter = itertools.count()

    def register(self, table: pa.Table, schema: pa.Schema) -> str:
        """Make an Arrow table visible to SQL; returns its name (tables are registered once)."""
        key = id(table)
        if key not in self._tables:
            name = f"oracle_input_{next(self._counter)}"
            self.con.register(name, cast_table(table, schema))  # canonical types (no float16, dictionaries)
            self._tables[key] = name
            self._keep = [*getattr(self, "_keep", []), table]
        return self._tables[key]

    def sql(self, plan: pn.PlanNode) -> str:
        """The SQL text for ``plan`` (its output columns in order, then a hidden row-order column)."""
        return _Compiler(self).plan(plan)

    def run(self, plan: pn.PlanNode) -> pa.Table:
        """Run ``plan`` and return a table whose schema equals ``plan.schema``.

        Rows come in the plan's order (defined after a sort; otherwise input order where kept).
        """
        sql = self.sql(plan)
        cols = ", ".join(f"{quote(n)}" for n in plan.schema.names)
        try:
            result = self.con.sql(f"SELECT {cols} FROM ({sql}) ORDER BY {_Compiler.oracle_rowid}").to_arrow_table()
        except Exception as e:
            if OVERFLOW_MARK in str(e):
                raise Undefined("an integer sum overflows (not in the contract, S-AGG-TYPES)") from e
            raise
        return cast_table(result, plan.schema)
