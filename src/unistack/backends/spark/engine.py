"""The Spark engine object: capabilities, status, execution and native explain."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from unistack.backends.base import Capabilities, EngineStatus, conform, package_version
from unistack.backends.persist import SAMPLE_ROWS, store
from unistack.backends.spark.session import ENGINE, first_line, sessions
from unistack.errors import DataSourceError, EngineError, UnistackError, UserFunctionError
from unistack.plan import nodes as pn

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# In-memory inputs are shipped to Spark once and reused while they are alive (by source key).
_CACHE_ENTRIES = 32
_CACHE_BYTES = 1 << 30
_COMPILED_ENTRIES = 64


class SparkEngine:
    """Runs plans on Apache Spark: a local session by default, or a cluster named by configuration
    (``spark.master`` such as ``spark://host:7077``, or a Spark Connect ``spark.remote``).

    Examples
    --------
    >>> import unistack as us
    >>> us.from_dict({"a": [1, 2]}).collect(engine="spark").num_rows  # doctest: +SKIP
    2
    """

    name = ENGINE

    def __init__(self) -> None:
        self._frames: OrderedDict[str, tuple[Any, DataFrame, int]] = OrderedDict()
        self._compiled: OrderedDict[Any, tuple[Any, DataFrame]] = OrderedDict()
        self._lock = threading.Lock()
        self.last_timings: dict[str, float] = {}
        self._cores: tuple[Any, int | None] = (None, None)  # (session, its default parallelism)

    # -- engine protocol ----------------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        from unistack.backends.spark.compile import implemented_operations

        return Capabilities.from_translator(implemented_operations())

    def status(self) -> EngineStatus:
        version = package_version("pyspark")
        session = sessions.active
        settings = sessions.settings
        if session is None or settings is None:
            from unistack.backends.spark.session import SessionSettings

            target = SessionSettings.current().target
            return EngineStatus(installed=True, warm=False, detail=f"pyspark {version}, session not started",
                                cluster=None if target.startswith("local") else target)
        cores = None
        if settings.remote is None:
            known, cores = self._cores
            if known is not session:  # a Py4J round trip: asked once per session (status is read per query)
                with contextlib.suppress(Exception):
                    cores = int(session.sparkContext.defaultParallelism)
                    self._cores = (session, cores)
        started = f", started in {sessions.startup_seconds:.1f}s" if sessions.startup_seconds else ""
        return EngineStatus(installed=True, warm=True, cores=cores, detail=f"pyspark {version}{started}",
                            cluster=None if settings.target.startswith("local") else settings.target)

    def session(self) -> SparkSession:
        """The Spark session (started on first use)."""
        return sessions.get()

    def compile(self, plan: pn.PlanNode) -> DataFrame:
        """The plan as a native ``pyspark.sql.DataFrame`` with exactly the plan's columns.

        Building a DataFrame is one Py4J round trip per column expression (tens of milliseconds for a
        TPC-H query), so the DataFrame of a plan over files is kept while the files are unchanged. Each
        call returns a new DataFrame over it (an alias): a DataFrame that has run keeps its executed plan,
        and running it again would reuse the first run's shuffle output instead of computing the query.
        """
        from unistack.backends.spark.compile import Context, compile_node, final_frame, needs_order_column
        from unistack.plan.operations import node_expressions

        spark = self.session()
        key = _compiled_key(plan)
        if key is not None:
            with self._lock:
                hit = self._compiled.get(key)
                if hit is not None and hit[0] is spark:
                    self._compiled.move_to_end(key)
                    return hit[1].alias("__us_run")
        ordered = any(needs_order_column(node_expressions(n)) for n in plan.walk())
        ctx = Context(spark, self._arrow_frame, ordered_input=ordered)
        df = final_frame(compile_node(plan, ctx), plan.schema)
        if key is not None:
            with self._lock:
                self._compiled[key] = (spark, df)
                while len(self._compiled) > _COMPILED_ENTRIES:
                    self._compiled.popitem(last=False)
            return df.alias("__us_run")
        return df

    def execute(self, plan: pn.PlanNode) -> pa.Table:
        started = time.perf_counter()
        with self._errors():
            df = self.compile(plan)
            compiled = time.perf_counter()
            table = df.toArrow()
        done = time.perf_counter()
        self.last_timings = {"compile_s": compiled - started, "run_s": done - compiled}
        return conform(table, plan.schema)

    # -- persisted results (LazyFrame.persist): Spark's cache, memory first then disk --------------------
    def persist(self, plan: pn.PlanNode) -> pn.PersistedSource:
        from pyspark import StorageLevel

        with self._errors():
            kept = self.compile(plan).persist(StorageLevel.MEMORY_AND_DISK)
            rows = kept.count()  # fills the cache
            sample = kept.limit(SAMPLE_ROWS).toArrow()
        return store(self.name).put((self.session(), kept), rows, sample, plan.schema)

    def unpersist(self, source: pn.PersistedSource) -> None:
        held = store(self.name).pop(source.key)
        if held is not None and held[0] is sessions.active:
            with contextlib.suppress(Exception):  # the session may be going away
                held[1].unpersist()

    def resident_sources(self) -> frozenset[str]:
        return store(self.name).keys()

    def explain_native(self, plan: pn.PlanNode) -> str:
        with self._errors():
            df = self.compile(plan)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                df.explain(mode="formatted")
        return out.getvalue()

    # -- helpers -----------------------------------------------------------------------------------------

    def _arrow_frame(self, src: pn.InMemorySource) -> DataFrame:
        from unistack.backends.spark.compile import normalise, to_spark_arrow

        spark = self.session()
        with self._lock:
            hit = self._frames.get(src.key)
            if hit is not None and hit[0] is spark:
                self._frames.move_to_end(src.key)
                return hit[1]
        table = to_spark_arrow(src.table)
        df = normalise(spark.createDataFrame(table), src.schema)
        with self._lock:
            self._frames[src.key] = (spark, df, table.nbytes)
            total = sum(e[2] for e in self._frames.values())
            while len(self._frames) > _CACHE_ENTRIES or (total > _CACHE_BYTES and len(self._frames) > 1):
                _, (_, _, size) = self._frames.popitem(last=False)
                total -= size
        return df

    @contextlib.contextmanager
    def _errors(self) -> Any:
        """Turn Spark/Py4J/gRPC failures into unistack errors naming the engine."""
        try:
            yield
        except UnistackError:
            raise
        except Exception as e:
            raise translate_error(e) from e


def _compiled_key(plan: pn.PlanNode) -> Any:
    """What a compiled DataFrame depends on: the plan and the versions of its files; ``None`` (not
    cached) when an input is in memory (its frame cache has its own memory bound) or a file is missing."""
    versions = []
    for node in plan.walk():
        if isinstance(node, pn.Scan):
            if not isinstance(node.source, pn.FileSource):
                return None
            v = node.source.versions()
            if v is None:
                return None
            versions.append(v)
    return plan, tuple(versions)


def translate_error(e: Exception) -> UnistackError:
    """The unistack error for an exception raised by Spark (or by the connection to it)."""
    text = str(e)
    kind = type(e).__name__
    if "UserFunctionError" in text:
        detail = text.split("UserFunctionError:", 1)[-1].strip().splitlines()
        return UserFunctionError(detail[0] if detail else text)
    if any(m in text for m in ("PATH_NOT_FOUND", "FileNotFoundException", "does not exist")) and \
            "AnalysisException" in kind + text:
        return DataSourceError(f"cannot read input: {first_line(e)}")
    lost = kind in ("Py4JNetworkError", "ConnectionRefusedError", "ConnectionResetError", "BrokenPipeError",
                    "SparkConnectGrpcException") or "Answer from Java side is empty" in text \
        or "Connection refused" in text or "SparkContext was shut down" in text \
        or "Cannot call methods on a stopped SparkContext" in text
    if lost or sessions.connection_lost():
        sessions.forget()
        return EngineError(ENGINE, f"lost the connection to Spark ({kind}: {first_line(e)}); "
                                   "the next query starts a new session")
    return EngineError(ENGINE, f"{kind}: {first_line(e)}")


