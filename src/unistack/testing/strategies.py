"""Hypothesis strategies for the differential conformance tests: generated tables and generated plans.

Tables are small (at most 30 rows) and nasty: nulls in every column, NaN, infinities and -0.0 in floats,
extreme integers, unicode strings, skewed keys, empty tables. Every left table has a unique ``id`` column,
so a plan can always be given a total order (needed wherever row order matters: ``limit``,
``row_number``, ``cum_sum``, ``shift``).

Plans are chains of 1-4 steps (filter, with_columns, select, group_by/agg, join, sort, limit, distinct,
union) over generated expressions; each step is built through the public API, so every generated plan is
type-checked like a user's.

Examples
--------
>>> from hypothesis import given, settings
>>> @settings(max_examples=5, database=None)
... @given(generated_plans())
... def check(g):
...     assert g.frame.schema.names
>>> check()
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

import unistack as us
from unistack.plan.exprs import columns_used

MAX_ROWS = 30
INT64_EXTREMES = (2**63 - 1, -(2**63), 2**31 - 1, -(2**31), 2**32, -1, 0, 1)
INT32_EXTREMES = (2**31 - 1, -(2**31), -1, 0, 1)
FLOAT_SPECIALS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 0.5, -2.5)
# Letters whose case mapping is one code point to one code point in every engine (so lower/upper agree);
# the others ('ß', 'İ', final sigma) are covered by hand-written cases, where engines are known to differ.
ALPHABET = ("a", "B", "z", "é", "Ä", "ñ", "中", "😀", " ", "\t", "-", ".", "0", "_")
KEY_STRINGS = ("a", "b", "é", "", "😀")

Kind = str  # "int", "float", "bool", "str", "date"

ints64 = st.one_of(st.integers(-50, 50), st.sampled_from(INT64_EXTREMES))
ints32 = st.one_of(st.integers(-50, 50), st.sampled_from(INT32_EXTREMES))
floats = st.one_of(st.integers(-400, 400).map(lambda v: v / 4), st.sampled_from(FLOAT_SPECIALS))
texts = st.text(alphabet=st.sampled_from(ALPHABET), max_size=6)
dates = st.dates(min_value=_dt.date(1969, 12, 1), max_value=_dt.date(2101, 3, 1))
skewed_keys = st.one_of(st.just(0), st.integers(0, 3))


def nullable(strategy: st.SearchStrategy[Any], p_null: int = 5) -> st.SearchStrategy[Any]:
    """Values from ``strategy``, or None about one time in ``p_null``.

    Examples
    --------
    >>> nullable(st.just(1))
    one_of(just(1), just(1), just(1), just(1), none())
    """
    return st.one_of(*([strategy] * (p_null - 1)), st.none())


LEFT_SCHEMA = pa.schema([
    ("id", pa.int64()), ("g", pa.int64()), ("k", pa.large_string()), ("i", pa.int64()), ("j", pa.int32()),
    ("f", pa.float64()), ("s", pa.large_string()), ("b", pa.bool_()), ("d", pa.date32()),
])
RIGHT_SCHEMA = pa.schema([("id", pa.int64()), ("g", pa.int64()), ("k", pa.large_string()), ("w", pa.float64())])
# the generated tables' float columns: their values are exact binary fractions (see ``floats``)
_SOURCE_FLOATS = frozenset(f.name for schema in (LEFT_SCHEMA, RIGHT_SCHEMA) for f in schema
                           if pa.types.is_floating(f.type))


@st.composite
def left_tables(draw: st.DrawFn, max_rows: int = MAX_ROWS) -> pa.Table:
    """The main generated table (schema :data:`LEFT_SCHEMA`; ``id`` is unique and never null)."""
    n = draw(st.integers(0, max_rows))
    all_null = draw(st.sampled_from([None, None, None, "i", "f", "s", "g"]))

    def column(values: st.SearchStrategy[Any], name: str) -> list[Any]:
        if name == all_null:
            return [None] * n
        return [draw(values) for _ in range(n)]

    data = {
        "id": list(range(n)),
        "g": column(nullable(skewed_keys), "g"),
        "k": column(nullable(st.sampled_from(KEY_STRINGS)), "k"),
        "i": column(nullable(ints64), "i"),
        "j": column(nullable(ints32), "j"),
        "f": column(nullable(floats), "f"),
        "s": column(nullable(texts), "s"),
        "b": column(nullable(st.booleans()), "b"),
        "d": column(nullable(dates), "d"),
    }
    return pa.table(data, schema=LEFT_SCHEMA)


@st.composite
def right_tables(draw: st.DrawFn, max_rows: int = 10) -> pa.Table:
    """The table joined on the right (schema :data:`RIGHT_SCHEMA`): duplicate and null keys on purpose."""
    n = draw(st.integers(0, max_rows))
    data = {
        "id": list(range(100, 100 + n)),
        "g": [draw(nullable(st.integers(0, 4))) for _ in range(n)],
        "k": [draw(nullable(st.sampled_from(KEY_STRINGS))) for _ in range(n)],
        "w": [draw(nullable(floats)) for _ in range(n)],
    }
    return pa.table(data, schema=RIGHT_SCHEMA)


def kind_of(dtype: pa.DataType) -> Kind | None:
    """The generator's kind for an Arrow type (None: not used in generated expressions)."""
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_large_string(dtype):
        return "str"
    if pa.types.is_date32(dtype):
        return "date"
    return None


