"""The Flink engine: plans become Flink SQL, run by a worker process under the Flink environment's
Python (``unistack engines install flink``). Importing this package never imports PyFlink."""

from unistack.backends.flink.engine import FlinkEngine

__all__ = ["FlinkEngine"]
