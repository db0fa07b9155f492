"""Stream sources: batches from memory, a directory of files that grows, and a rate generator.

A source is replayable from an *offset* (a JSON-serialisable position), which is what makes recovery
exact: the executor writes the offsets of a micro-batch to its checkpoint before processing it, and after a
crash re-reads exactly those rows.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from unistack.errors import DataSourceError, InvalidTypeError, SchemaError
from unistack.plan.nodes import Source
from unistack.plan.types import canonical_schema


class StreamSource:
    """Base of stream sources."""

    schema: pa.Schema  # as produced by read(); canonicalised by the stream frame
    bounded: bool = False

    def initial_offset(self) -> Any:
        raise NotImplementedError

    def plan(self, offset: Any) -> tuple[Any, Any] | None:
        """The next micro-batch after ``offset``: ``(descriptor, new_offset)``, or ``None`` if nothing new."""
        raise NotImplementedError

    def read(self, descriptor: Any) -> pa.Table:
        raise NotImplementedError

    def exhausted(self, offset: Any) -> bool:
        """True when a bounded source has nothing more after ``offset``."""
        return False

    def describe(self) -> str:
        return type(self).__name__


class BatchesSource(StreamSource):
    """An iterable of Arrow record batches (consumed lazily; batches already read are kept for replay)."""

    bounded = True

    def __init__(self, batches: Iterable[pa.RecordBatch | pa.Table], schema: pa.Schema,
                 max_batches_per_trigger: int = 16) -> None:
        self.schema = schema
        self._iter: Iterator[pa.RecordBatch | pa.Table] | None = iter(batches)
        self._seen: list[pa.Table] = []
        self._max = max_batches_per_trigger

    def _fill(self, upto: int) -> None:
        while self._iter is not None and len(self._seen) < upto:
            try:
                item = next(self._iter)
            except StopIteration:
                self._iter = None
                break
            table = pa.Table.from_batches([item]) if isinstance(item, pa.RecordBatch) else item
            if table.schema.names != self.schema.names:
                raise SchemaError(f"stream batch has columns {table.schema.names}, declared {self.schema.names}.")
            self._seen.append(table.cast(self.schema))

    def initial_offset(self) -> int:
        return 0

    def plan(self, offset: int) -> tuple[Any, Any] | None:
        self._fill(offset + self._max)
        end = min(len(self._seen), offset + self._max)
        return None if end <= offset else ({"start": offset, "end": end}, end)

    def read(self, descriptor: Any) -> pa.Table:
        self._fill(descriptor["end"])
        parts = self._seen[descriptor["start"]: descriptor["end"]]
        return pa.concat_tables(parts) if parts else self.schema.empty_table()

    def exhausted(self, offset: int) -> bool:
        self._fill(offset + 1)
        return self._iter is None and offset >= len(self._seen)

    def total_rows(self) -> int:
        """Rows in all batches (reads the whole iterable; batches are kept for the run)."""
        self._fill(2**62)
        return sum(t.num_rows for t in self._seen)

    def describe(self) -> str:
        return "batches"


_EXT = {"parquet": (".parquet", ".parq"), "csv": (".csv",), "json": (".json", ".jsonl", ".ndjson")}


class DirectorySource(StreamSource):
    """Files of one format appearing in a directory; each file is read once, in (mtime, name) order.

    Files whose names start with ``.`` or ``_`` are ignored, so writers can write to a temporary name and
    rename when complete.
    """

    def __init__(self, path: str, fmt: str, schema: pa.Schema, max_files_per_trigger: int | None = None) -> None:
        if fmt not in _EXT:
            raise InvalidTypeError(f"stream format must be one of {', '.join(_EXT)}; got {fmt!r}.")
        if not os.path.isdir(path):
            raise DataSourceError(f"stream directory {path!r} does not exist; create it first.")
        self.path = os.path.abspath(path)
        self.format = fmt
        self.schema = schema
        self.max_files = max_files_per_trigger

    def initial_offset(self) -> list[str]:
        return []

    def _files(self) -> list[str]:
        out = []
        for name in os.listdir(self.path):
            full = os.path.join(self.path, name)
            if name.startswith((".", "_")) or not name.lower().endswith(_EXT[self.format]) or not os.path.isfile(full):
                continue
            out.append((os.stat(full).st_mtime_ns, name))
        return [n for _, n in sorted(out)]

    def plan(self, offset: list[str]) -> tuple[Any, Any] | None:
        seen = set(offset)
        new = [f for f in self._files() if f not in seen]
        if self.max_files:
            new = new[: self.max_files]
        return None if not new else ({"files": new}, [*offset, *new])

    def read(self, descriptor: Any) -> pa.Table:
        tables = [self._read_one(os.path.join(self.path, f)) for f in descriptor["files"]]
        return pa.concat_tables(tables) if tables else self.schema.empty_table()

    def _read_one(self, path: str) -> pa.Table:
        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
            elif self.format == "csv":
                import pyarrow.csv as pacsv

                opts = pacsv.ConvertOptions(column_types=self.schema, strings_can_be_null=True)
                table = pacsv.read_csv(path, convert_options=opts)
            else:
                import pyarrow.json as pajson

                table = pajson.read_json(path, parse_options=pajson.ParseOptions(explicit_schema=self.schema))
        except (pa.ArrowInvalid, OSError) as e:
            raise DataSourceError(f"cannot read stream file {path!r}: {e}") from e
        try:
            return table.select(self.schema.names).cast(self.schema)
        except (KeyError, pa.ArrowInvalid) as e:
            raise SchemaError(f"stream file {path!r} does not match the declared schema: {e}") from e

    def describe(self) -> str:
        return f"{self.format} files in {self.path}"


class RateSource(StreamSource):
    """Generated rows for load tests: row ``i`` has ``event_time = start + i / rows_per_second``,
    ``key = i % num_keys`` and ``value = i``. Rows become available at the configured rate (wall clock)
    unless ``realtime=False``; with ``limit`` the stream is bounded."""

    def __init__(self, rows_per_second: float, num_keys: int = 100, limit: int | None = None,
                 start: int = 1_700_000_000_000_000, max_rows_per_trigger: int = 1_000_000,
                 realtime: bool = True) -> None:
        self.rows_per_second = float(rows_per_second)
        self.num_keys = num_keys
        self.limit = limit
        self.start_us = start
        self.max_rows = max_rows_per_trigger
        self.realtime = realtime
        self.bounded = limit is not None
        self.schema = pa.schema({"event_time": pa.timestamp("us", "UTC"), "key": pa.int64(), "value": pa.int64()})
        self._t0 = time.monotonic()

    def initial_offset(self) -> int:
        return 0

    def plan(self, offset: int) -> tuple[Any, Any] | None:
        due = int((time.monotonic() - self._t0) * self.rows_per_second) if self.realtime else offset + self.max_rows
        end = min(due, offset + self.max_rows)
        if self.limit is not None:
            end = min(end, self.limit)
        return None if end <= offset else ({"start": offset, "end": end}, end)

    def read(self, descriptor: Any) -> pa.Table:
        import numpy as np

        i = np.arange(descriptor["start"], descriptor["end"], dtype=np.int64)
        step = 1_000_000 / self.rows_per_second
        times = self.start_us + (i * step).astype(np.int64)
        return pa.table({"event_time": pa.array(times, pa.timestamp("us", "UTC")),
                         "key": pa.array(i % self.num_keys), "value": pa.array(i)})

    def exhausted(self, offset: int) -> bool:
        return self.limit is not None and offset >= self.limit

    def describe(self) -> str:
        return f"rate {self.rows_per_second:g} rows/s, {self.num_keys} keys" + (
            f", {self.limit} rows" if self.limit is not None else "")


KAFKA_UNAVAILABLE = ("the local executor has no Kafka client; run the stream on engine='spark' (with "
                     "spark_conf={'spark.jars.packages': 'org.apache.spark:spark-sql-kafka-0-10_2.13:<spark "
                     "version>'}) or engine='flink' (with flink_jars=['.../flink-sql-connector-kafka-<version>.jar'])")


class KafkaSource(StreamSource):
    """A Kafka topic whose message values are JSON objects with the declared schema.

    Only the Spark and Flink stream engines read it, through their Kafka connectors, which are not on PyPI:
    Spark needs ``spark.jars.packages`` (``spark_conf``), Flink the ``flink-sql-connector-kafka`` jar
    (option ``flink.jars``). Without them the query fails with an error saying so.
    """

    def __init__(self, topic: str, bootstrap_servers: str, schema: pa.Schema, starting_offsets: str = "earliest",
                 options: dict[str, str] | None = None) -> None:
        if not topic or not bootstrap_servers:
            raise InvalidTypeError("read_stream(format='kafka') needs topic=... and bootstrap_servers='host:9092'.")
        if starting_offsets not in ("earliest", "latest"):
            raise InvalidTypeError(f"starting_offsets must be 'earliest' or 'latest', got {starting_offsets!r}.")
        self.topic = topic
        self.bootstrap_servers = bootstrap_servers
        self.schema = schema
        self.starting_offsets = starting_offsets
        self.options = dict(options or {})

    def initial_offset(self) -> Any:
        from unistack.errors import UnsupportedOperationError

        raise UnsupportedOperationError("local", "Kafka sources", KAFKA_UNAVAILABLE)

    def describe(self) -> str:
        return f"kafka topic {self.topic} at {self.bootstrap_servers}"


@dataclass(frozen=True, eq=False)
class StreamInput(Source):
    """The leaf of a stream plan: each micro-batch replaces it with that batch's rows."""

    source: StreamSource
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def schema(self) -> pa.Schema:
        return canonical_schema(self.source.schema)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StreamInput) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)
