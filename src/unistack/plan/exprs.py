"""Expression nodes of the logical plan.

These are immutable, typed values kept apart from the user-facing :class:`unistack.Expr` wrapper. A node
built by the API is *unbound* (``dtype`` is ``None``); :func:`unistack.plan.typecheck.bind` checks it
against a schema and returns the same tree with every ``dtype`` filled in. Engines only see bound nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

ARITHMETIC_OPS = ("+", "-", "*", "/", "//", "%", "**")
COMPARISON_OPS = ("==", "!=", "<", "<=", ">", ">=")
BOOLEAN_OPS = ("&", "|")

AGGREGATES = ("sum", "mean", "min", "max", "count", "len", "n_unique", "std", "var", "first", "last")
WINDOW_FUNCTIONS = ("row_number", "rank", "dense_rank", "cum_sum", "shift")


@dataclass(frozen=True)
class ExprNode:
    """Base of all expression nodes; ``dtype`` is set once the node is bound to a schema."""

    dtype: pa.DataType | None = field(default=None, kw_only=True, compare=False, repr=False)

    def children(self) -> tuple[ExprNode, ...]:
        return ()

    def walk(self) -> Iterator[ExprNode]:
        """This node and every node below it, parents first."""
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(frozen=True)
class Column(ExprNode):
    name: str


@dataclass(frozen=True)
class Literal(ExprNode):
    value: Any
    # A Python scalar is "weak": it takes the type of the column it meets (``int32 + 1`` stays int32).
    weak: bool = True


@dataclass(frozen=True)
class BinaryOp(ExprNode):
    op: str
    left: ExprNode
    right: ExprNode

    def children(self) -> tuple[ExprNode, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class UnaryOp(ExprNode):
    op: str  # "neg" or "not"
    operand: ExprNode

    def children(self) -> tuple[ExprNode, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Call(ExprNode):
    """A scalar function from :mod:`unistack.plan.functions` (``str_len``, ``dt_year``, ``is_in``, ...)."""

    name: str
    args: tuple[ExprNode, ...]
    params: tuple[Any, ...] = ()

    def children(self) -> tuple[ExprNode, ...]:
        return self.args


@dataclass(frozen=True)
class Cast(ExprNode):
    operand: ExprNode
    to: pa.DataType

    def children(self) -> tuple[ExprNode, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Alias(ExprNode):
    operand: ExprNode
    name: str

    def children(self) -> tuple[ExprNode, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Case(ExprNode):
    """``when(c1).then(v1).when(c2).then(v2).otherwise(v)``: the first true condition wins."""

    branches: tuple[tuple[ExprNode, ExprNode], ...]
    otherwise: ExprNode

    def children(self) -> tuple[ExprNode, ...]:
        return (*(x for branch in self.branches for x in branch), self.otherwise)


@dataclass(frozen=True)
class Agg(ExprNode):
    """An aggregate; ``operand`` is ``None`` for ``len`` (``us.count()``, rows in the group)."""

    func: str
    operand: ExprNode | None

    def children(self) -> tuple[ExprNode, ...]:
        return () if self.operand is None else (self.operand,)


@dataclass(frozen=True)
class WindowFunc(ExprNode):
    """A function only meaningful over a window: ``row_number``, ``rank``, ``cum_sum``, ``shift``."""

    func: str
    operand: ExprNode | None = None
    params: tuple[Any, ...] = ()

    def children(self) -> tuple[ExprNode, ...]:
        return () if self.operand is None else (self.operand,)


@dataclass(frozen=True)
class Over(ExprNode):
    """``operand.over(partition_by, order_by=...)``; operand is an :class:`Agg` or :class:`WindowFunc`."""

    operand: ExprNode
    partition_by: tuple[ExprNode, ...] = ()
    order_by: tuple[ExprNode, ...] = ()
    descending: tuple[bool, ...] = ()
    nulls_last: tuple[bool, ...] = ()

    def children(self) -> tuple[ExprNode, ...]:
        return (self.operand, *self.partition_by, *self.order_by)


def output_name(node: ExprNode) -> str:
    """The column name an expression produces (the left-most column it reads, as in Polars).

    Examples
    --------
    >>> output_name(BinaryOp("+", Literal(1), Column("a")))
    'a'
    """
    match node:
        case Alias(name=name) | Column(name=name):
            return name
        case Literal():
            return "literal"
        case Agg(func="len"):
            return "count"
        case WindowFunc(operand=None, func=func):
            return func
        case Case(branches=branches):
            return output_name(branches[0][1])
        case BinaryOp(left=Literal(), right=right):
            return output_name(right)
    for child in node.children():
        return output_name(child)
    return "literal"


def columns_used(node: ExprNode) -> set[str]:
    """Names of the input columns an expression reads."""
    return {n.name for n in node.walk() if isinstance(n, Column)}


def has_agg(node: ExprNode) -> bool:
    """Whether an aggregate appears outside any window (``.over``)."""
    if isinstance(node, Over):
        return False
    if isinstance(node, Agg):
        return True
    return any(has_agg(c) for c in node.children())


def may_be_nan(node: ExprNode) -> bool:
    """Whether a bound expression's values can include NaN: only floats can, and a float made by casting
    an integer, decimal or boolean cannot (engines skip their NaN bookkeeping for those).

    >>> may_be_nan(Cast(Column("price", dtype=pa.decimal128(15, 2)), pa.float64(), dtype=pa.float64()))
    False
    >>> may_be_nan(Column("x", dtype=pa.float64()))
    True
    """
    if node.dtype is None or not pa.types.is_floating(node.dtype):
        return False
    if isinstance(node, Literal):
        return node.value is not None and node.value != node.value
    if isinstance(node, Alias):
        return may_be_nan(node.operand)
    if isinstance(node, Cast):
        source = node.operand.dtype
        if source is not None and (pa.types.is_integer(source) or pa.types.is_decimal(source)
                                   or pa.types.is_boolean(source)):
            return False
        return may_be_nan(node.operand) if source is not None and pa.types.is_floating(source) else True
    return True


def has_window(node: ExprNode) -> bool:
    return any(isinstance(n, Over) for n in node.walk())


def strip_alias(node: ExprNode) -> ExprNode:
    while isinstance(node, Alias):
        node = node.operand
    return node


def replace_children(node: ExprNode, new: tuple[ExprNode, ...]) -> ExprNode:
    """A copy of ``node`` with its children replaced (same order as :meth:`ExprNode.children`)."""
    import dataclasses

    if not new:
        return node
    match node:
        case BinaryOp():
            return dataclasses.replace(node, left=new[0], right=new[1])
        case UnaryOp() | Cast() | Alias():
            return dataclasses.replace(node, operand=new[0])
        case Call():
            return dataclasses.replace(node, args=new)
        case Case():
            n = len(node.branches)
            branches = tuple((new[2 * i], new[2 * i + 1]) for i in range(n))
            return dataclasses.replace(node, branches=branches, otherwise=new[2 * n])
        case Agg() | WindowFunc():
            return dataclasses.replace(node, operand=new[0])
        case Over():
            p, o = len(node.partition_by), len(node.order_by)
            return dataclasses.replace(
                node, operand=new[0], partition_by=new[1 : 1 + p], order_by=new[1 + p : 1 + p + o]
            )
    raise TypeError(f"no children to replace on {type(node).__name__}")


def rename_columns(node: ExprNode, mapping: dict[str, ExprNode]) -> ExprNode:
    """Substitute column references by the expressions in ``mapping`` (keeping dtypes)."""
    if isinstance(node, Column) and node.name in mapping:
        return mapping[node.name]
    kids = node.children()
    if not kids:
        return node
    new = tuple(rename_columns(k, mapping) for k in kids)
    if new == kids and all(a is b for a, b in zip(new, kids)):
        return node
    out = replace_children(node, new)
    object.__setattr__(out, "dtype", node.dtype)
    return out


def hoist_windows(exprs: Iterable[ExprNode], prefix: str) -> tuple[list[ExprNode], list[tuple[Over, str]]]:
    """Replace every window (``.over``) by a typed reference to a column ``<prefix><i>``.

    Returns the rewritten expressions and the ``(window, column name)`` pairs, in the order found, so a
    caller can compute the windows as columns first (windows in filter/sort, engines without nested windows).

    Examples
    --------
    >>> out, found = hoist_windows([BinaryOp("+", Over(Agg("sum", Column("x"))), Literal(1))], "__w")
    >>> [type(o).__name__ for o in out[0].children()], [name for _, name in found]
    (['Column', 'Literal'], ['__w0'])
    """
    found: list[tuple[Over, str]] = []

    def hoist(node: ExprNode) -> ExprNode:
        if isinstance(node, Over):
            name = f"{prefix}{len(found)}"
            found.append((node, name))
            col = Column(name)
            object.__setattr__(col, "dtype", node.dtype)
            return col
        kids = node.children()
        if not kids:
            return node
        out = replace_children(node, tuple(hoist(k) for k in kids))
        object.__setattr__(out, "dtype", node.dtype)
        return out

    return [hoist(e) for e in exprs], found


def expr_text_safe(node: ExprNode) -> str:
    """Expression text for error messages (import kept local to avoid a cycle)."""
    from unistack.plan.text import expr_text

    return expr_text(node)
