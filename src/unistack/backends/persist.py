"""Results kept inside an engine (:meth:`unistack.LazyFrame.persist`).

An engine that can persist implements :class:`PersistingEngine`: it runs a plan and keeps the result in its
own form (a Polars frame, a DuckDB table, Spark's cache, Dask's persisted partitions, Ray's object store) in
this module's store for its name, and returns a :class:`~unistack.plan.nodes.PersistedSource` describing it
(exact rows, a sample of the first rows for the planner's statistics). Its translator reads a persisted
source of its own from the store; a plan running on another engine gets the data exported as Arrow first
(:func:`localize`), which the cost model charges (``unistack.planner.cost.export_seconds``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from unistack.backends.registry import engines_changed
from unistack.errors import DataSourceError
from unistack.plan import nodes as pn

SAMPLE_ROWS = 10_000  # rows kept beside a persisted result for the planner's statistics


@runtime_checkable
class PersistingEngine(Protocol):
    """An engine that can keep a plan's result inside itself."""

    name: str

    def execute(self, plan: pn.PlanNode) -> pa.Table: ...  # a scan of its own persisted source exports it

    def persist(self, plan: pn.PlanNode) -> pn.PersistedSource: ...

    def unpersist(self, source: pn.PersistedSource) -> None: ...

    def resident_sources(self) -> Iterable[str]: ...


class PersistedStore:
    """The results one engine holds, by key (thread-safe)."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self._objects: dict[str, Any] = {}
        self._lock = threading.Lock()

    def new_key(self) -> str:
        """A fresh key (an engine that must name the object before building it, e.g. a DuckDB table)."""
        return f"{self.engine}-{uuid.uuid4().hex[:10]}"

    def put(self, obj: Any, rows: int, sample: pa.Table, schema: pa.Schema, key: str | None = None
            ) -> pn.PersistedSource:
        """Keep ``obj`` (the engine's own form of a result of ``rows`` rows) and describe it."""
        from unistack.backends.base import conform

        key = key or self.new_key()
        with self._lock:
            self._objects[key] = obj
        engines_changed()
        return pn.PersistedSource(self.engine, key, schema, int(rows), conform(sample, schema))

    def get(self, key: str) -> Any:
        """The object kept under ``key``; a :class:`DataSourceError` saying what to do when it is gone."""
        with self._lock:
            if key in self._objects:
                return self._objects[key]
        raise DataSourceError(
            f"the persisted result {key!r} is no longer held by {self.engine} (it was unpersisted, or the "
            f"engine's session stopped). Persist the frame again: frame.persist(engine={self.engine!r}).")

    def pop(self, key: str) -> Any | None:
        with self._lock:
            obj = self._objects.pop(key, None)
        engines_changed()
        return obj

    def clear(self) -> list[Any]:
        """Forget everything (the engine's session stopped); returns the objects to release."""
        with self._lock:
            out = list(self._objects.values())
            self._objects.clear()
        engines_changed()  # called when a session stops: the engine is cold now
        return out

    def keys(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._objects)


_stores: dict[str, PersistedStore] = {}
_stores_lock = threading.Lock()


def store(engine: str) -> PersistedStore:
    """The store of the results persisted in ``engine``."""
    with _stores_lock:
        hit = _stores.get(engine)
        if hit is None:
            hit = _stores[engine] = PersistedStore(engine)
        return hit


def persisted_object(source: pn.PersistedSource, engine: str) -> Any:
    """The object behind a source persisted in ``engine`` (the translator of ``engine`` asking)."""
    if source.engine != engine:  # pragma: no cover - execution localizes other engines' sources first
        raise AssertionError(f"{engine} asked for a result persisted in {source.engine}: localize() the plan")
    return store(source.engine).get(source.key)


def localize(plan: pn.PlanNode, engine: str, sample: bool = False) -> pn.PlanNode:
    """``plan`` with every source persisted in another engine replaced by its data exported as Arrow (with
    ``sample``: by the sample kept beside it, to show a native plan without moving the data).

    Examples
    --------
    >>> import unistack as us
    >>> plan = us.from_dict({"a": [1]}).plan
    >>> localize(plan, "duckdb") is plan
    True
    """
    if not any(isinstance(n, pn.Scan) and isinstance(n.source, pn.PersistedSource) and n.source.engine != engine
               for n in plan.walk()):
        return plan
    from unistack.backends.registry import get_engine

    exported: dict[str, pn.InMemorySource] = {}

    def visit(node: pn.PlanNode) -> pn.PlanNode:
        if not (isinstance(node, pn.Scan) and isinstance(node.source, pn.PersistedSource)
                and node.source.engine != engine):
            return node
        src = node.source
        if src.key not in exported and sample:
            exported[src.key] = pn.InMemorySource(src.sample)
        if src.key not in exported:
            owner = get_engine(src.engine)
            if not isinstance(owner, PersistingEngine):  # pragma: no cover - only persisting engines make them
                raise DataSourceError(f"engine {src.engine!r} cannot hand out persisted results")
            exported[src.key] = pn.InMemorySource(owner.execute(pn.Scan(src)))
        return pn.Scan(exported[src.key], node.columns, node.filters, node.limit)

    return pn.transform_up(plan, visit)


def sample_rows(table: pa.Table) -> pa.Table:
    """The first :data:`SAMPLE_ROWS` rows of a result (kept beside it for the planner)."""
    return table.slice(0, SAMPLE_ROWS)
