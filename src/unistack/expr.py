"""User-facing expressions: ``us.col``, ``us.lit``, ``us.when`` and the :class:`Expr` wrapper.

An :class:`Expr` is a thin, immutable wrapper around an unbound plan expression node. Nothing is checked
until the expression is used in a frame, where it is bound to the frame's schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from unistack.errors import InvalidOperationError, InvalidTypeError
from unistack.plan import exprs as ex
from unistack.plan.functions import TRUNCATE_UNITS
from unistack.plan.text import expr_text
from unistack.plan.types import parse_dtype

IntoExpr = Any  # an Expr, or a plain Python value taken as a literal


def to_node(value: IntoExpr) -> ex.ExprNode:
    """The plan node of an expression or of a Python value taken as a literal."""
    if isinstance(value, Expr):
        return value._node
    if isinstance(value, ex.ExprNode):
        return value
    return ex.Literal(value)


def to_column_node(value: str | Expr) -> ex.ExprNode:
    """Like :func:`to_node`, but a string names a column (as in ``select("a")``)."""
    if isinstance(value, str):
        return ex.Column(value)
    if isinstance(value, Expr):
        return value._node
    raise InvalidTypeError(f"expected a column name or an expression, got {type(value).__name__} {value!r}.")


def flatten(items: Iterable[Any]) -> list[Any]:
    """Accept both ``f(a, b)`` and ``f([a, b])``."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(item)
        else:
            out.append(item)
    return out


