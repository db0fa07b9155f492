"""The Dask engine object: capabilities, status, execution and native explain."""

from __future__ import annotations

import contextlib
from typing import Any

import dask
import pyarrow as pa

from unistack.backends.base import Capabilities, EngineStatus, conform
from unistack.backends.dask.compile import check_supported, compile_node, implemented_operations
from unistack.backends.dask.session import DaskSession, get_session
from unistack.backends.persist import SAMPLE_ROWS, store
from unistack.errors import DataSourceError, EngineError, UnistackError
from unistack.plan import nodes as pn

# Failures of the cluster itself (not of the query): the client is dropped so the next query reconnects.
_CONNECTION_ERRORS = ("CommClosedError", "KilledWorker", "FutureCancelledError", "CancelledError",
                      "StreamClosedError", "TimeoutError")


class DaskEngine:
    """Runs plans as ``dask.dataframe`` graphs, locally (threads) or on a Dask cluster.

    Examples
    --------
    >>> import unistack as us
    >>> us.from_dict({"a": [1, 2, 3]}).filter(us.col("a") > 1).collect(engine="dask").to_pydict()
    {'a': [2, 3]}
    """

    name = "dask"

    def __init__(self, session: DaskSession | None = None) -> None:
        self._session = session

    @property
    def session(self) -> DaskSession:
        return self._session if self._session is not None else get_session()

    def capabilities(self) -> Capabilities:
        return Capabilities.from_translator(implemented_operations())

    def status(self) -> EngineStatus:
        session = self.session
        address = session.address  # an option lookup: read once (the planner asks for the status per query)
        cores, memory = session.resources(address)
        warm = address is None or session.connected_to(address)
        return EngineStatus(installed=True, warm=warm, cores=cores, memory_bytes=memory,
                            detail=f"dask {dask.__version__}", cluster=address)

    def compile(self, plan: pn.PlanNode) -> object:
        """The plan as a (lazy) ``dask.dataframe.DataFrame``."""
        check_supported(plan)
        with self.session.context():
            return compile_node(plan)

    def execute(self, plan: pn.PlanNode) -> pa.Table:
        check_supported(plan)
        session = self.session
        try:
            with session.context():
                frame = compile_node(plan)
                pdf = session.compute(frame)
        except UnistackError:
            raise
        except Exception as e:
            raise self._wrap(e) from e
        return conform(pa.Table.from_pandas(pdf, preserve_index=False), plan.schema)

    # -- persisted results (LazyFrame.persist): Dask's persisted partitions (on the workers of a cluster) --
    def persist(self, plan: pn.PlanNode) -> pn.PersistedSource:
        check_supported(plan)
        session = self.session
        try:
            with session.context():
                frame = compile_node(plan).persist()
                rows = len(frame)
                head = frame.head(SAMPLE_ROWS, npartitions=-1)
        except UnistackError:
            raise
        except Exception as e:
            raise self._wrap(e) from e
        sample = pa.Table.from_pandas(head, preserve_index=False)
        return store(self.name).put((session.address, frame), rows, sample, plan.schema)

    def unpersist(self, source: pn.PersistedSource) -> None:
        store(self.name).pop(source.key)

    def resident_sources(self) -> frozenset[str]:
        return store(self.name).keys()

    def _wrap(self, e: Exception) -> UnistackError:
        cause = e.__cause__ if isinstance(e.__cause__, UnistackError) else None
        if cause is not None:
            return cause
        kind = type(e).__name__
        if kind in _CONNECTION_ERRORS or isinstance(e, ConnectionError):
            self.session.forget_client()
            where = self.session.address or "local scheduler"
            return EngineError(self.name, f"lost the Dask cluster at {where} ({kind}: {e})")
        if isinstance(e, (FileNotFoundError, IsADirectoryError)):
            return DataSourceError(f"cannot read input: {e}")
        return EngineError(self.name, f"{kind}: {e}")

    def explain_native(self, plan: pn.PlanNode) -> str:
        with self.session.context():
            frame = compile_node(plan)
            expr: Any = frame.expr
            with contextlib.suppress(Exception):  # explain then shows the plan before Dask's rewrites
                expr = expr.simplify()
            return f"dask-expr plan ({frame.npartitions} partitions):\n{expr.tree_repr()}"
