"""The Polars engine object: capabilities, status, execution and native explain."""

from __future__ import annotations

from typing import Literal

import polars as pl
import pyarrow as pa

from unistack.backends.base import Capabilities, EngineStatus, conform
from unistack.backends.persist import SAMPLE_ROWS, store
from unistack.backends.polars.compile import compile_node, implemented_operations
from unistack.config import get_option
from unistack.errors import DataSourceError, EngineError, UnistackError
from unistack.plan import nodes as pn


class PolarsEngine:
    """Runs plans in-process with Polars' lazy engine (optionally its streaming engine)."""

    name = "polars"

    def capabilities(self) -> Capabilities:
        return Capabilities.from_translator(implemented_operations())

    def status(self) -> EngineStatus:
        # Polars' thread pool is sized once, at import (os.cpu_count() reads /sys on every call)
        return EngineStatus(installed=True, warm=True, cores=pl.thread_pool_size(), detail=f"polars {pl.__version__}")

    def compile(self, plan: pn.PlanNode) -> pl.LazyFrame:
        """The plan as a native ``polars.LazyFrame``."""
        return compile_node(plan)

    def _collect(self, plan: pn.PlanNode) -> pl.DataFrame:
        engine: Literal["streaming", "auto"] = "streaming" if get_option("polars.streaming") else "auto"
        try:
            # compiling reads file schemas too, so its errors are input errors like those of collect
            return self.compile(plan).collect(engine=engine)
        except UnistackError:
            raise
        except (pl.exceptions.ComputeError, OSError) as e:
            if _is_read_error(e):
                raise DataSourceError(f"cannot read input: {e}") from e
            raise EngineError(self.name, f"{type(e).__name__}: {e}") from e
        except Exception as e:
            cause = e.__cause__ if isinstance(e.__cause__, UnistackError) else None
            if cause is not None:
                raise cause from None
            raise EngineError(self.name, f"{type(e).__name__}: {e}") from e

    def execute(self, plan: pn.PlanNode) -> pa.Table:
        return _to_arrow(self._collect(plan), plan.schema)

    # -- persisted results (LazyFrame.persist): a Polars frame in this process ---------------------------
    def persist(self, plan: pn.PlanNode) -> pn.PersistedSource:
        df = self._collect(plan)
        return store(self.name).put(df, df.height, _to_arrow(df.head(SAMPLE_ROWS), plan.schema), plan.schema)

    def unpersist(self, source: pn.PersistedSource) -> None:
        store(self.name).pop(source.key)

    def resident_sources(self) -> frozenset[str]:
        return store(self.name).keys()

    def explain_native(self, plan: pn.PlanNode) -> str:
        return self.compile(plan).explain(optimized=True)


def _to_arrow(df: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    return conform(df.to_arrow(compat_level=pl.CompatLevel.oldest()), schema)


def _is_read_error(e: Exception) -> bool:
    text = str(e).lower()
    return any(w in text for w in ("parquet", "no such file", "not found", "csv", "json", "invalid", "eof"))
