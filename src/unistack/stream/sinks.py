"""Where stream results go: a directory of files (exactly once with a checkpoint), a callable, or memory."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from unistack.errors import DataSourceError, InvalidTypeError


class MemorySink:
    """Collects every result table in memory (for tests and notebooks).

    Examples
    --------
    >>> import unistack as us
    >>> sink = us.MemorySink()
    >>> sink.to_arrow().num_rows
    0
    """

    def __init__(self) -> None:
        self._tables: list[pa.Table] = []
        self._lock = threading.Lock()
        self._schema: pa.Schema | None = None

    def open(self, schema: pa.Schema) -> None:
        self._schema = schema

    def write(self, batch_id: int, table: pa.Table) -> None:
        with self._lock:
            self._tables.append(table)

    def to_arrow(self) -> pa.Table:
        """Everything written so far, as one table."""
        with self._lock:
            if self._tables:
                return pa.concat_tables(self._tables)
            return (self._schema or pa.schema([])).empty_table()


class CallableSink:
    """Calls a user function with each result table."""

    def __init__(self, fn: Callable[[pa.Table], Any]) -> None:
        self._fn = fn

    def open(self, schema: pa.Schema) -> None:
        pass

    def write(self, batch_id: int, table: pa.Table) -> None:
        self._fn(table)


class DirectorySink:
    """One file per micro-batch, ``part-<batch id>.<format>``, written to a temporary name and renamed.

    A replayed micro-batch (after a crash) rewrites the same file name with the same rows, so the directory
    holds each result exactly once.
    """

    def __init__(self, path: str, fmt: str) -> None:
        if fmt not in ("parquet", "csv", "json"):
            raise InvalidTypeError(f"stream sink format must be parquet, csv or json; got {fmt!r}.")
        self.path = os.path.abspath(path)
        self.format = fmt
        os.makedirs(self.path, exist_ok=True)

    def open(self, schema: pa.Schema) -> None:
        pass

    def write(self, batch_id: int, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        final = os.path.join(self.path, f"part-{batch_id:08d}.{self.format}")
        fd, tmp = tempfile.mkstemp(prefix=".part-", suffix=".tmp", dir=self.path)
        os.close(fd)
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                pq.write_table(table, tmp)
            elif self.format == "csv":
                import pyarrow.csv as pacsv

                pacsv.write_csv(table, tmp)
            else:
                import json

                with open(tmp, "w") as fh:
                    for row in table.to_pylist():
                        fh.write(json.dumps(row, default=str) + "\n")
            os.replace(tmp, final)
        except OSError as e:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise DataSourceError(f"cannot write stream output to {self.path!r}: {e}") from e


def make_sink(target: Any, fmt: str) -> Any:
    if isinstance(target, (MemorySink, CallableSink, DirectorySink)):
        return target
    if isinstance(target, (str, os.PathLike)):
        return DirectorySink(os.fspath(target), fmt)
    if callable(target):
        return CallableSink(target)
    raise InvalidTypeError(
        "write_stream() target must be a directory path, a function taking a pyarrow.Table, or us.MemorySink()."
    )
