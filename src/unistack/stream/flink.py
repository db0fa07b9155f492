"""Flink as a stream engine: ``write_stream(..., engine="flink")``, run by the Flink worker.

The stream plan becomes Flink SQL (the batch translator, :mod:`unistack.backends.flink.compile`, with
one naming context for all stages) and runs as one streaming job on a streaming TableEnvironment in the
Flink worker:

- sources: a batches source is read when the query starts and shipped as one Arrow table, in order (so it
  is bounded); a directory of newline-delimited JSON files is Flink's filesystem connector (watched every
  trigger interval; read once with ``trigger="available_now"``); the rate generator is Flink's ``datagen``
  with a sequence column, from which event time, key and value are computed as the local generator does
  (event time at millisecond precision);
- the stateless part (``pre``) is the batch translation; static join sides are bounded Arrow tables;
- event time: the stateless part's rows go through a DataStream and back to declare the watermark
  (``max event time - delay``, at millisecond precision). The worker sets Flink's watermark interval to 0,
  so a watermark is emitted as soon as a row raises it: a row is late when its event time is below the
  watermark of the rows before it (or null). Late rows are filtered with ``CURRENT_WATERMARK`` (the local
  executor's rule, not Flink's "window already fired" rule) and come back as marker rows, which is how
  ``late_rows_dropped`` is counted;
- windows: the window table functions ``TUMBLE``, ``HOP`` and ``SESSION`` (partitioned by the keys),
  grouped by ``window_start, window_end`` and the keys; aggregates from the batch translator. At the end
  of a bounded input Flink's final watermark fires every open window;
- results come back to this process as Arrow and go to the sink (directory, callable or memory) once per
  poll (each trigger interval).

Declared differences (docs/streaming.md): Flink advances the watermark per row, the local executor and
Spark per micro-batch, so rows out of order *within* a batch by more than the delay are late on Flink only;
event time has millisecond precision; Parquet and CSV directories are not readable by the pip distribution
of Flink (no Parquet jar; its CSV format cannot skip a header row); ``map_batches`` is not supported (as in
batch plans); ``checkpoint=`` turns on Flink checkpoints in that directory for the job's own recovery, but a
new query does not resume from them; ``progress['watermark']`` is not reported.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
import uuid
from typing import Any

import pyarrow as pa

from unistack.errors import EngineError, InvalidOperationError, UnistackError, UnsupportedOperationError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.stream.frame import StreamPlan, WindowStage, replace_leaf
from unistack.stream.handle import StreamHandle
from unistack.stream.sinks import make_sink
from unistack.stream.sources import (
    BatchesSource,
    DirectorySource,
    KafkaSource,
    RateSource,
    StreamSource,
)
from unistack.stream.windows import parse_duration

ENGINE = "flink"
LATE = "__us_late"
_POLL = 0.1
RATE_NEEDS_LIMIT = ("Flink's sequence generator lays out its whole sequence up front; give limit=... (rows), or run "
                    "an unlimited generator on engine='local'.")


@dataclasses.dataclass
class StreamJob:
    """What the worker needs to run one stream query (see ``Worker.stream_start`` in worker.py)."""

    inputs: list[Any]  # compile.Input
    pre_sql: str
    event_time: dict[str, Any] | None
    views: list[tuple[str, str]]
    sql: str
    names: list[str]  # output columns, without the late marker
    bounded: bool
    rows_in: int | None

    def header(self, job_id: str, mode: str = "execute", conf: dict[str, str] | None = None
               ) -> tuple[dict[str, Any], list[bytes]]:
        from unistack.backends.flink.engine import _ipc

        inputs: list[dict[str, Any]] = []
        payloads: list[bytes] = []
        for item in self.inputs:
            if item.kind == "arrow":
                inputs.append({"name": item.name, "kind": "arrow", "columns": item.columns})
                payloads.append(_ipc(item.table))
            else:
                inputs.append({"name": item.name, "kind": "ddl", "ddl": item.ddl})
        header = {"op": "stream_start", "id": job_id, "mode": mode, "inputs": inputs, "pre_sql": self.pre_sql,
                  "event_time": self.event_time, "views": [list(v) for v in self.views], "sql": self.sql,
                  "conf": conf or {}}
        return header, payloads


def source_limit(src: StreamSource) -> str:
    """Why Flink's stream engine cannot read ``src`` ("" when it can); routing and compilation share it."""
    if isinstance(src, DirectorySource) and src.format != "json":
        return (f"{src.format} directories: the pip distribution of Flink has no Parquet format and its CSV "
                f"format cannot skip a header row; it reads newline-delimited JSON files")
    if isinstance(src, RateSource) and src.limit is None:
        return f"an unlimited rate source: {RATE_NEEDS_LIMIT}"
    if not isinstance(src, (BatchesSource, DirectorySource, RateSource, KafkaSource)):
        return f"stream source {src.describe()}"
    return ""