def _columns(schema: pa.Schema, kind: Kind) -> list[str]:
    return [f.name for f in schema if kind_of(f.type) == kind and not f.name.startswith("__")]


# -- expressions ------------------------------------------------------------------------------------------


class ExprGen:
    """Draws typed expressions over a schema (``draw`` comes from a composite strategy)."""

    def __init__(self, draw: st.DrawFn, schema: pa.Schema) -> None:
        self.draw = draw
        self.schema = schema
        # > 0 while drawing the operand of round(): only values whose rounding is in the contract (S-ROUND:
        # exact binary fractions, not quotients such as 68.5 / 10, which engines may round either way)
        self.exact = 0

    def pick(self, options: list[Any]) -> Any:
        return self.draw(st.sampled_from(options))

    def column(self, kind: Kind) -> us.Expr | None:
        names = _columns(self.schema, kind)
        if kind == "float" and self.exact:
            names = [n for n in names if n in _SOURCE_FLOATS]  # derived columns may hold quotients or means
        return us.col(self.pick(names)) if names else None

    def leaf(self, kind: Kind) -> us.Expr:
        col = self.column(kind)
        if col is not None and self.draw(st.integers(0, 3)) > 0:
            return col
        if kind == "int":
            return us.lit(self.draw(st.one_of(st.integers(-5, 5), st.sampled_from(INT64_EXTREMES))))
        if kind == "float":
            return us.lit(self.draw(floats))
        if kind == "bool":
            return us.lit(self.draw(st.booleans()))
        if kind == "str":
            return us.lit(self.draw(texts))
        return us.lit(self.draw(dates))

    def expr(self, kind: Kind, depth: int = 2) -> us.Expr:
        """An expression of ``kind``; ``depth`` bounds nesting."""
        if depth <= 0 or self.draw(st.integers(0, 2)) == 0:
            if kind == "date" and self.column("date") is None:
                return us.lit(self.draw(dates))
            return self.leaf(kind)
        def case(d: int) -> us.Expr:
            return self._case(d, kind)

        def fill(d: int) -> us.Expr:
            return self._fill(d, kind)

        builders: dict[Kind, list[Callable[[int], us.Expr]]] = {
            "int": [self._int_arith, self._int_unary, self._int_from, case, fill],
            "float": [self._float_arith, self._float_from, case, fill],
            "bool": [self._compare, self._logic, self._predicate, self._string_predicate],
            "str": [self._string_fn, self._concat, case, self._int_to_str],
            "date": [self._truncate],
        }
        choice = self.pick(list(range(len(builders[kind]))))
        return builders[kind][choice](depth)

    def _int_arith(self, depth: int) -> us.Expr:
        a, b = self.expr("int", depth - 1), self.expr("int", depth - 1)
        op = self.pick(["+", "-", "*", "//", "%"])
        return {"+": a + b, "-": a - b, "*": a * b, "//": a // b, "%": a % b}[op]

    def _int_unary(self, depth: int) -> us.Expr:
        a = self.expr("int", depth - 1)
        return -a if self.draw(st.booleans()) else a.abs()

    def _int_from(self, depth: int) -> us.Expr:
        which = self.pick(["len", "cast", "year", "month", "day", "weekday"] if self.column("date") is not None
                          else ["len", "cast"])
        if which == "len":
            return self.expr("str", depth - 1).str.len()
        if which == "cast":
            return self.expr("float", depth - 1).cast("int64")
        date = self.expr("date", depth - 1).dt
        return {"year": date.year, "month": date.month, "day": date.day, "weekday": date.weekday}[which]()

    def _case(self, depth: int, kind: Kind) -> us.Expr:
        cond = self.expr("bool", depth - 1)
        then = us.when(cond).then(self.expr(kind, depth - 1))
        if self.draw(st.booleans()):
            return then
        return then.otherwise(self.expr(kind, depth - 1))

    def _fill(self, depth: int, kind: Kind) -> us.Expr:
        a, b = self.expr(kind, depth - 1), self.expr(kind, depth - 1)
        return a.fill_null(b) if self.draw(st.booleans()) else us.coalesce(a, b)

    def _float_arith(self, depth: int) -> us.Expr:
        a = self.expr(self.pick(["int", "float"]), depth - 1)
        b = self.expr(self.pick(["int", "float"]), depth - 1)
        op = self.pick(["+", "-", "*", "//", "%", "**"] if self.exact else ["+", "-", "*", "/", "//", "%", "**"])
        if op in ("+", "-", "*", "//", "%"):
            a = a.cast("float64")
        if op == "**":
            # not 0.5: Polars computes x ** 0.5 as sqrt (test_projection.py::test_power_of_negative_infinity)
            return a ** us.lit(self.pick([2, 0] if self.exact else [2, 1.5, -1, 0]))
        if op in ("//", "%"):
            # no infinite operand: engines differ from Python there (hand-written case
            # test_projection.py::test_floor_division_and_modulo_by_infinity)
            a = us.when(a.abs() != math.inf).then(a)
            b = us.when(b.abs() != math.inf).then(b)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "//": a // b, "%": a % b}[op]

    def _float_from(self, depth: int) -> us.Expr:
        if self.draw(st.booleans()):
            return self.expr("int", depth - 1).cast("float64")
        self.exact += 1
        try:
            operand = self.expr("float", depth - 1)
        finally:
            self.exact -= 1
        return operand.round(self.pick([0, 1, 2]))

    def _compare(self, depth: int) -> us.Expr:
        kind = self.pick(["int", "float", "str", "date", "bool"])
        a, b = self.expr(kind, depth - 1), self.expr(kind, depth - 1)
        if kind == "float" and self.draw(st.booleans()):
            b = self.expr("int", depth - 1)
        op = self.pick(["==", "!=", "<", "<=", ">", ">="])
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    def _logic(self, depth: int) -> us.Expr:
        a = self.expr("bool", depth - 1)
        op = self.pick(["&", "|", "~"])
        if op == "~":
            return ~a
        b = self.expr("bool", depth - 1)
        return a & b if op == "&" else a | b

    def _predicate(self, depth: int) -> us.Expr:
        kind = self.pick(["int", "float", "str"])
        a = self.expr(kind, depth - 1)
        which = self.pick(["is_null", "is_not_null", "is_in", "is_nan"])
        if which == "is_null":
            return a.is_null()
        if which == "is_not_null":
            return a.is_not_null()
        if which == "is_nan":
            return self.expr("float", depth - 1).is_nan()
        values = {"int": st.one_of(st.integers(-3, 3), st.none()), "float": nullable(floats),
                  "str": nullable(st.sampled_from(KEY_STRINGS))}[kind]
        return a.is_in(self.draw(st.lists(values, max_size=3)))

    def _string_predicate(self, depth: int) -> us.Expr:
        a = self.expr("str", depth - 1)
        pat = self.draw(st.text(alphabet=st.sampled_from(ALPHABET), max_size=2))
        which = self.pick(["contains", "starts_with", "ends_with"])
        return getattr(a.str, which)(pat)

    def _string_fn(self, depth: int) -> us.Expr:
        a = self.expr("str", depth - 1)
        which = self.pick(["lower", "upper", "strip", "slice", "replace"])
        if which == "slice":
            return a.str.slice(self.draw(st.integers(-4, 4)), self.draw(st.one_of(st.none(), st.integers(0, 4))))
        if which == "replace":
            old = self.draw(st.text(alphabet=st.sampled_from(ALPHABET), min_size=1, max_size=2))
            return a.str.replace(old, self.draw(st.text(alphabet=st.sampled_from(ALPHABET), max_size=2)))
        return getattr(a.str, which)()

    def _concat(self, depth: int) -> us.Expr:
        parts = [self.expr("str", depth - 1) for _ in range(self.draw(st.integers(1, 3)))]
        return us.concat_str(parts, separator=self.pick(["", "-", "é"]))

    def _int_to_str(self, depth: int) -> us.Expr:
        return self.expr("int", depth - 1).cast("string")

    def _truncate(self, depth: int) -> us.Expr:
        return self.expr("date", depth - 1).dt.truncate(self.pick(["year", "quarter", "month", "week", "day"]))

    # -- aggregates and windows --------------------------------------------------------------------------
    def aggregate(self, ordered: bool) -> us.Expr:
        """An aggregate over a column or expression (first/last only when the input order is defined)."""
        kinds = self.kinds_with_columns(["int", "float", "str", "bool", "date"])
        if not kinds:
            return us.count()
        kind = self.pick(kinds)
        target = self.column(kind)
        if target is None or self.draw(st.integers(0, 3)) == 0:
            target = self.expr(kind, 1)
        if not columns_used(target._node):
            # an aggregate of a literal is a known Polars bug (counted once, not per row), kept as the
            # hand-written case test_aggregate.py::test_aggregate_of_literal
            target = self._column_expr(kind)
        funcs = ["min", "max", "count", "n_unique", "len"]
        if kind in ("int", "float", "bool"):
            funcs += ["sum", "mean", "std", "var"]
        if ordered:
            funcs += ["first", "last"]
        func = self.pick(funcs)
        if func == "len":
            return us.count()
        return getattr(target, func)()

    def kinds_with_columns(self, kinds: list[Kind]) -> list[Kind]:
        return [k for k in kinds if _columns(self.schema, k)]

    def _column_expr(self, kind: Kind) -> us.Expr:
        """An expression reading a column of ``kind``, which must exist (a literal-only operand of an aggregate
        or window is a known Polars bug, kept as hand-written cases: test_aggregate.py::test_aggregate_of_literal,
        test_window.py::test_cum_sum_of_literal)."""
        col = self.column(kind)
        assert col is not None
        return col if self.draw(st.booleans()) else us.coalesce(col, self.leaf(kind))

    def window(self, unique: tuple[str, ...] | None, ordered: bool) -> us.Expr:
        """A window expression; row-order functions are ordered by a total order (``unique`` as tie-break)."""
        keys = [n for n in self.schema.names if kind_of(self.schema.field(n).type) in ("int", "str", "bool")
                and not n.startswith("__")]
        part = self.draw(st.lists(st.sampled_from(keys), max_size=2, unique=True)) if keys else []
        which = self.pick(["agg", "rank_col", "rank"] + (["row_number", "cum_sum", "shift"] if unique else []))
        if which == "agg":
            return self.aggregate(ordered=False).over(part or None)
        orderable = [n for n in self.schema.names if kind_of(self.schema.field(n).type) is not None
                     and not n.startswith("__")]
        first = self.pick(orderable)
        desc = self.draw(st.booleans())
        nulls_last = self.draw(st.booleans())
        if which == "rank_col":
            return us.col(first).rank(descending=desc).over(part or None)
        if which == "rank":
            return us.rank().over(part or None, order_by=first, descending=desc, nulls_last=nulls_last)
        assert unique is not None
        order = [first, *[u for u in unique if u != first]]
        flags = [desc] + [self.draw(st.booleans()) for _ in order[1:]]
        nls = [nulls_last] + [self.draw(st.booleans()) for _ in order[1:]]
        sums = self.kinds_with_columns(["int", "float", "bool"])
        shifts = self.kinds_with_columns(["int", "float", "str"])
        if which == "cum_sum" and sums:
            fn = self._column_expr(self.pick(sums)).cum_sum()
        elif which == "shift" and shifts:
            fn = self._column_expr(self.pick(shifts)).shift(self.pick([1, 2, -1, 0]))
        else:
            fn = us.row_number()
        return fn.over(part or None, order_by=order, descending=flags, nulls_last=nls)


# -- plans -------------------------------------------------------------------------------------------------


@dataclass
class GeneratedPlan:
    """A generated frame and what the comparison needs to know about its row order."""

    frame: us.LazyFrame
    steps: list[str] = field(default_factory=list)
    ordered: bool = False  # rows come in a total order: compare in order
    sort_keys: tuple[str, ...] = ()  # ends in a sort on these columns (ties may come in any order)
    unique: tuple[str, ...] | None = ("id",)
    input_ordered: bool = False  # input order is defined (first/last allowed)
    tables: dict[str, pa.Table] = field(default_factory=dict)

    def describe(self) -> str:
        """A reproducer: the input tables and the steps, as Python."""
        lines = ["import datetime, pyarrow as pa, unistack as us",
                 "from unistack.testing.strategies import LEFT_SCHEMA, RIGHT_SCHEMA",
                 "nan, inf = float('nan'), float('inf')"]
        lines += [f"{name} = pa.table({tbl.to_pydict()!r}, schema={name.upper()}_SCHEMA)"
                  for name, tbl in self.tables.items()]
        lines.append("frame = us.from_arrow(left)")
        lines += [f"frame = frame{s}" for s in self.steps]
        return "\n".join(lines)


def _text(e: us.Expr) -> str:
    return repr(e).removeprefix("<Expr ").removesuffix(">")


@st.composite
def generated_plans(draw: st.DrawFn, max_steps: int = 4) -> GeneratedPlan:
    """A random plan over generated tables (see the module docstring).

    Steps are recorded as text (``GeneratedPlan.describe``) so a failure prints a readable reproducer.
    """
    left = draw(left_tables())
    # a source's row order is not defined (S-ORDER): first/last need a total sort first
    gen = GeneratedPlan(us.from_arrow(left), tables={"left": left}, input_ordered=False)
    n_steps = draw(st.integers(1, max_steps))
    names = iter(f"c{i}" for i in range(1000))
    joins = 0
    for _ in range(n_steps):
        frame = gen.frame
        exprs = ExprGen(draw, frame.schema)
        step = draw(st.sampled_from(
            ["filter", "with_columns", "with_columns", "select", "group_by", "join", "sort", "distinct", "union"]
            + (["limit"] * 4 if gen.ordered else [])
        ))
        gen.sort_keys = ()
        if step == "filter":
            pred = exprs.expr("bool", 3)
            gen.frame = frame.filter(pred)
            gen.steps.append(f".filter({_text(pred)})")
        elif step in ("with_columns", "select"):
            new = {}
            for _ in range(draw(st.integers(1, 4))):
                if draw(st.integers(0, 3)) == 0:
                    e = exprs.window(gen.unique, gen.input_ordered)
                else:
                    e = exprs.expr(draw(st.sampled_from(["int", "float", "bool", "str", "date"])), 3)
                new[next(names)] = e
            if step == "with_columns":
                gen.frame = frame.with_columns(**new)
                gen.steps.append(".with_columns(" + ", ".join(f"{k}={_text(v)}" for k, v in new.items()) + ")")
            else:
                keep = draw(st.lists(st.sampled_from(frame.schema.names), unique=True, max_size=4))
                if gen.unique and draw(st.booleans()):
                    keep = list(dict.fromkeys([*gen.unique, *keep]))
                gen.frame = frame.select(*keep, **new)
                gen.steps.append(f".select({keep!r}, " + ", ".join(f"{k}={_text(v)}" for k, v in new.items()) + ")")
                if gen.unique and not set(gen.unique) <= set(keep):
                    gen.unique = None
        elif step == "group_by":
            candidates = [f.name for f in frame.schema if kind_of(f.type) in ("int", "str", "bool", "date", "float")]
            keys = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=2, unique=True))
            aggs = {next(names): exprs.aggregate(gen.input_ordered) for _ in range(draw(st.integers(1, 4)))}
            gen.frame = frame.group_by(*keys).agg(**aggs)
            gen.steps.append(f".group_by({keys!r}).agg(" + ", ".join(f"{k}={_text(v)}" for k, v in aggs.items()) + ")")
            gen.unique, gen.ordered, gen.input_ordered = tuple(keys), False, False
        elif step == "join":
            if joins >= 1:
                continue
            joins += 1
            right = draw(right_tables())
            gen.tables["right"] = right
            how = draw(st.sampled_from(["inner", "left", "right", "full", "semi", "anti", "cross"]))
            names_now = frame.schema.names
            possible = [k for k in ("g", "k") if k in names_now
                        and frame.schema.field(k).type == RIGHT_SCHEMA.field(k).type]
            if how != "cross" and not possible:
                how = "cross"
            if how == "cross" and len(left) * len(right) > 150:
                how = "semi" if possible else "skip"
            if how == "skip":
                continue
            suffix = "_r"
            if how == "cross":
                gen.frame = frame.join(us.from_arrow(right), how="cross", suffix=suffix)
                gen.steps.append(f".join(us.from_arrow(right), how='cross', suffix={suffix!r})")
            else:
                on = draw(st.lists(st.sampled_from(possible), min_size=1, max_size=2, unique=True))
                gen.frame = frame.join(us.from_arrow(right), on=on, how=how, suffix=suffix)
                gen.steps.append(f".join(us.from_arrow(right), on={on!r}, how={how!r}, suffix={suffix!r})")
            if how not in ("semi", "anti"):
                rid = "id" + suffix if "id" in names_now else "id"
                gen.unique = (*gen.unique, rid) if gen.unique and rid in gen.frame.schema.names else None
            gen.ordered, gen.input_ordered = False, False
        elif step == "sort":
            orderable = [f.name for f in frame.schema if kind_of(f.type) is not None]
            keys = draw(st.lists(st.sampled_from(orderable), min_size=1, max_size=2, unique=True))
            total = gen.unique is not None and draw(st.integers(0, 3)) > 0
            if total:
                assert gen.unique is not None
                keys = list(dict.fromkeys([*keys, *gen.unique]))
            desc = [draw(st.booleans()) for _ in keys]
            nl = [draw(st.booleans()) for _ in keys]
            gen.frame = frame.sort(keys, descending=desc, nulls_last=nl)
            gen.steps.append(f".sort({keys!r}, descending={desc!r}, nulls_last={nl!r})")
            gen.ordered = total
            gen.sort_keys = tuple(keys)
            gen.input_ordered = total
        elif step == "limit":
            n = draw(st.integers(0, 12))
            gen.frame = frame.limit(n)
            gen.steps.append(f".limit({n})")
        elif step == "distinct":
            gen.frame = frame.distinct()
            gen.steps.append(".distinct()")
            gen.unique, gen.ordered, gen.input_ordered = tuple(frame.schema.names), False, False
        elif step == "union":
            pred = exprs.expr("bool", 2)
            gen.frame = us.concat([frame, frame.filter(pred)])
            gen.steps.append(f"  # us.concat([frame, frame.filter({_text(pred)})])")
            gen.unique, gen.ordered = None, False
    return gen


@st.composite
def expression_batches(draw: st.DrawFn, size: int = 8) -> tuple[pa.Table, dict[str, us.Expr]]:
    """One table and ``size`` independent expressions, evaluated together in one ``select`` (cheap on
    engines where each plan costs a second)."""
    table = draw(left_tables())
    gen = ExprGen(draw, table.schema)
    exprs = {f"e{i}": gen.expr(draw(st.sampled_from(["int", "float", "bool", "str", "date"])), 3)
             for i in range(size)}
    return table, exprs