class Expr:
    """A lazy column expression.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"a": [1, 2, None], "b": [10, 20, 30]})
    >>> df.select((us.col("a") * 2 + us.col("b")).alias("c")).collect().to_pydict()
    {'c': [12, 24, None]}
    """

    __slots__ = ("_node",)

    def __init__(self, node: ex.ExprNode) -> None:
        self._node = node

    def __repr__(self) -> str:
        return f"<Expr {expr_text(self._node)}>"

    def __bool__(self) -> bool:
        raise InvalidOperationError(
            "an expression has no truth value: use & and | instead of 'and' and 'or', ~ instead of 'not', "
            "and .is_in([...]) instead of 'in'."
        )

    __hash__ = None  # type: ignore[assignment]  # == builds an expression, so Expr is not hashable

    # -- operators -----------------------------------------------------------------------------------
    def _bin(self, op: str, other: IntoExpr, reflected: bool = False) -> Expr:
        left, right = self._node, to_node(other)
        if reflected:
            left, right = right, left
        return Expr(ex.BinaryOp(op, left, right))

    def __add__(self, o: IntoExpr) -> Expr: return self._bin("+", o)
    def __radd__(self, o: IntoExpr) -> Expr: return self._bin("+", o, True)
    def __sub__(self, o: IntoExpr) -> Expr: return self._bin("-", o)
    def __rsub__(self, o: IntoExpr) -> Expr: return self._bin("-", o, True)
    def __mul__(self, o: IntoExpr) -> Expr: return self._bin("*", o)
    def __rmul__(self, o: IntoExpr) -> Expr: return self._bin("*", o, True)
    def __truediv__(self, o: IntoExpr) -> Expr: return self._bin("/", o)
    def __rtruediv__(self, o: IntoExpr) -> Expr: return self._bin("/", o, True)
    def __floordiv__(self, o: IntoExpr) -> Expr: return self._bin("//", o)
    def __rfloordiv__(self, o: IntoExpr) -> Expr: return self._bin("//", o, True)
    def __mod__(self, o: IntoExpr) -> Expr: return self._bin("%", o)
    def __rmod__(self, o: IntoExpr) -> Expr: return self._bin("%", o, True)
    def __pow__(self, o: IntoExpr) -> Expr: return self._bin("**", o)
    def __rpow__(self, o: IntoExpr) -> Expr: return self._bin("**", o, True)
    def __eq__(self, o: IntoExpr) -> Expr: return self._bin("==", o)  # type: ignore[override]
    def __ne__(self, o: IntoExpr) -> Expr: return self._bin("!=", o)  # type: ignore[override]
    def __lt__(self, o: IntoExpr) -> Expr: return self._bin("<", o)
    def __le__(self, o: IntoExpr) -> Expr: return self._bin("<=", o)
    def __gt__(self, o: IntoExpr) -> Expr: return self._bin(">", o)
    def __ge__(self, o: IntoExpr) -> Expr: return self._bin(">=", o)
    def __and__(self, o: IntoExpr) -> Expr: return self._bin("&", o)
    def __rand__(self, o: IntoExpr) -> Expr: return self._bin("&", o, True)
    def __or__(self, o: IntoExpr) -> Expr: return self._bin("|", o)
    def __ror__(self, o: IntoExpr) -> Expr: return self._bin("|", o, True)
    def __invert__(self) -> Expr: return Expr(ex.UnaryOp("not", self._node))
    def __neg__(self) -> Expr: return Expr(ex.UnaryOp("neg", self._node))
    def __pos__(self) -> Expr: return self
    def __abs__(self) -> Expr: return self.abs()

    # -- naming and types --------------------------------------------------------------------------------
    def alias(self, name: str) -> Expr:
        """Name the output column.

        >>> import unistack as us
        >>> us.from_dict({"a": [1]}).select(us.col("a").alias("b")).collect().to_pydict()
        {'b': [1]}
        """
        if not isinstance(name, str):
            raise InvalidTypeError(f"alias() takes a string, got {name!r}.")
        return Expr(ex.Alias(self._node, name))

    def cast(self, dtype: pa.DataType | str | type) -> Expr:
        """Convert to another type; a value that cannot be converted becomes null.

        >>> import unistack as us
        >>> us.from_dict({"s": ["1", "x"]}).select(us.col("s").cast("int64")).collect().to_pydict()
        {'s': [1, None]}
        """
        return Expr(ex.Cast(self._node, parse_dtype(dtype)))

    # -- null handling and predicates ----------------------------------------------------------------------
    def _call(self, name: str, *args: IntoExpr, params: tuple[Any, ...] = ()) -> Expr:
        return Expr(ex.Call(name, (self._node, *(to_node(a) for a in args)), params))

    def is_null(self) -> Expr:
        """True where the value is null (NaN is not null).

        >>> import unistack as us
        >>> us.from_dict({"a": [1.0, None, float("nan")]}).select(us.col("a").is_null()).collect().to_pydict()
        {'a': [False, True, False]}
        """
        return self._call("is_null")

    def is_not_null(self) -> Expr:
        """True where the value is not null.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, None]}).select(us.col("a").is_not_null()).collect().to_pydict()
        {'a': [True, False]}
        """
        return self._call("is_not_null")

    def is_nan(self) -> Expr:
        """True where a float is NaN (null where it is null).

        >>> import unistack as us
        >>> us.from_dict({"a": [1.0, float("nan")]}).select(us.col("a").is_nan()).collect().to_pydict()
        {'a': [False, True]}
        """
        return self._call("is_nan")

    def fill_null(self, value: IntoExpr) -> Expr:
        """Replace nulls by a value or expression.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, None]}).select(us.col("a").fill_null(0)).collect().to_pydict()
        {'a': [1, 0]}
        """
        return self._call("fill_null", value)

    def is_in(self, values: Iterable[Any]) -> Expr:
        """True where the value equals one of ``values`` (literals); null where the value is null.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, 2, None]}).select(us.col("a").is_in([2, 3])).collect().to_pydict()
        {'a': [False, True, None]}
        """
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InvalidTypeError("is_in() takes a list of values, e.g. us.col('a').is_in([1, 2]).")
        vals = tuple(values)
        if any(isinstance(v, Expr) for v in vals):
            raise InvalidTypeError("is_in() takes literal values, not expressions.")
        return self._call("is_in", params=(vals,))

    def between(self, lower: IntoExpr, upper: IntoExpr) -> Expr:
        """``lower <= x <= upper`` (both ends included).

        >>> import unistack as us
        >>> us.from_dict({"a": [1, 2, 3]}).select(us.col("a").between(2, 3)).collect().to_pydict()
        {'a': [False, True, True]}
        """
        return (self >= lower) & (self <= upper)

    def abs(self) -> Expr:
        """Absolute value.

        >>> import unistack as us
        >>> us.from_dict({"a": [-2, 3]}).select(us.col("a").abs()).collect().to_pydict()
        {'a': [2, 3]}
        """
        return self._call("abs")

    def round(self, decimals: int = 0) -> Expr:
        """Round half away from zero to ``decimals`` places (integers are unchanged).

        >>> import unistack as us
        >>> us.from_dict({"a": [2.5, -2.5, 1.25]}).select(us.col("a").round(1)).collect().to_pydict()
        {'a': [2.5, -2.5, 1.3]}
        """
        if not isinstance(decimals, int) or decimals < 0:
            raise InvalidTypeError(f"round() takes a non-negative int, got {decimals!r}.")
        return self._call("round", params=(decimals,))

    # -- aggregates ------------------------------------------------------------------------------------------
    def _agg(self, func: str) -> Expr:
        return Expr(ex.Agg(func, self._node))

    def sum(self) -> Expr:
        """Sum of non-null values; null when there are none.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, None, 2]}).select(us.col("a").sum()).collect().to_pydict()
        {'a': [3]}
        """
        return self._agg("sum")

    def mean(self) -> Expr:
        """Mean of non-null values (float64); null when there are none.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, None, 2]}).select(us.col("a").mean()).collect().to_pydict()
        {'a': [1.5]}
        """
        return self._agg("mean")

    def min(self) -> Expr:
        """Smallest non-null value.

        >>> import unistack as us
        >>> us.from_dict({"a": [3, None, 2]}).select(us.col("a").min()).collect().to_pydict()
        {'a': [2]}
        """
        return self._agg("min")

    def max(self) -> Expr:
        """Largest non-null value (NaN is larger than every number).

        >>> import unistack as us
        >>> us.from_dict({"a": [3, None, 2]}).select(us.col("a").max()).collect().to_pydict()
        {'a': [3]}
        """
        return self._agg("max")

    def count(self) -> Expr:
        """Number of non-null values (``us.count()`` counts rows).

        >>> import unistack as us
        >>> us.from_dict({"a": [3, None, 2]}).select(us.col("a").count()).collect().to_pydict()
        {'a': [2]}
        """
        return self._agg("count")

    def n_unique(self) -> Expr:
        """Number of distinct non-null values.

        >>> import unistack as us
        >>> us.from_dict({"a": [1, 1, None, 2]}).select(us.col("a").n_unique()).collect().to_pydict()
        {'a': [2]}
        """
        return self._agg("n_unique")

    def std(self) -> Expr:
        """Sample standard deviation (ddof=1); null with fewer than two non-null values.

        >>> import unistack as us
        >>> us.from_dict({"a": [1.0, 3.0]}).select(us.col("a").std().round(4)).collect().to_pydict()
        {'a': [1.4142]}
        """
        return self._agg("std")

    def var(self) -> Expr:
        """Sample variance (ddof=1); null with fewer than two non-null values.

        >>> import unistack as us
        >>> us.from_dict({"a": [1.0, 3.0]}).select(us.col("a").var()).collect().to_pydict()
        {'a': [2.0]}
        """
        return self._agg("var")

    def first(self) -> Expr:
        """First non-null value in input order (defined only after a sort or within an ordered window).

        >>> import unistack as us
        >>> us.from_dict({"a": [None, 5, 6]}).select(us.col("a").first()).collect().to_pydict()
        {'a': [5]}
        """
        return self._agg("first")

    def last(self) -> Expr:
        """Last non-null value in input order (defined only after a sort or within an ordered window).

        >>> import unistack as us
        >>> us.from_dict({"a": [5, 6, None]}).select(us.col("a").last()).collect().to_pydict()
        {'a': [6]}
        """
        return self._agg("last")

    # -- window functions -------------------------------------------------------------------------------------
    def rank(self, descending: bool = False) -> Expr:
        """Rank of each value (ties share the lowest rank, gaps follow); null for null values. Use with ``.over``.

        >>> import unistack as us
        >>> df = us.from_dict({"g": [1, 1, 1], "x": [5, 3, 5]})
        >>> df.select(us.col("x").rank().over("g")).collect().to_pydict()
        {'x': [2, 1, 2]}
        """
        return Expr(ex.WindowFunc("rank", self._node, (bool(descending),)))

    def cum_sum(self) -> Expr:
        """Running sum in the window's order (ignores nulls). Use with ``.over(..., order_by=...)``.

        >>> import unistack as us
        >>> df = us.from_dict({"t": [1, 2, 3], "x": [1, None, 2]})
        >>> df.select(us.col("x").cum_sum().over(order_by="t")).collect().to_pydict()
        {'x': [1, 1, 3]}
        """
        return Expr(ex.WindowFunc("cum_sum", self._node))

    def shift(self, n: int = 1) -> Expr:
        """The value ``n`` rows earlier (lag; ``n < 0``: later, lead) in the window's order.

        >>> import unistack as us
        >>> df = us.from_dict({"t": [1, 2, 3], "x": [10, 20, 30]})
        >>> df.select(us.col("x").shift(1).over(order_by="t")).collect().to_pydict()
        {'x': [None, 10, 20]}
        """
        return Expr(ex.WindowFunc("shift", self._node, (n,)))

    def over(
        self,
        partition_by: str | Expr | Sequence[str | Expr] | None = None,
        *more: str | Expr,
        order_by: str | Expr | Sequence[str | Expr] | None = None,
        descending: bool | Sequence[bool] = False,
        nulls_last: bool | Sequence[bool] = True,
    ) -> Expr:
        """Compute an aggregate or window function per partition, keeping one value per row.

        Aggregates cover the whole partition; ``order_by`` orders row_number, rank, cum_sum and shift.

        >>> import unistack as us
        >>> df = us.from_dict({"g": ["a", "a", "b"], "x": [1, 2, 5]})
        >>> df.select("g", us.col("x").sum().over("g").alias("total")).collect().to_pydict()
        {'g': ['a', 'a', 'b'], 'total': [3, 3, 5]}
        """
        part = [] if partition_by is None else flatten([partition_by])
        part += list(more)
        order = [] if order_by is None else flatten([order_by])
        desc = _per_key(descending, len(order), "descending")
        nl = _per_key(nulls_last, len(order), "nulls_last")
        return Expr(
            ex.Over(
                self._node,
                tuple(to_column_node(p) for p in part),
                tuple(to_column_node(o) for o in order),
                desc,
                nl,
            )
        )

    # -- namespaces -------------------------------------------------------------------------------------------
    @property
    def str(self) -> StringNamespace:
        """String functions: ``len, lower, upper, strip, contains, starts_with, ends_with, like, slice,
        replace``."""
        return StringNamespace(self)

    @property
    def dt(self) -> DateTimeNamespace:
        """Date/time functions: ``year, month, day, hour, minute, second, weekday, truncate``."""
        return DateTimeNamespace(self)