def _check_source(src: StreamSource) -> None:
    reason = source_limit(src)
    if reason:
        raise UnsupportedOperationError(ENGINE, reason, "Run the stream on engine='local' or 'spark'.")


def _batches_table(src: BatchesSource, schema: pa.Schema) -> pa.Table:
    """Every batch of a batches source, in order, as one table (Flink reads it as a bounded input)."""
    tables = []
    offset = src.initial_offset()
    while (planned := src.plan(offset)) is not None:
        descriptor, offset = planned
        tables.append(src.read(descriptor))
    return pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()


def _source_ddl(name: str, src: StreamSource, schema: pa.Schema, interval_us: int, available_now: bool
                ) -> tuple[list[str], str]:
    """DDL for a directory or rate source and the SELECT that gives the stream's columns from it."""
    from unistack.backends.flink.compile import flink_type, quote, string_literal
    from unistack.plan.types import canonical

    def with_(opts: dict[str, str]) -> str:
        return ", ".join(f"{string_literal(k)} = {string_literal(v)}" for k, v in opts.items())

    # JSON text of a zoned timestamp ends in "Z" (or an offset): Flink parses that as TIMESTAMP_LTZ only;
    # the session zone is UTC, so the cast gives the UTC wall time unistack holds.
    zoned = {f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.tz is not None}
    cols = ", ".join(f"{quote(f.name)} " + (flink_type(canonical(f.type)).replace("TIMESTAMP", "TIMESTAMP_LTZ")
                                            if f.name in zoned else flink_type(canonical(f.type))) for f in schema)
    select = "SELECT " + ", ".join(
        f"CAST({quote(f.name)} AS {flink_type(canonical(f.type))}) AS {quote(f.name)}" if f.name in zoned
        else quote(f.name) for f in schema) + f" FROM {quote(name)}"
    if isinstance(src, DirectorySource):
        opts = {"connector": "filesystem", "path": src.path, "format": "json", "json.fail-on-missing-field": "false",
                "json.timestamp-format.standard": "ISO-8601"}
        if not available_now:
            opts["source.monitor-interval"] = f"{max(1, interval_us // 1000)} ms"
        return [f"CREATE TEMPORARY TABLE {quote(name)} ({cols}) WITH ({with_(opts)})"], select
    if isinstance(src, KafkaSource):
        opts = {"connector": "kafka", "topic": src.topic, "properties.bootstrap.servers": src.bootstrap_servers,
                "properties.group.id": f"unistack-{name}", "format": "json",
                "json.timestamp-format.standard": "ISO-8601", "json.fail-on-missing-field": "false",
                "scan.startup.mode": f"{src.starting_offsets}-offset"}
        if available_now:
            opts["scan.bounded.mode"] = "latest-offset"
        opts.update({f"properties.{k}": v for k, v in src.options.items()})
        return [f"CREATE TEMPORARY TABLE {quote(name)} ({cols}) WITH ({with_(opts)})"], select
    assert isinstance(src, RateSource)
    opts = {"connector": "datagen", "fields.i.kind": "sequence", "fields.i.start": "0",
            "fields.i.end": str(int(src.limit or 0) - 1)}
    if src.realtime:
        opts["rows-per-second"] = str(max(1, int(src.rows_per_second)))
    else:
        opts["rows-per-second"] = str(10**12)  # not paced
    step_ms = 1000.0 / src.rows_per_second
    start_ms = src.start_us / 1000.0
    event_ms = f"CAST({start_ms!r} + CAST(`i` AS DOUBLE) * {step_ms!r} AS BIGINT)"
    select = (f"SELECT CAST(TO_TIMESTAMP_LTZ({event_ms}, 3) AS TIMESTAMP(6)) AS `event_time`, "
              f"MOD(`i`, {int(src.num_keys)}) AS `key`, `i` AS `value` FROM {quote(name)}")
    return [f"CREATE TEMPORARY TABLE {quote(name)} (`i` BIGINT) WITH ({with_(opts)})"], select


