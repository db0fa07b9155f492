"""The engine interface, capabilities, and the pieces every engine shares.

An engine translates a plan into its own operations and runs it. What it supports is derived from what
its translator implements (:meth:`Capabilities.from_translator`), minus what it declares unsupported
with a reason; the planner and the conformance suite read the same declaration.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from unistack.errors import UnistackError, UnsupportedOperationError, UserFunctionError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan.functions import FUNCTIONS
from unistack.plan.operations import operations

ALL_OPERATIONS: frozenset[str] = frozenset(
    [f"node:{cls.__name__}" for cls in (pn.Scan, pn.Project, pn.Filter, pn.Aggregate, pn.Join, pn.Sort,
                                          pn.Limit, pn.Distinct, pn.Union, pn.MapBatches)]
    + [f"join:{how}" for how in pn.JOIN_KINDS]
    + [f"format:{fmt}" for fmt in pn.FILE_FORMATS]
    + ["source:arrow", "expr:Cast", "expr:Case", "window:over"]
    + [f"op:{op}" for op in (*ex.ARITHMETIC_OPS, *ex.COMPARISON_OPS, *ex.BOOLEAN_OPS, "neg", "not")]
    + [f"function:{name}" for name in FUNCTIONS]
    + [f"agg:{name}" for name in ex.AGGREGATES]
    + [f"window:{name}" for name in ex.WINDOW_FUNCTIONS]
)


def translator_operations(node_types: Iterable[type], functions: Iterable[str]) -> set[str]:
    """The operations of a translator that handles ``node_types`` (a singledispatch registry's keys) and
    the scalar ``functions``, together with every operator, aggregate, window function, join kind and
    input format. An engine removes what it lacks with ``Capabilities.from_translator(..., unsupported=)``.
    """
    ops = {f"node:{cls.__name__}" for cls in node_types if cls is not object}
    ops |= {f"join:{how}" for how in pn.JOIN_KINDS}
    ops |= {f"format:{fmt}" for fmt in pn.FILE_FORMATS} | {"source:arrow"}
    ops |= {f"function:{name}" for name in functions}
    ops |= {f"op:{op}" for op in (*ex.ARITHMETIC_OPS, *ex.COMPARISON_OPS, *ex.BOOLEAN_OPS, "neg", "not")}
    ops |= {f"agg:{a}" for a in ex.AGGREGATES} | {f"window:{w}" for w in ex.WINDOW_FUNCTIONS}
    ops |= {"window:over", "expr:Cast", "expr:Case"}
    return ops


@dataclass(frozen=True)
class Capabilities:
    """What an engine can run: a set of operation names (see :mod:`unistack.plan.operations`),
    reasons for what it cannot, and streaming features."""

    supported: frozenset[str]
    unsupported: Mapping[str, str] = field(default_factory=dict)
    batch: bool = True
    streaming: bool = False

    @classmethod
    def from_translator(
        cls, implemented: Iterable[str], unsupported: Mapping[str, str] | None = None, **flags: Any
    ) -> Capabilities:
        """Capabilities from what a translator implements; ``unsupported`` gives reasons for the rest."""
        unsupported = dict(unsupported or {})
        supported = frozenset(implemented) - set(unsupported)
        for op in ALL_OPERATIONS - supported:
            unsupported.setdefault(op, "not implemented")
        return cls(supported, unsupported, **flags)

    def missing(self, plan: pn.PlanNode) -> dict[str, str]:
        """Operations the plan needs that this engine lacks, with reasons (empty: it can run the plan)."""
        return {op: self.unsupported.get(op, "not implemented") for op in sorted(operations(plan))
                if op not in self.supported}


@functools.cache
def package_version(dist: str) -> str:
    """The installed version of distribution ``dist`` (``"?"`` when it is not installed), read once per
    process: engines name it in every status, and planning reads statuses on every query (reading the
    installed metadata takes a fraction of a millisecond each time).

    Examples
    --------
    >>> package_version("pyarrow") != "?"
    True
    >>> package_version("no-such-distribution-here")
    '?'
    """
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


@dataclass(frozen=True)
class EngineStatus:
    """Whether an engine can run now, whether its session is warm, and its resources."""

    installed: bool
    warm: bool = False
    cores: int | None = None
    memory_bytes: int | None = None
    detail: str = ""
    cluster: str | None = None


@runtime_checkable
class Engine(Protocol):
    """What every engine implements (built-in or registered through the ``unistack.engines`` entry point)."""

    name: str

    def capabilities(self) -> Capabilities: ...

    def status(self) -> EngineStatus: ...

    def execute(self, plan: pn.PlanNode) -> pa.Table: ...

    def explain_native(self, plan: pn.PlanNode) -> str: ...


_caps: dict[tuple[str, int], Capabilities] = {}


def capabilities_of(engine: Engine) -> Capabilities:
    """An engine's capabilities, computed once per engine instance."""
    key = (engine.name, id(engine))
    caps = _caps.get(key)
    if caps is None:
        caps = _caps[key] = engine.capabilities()
    return caps


def forget_capabilities() -> None:
    """Drop the capabilities computed so far (an engine may implement more after a reload)."""
    _caps.clear()


def require_supported(engine: Engine, plan: pn.PlanNode) -> None:
    """Raise :class:`UnsupportedOperationError` naming the first operation the engine cannot run."""
    missing = capabilities_of(engine).missing(plan)
    if missing:
        op, reason = next(iter(missing.items()))
        more = f" (and {len(missing) - 1} more: {', '.join(list(missing)[1:4])})" if len(missing) > 1 else ""
        raise UnsupportedOperationError(
            engine.name, f"{op}{more}", f"Reason: {reason}. Run it on another engine, e.g. collect(engine='polars')."
        )


def widening_cast(value: Any, dtype: pa.DataType) -> Any:
    """Cast an Arrow array or scalar to a wider type for arithmetic. Integers and decimals become the
    nearest float, as in SQL (Arrow's checked cast refuses integers beyond 2**53).

    Examples
    --------
    >>> widening_cast(pa.scalar(2**63 - 1), pa.float64()).as_py()
    9.223372036854776e+18
    """
    if pa.types.is_floating(dtype) and (pa.types.is_integer(value.type) or pa.types.is_decimal(value.type)):
        import pyarrow.compute as pc

        return pc.cast(value, dtype, safe=False)
    return value.cast(dtype)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast an engine's result to the plan's schema (names, order, exact Arrow types).

    This is a vectorised Arrow cast of types that drift between engines (int32 vs int64, string vs
    large_string, decimal precision); values are never changed row by row.
    """
    if table.schema.equals(schema):
        return table
    if table.num_columns != len(schema):
        raise ValueError(f"engine returned {table.num_columns} columns, plan has {len(schema)}")
    table = table.rename_columns(schema.names)
    columns = []
    for column, f in zip(table.columns, schema):
        if column.type == f.type:
            columns.append(column)
        elif pa.types.is_null(column.type):
            columns.append(pa.nulls(len(column), f.type))
        else:
            columns.append(column.cast(f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def apply_batch_function(node: pn.MapBatches, batch: pa.RecordBatch) -> pa.RecordBatch:
    """Run a ``map_batches`` function on one batch and check its output against the declared schema.

    Every engine calls this inside its own batch operator, so the rules are the same everywhere: the
    function gets a ``pyarrow.RecordBatch`` with the input's canonical schema and returns a RecordBatch or
    Table whose column names are the declared ones; types are cast when the cast is safe.
    """
    try:
        out = node.fn(batch)
    except UnistackError:
        raise
    except Exception as e:
        raise UserFunctionError(f"map_batches function {node.name!r} raised {type(e).__name__}: {e}") from e
    if isinstance(out, pa.Table):
        out = out.combine_chunks().to_batches()[0] if out.num_rows else pa.RecordBatch.from_pylist(
            [], schema=out.schema)
    elif not isinstance(out, pa.RecordBatch):
        if hasattr(out, "__arrow_c_array__"):
            out = pa.record_batch(out)
        else:
            raise UserFunctionError(
                f"map_batches function {node.name!r} returned {type(out).__name__}; return a pyarrow.RecordBatch."
            )
    schema = node.output_schema
    if out.schema.names != schema.names:
        raise UserFunctionError(
            f"map_batches function {node.name!r} returned columns {out.schema.names}, declared {schema.names}."
        )
    if out.schema.equals(schema):
        return out
    try:
        arrays = [c if c.type == f.type else c.cast(f.type, safe=True) for c, f in zip(out.columns, schema)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise UserFunctionError(
            f"map_batches function {node.name!r} returned {out.schema} which does not fit the declared {schema}: {e}"
        ) from e
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def canonical_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast a batch to a canonical schema (the form user functions receive)."""
    if batch.schema.equals(schema):
        return batch
    return pa.RecordBatch.from_arrays([c.cast(f.type) for c, f in zip(batch.columns, schema)], schema=schema)