def _per_key(flag: bool | Sequence[bool], n: int, name: str) -> tuple[bool, ...]:
    if isinstance(flag, bool):
        return (flag,) * n
    flags = tuple(bool(f) for f in flag)
    if len(flags) != n:
        raise InvalidOperationError(f"{name} has {len(flags)} values but there are {n} keys; give one per key.")
    return flags


class StringNamespace:
    """``expr.str``: string functions. Lengths and offsets count Unicode code points."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def _lit_str(self, value: Any, fn: str) -> str:
        if not isinstance(value, str):
            raise InvalidTypeError(f".str.{fn}() takes a literal string, got {type(value).__name__}.")
        return value

    def len(self) -> Expr:
        """Length in Unicode code points.

        >>> import unistack as us
        >>> us.from_dict({"s": ["héllo", ""]}).select(us.col("s").str.len()).collect().to_pydict()
        {'s': [5, 0]}
        """
        return self._expr._call("str_len")

    def lower(self) -> Expr:
        """Lower case.

        >>> import unistack as us
        >>> us.from_dict({"s": ["ÀB"]}).select(us.col("s").str.lower()).collect().to_pydict()
        {'s': ['àb']}
        """
        return self._expr._call("str_lower")

    def upper(self) -> Expr:
        """Upper case.

        >>> import unistack as us
        >>> us.from_dict({"s": ["àb"]}).select(us.col("s").str.upper()).collect().to_pydict()
        {'s': ['ÀB']}
        """
        return self._expr._call("str_upper")

    def strip(self) -> Expr:
        """Remove leading and trailing ASCII whitespace (space, tab, newline, CR, VT, FF).

        >>> import unistack as us
        >>> us.from_dict({"s": ["  a b \\n"]}).select(us.col("s").str.strip()).collect().to_pydict()
        {'s': ['a b']}
        """
        return self._expr._call("str_strip")

    def contains(self, substring: str) -> Expr:
        """True where the string contains ``substring`` (a literal, not a pattern).

        >>> import unistack as us
        >>> us.from_dict({"s": ["a.b", "ab"]}).select(us.col("s").str.contains(".")).collect().to_pydict()
        {'s': [True, False]}
        """
        return self._expr._call("str_contains", params=(self._lit_str(substring, "contains"),))

    def starts_with(self, prefix: str) -> Expr:
        """True where the string starts with ``prefix``.

        >>> import unistack as us
        >>> us.from_dict({"s": ["abc", "b"]}).select(us.col("s").str.starts_with("ab")).collect().to_pydict()
        {'s': [True, False]}
        """
        return self._expr._call("str_starts_with", params=(self._lit_str(prefix, "starts_with"),))

    def ends_with(self, suffix: str) -> Expr:
        """True where the string ends with ``suffix``.

        >>> import unistack as us
        >>> us.from_dict({"s": ["abc", "b"]}).select(us.col("s").str.ends_with("bc")).collect().to_pydict()
        {'s': [True, False]}
        """
        return self._expr._call("str_ends_with", params=(self._lit_str(suffix, "ends_with"),))

    def like(self, pattern: str) -> Expr:
        r"""True where the whole string matches the SQL ``LIKE`` ``pattern``: ``%`` matches any run of
        characters (also none), ``_`` exactly one character, and a backslash makes the next character
        literal (``r"\%"`` is a percent sign). Case-sensitive; null input gives null.

        >>> import unistack as us
        >>> df = us.from_dict({"s": ["special requests", "special", "50%"]})
        >>> df.select(us.col("s").str.like("%special%requests%")).collect().to_pydict()
        {'s': [True, False, False]}
        >>> df.select(us.col("s").str.like(r"__\%")).collect().to_pydict()
        {'s': [False, False, True]}
        """
        from unistack.plan.functions import check_like_pattern

        return self._expr._call("str_like", params=(check_like_pattern(self._lit_str(pattern, "like")),))

    def slice(self, offset: int, length: int | None = None) -> Expr:
        """Substring from code point ``offset`` (negative: from the end), at most ``length`` long.

        >>> import unistack as us
        >>> us.from_dict({"s": ["héllo"]}).select(us.col("s").str.slice(1, 3)).collect().to_pydict()
        {'s': ['éll']}
        """
        return self._expr._call("str_slice", params=(offset, length))

    def replace(self, old: str, new: str) -> Expr:
        """Replace every occurrence of the literal ``old`` by ``new``.

        >>> import unistack as us
        >>> us.from_dict({"s": ["a-b-c"]}).select(us.col("s").str.replace("-", "+")).collect().to_pydict()
        {'s': ['a+b+c']}
        """
        if self._lit_str(old, "replace") == "":
            raise InvalidOperationError(".str.replace() needs a non-empty string to replace.")
        return self._expr._call("str_replace", params=(old, self._lit_str(new, "replace")))


_TRUNCATE_ALIASES = {"1y": "year", "1q": "quarter", "1mo": "month", "1w": "week", "1d": "day", "1h": "hour",
                     "1m": "minute", "1s": "second"}


class DateTimeNamespace:
    """``expr.dt``: parts of dates and timestamps (tz-aware ones in their own time zone)."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def year(self) -> Expr:
        """Year (int32).

        >>> import unistack as us, datetime as dt
        >>> us.from_dict({"d": [dt.date(2024, 2, 29)]}).select(us.col("d").dt.year()).collect().to_pydict()
        {'d': [2024]}
        """
        return self._expr._call("dt_year")

    def month(self) -> Expr:
        """Month 1-12 (int32).

        >>> import unistack as us, datetime as dt
        >>> us.from_dict({"d": [dt.date(2024, 2, 29)]}).select(us.col("d").dt.month()).collect().to_pydict()
        {'d': [2]}
        """
        return self._expr._call("dt_month")

    def day(self) -> Expr:
        """Day of month 1-31 (int32).

        >>> import unistack as us, datetime as dt
        >>> us.from_dict({"d": [dt.date(2024, 2, 29)]}).select(us.col("d").dt.day()).collect().to_pydict()
        {'d': [29]}
        """
        return self._expr._call("dt_day")

    def hour(self) -> Expr:
        """Hour 0-23 (int32).

        >>> import unistack as us, datetime as dt
        >>> df = us.from_dict({"t": [dt.datetime(2024, 1, 1, 13, 5, 9)]})
        >>> df.select(us.col("t").dt.hour()).collect().to_pydict()
        {'t': [13]}
        """
        return self._expr._call("dt_hour")

    def minute(self) -> Expr:
        """Minute 0-59 (int32).

        >>> import unistack as us, datetime as dt
        >>> df = us.from_dict({"t": [dt.datetime(2024, 1, 1, 13, 5, 9)]})
        >>> df.select(us.col("t").dt.minute()).collect().to_pydict()
        {'t': [5]}
        """
        return self._expr._call("dt_minute")

    def second(self) -> Expr:
        """Second 0-59 (int32).

        >>> import unistack as us, datetime as dt
        >>> df = us.from_dict({"t": [dt.datetime(2024, 1, 1, 13, 5, 9)]})
        >>> df.select(us.col("t").dt.second()).collect().to_pydict()
        {'t': [9]}
        """
        return self._expr._call("dt_second")

    def weekday(self) -> Expr:
        """ISO weekday: Monday=1 .. Sunday=7 (int32).

        >>> import unistack as us, datetime as dt
        >>> us.from_dict({"d": [dt.date(2024, 1, 7)]}).select(us.col("d").dt.weekday()).collect().to_pydict()
        {'d': [7]}
        """
        return self._expr._call("dt_weekday")

    def truncate(self, unit: str) -> Expr:
        """Start of the ``unit`` containing the value: year, quarter, month, week (Monday), day, hour,
        minute or second (Polars spellings such as ``"1mo"`` also work).

        >>> import unistack as us, datetime as dt
        >>> df = us.from_dict({"d": [dt.date(2024, 5, 17)]})
        >>> df.select(us.col("d").dt.truncate("month")).collect().to_pydict()
        {'d': [datetime.date(2024, 5, 1)]}
        """
        name = _TRUNCATE_ALIASES.get(unit, unit)
        if name not in TRUNCATE_UNITS:
            raise InvalidOperationError(
                f".dt.truncate unit must be one of {', '.join(TRUNCATE_UNITS)}; got {unit!r}."
            )
        return self._expr._call("dt_truncate", params=(name,))


