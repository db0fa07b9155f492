"""The DuckDB engine: plans become one DuckDB SQL query, run in-process over Arrow and files."""

from unistack.backends.duckdb.engine import DuckDBEngine

__all__ = ["DuckDBEngine"]
