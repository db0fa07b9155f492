"""unistack: one lazy dataframe API; a planner runs it on Polars, DuckDB, Dask, Spark, Ray or Flink.

Examples
--------
>>> import unistack as us
>>> df = us.from_dict({"city": ["Oslo", "Rome", "Oslo"], "temp": [3.5, 18.0, 5.5]})
>>> df.group_by("city").agg(us.col("temp").mean()).sort("city").collect().to_pydict()
{'city': ['Oslo', 'Rome'], 'temp': [4.5, 18.0]}
"""

from unistack.config import config, get_option, reset_config
from unistack.errors import (
    ColumnNotFoundError,
    DataSourceError,
    EngineError,
    EngineNotAvailableError,
    InvalidOperationError,
    InvalidTypeError,
    SchemaError,
    UnistackError,
    UnsupportedOperationError,
    UserFunctionError,
)
from unistack.explain import Explanation, explain
from unistack.expr import Expr, coalesce, col, concat_str, count, lit, rank, row_number, when
from unistack.frame import GroupBy, LazyFrame, concat
from unistack.io import from_arrow, from_dict, from_pandas, from_polars, read_csv, read_json, read_parquet

__version__ = "0.1.0"

# Streams import Polars at module level; load them on first use so `import unistack` stays fast.
_STREAM_NAMES = ("MemorySink", "StreamFrame", "StreamingQuery", "hop", "read_stream", "session", "tumble")


def __getattr__(name: str) -> object:
    if name in _STREAM_NAMES:
        import unistack.stream as stream

        return getattr(stream, name)
    raise AttributeError(f"module 'unistack' has no attribute {name!r}")

__all__ = [
    "ColumnNotFoundError",
    "DataSourceError",
    "EngineError",
    "EngineNotAvailableError",
    "Explanation",
    "Expr",
    "GroupBy",
    "InvalidOperationError",
    "InvalidTypeError",
    "LazyFrame",
    "MemorySink",
    "SchemaError",
    "StreamFrame",
    "StreamingQuery",
    "UnistackError",
    "UnsupportedOperationError",
    "UserFunctionError",
    "__version__",
    "coalesce",
    "col",
    "concat",
    "concat_str",
    "config",
    "count",
    "explain",
    "from_arrow",
    "from_dict",
    "from_pandas",
    "from_polars",
    "get_option",
    "hop",
    "lit",
    "rank",
    "read_csv",
    "read_json",
    "read_parquet",
    "read_stream",
    "reset_config",
    "row_number",
    "session",
    "tumble",
    "when",
]