# -- constructors --------------------------------------------------------------------------------------------
def col(name: str) -> Expr:
    """A column by name.

    Examples
    --------
    >>> import unistack as us
    >>> us.from_dict({"a": [1, 2]}).select(us.col("a") + 1).collect().to_pydict()
    {'a': [2, 3]}
    """
    if not isinstance(name, str):
        raise InvalidTypeError(f"col() takes a column name (str), got {type(name).__name__}.")
    return Expr(ex.Column(name))


def lit(value: Any, dtype: pa.DataType | str | None = None) -> Expr:
    """A literal value, optionally with an explicit type.

    Examples
    --------
    >>> import unistack as us
    >>> us.from_dict({"a": [1, 2]}).select("a", us.lit("x").alias("tag")).collect().to_pydict()
    {'a': [1, 2], 'tag': ['x', 'x']}
    """
    if isinstance(value, Expr):
        return value
    node = ex.Literal(value, weak=dtype is None)
    if dtype is not None:
        object.__setattr__(node, "dtype", parse_dtype(dtype))
    return Expr(node)


def count() -> Expr:
    """Number of rows (in the group, or in the frame).

    Examples
    --------
    >>> import unistack as us
    >>> us.from_dict({"a": [1, None]}).select(us.count()).collect().to_pydict()
    {'count': [2]}
    """
    return Expr(ex.Agg("len", None))