def _window_sql(stage: WindowStage, source: str) -> tuple[str, str]:
    """The view that adds key columns to on-time rows, and the window aggregation over it."""
    from unistack.backends.flink.compile import agg_sql, key_sql, quote

    keys = [f"__us_k{i}" for i in range(len(stage.keys))]
    keyed = ", ".join(["*"] + [f"{key_sql(k)} AS {quote(n)}" for k, n in zip(stage.keys, keys)])
    keyed_sql = f"SELECT {keyed} FROM {quote(source)}"
    spec = stage.spec

    def interval(us: int) -> str:
        return f"INTERVAL '{us / 1_000_000:.6f}' SECOND(9, 6)"

    table = "TABLE `__us_keyed`"
    if spec.kind == "tumble":
        tvf = f"TUMBLE({table}, DESCRIPTOR(`__us_rt`), {interval(spec.size_us)})"
    elif spec.kind == "hop":
        tvf = f"HOP({table}, DESCRIPTOR(`__us_rt`), {interval(spec.slide_us or 0)}, {interval(spec.size_us)})"
    else:
        part = f" PARTITION BY {', '.join(quote(k) for k in keys)}" if keys else ""
        tvf = f"SESSION({table}{part}, DESCRIPTOR(`__us_rt`), {interval(spec.gap_us or 0)})"
    out = stage.output_schema.names
    items = [f"`window_start` AS {quote(out[0])}", f"`window_end` AS {quote(out[1])}"]
    items += [f"{quote(k)} AS {quote(n)}" for k, n in zip(keys, out[2:])]
    for a, name in zip(stage.aggs, out[2 + len(keys):]):
        base = ex.strip_alias(a)
        assert isinstance(base, ex.Agg)
        items.append(f"{agg_sql(base)} AS {quote(name)}")
    group = ", ".join(["`window_start`", "`window_end`"] + [quote(k) for k in keys])
    return keyed_sql, f"SELECT {', '.join(items)} FROM TABLE({tvf}) GROUP BY {group}"


def _input_named(ctx: Any, source: pn.InMemorySource) -> str | None:
    for key, name in ctx.by_key.items():
        if key[0] == "mem" and key[1] == source.key:
            return str(name)
    return None


