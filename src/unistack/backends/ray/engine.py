"""The Ray Data engine object: capabilities, status, execution and native explain."""

from __future__ import annotations

import contextlib
import io
import os
import re

import pyarrow as pa

from unistack import errors
from unistack.backends.base import Capabilities, EngineStatus, conform, package_version
from unistack.backends.persist import SAMPLE_ROWS, store
from unistack.backends.ray import session as sess
from unistack.backends.ray.compile import (
    UNSUPPORTED,
    Settings,
    canonical_blocks,
    compile_node,
    empty_global_result,
    implemented_operations,
)
from unistack.config import get_option
from unistack.errors import DataSourceError, EngineError, UnistackError
from unistack.plan import nodes as pn


class RayEngine:
    """Runs plans as Ray Data datasets, locally or on a Ray cluster (option ``ray.address``).

    Examples
    --------
    >>> import unistack as us
    >>> us.from_dict({"a": [1, 2, 3]}).filter(us.col("a") > 1).collect(engine="ray")  # doctest: +SKIP
    pyarrow.Table
    a: int64
    ----
    a: [[2,3]]
    """

    name = "ray"

    def capabilities(self) -> Capabilities:
        return Capabilities.from_translator(implemented_operations(), UNSUPPORTED)

    def status(self) -> EngineStatus:
        warm = sess.is_warm()
        address = get_option("ray.address") or os.environ.get("UNISTACK_RAY_ADDRESS") or None
        cores: int | None = sess.LOCAL_CPUS
        memory: int | None = None
        if warm:
            try:
                import ray

                res = ray.cluster_resources()
                cores = int(res.get("CPU", cores or 0))
                memory = int(res.get("memory", 0)) or None
            except Exception:  # status must never fail
                pass
        version = package_version("ray")
        return EngineStatus(installed=True, warm=warm, cores=cores, memory_bytes=memory,
                            detail=f"ray {version}", cluster=address)

    def compile(self, plan: pn.PlanNode) -> object:
        """The plan as a lazy ``ray.data.Dataset`` (starts or joins the Ray session)."""
        sess.get_session()
        return compile_node(plan, Settings(shuffle_partitions=int(get_option("ray.shuffle_parallelism")), root=plan))

    def execute(self, plan: pn.PlanNode) -> pa.Table:
        try:
            ds = self.compile(plan)
            import ray

            refs = ds.to_arrow_refs()  # type: ignore[attr-defined]
            blocks = ray.get(refs)
        except UnistackError:
            raise
        except Exception as e:
            raise _translate_error(e) from e
        parts = [_fit(b, plan.schema) for b in blocks if b.num_rows]
        if not parts and isinstance(plan, pn.Aggregate) and not plan.keys:
            return empty_global_result(plan)  # compiled without the marker row: see compile.Settings
        if not parts:
            return plan.schema.empty_table()
        return conform(pa.concat_tables(parts), plan.schema)

    # -- persisted results (LazyFrame.persist): canonical blocks in Ray's object store ----------------------
    def persist(self, plan: pn.PlanNode) -> pn.PersistedSource:
        try:
            sess.get_session()
            # no root: a global aggregate keeps its marker row, so the kept dataset is complete by itself
            ds = compile_node(plan, Settings(shuffle_partitions=int(get_option("ray.shuffle_parallelism"))))
            kept = canonical_blocks(ds, plan.schema).materialize()
            rows = kept.count()
            import ray

            sample = [b for b in ray.get(kept.limit(SAMPLE_ROWS).to_arrow_refs()) if b.num_rows]
        except UnistackError:
            raise
        except Exception as e:
            raise _translate_error(e) from e
        head = pa.concat_tables([_fit(b, plan.schema) for b in sample]) if sample else plan.schema.empty_table()
        return store(self.name).put((sess.current_session(), kept), rows, head, plan.schema)

    def unpersist(self, source: pn.PersistedSource) -> None:
        store(self.name).pop(source.key)

    def resident_sources(self) -> frozenset[str]:
        return store(self.name).keys()

    def explain_native(self, plan: pn.PlanNode) -> str:
        ds = self.compile(plan)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            text = ds.explain()  # type: ignore[attr-defined]
        return text if isinstance(text, str) and text else buf.getvalue()


def _fit(block: pa.Table, schema: pa.Schema) -> pa.Table:
    """One result block as the plan's columns (Ray may hand back ``string`` for ``large_string``)."""
    if block.schema.equals(schema):
        return block
    cols = []
    for f in schema:
        c = block.column(f.name)
        cols.append(pa.nulls(len(c), f.type) if pa.types.is_null(c.type) else c.cast(f.type) if c.type != f.type else c)
    return pa.Table.from_arrays(cols, schema=schema)


def _causes(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop()
        if x is None or any(x is s for s in seen):
            continue
        seen.append(x)
        todo += [x.__cause__, x.__context__, getattr(x, "cause", None) if isinstance(getattr(x, "cause", None),
                                                                                    BaseException) else None]
    return seen


def _translate_error(e: Exception) -> UnistackError:
    """A Ray failure as a unistack error: the user's own error when one is inside, else EngineError."""
    for x in _causes(e):
        if isinstance(x, UnistackError):
            cls = next((c for c in type(x).__mro__ if c.__module__.startswith("unistack")), type(x))
            msg = str(x.args[0]) if x.args else str(x)
            if cls.__name__ in ("EngineError",) or not msg:
                continue
            try:
                return cls(msg)
            except TypeError:
                return EngineError("ray", msg)
    found = _unistack_error_in_text(e)
    if found is not None:
        return found
    text = "; ".join(dict.fromkeys(_first_line(x) for x in _causes(e)))
    lowered = text.lower()
    if any(w in lowered for w in ("no such file", "filenotfound", "file not found", "does not exist",
                                  "parquet magic", "could not open parquet", "invalid parquet", "csv parse",
                                  "json parse", "straddling", "not a parquet")):
        return DataSourceError(f"cannot read input: {text}")
    return EngineError("ray", f"{type(e).__name__}: {text}")


_ERROR_IN_TEXT = re.compile(r"(?:unistack\.errors\.)?\b(UserFunctionError|DataSourceError|InvalidTypeError|"
                            r"InvalidOperationError|SchemaError|ColumnNotFoundError): (.+)")


def _unistack_error_in_text(e: BaseException) -> UnistackError | None:
    """A unistack error raised inside a Ray worker: Ray re-raises it on the driver wrapped in its own
    exception types (``RayTaskError(UserCodeException)``), with the original only in the traceback text."""
    for x in _causes(e):
        match = _ERROR_IN_TEXT.search(str(x))
        if match:
            cls = getattr(errors, match[1])
            if match[1] == "ColumnNotFoundError":
                return EngineError("ray", f"ColumnNotFoundError: {match[2].strip()}")
            return cls(match[2].strip())
    return None


def _first_line(x: BaseException) -> str:
    text = str(x).strip().splitlines()
    return f"{type(x).__name__}: {text[-1] if text else ''}"[:500]