def row_number() -> Expr:
    """1, 2, 3, ... in the window's order: ``us.row_number().over("g", order_by="t")``.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"t": [30, 10, 20]})
    >>> df.select("t", us.row_number().over(order_by="t")).sort("t").collect().to_pydict()
    {'t': [10, 20, 30], 'row_number': [1, 2, 3]}
    """
    return Expr(ex.WindowFunc("row_number"))


def rank() -> Expr:
    """SQL ``rank()``: position in the window's order, ties share the lowest rank.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"t": [10, 10, 20]})
    >>> df.select("t", us.rank().over(order_by="t")).sort("t").collect().to_pydict()
    {'t': [10, 10, 20], 'rank': [1, 1, 3]}
    """
    return Expr(ex.WindowFunc("rank"))


def concat_str(exprs: Sequence[IntoExpr] | IntoExpr, *more: IntoExpr, separator: str = "") -> Expr:
    """Concatenate string expressions; null if any input is null.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"a": ["x", "y"], "b": ["1", None]})
    >>> df.select(us.concat_str([us.col("a"), us.col("b")], separator="-")).collect().to_pydict()
    {'a': ['x-1', None]}
    """
    items = flatten([exprs, *more])
    if not items:
        raise InvalidOperationError("concat_str() needs at least one expression.")
    return Expr(ex.Call("concat_str", tuple(to_node(i) for i in items), (separator,)))


