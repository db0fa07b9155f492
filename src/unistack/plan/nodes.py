"""Logical plan nodes: immutable dataclasses, each computing its output schema.

Nodes hold *bound* expressions (see :mod:`unistack.plan.typecheck`), so every engine sees exact types.
The API layer (:mod:`unistack.frame`) builds them and checks them; the optimizer rewrites them; engines
translate them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import pyarrow as pa

from unistack.errors import SchemaError
from unistack.plan.exprs import ExprNode, output_name
from unistack.plan.types import canonical_schema

JoinHow = Literal["inner", "left", "right", "full", "semi", "anti", "cross"]
JOIN_KINDS: tuple[str, ...] = ("inner", "left", "right", "full", "semi", "anti", "cross")
FILE_FORMATS = ("parquet", "csv", "json")


@dataclass(frozen=True, eq=False)
class Source:
    """Where a scan's rows come from."""

    @property
    def schema(self) -> pa.Schema:  # canonical schema of the rows
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class FileSource(Source):
    """Files of one format. ``file_schema`` is the schema as written (engines read with it, then cast)."""

    format: str
    paths: tuple[str, ...]
    file_schema: pa.Schema
    options: tuple[tuple[str, Any], ...] = ()

    @cached_property
    def schema(self) -> pa.Schema:
        return canonical_schema(self.file_schema)

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    def versions(self) -> tuple[tuple[int, int], ...] | None:
        """(size, modification time in ns) per file, or ``None`` if one is missing: engines key what they
        cache about the files (scans, compiled plans) on it, so a rewritten file is read again."""
        try:
            return tuple((st.st_size, st.st_mtime_ns) for st in map(os.stat, self.paths))
        except OSError:
            return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileSource) and (self.format, self.paths, self.options) == (
            other.format, other.paths, other.options
        )

    def __hash__(self) -> int:
        return hash((self.format, self.paths))


@dataclass(frozen=True, eq=False)
class InMemorySource(Source):
    """An Arrow table held in memory. ``key`` identifies it (tables are compared by identity)."""

    table: pa.Table
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @cached_property
    def schema(self) -> pa.Schema:
        return canonical_schema(self.table.schema)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InMemorySource) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


@dataclass(frozen=True, eq=False)
class PersistedSource(Source):
    """A result kept inside an engine by :meth:`unistack.LazyFrame.persist` (Spark's cache, Dask's persisted
    partitions, Ray's object store, a DuckDB table, a Polars frame). The engine holding it reads it in
    place; another engine gets it exported as Arrow first. ``rows`` is exact; ``sample`` (the first rows,
    taken when it was persisted) gives the statistics the planner needs without moving the data."""

    engine: str
    key: str
    row_schema: pa.Schema
    rows: int
    sample: pa.Table

    @property
    def schema(self) -> pa.Schema:
        return self.row_schema

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PersistedSource) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


@dataclass(frozen=True)
class PlanNode:
    """Base of all plan nodes."""

    def children(self) -> tuple[PlanNode, ...]:
        return ()

    @cached_property
    def schema(self) -> pa.Schema:
        raise NotImplementedError

    def walk(self) -> Iterator[PlanNode]:
        """This node and every node below it, parents first."""
        yield self
        for child in self.children():
            yield from child.walk()


def _unique_schema(fields: list[pa.Field], where: str) -> pa.Schema:
    seen: set[str] = set()
    for f in fields:
        if f.name in seen:
            raise SchemaError(
                f"duplicate output column {f.name!r} in {where}; give one of them another name with .alias()."
            )
        seen.add(f.name)
    return pa.schema(fields)


def expr_fields(exprs: tuple[ExprNode, ...]) -> list[pa.Field]:
    return [pa.field(output_name(e), e.dtype) for e in exprs]


@dataclass(frozen=True)
class Scan(PlanNode):
    """Read a source. ``columns`` (pruned projection), ``filters`` (pushed-down predicates, all must hold)
    and ``limit`` are filled in by the optimizer; engines push them into their readers."""

    source: Source
    columns: tuple[str, ...] | None = None
    filters: tuple[ExprNode, ...] = ()
    limit: int | None = None

    @cached_property
    def schema(self) -> pa.Schema:
        full = self.source.schema
        if self.columns is None:
            return full
        return pa.schema([full.field(c) for c in self.columns])


@dataclass(frozen=True)
class Project(PlanNode):
    """Compute one output column per expression (``select``, ``with_columns``, ``rename``, ``drop``)."""

    input: PlanNode
    exprs: tuple[ExprNode, ...]

    def children(self) -> tuple[PlanNode, ...]:
        return (self.input,)

    @cached_property
    def schema(self) -> pa.Schema:
        return _unique_schema(expr_fields(self.exprs), "select")


@dataclass(frozen=True)
class Filter(PlanNode):
    """Keep the rows where ``predicate`` is true (null counts as false)."""

    input: PlanNode
    predicate: ExprNode

    def children(self) -> tuple[PlanNode, ...]:
        return (self.input,)

    @cached_property
    def schema(self) -> pa.Schema:
        return self.input.schema


@dataclass(frozen=True)
class Aggregate(PlanNode):
    """Group by ``keys`` (none: one global row) and compute ``aggs``; output is keys then aggregates."""

    input: PlanNode
    keys: tuple[ExprNode, ...]
    aggs: tuple[ExprNode, ...]

    def children(self) -> tuple[PlanNode, ...]:
        return (self.input,)

    @cached_property
    def schema(self) -> pa.Schema:
        return _unique_schema(expr_fields(self.keys) + expr_fields(self.aggs), "group_by().agg()")