def compile_stream(plan: StreamPlan, interval_us: int, available_now: bool) -> StreamJob:
    """The Flink job for a stream plan.

    Examples
    --------
    >>> import unistack as us, pyarrow as pa, datetime as dt
    >>> t = pa.table({"ts": [dt.datetime(2026, 1, 1)], "v": [1.0]})
    >>> s = us.read_stream([t], schema=t.schema).with_event_time("ts", watermark="2s")
    >>> job = compile_stream(s.window(us.tumble("10s")).agg(n=us.count()).plan, 0, True)
    >>> job.event_time["delay_seconds"], job.names  # the delay plus Flink's 1 ms (see below)
    ('2.001000', ['window_start', 'window_end', 'n'])
    """
    from unistack.backends.flink.compile import Context, Input, compile_plan, flink_type, quote

    src = plan.source.source
    _check_source(src)
    ctx = Context()
    stream_schema = plan.source.schema
    if isinstance(src, BatchesSource):
        table = _batches_table(src, stream_schema)
        holder = pn.InMemorySource(table)
        bounded, rows_in = True, table.num_rows
    else:
        holder = pn.InMemorySource(stream_schema.empty_table())
        bounded = available_now or (isinstance(src, RateSource) and src.limit is not None)
        rows_in = src.limit if isinstance(src, RateSource) else None
    pre = compile_plan(replace_leaf(plan.pre, plan.source, holder), ctx)
    inputs = list(ctx.inputs)
    pre_sql = pre.sql
    if not isinstance(src, BatchesSource):
        name = _input_named(ctx, holder)
        if name is None:  # the plan reads none of the stream's columns
            raise InvalidOperationError("a stream plan must read its stream.")
        ddl, select = _source_ddl(name + "_src", src, stream_schema, interval_us, available_now)
        inputs = [i for i in inputs if i.name != name] + [Input(name + "_src", "ddl", ddl=d) for d in ddl]
        pre_sql = pre_sql.replace(quote(name), f"({select})")
    stage = plan.window
    if stage is None:
        return StreamJob(inputs, pre_sql, None, [], "SELECT * FROM `__us_pre`", list(plan.schema.names),
                         bounded, rows_in)
    event = quote(stage.time_column)
    # Flink's watermark W promises rows *after* W (a window fires when W >= end - 1 ms); unistack's
    # promises rows at or after it. Declaring unistack's watermark minus 1 ms makes both rules agree at
    # millisecond precision: a window fires when unistack's watermark reaches its end, and a row is late
    # when its time is below unistack's watermark, i.e. at or below Flink's.
    event_time = {"column": event, "delay_seconds": f"{(plan.watermark_us + 1000) / 1_000_000:.6f}"}
    on_time = f"{event} IS NOT NULL AND (`__us_wm` IS NULL OR `__us_rt` > `__us_wm`)"
    views = [("__us_marked", "SELECT *, CURRENT_WATERMARK(`__us_rt`) AS `__us_wm` FROM `__us_pre`"),
             ("__us_on_time", f"SELECT * FROM `__us_marked` WHERE {on_time}")]
    keyed_sql, window_sql = _window_sql(stage, "__us_on_time")
    views.append(("__us_keyed", keyed_sql))
    out_holder = pn.InMemorySource(stage.output_schema.empty_table())
    post_plan = plan.post if plan.post is not None and plan.post_input is not None else pn.Scan(out_holder)
    if plan.post_input is not None:
        post_plan = replace_leaf(post_plan, plan.post_input, out_holder)
    post = compile_plan(post_plan, ctx)
    window_name = _input_named(ctx, out_holder)
    if window_name is not None:
        views.append((window_name, window_sql))
    inputs += [i for i in ctx.inputs if i not in inputs and i.name != window_name]
    names = list(plan.schema.names)
    results = ", ".join(quote(n) for n in names)
    nulls = ", ".join(f"CAST(NULL AS {flink_type(f.type)}) AS {quote(f.name)}" for f in plan.schema)
    sql = (f"SELECT {results}, 0 AS {quote(LATE)} FROM ({post.sql}) AS `__us_results` UNION ALL "
           f"SELECT {nulls}, 1 AS {quote(LATE)} FROM `__us_marked` WHERE NOT ({on_time})")
    return StreamJob(inputs, pre_sql, event_time, views, sql, names, bounded, rows_in)


