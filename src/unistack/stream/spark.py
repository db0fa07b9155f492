"""Spark Structured Streaming as a stream engine: ``write_stream(..., engine="spark")``.

The stream plan is translated with the Spark batch translator (:mod:`unistack.backends.spark.compile`)
on the batch engine's session (UTC session time zone; naive timestamps are ``TIMESTAMP_NTZ``):

- sources: a directory is ``spark.readStream.schema(...).format(fmt).load(dir)``; a batches source is
  written as Parquet files, one per batch, into a private directory and read as a file stream with
  ``maxFilesPerTrigger=1`` (each input batch is its own micro-batch, as on the local executor). The rate
  generator is not mapped: Spark's ``rate`` source stamps rows with processing time and has no row limit,
  so it cannot give the deterministic, bounded event times unistack's generator promises;
- the stateless part (``pre``) is the batch translation with the stream leaf replaced by the streaming
  DataFrame (static join sides stay batch DataFrames: Spark stream-static joins);
- windows: ``withWatermark(ts, delay)`` then ``groupBy(window(...) | session_window(...), keys).agg(...)``
  in append mode, aggregates from the batch translator's ``agg_expr``; ``post`` is translated on top;
- sinks: a directory is Spark's file sink (exactly once with its checkpoint); a memory or function sink is
  ``foreachBatch`` converting each micro-batch to Arrow, conformed to the plan's schema;
- end of input: Spark never flushes open windows, so for a bounded input (or ``trigger="available_now"``)
  the query runs ``availableNow`` over the real input, then one sentinel row (all null except an event time
  in year 5000) is dropped into a private second file stream, union-ed just before ``withWatermark``, and
  the query runs ``availableNow`` again from its checkpoint: the watermark jumps past every real window,
  which Spark then emits. The sentinel's own window never closes, so it never reaches the output, and it
  is not counted in ``rows_in``.

Differences from the local executor, all from Spark's design (see docs/streaming.md): Spark drops a late
row when the *window* it falls in has closed (window end <= watermark), not when its event time is below
the watermark, judged with the watermark of the previous micro-batch; it counts dropped *partial
aggregates* (``numRowsDroppedByWatermark``) rather than input rows; the watermark has millisecond
precision; null event times are skipped, not counted as late.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from unistack.errors import UnistackError, UnsupportedOperationError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.stream.frame import StreamPlan, replace_leaf
from unistack.stream.handle import StreamHandle
from unistack.stream.sinks import DirectorySink, make_sink
from unistack.stream.sources import BatchesSource, DirectorySource, KafkaSource, RateSource, StreamInput
from unistack.stream.windows import parse_duration

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ENGINE = "spark-stream"
SENTINEL_TIME = dt.datetime(5000, 1, 1)
_POLL = 0.1


def _interval(us: int) -> str:
    """A Spark interval string for a duration in microseconds."""
    if us % 1_000_000 == 0:
        return f"{us // 1_000_000} seconds"
    if us % 1000 == 0:
        return f"{us // 1000} milliseconds"
    return f"{us} microseconds"


def _check_supported(plan: StreamPlan) -> None:
    src = plan.source.source
    if isinstance(src, RateSource):
        raise UnsupportedOperationError(
            "spark", "read_stream(format='rate')",
            "Spark's rate source stamps rows with processing time and has no row limit, so it cannot give "
            "unistack's deterministic, bounded event times; use read_stream(batches) or a directory, or run "
            "the rate generator on engine='local'.")
    if not isinstance(src, (BatchesSource, DirectorySource, KafkaSource)):
        raise UnsupportedOperationError("spark", f"stream source {src.describe()}")


class _StreamLeaf:
    """``ctx.arrow_frame`` for the batch translator: the stream leaf (and the post-window placeholder) map
    to streaming DataFrames; any other in-memory table (a static join side) is shipped as usual."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.frames: dict[str, DataFrame] = {}

    def __call__(self, src: pn.InMemorySource) -> DataFrame:
        hit = self.frames.get(src.key)
        if hit is not None:
            return hit
        from unistack.backends.spark.compile import normalise, to_spark_arrow

        return normalise(self.spark.createDataFrame(to_spark_arrow(src.table)), src.schema)

    def substitute(self, plan: pn.PlanNode, leaf: StreamInput, df: DataFrame) -> pn.PlanNode:
        """``plan`` with the stream leaf replaced by a placeholder in-memory source bound to ``df``."""
        holder = pn.InMemorySource(leaf.schema.empty_table())
        self.frames[holder.key] = df
        return replace_leaf(plan, leaf, holder)