def coalesce(exprs: Sequence[IntoExpr] | IntoExpr, *more: IntoExpr) -> Expr:
    """The first non-null value among the expressions.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"a": [None, 1], "b": [2, 3]})
    >>> df.select(us.coalesce("a", "b")).collect().to_pydict()
    {'a': [2, 1]}
    """
    items = flatten([exprs, *more])
    return Expr(ex.Call("coalesce", tuple(to_column_node(i) if isinstance(i, str) else to_node(i)
                                          for i in items)))


class When:
    """``us.when(cond)``: needs ``.then(value)``."""

    def __init__(self, branches: tuple[tuple[ex.ExprNode, ex.ExprNode], ...], cond: ex.ExprNode) -> None:
        self._branches = branches
        self._cond = cond

    def then(self, value: IntoExpr) -> Then:
        return Then((*self._branches, (self._cond, to_node(value))))


class Then(Expr):
    """A when/then chain: continue with ``.when(...)`` or finish with ``.otherwise(...)`` (default null)."""

    __slots__ = ("_branches",)

    def __init__(self, branches: tuple[tuple[ex.ExprNode, ex.ExprNode], ...]) -> None:
        super().__init__(ex.Case(branches, ex.Literal(None)))
        self._branches = branches

    def when(self, condition: IntoExpr) -> When:
        return When(self._branches, to_node(condition))

    def otherwise(self, value: IntoExpr) -> Expr:
        return Expr(ex.Case(self._branches, to_node(value)))


def when(condition: IntoExpr) -> When:
    """Start a conditional: ``us.when(c1).then(v1).when(c2).then(v2).otherwise(v)``.

    Examples
    --------
    >>> import unistack as us
    >>> df = us.from_dict({"a": [1, 5, None]})
    >>> expr = us.when(us.col("a") > 2).then(us.lit("big")).otherwise(us.lit("small")).alias("size")
    >>> df.select(expr).collect().to_pydict()
    {'size': ['small', 'big', 'small']}
    """
    return When((), to_node(condition))