class FlinkStreamingQuery(StreamHandle):
    """A stream running as a Flink job, with the interface of the local
    :class:`unistack.stream.executor.StreamingQuery`: ``stop()``, ``await_termination(timeout)``,
    ``status``, ``progress``, ``exception``."""

    _ids = itertools.count()
    engine_label = ENGINE

    def __init__(self, plan: StreamPlan, target: Any, fmt: str, checkpoint: str | None, trigger: str) -> None:
        from unistack.backends.flink.engine import FlinkEngine
        from unistack.backends.registry import get_engine

        self.plan = plan
        self.available_now = trigger == "available_now"
        self.interval = 0.0 if self.available_now else parse_duration(trigger, "trigger") / 1e6
        self.job = compile_stream(plan, int(self.interval * 1e6), self.available_now)
        self.sink = make_sink(target, fmt)
        from unistack.config import get_option

        # One subtask per operator by default: the watermark then follows the input's row order exactly
        # (with several source subtasks it is the minimum over their interleaving, decided by timing).
        parallelism = str(int(get_option("flink.stream_parallelism")))
        self.conf: dict[str, str] = {"parallelism.default": parallelism, "execution.buffer-timeout": "10 ms",
                                     "table.exec.resource.default-parallelism": parallelism}
        if checkpoint is not None:
            os.makedirs(checkpoint, exist_ok=True)
            self.conf |= {"execution.checkpointing.interval": f"{max(1, int(self.interval * 1000) or 1000)} ms",
                         "execution.checkpointing.dir": "file://" + os.path.abspath(checkpoint)}
        engine = get_engine(ENGINE)
        assert isinstance(engine, FlinkEngine)
        self.client = engine.client()
        self.id = f"s{os.getpid()}-{next(self._ids)}-{uuid.uuid4().hex[:6]}"
        self._status = "running"
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._started = time.time()
        self._batches = 0
        self._rows_out = 0
        self._late = 0
        self._last_seconds = 0.0
        header, payloads = self.job.header(self.id, conf=self.conf)
        try:
            self.client.open_stream(self.id, header, payloads)
        except EngineError as e:
            raise _connector_hint(e) from e
        self._thread = threading.Thread(target=self._run, name="unistack-flink-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from unistack.backends.base import conform
        from unistack.backends.flink.engine import _restore_types

        cancelled = False
        try:
            self.sink.open(self.plan.schema)
            while True:
                t0 = time.monotonic()
                if self._stop.is_set() and not cancelled:
                    self.client.request({"op": "stream_cancel", "id": self.id})
                    cancelled = True
                reply, data = self.client.request({"op": "stream_poll", "id": self.id})
                table = pa.ipc.open_stream(pa.py_buffer(data[0])).read_all()
                if table.num_rows:
                    late, results = 0, table
                    if LATE in table.schema.names:
                        marker = table.column(LATE).to_numpy(zero_copy_only=False)
                        late = int(marker.sum())
                        results = table.filter(pa.array(marker == 0)).drop_columns([LATE])
                    results = conform(_restore_types(results, self.plan.schema), self.plan.schema)
                    self._late += late
                    if results.num_rows:
                        self.sink.write(self._batches, results)
                        self._rows_out += results.num_rows
                        self._batches += 1
                    self._last_seconds = time.monotonic() - t0
                if reply.get("failed"):
                    failure = reply["failed"]
                    raise EngineError(ENGINE, f"streaming job failed: {failure.get('message', '')[:2000]}")
                if reply.get("done"):
                    break
                self._stop.wait(max(_POLL, self.interval - (time.monotonic() - t0)))
            self._status = "stopped" if cancelled else "finished"
        except BaseException as e:  # reported through status/exception/await_termination
            self._error = e
            self._status = "failed"
        finally:
            self.client.close_stream(self.id)

    # -- handle interface -----------------------------------------------------------------------------------
    @property
    def progress(self) -> dict[str, Any]:
        """Result batches written, rows in (None for a directory source: Flink reads the files), rows out,
        late rows dropped, events per second. The watermark and state size are not reported on Flink."""
        elapsed = max(time.time() - self._started, 1e-9)
        rows_in = self.job.rows_in
        return {
            "batches": self._batches, "rows_in": rows_in, "rows_out": self._rows_out,
            "late_rows_dropped": self._late, "watermark": None, "state_rows": None,
            "last_batch_seconds": self._last_seconds,
            "events_per_second": (rows_in / elapsed) if rows_in is not None else None,
        }

    def stop(self, timeout: float | None = 60) -> None:
        """Cancel the Flink job; results already collected reach the sink."""
        if self._status == "running":
            self._status = "stopping"
        self._stop.set()
        self._thread.join(timeout)


def _connector_hint(error: EngineError) -> UnistackError:
    """Flink's "no factory for 'kafka'" as an error that says which jar to add."""
    if "Could not find any factory for identifier 'kafka'" in str(error):
        return UnistackError(
            "Flink's Kafka connector is not installed (it is not on PyPI): download "
            "flink-sql-connector-kafka for Flink 2.x and set us.config(flink_jars=['/path/to/the.jar']) "
            "(or UNISTACK_FLINK_JARS).")
    return error


def explain_flink_stream(plan: StreamPlan) -> str:
    """Flink's plan for the stream query (``explain_sql`` on the streaming TableEnvironment)."""
    from unistack.backends.flink.engine import FlinkEngine
    from unistack.backends.registry import get_engine

    job = compile_stream(plan, 1_000_000, True)
    engine = get_engine(ENGINE)
    assert isinstance(engine, FlinkEngine)
    header, payloads = job.header(f"explain-{uuid.uuid4().hex[:6]}", mode="explain")
    try:
        reply, _ = engine.client().request(header, payloads)
    except EngineError as e:
        raise _connector_hint(e) from e
    return f"== Flink SQL ==\n{job.sql}\n== Flink plan ==\n{reply['explain']}"


def start_flink_stream(plan: StreamPlan, target: Any, checkpoint: str | None, trigger: str,
                       format: str = "parquet") -> FlinkStreamingQuery:
    """Start ``plan`` as a Flink streaming job; returns a handle like the local executor's."""
    return FlinkStreamingQuery(plan, target, format, checkpoint, trigger)