class SparkStreamingQuery(StreamHandle):
    """A stream running on Spark Structured Streaming, with the interface of the local
    :class:`unistack.stream.executor.StreamingQuery`: ``stop()``, ``await_termination(timeout)``,
    ``status``, ``progress``, ``exception``."""

    engine_label = "spark"

    def __init__(self, plan: StreamPlan, target: Any, fmt: str, checkpoint: str | None, trigger: str) -> None:
        _check_supported(plan)
        self.plan = plan
        self.sink = make_sink(target, fmt)
        self.available_now = trigger == "available_now"
        self.interval_us = 0 if self.available_now else parse_duration(trigger, "trigger")
        self._own_base = checkpoint is None
        self.base = os.path.abspath(checkpoint) if checkpoint else tempfile.mkdtemp(prefix="unistack-spark-stream-")
        os.makedirs(self.base, exist_ok=True)
        self._status = "running"
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._query: Any = None
        self._progress: dict[tuple[str, int], dict[str, Any]] = {}
        self._rows_out = 0
        self._started = time.time()
        self._sentinel_watermark: dt.datetime | None = None
        from unistack.backends.spark.session import sessions

        self.spark = sessions.get()
        self._thread = threading.Thread(target=self._run, name="unistack-spark-stream", daemon=True)
        self._thread.start()

    # -- building the query ---------------------------------------------------------------------------------
    def _input_frame(self) -> tuple[DataFrame, bool]:
        """The streaming DataFrame of the source (canonical columns) and whether the input is bounded."""
        from unistack.backends.spark.compile import normalise, spark_schema, to_spark_arrow

        src = self.plan.source.source
        schema = self.plan.source.schema
        if isinstance(src, KafkaSource):
            return self._kafka_frame(src, schema), False
        reader = self.spark.readStream.schema(spark_schema(schema))
        if isinstance(src, DirectorySource):
            if src.max_files:
                reader = reader.option("maxFilesPerTrigger", src.max_files)
            if src.format == "csv":
                reader = reader.option("header", "true")
            return normalise(reader.format(src.format).load(src.path), schema), False
        assert isinstance(src, BatchesSource)
        directory = os.path.join(self.base, "input")
        os.makedirs(directory, exist_ok=True)
        tables: list[pa.Table] = []
        offset = src.initial_offset()
        while (planned := src.plan(offset)) is not None:
            descriptor, offset = planned
            for i in range(descriptor["start"], descriptor["end"]):
                tables.append(src.read({"start": i, "end": i + 1}))
        import pyarrow.parquet as pq

        # Spark's file source orders new files by modification time: give them distinct, increasing ones.
        base_ns = time.time_ns() - (len(tables) + 1) * 10_000_000
        for i, table in enumerate(tables):
            path = os.path.join(directory, f"batch-{i:08d}.parquet")
            if not os.path.exists(path):  # a restart from a checkpoint must not present the files as new
                tmp = os.path.join(directory, f".batch-{i:08d}.tmp")
                pq.write_table(to_spark_arrow(table.cast(schema)), tmp)
                os.replace(tmp, path)
                os.utime(path, ns=(base_ns + i * 10_000_000, base_ns + i * 10_000_000))
        df = reader.option("maxFilesPerTrigger", 1).parquet(directory)
        return normalise(df, schema), True

    def _kafka_frame(self, src: KafkaSource, schema: pa.Schema) -> DataFrame:
        """Spark's Kafka source, message values parsed as JSON objects of the declared schema."""
        import pyspark.sql.functions as F

        from unistack.backends.spark.compile import normalise, spark_schema

        reader = (self.spark.readStream.format("kafka").option("kafka.bootstrap.servers", src.bootstrap_servers)
                  .option("subscribe", src.topic).option("startingOffsets", src.starting_offsets))
        for key, value in src.options.items():
            reader = reader.option(f"kafka.{key}", value)
        try:
            raw = reader.load()
        except Exception as e:
            if "Failed to find data source: kafka" in str(e):
                raise UnistackError(
                    "Spark's Kafka connector is not installed (it is not on PyPI): set us.config(spark_conf="
                    "{'spark.jars.packages': 'org.apache.spark:spark-sql-kafka-0-10_2.13:<your Spark version>'}) "
                    "on a machine that can download it, or put the jar in spark.jars.") from e
            raise
        parsed = raw.select(F.from_json(F.col("value").cast("string"), spark_schema(schema)).alias("__us_v"))
        return normalise(parsed.select("__us_v.*"), schema)

    def _sentinel_frame(self, schema: pa.Schema) -> DataFrame:
        from unistack.backends.spark.compile import normalise, spark_schema

        self.sentinel_dir = os.path.join(self.base, "sentinel")
        os.makedirs(self.sentinel_dir, exist_ok=True)
        reader = self.spark.readStream.schema(spark_schema(schema))
        return normalise(reader.parquet(self.sentinel_dir), schema)

    def _write_sentinel(self) -> None:
        from unistack.backends.spark.compile import to_spark_arrow

        stage = self.plan.window
        assert stage is not None
        schema = self.plan.pre.schema
        when = SENTINEL_TIME if stage.time_type.tz is None else SENTINEL_TIME.replace(tzinfo=dt.UTC)
        arrays = [pa.array([when], f.type) if f.name == stage.time_column else pa.nulls(1, f.type) for f in schema]
        path = os.path.join(self.sentinel_dir, "end.parquet")
        if not os.path.exists(path):
            import pyarrow.parquet as pq

            tmp = os.path.join(self.sentinel_dir, ".end.tmp")
            pq.write_table(to_spark_arrow(pa.Table.from_arrays(arrays, schema=schema)), tmp)
            os.replace(tmp, path)

    def _build(self) -> tuple[DataFrame, bool]:
        import pyspark.sql.functions as F
        import pyspark.sql.types as T

        from unistack.backends.spark.compile import Context, agg_expr, col, compile_expr, compile_node, final_frame

        plan = self.plan
        leaves = _StreamLeaf(self.spark)
        stream, bounded = self._input_frame()
        ctx = Context(self.spark, leaves)
        pre = final_frame(compile_node(leaves.substitute(plan.pre, plan.source, stream), ctx), plan.pre.schema)
        stage = plan.window
        if stage is None:
            return pre, bounded
        pre = pre.unionByName(self._sentinel_frame(plan.pre.schema))
        # withWatermark takes TIMESTAMP only: event time as an instant (the session is UTC, so a naive
        # TIMESTAMP_NTZ wall-clock time maps to the same UTC instant), in a private column.
        pre = pre.withColumn("__us_et", col(stage.time_column).cast(T.TimestampType()))
        pre = pre.withWatermark("__us_et", _interval(plan.watermark_us))
        t = F.col("__us_et")
        spec = stage.spec
        if spec.kind == "tumble":
            window = F.window(t, _interval(spec.size_us))
        elif spec.kind == "hop":
            window = F.window(t, _interval(spec.size_us), _interval(spec.slide_us or 0))
        else:
            window = F.session_window(t, _interval(spec.gap_us or 0))
        keys = [compile_expr(k).alias(f"__k{i}") for i, k in enumerate(stage.keys)]
        aggs = []
        for j, a in enumerate(stage.aggs):
            base = ex.strip_alias(a)
            assert isinstance(base, ex.Agg)
            aggs.append(agg_expr(base).alias(f"__a{j}"))
        grouped = pre.groupBy(window.alias("__w"), *keys).agg(*aggs)
        out_schema = stage.output_schema
        columns = [F.col("__w.start"), F.col("__w.end"), *[col(f"__k{i}") for i in range(len(keys))],
                   *[col(f"__a{j}") for j in range(len(aggs))]]
        windowed = final_frame(grouped.select(*columns).toDF(*out_schema.names), out_schema)
        if plan.post is not None and plan.post_input is not None and not (
                isinstance(plan.post, pn.Scan) and plan.post.source == plan.post_input):
            post = leaves.substitute(plan.post, plan.post_input, windowed)
            windowed = final_frame(compile_node(post, ctx), plan.schema)
        return windowed, bounded

    def _start(self, df: DataFrame, once: bool) -> Any:
        writer = df.writeStream.outputMode("append").option("checkpointLocation", os.path.join(self.base, "spark"))
        if isinstance(self.sink, DirectorySink):
            writer = writer.format(self.sink.format).option("path", self.sink.path)
            if self.sink.format == "csv":
                writer = writer.option("header", "true")
        else:
            writer = writer.foreachBatch(self._write_batch)
        if once:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=_interval(self.interval_us))
        return writer.start()

    def _write_batch(self, df: DataFrame, batch_id: int) -> None:
        from unistack.backends.base import conform

        table = conform(df.toArrow(), self.plan.schema)
        if table.num_rows:
            self.sink.write(batch_id, table)
            with self._lock:
                self._rows_out += table.num_rows

    # -- running ----------------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.sink.open(self.plan.schema)
            df, bounded = self._build()
            once = self.available_now or bounded
            self._await(self._start(df, once))
            if once and self.plan.window is not None and not self._stop.is_set():
                self._write_sentinel()
                self._sentinel_watermark = SENTINEL_TIME - dt.timedelta(microseconds=self.plan.watermark_us)
                self._await(self._start(df, True))
            self._status = "stopped" if self._stop.is_set() else "finished"
        except BaseException as e:  # reported through status/exception/await_termination
            self._error = e
            self._status = "failed"
        finally:
            if self._own_base:
                shutil.rmtree(self.base, ignore_errors=True)

    def _await(self, query: Any) -> None:
        with self._lock:
            self._query = query
        if self._stop.is_set():
            query.stop()
        try:
            while query.isActive:
                self._collect(query)
                if self._stop.wait(_POLL):
                    query.stop()
            self._collect(query)
            err = query.exception()
            if err is not None:
                raise err
        finally:
            with self._lock:
                self._query = None

    def _collect(self, query: Any) -> None:
        for p in query.recentProgress:
            record = json.loads(p.json) if hasattr(p, "json") and isinstance(p.json, str) else dict(p)
            self._progress.setdefault((str(record.get("runId")), int(record.get("batchId", -1))), record)

    # -- handle interface -----------------------------------------------------------------------------------
    @property
    def progress(self) -> dict[str, Any]:
        """Batches, rows in and out, late rows dropped (Spark's numRowsDroppedByWatermark), the watermark,
        state rows, events per second. ``rows_out`` is None for a directory target when Spark's file sink
        does not report its row count."""
        with self._lock:
            query = self._query
        if query is not None:
            with contextlib.suppress(Exception):  # the query may be ending: keep what was collected
                self._collect(query)
        entries = sorted(self._progress.values(), key=lambda p: p.get("timestamp", ""))
        rows_in = late = state_rows = batches = 0
        watermark = None
        last_seconds = 0.0
        for p in entries:
            sources = p.get("sources") or []
            real = int(sources[0].get("numInputRows", 0)) if sources else 0
            rows_in += real
            if real or len(sources) < 2 or not int(sources[1].get("numInputRows", 0)):
                batches += 1
            ops = p.get("stateOperators") or []
            late += sum(int(o.get("numRowsDroppedByWatermark", 0) or 0) for o in ops)
            state_rows = sum(int(o.get("numRowsTotal", 0) or 0) for o in ops)
            wm = (p.get("eventTime") or {}).get("watermark")
            if wm:
                value = dt.datetime.fromisoformat(wm.replace("Z", "+00:00"))
                if value.year < SENTINEL_TIME.year - 1 and value.timestamp() > 0:
                    watermark = value
            last_seconds = (p.get("durationMs") or {}).get("triggerExecution", 0) / 1000
        if watermark is not None and self.plan.window is not None and self.plan.window.time_type.tz is None:
            watermark = watermark.replace(tzinfo=None)
        rows_out: int | None = self._rows_out
        if isinstance(self.sink, DirectorySink):  # Spark's file sink reports -1 (unknown) per batch
            counts = [int((p.get("sink") or {}).get("numOutputRows", -1)) for p in entries]
            rows_out = None if any(c < 0 for c in counts) else sum(counts)
        elapsed = max(time.time() - self._started, 1e-9)
        return {
            "batches": batches, "rows_in": rows_in, "rows_out": rows_out, "late_rows_dropped": late,
            "watermark": watermark, "state_rows": state_rows, "last_batch_seconds": last_seconds,
            "events_per_second": rows_in / elapsed,
        }

    def stop(self, timeout: float | None = 60) -> None:
        """Stop the query (Spark finishes or abandons the running micro-batch; its checkpoint stays
        consistent)."""
        if self._status == "running":
            self._status = "stopping"
        self._stop.set()
        with self._lock:
            query = self._query
        if query is not None:
            with contextlib.suppress(Exception):
                query.stop()
        self._thread.join(timeout)


def start_spark_stream(plan: StreamPlan, sink: Any, checkpoint: str | None, trigger: str,
                       format: str = "parquet") -> SparkStreamingQuery:
    """Start ``plan`` on Spark Structured Streaming; returns a handle like the local executor's."""
    return SparkStreamingQuery(plan, sink, format, checkpoint, trigger)
