"""The Spark engine: plans become native Spark DataFrame operations (local session or a cluster)."""

from unistack.backends.spark.engine import SparkEngine

__all__ = ["SparkEngine"]