@dataclass(frozen=True)
class JoinColumn:
    """One output column of a join: where it comes from and what it is called."""

    side: str  # "left", "right", or "key" (a same-named key, one column; coalesced for full joins)
    source: str  # name in the left input (side left/key) or right input (side right)
    name: str
    right_source: str | None = None  # for side "key": the key's name in the right input


@dataclass(frozen=True)
class Join(PlanNode):
    """Join on equal keys; null keys never match. Same-named keys appear once in the output."""

    left: PlanNode
    right: PlanNode
    how: str
    left_on: tuple[str, ...]
    right_on: tuple[str, ...]
    suffix: str = "_right"

    def children(self) -> tuple[PlanNode, ...]:
        return (self.left, self.right)

    @cached_property
    def output_columns(self) -> tuple[JoinColumn, ...]:
        left_names = self.left.schema.names
        shared_keys = {lk for lk, rk in zip(self.left_on, self.right_on) if lk == rk}
        cols: list[JoinColumn] = []
        for name in left_names:
            if name in shared_keys and self.how in ("inner", "left", "right", "full"):
                cols.append(JoinColumn("key", name, name, right_source=name))
            else:
                cols.append(JoinColumn("left", name, name))
        if self.how in ("semi", "anti"):
            return tuple(cols)
        taken = set(left_names)
        for name in self.right.schema.names:
            if name in shared_keys and self.how != "cross":
                continue
            out = name + self.suffix if name in taken else name
            if out in taken:
                raise SchemaError(
                    f"join output would have two columns named {out!r}; pass another suffix= or rename first."
                )
            taken.add(out)
            cols.append(JoinColumn("right", name, out))
        return tuple(cols)

    @cached_property
    def schema(self) -> pa.Schema:
        left, right = self.left.schema, self.right.schema
        fields = []
        for c in self.output_columns:
            src = right if c.side == "right" else left
            fields.append(pa.field(c.name, src.field(c.source).type))
        return pa.schema(fields)


@dataclass(frozen=True)
class Sort(PlanNode):
    """Order rows by ``keys``; each key has its own direction and null placement."""

    input: PlanNode
    keys: tuple[ExprNode, ...]
    descending: tuple[bool, ...]
    nulls_last: tuple[bool, ...]

    def children(self) -> tuple[PlanNode, ...]:
        return (self.input,)

    @cached_property
    def schema(self) -> pa.Schema:
        return self.input.schema


@dataclass(frozen=True)
class Limit(PlanNode):
    """The first ``n`` rows (in the input's order, which is defined only after a sort)."""

    input: PlanNode
    n: int

    def children(self) -> tuple[PlanNode, ...]:
        return (self.input,)

    @cached_property
    def schema(self) -> pa.Schema:
        return self.input.schema


@dataclass(frozen=True)
class Distinct(PlanNode):
    """Drop duplicate rows (nulls equal nulls, NaN equals NaN); with ``subset``, one row per distinct subset."""

    input: PlanNode
    subset: tuple[str, ...] | None = None

    def children(self) -> tuple[PlanNode, ...]:
        return (self.input,)

    @cached_property
    def schema(self) -> pa.Schema:
        return self.input.schema


@dataclass(frozen=True)
class Union(PlanNode):
    """All rows of every input (union all); inputs have identical schemas."""

    inputs: tuple[PlanNode, ...]

    def children(self) -> tuple[PlanNode, ...]:
        return self.inputs

    @cached_property
    def schema(self) -> pa.Schema:
        return self.inputs[0].schema


@dataclass(frozen=True)
class MapBatches(PlanNode):
    """Apply a Python function to each Arrow record batch; it must return batches of ``output_schema``."""

    input: PlanNode
    fn: Callable[[pa.RecordBatch], Any] = field(compare=False)
    output_schema: pa.Schema = field(compare=False)
    name: str = "map_batches"
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def children(self) -> tuple[PlanNode, ...]:
        return (self.input,)

    @cached_property
    def schema(self) -> pa.Schema:
        return self.output_schema


def replace_inputs(node: PlanNode, new: tuple[PlanNode, ...]) -> PlanNode:
    """A copy of ``node`` with new children (same order as :meth:`PlanNode.children`)."""
    import dataclasses

    if isinstance(node, Join):
        return dataclasses.replace(node, left=new[0], right=new[1])
    if isinstance(node, Union):
        return dataclasses.replace(node, inputs=new)
    if not new:
        return node
    return dataclasses.replace(node, input=new[0])  # type: ignore[call-arg]


def transform_up(node: PlanNode, fn: Callable[[PlanNode], PlanNode]) -> PlanNode:
    """Rewrite a plan bottom-up: children first, then ``fn`` on the rebuilt node."""
    kids = node.children()
    if kids:
        new = tuple(transform_up(k, fn) for k in kids)
        if any(a is not b for a, b in zip(new, kids)):
            node = replace_inputs(node, new)
    return fn(node)


def transform_down(node: PlanNode, fn: Callable[[PlanNode], PlanNode]) -> PlanNode:
    """Rewrite a plan top-down: ``fn`` on the node, then on the children of the result."""
    node = fn(node)
    kids = node.children()
    if kids:
        new = tuple(transform_down(k, fn) for k in kids)
        if any(a is not b for a, b in zip(new, kids)):
            node = replace_inputs(node, new)
    return node


def sorted_below(node: PlanNode) -> bool:
    """Whether ``node``'s rows are in a defined order: a sort, seen through the nodes that keep order
    (engines whose window operators reorder rows put them back when this holds)."""
    while isinstance(node, (Project, Filter, Limit, MapBatches)):
        node = node.input
    return isinstance(node, Sort)
