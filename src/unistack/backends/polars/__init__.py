"""The embedded Polars engine (the default): plans become native Polars lazy queries."""

from unistack.backends.polars.engine import PolarsEngine

__all__ = ["PolarsEngine"]
