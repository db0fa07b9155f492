"""The stream API: a :class:`StreamFrame` is a lazy frame over an unbounded source.

Stateless operators (``filter``, ``select``, ``with_columns``, ``map_batches``, joins with a static frame)
work as on a :class:`unistack.LazyFrame`; ``with_event_time`` declares the event-time column and its
watermark delay; ``window(...).group_by(...).agg(...)`` aggregates per event-time window. Nothing runs
until ``write_stream``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from unistack.errors import InvalidOperationError, InvalidTypeError, SchemaError, UnistackError
from unistack.expr import Expr, flatten, to_column_node
from unistack.frame import LazyFrame
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.plan.typecheck import bind
from unistack.plan.types import canonical_schema, parse_dtype
from unistack.stream.sources import (
    BatchesSource,
    DirectorySource,
    KafkaSource,
    RateSource,
    StreamInput,
    StreamSource,
)
from unistack.stream.windows import WindowSpec, format_duration, parse_duration

STREAM_AGGREGATES = ("sum", "count", "len", "min", "max", "mean", "std", "var")


@dataclass(frozen=True)
class WindowStage:
    """A windowed aggregation: group by window and keys, then aggregate (bound over the pre-window schema)."""

    spec: WindowSpec
    time_column: str
    keys: tuple[ex.ExprNode, ...]
    aggs: tuple[ex.ExprNode, ...]
    time_type: pa.DataType

    @property
    def output_schema(self) -> pa.Schema:
        fields = [pa.field("window_start", self.time_type), pa.field("window_end", self.time_type)]
        fields += [pa.field(ex.output_name(k), k.dtype) for k in self.keys]
        fields += [pa.field(ex.output_name(a), a.dtype) for a in self.aggs]
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise SchemaError(f"window aggregation has duplicate output names: {names}.")
        return pa.schema(fields)


@dataclass(frozen=True)
class StreamPlan:
    """Everything the executor needs: rows before windowing, event time, the window stage, rows after."""

    source: StreamInput
    pre: pn.PlanNode
    event_time: str | None = None
    watermark_us: int = 0
    window: WindowStage | None = None
    post: pn.PlanNode | None = None  # over a placeholder scan of the window output
    post_input: StreamInput | None = None

    @property
    def schema(self) -> pa.Schema:
        if self.post is not None:
            return self.post.schema
        if self.window is not None:
            return self.window.output_schema
        return self.pre.schema


class _OutputSource(StreamSource):
    """Placeholder source for the rows a window stage emits (never read directly)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema


class StreamFrame:
    """A lazy, unbounded frame. Build with :func:`unistack.read_stream`; run with :meth:`write_stream`.

    Examples
    --------
    >>> import unistack as us, pyarrow as pa, datetime as dt
    >>> t = pa.table({"ts": [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 2, 12)], "k": ["a", "b", "a"]})
    >>> counts = (us.read_stream([t], schema=t.schema).with_event_time("ts", watermark="0s")
    ...           .window(us.tumble("10s")).group_by("k").agg(n=us.count()))
    >>> sink = us.MemorySink()
    >>> counts.write_stream(sink, trigger="available_now").await_termination(30)
    True
    >>> sorted(sink.to_arrow().select(["k", "n"]).to_pylist(), key=lambda r: (r["k"], r["n"]))
    [{'k': 'a', 'n': 1}, {'k': 'a', 'n': 1}, {'k': 'b', 'n': 1}]
    """

    def __init__(self, plan: StreamPlan) -> None:
        self._plan = plan

    @property
    def plan(self) -> StreamPlan:
        return self._plan

    @property
    def schema(self) -> pa.Schema:
        """Output schema, known without running anything."""
        return self._plan.schema

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def __repr__(self) -> str:
        from unistack.stream.explain import stream_plan_text

        return f"<unistack.StreamFrame [{', '.join(self.columns)}]>\n{stream_plan_text(self._plan)}"

    # -- stateless operators ------------------------------------------------------------------------------
    def _stateless(self, build: Callable[[LazyFrame], LazyFrame]) -> StreamFrame:
        p = self._plan
        if p.window is None:
            new = build(LazyFrame(p.pre))
            if p.event_time is not None and p.event_time not in new.schema.names:
                raise InvalidOperationError(
                    f"the event-time column {p.event_time!r} must stay in the stream until it is windowed."
                )
            return StreamFrame(replace(p, pre=new.plan))
        assert p.post is not None
        return StreamFrame(replace(p, post=build(LazyFrame(p.post)).plan))

    def filter(self, *predicates: Expr) -> StreamFrame:
        """Keep rows where every predicate is true (see :meth:`unistack.LazyFrame.filter`)."""
        return self._stateless(lambda f: f.filter(*predicates))

    def select(self, *exprs: Any, **named: Any) -> StreamFrame:
        """Compute these columns per row; aggregates need a window (see :meth:`window`)."""
        def build(f: LazyFrame) -> LazyFrame:
            out = f.select(*exprs, **named)
            if isinstance(out.plan, pn.Aggregate):
                raise InvalidOperationError(
                    "a stream can only be aggregated per event-time window: "
                    "stream.with_event_time('ts', watermark='5s').window(us.tumble('1m')).group_by(...).agg(...)."
                )
            return out

        return self._stateless(build)

    def with_columns(self, *exprs: Any, **named: Any) -> StreamFrame:
        """Add or replace columns per row."""
        for e in [*flatten(exprs), *named.values()]:
            if isinstance(e, Expr) and (ex.has_agg(e._node) or ex.has_window(e._node)):
                raise InvalidOperationError("aggregates and .over() need a bounded frame; on a stream use window().")
        return self._stateless(lambda f: f.with_columns(*exprs, **named))

    def rename(self, mapping: Mapping[str, str]) -> StreamFrame:
        return self._stateless(lambda f: f.rename(mapping))

    def drop(self, *columns: str) -> StreamFrame:
        return self._stateless(lambda f: f.drop(*columns))

    def map_batches(self, fn: Callable[[pa.RecordBatch], Any], schema: pa.Schema | Mapping[str, Any],
                    *, name: str | None = None) -> StreamFrame:
        """Apply a Python function to each Arrow record batch of the stream."""
        return self._stateless(lambda f: f.map_batches(fn, schema, name=name))

    def join(self, other: LazyFrame, on: str | Sequence[str] | None = None, *,
             left_on: str | Sequence[str] | None = None, right_on: str | Sequence[str] | None = None,
             how: str = "inner", suffix: str = "_right") -> StreamFrame:
        """Join each micro-batch with a static (bounded) frame: ``how`` is inner, left, semi or anti."""
        if isinstance(other, StreamFrame):
            raise InvalidOperationError("stream-stream joins are not supported; join a stream with a static frame.")
        if how not in ("inner", "left", "semi", "anti"):
            raise InvalidOperationError(
                "a stream-static join keeps the stream on the left: how must be inner, left, semi or anti, "
                f"not {how!r}."
            )
        return self._stateless(lambda f: f.join(other, on, left_on=left_on, right_on=right_on, how=how, suffix=suffix))

    # -- event time and windows -----------------------------------------------------------------------------
    def with_event_time(self, column: str, watermark: str | Any = "0s") -> StreamFrame:
        """Declare the event-time column and the bounded out-of-orderness (the watermark delay).

        The watermark is the largest event time seen minus ``watermark``; it never goes back. Rows older
        than the watermark are late: they are dropped and counted.
        """
        if self._plan.window is not None:
            raise InvalidOperationError("with_event_time() must come before window().")
        schema = self._plan.pre.schema
        if column not in schema.names:
            from unistack.errors import ColumnNotFoundError

            raise ColumnNotFoundError(column, schema.names)
        if not pa.types.is_timestamp(schema.field(column).type):
            raise InvalidTypeError(
                f"event-time column {column!r} must be a timestamp, not {schema.field(column).type}; "
                "cast it first, e.g. with_columns(us.col('ts').cast('timestamp[us, UTC]'))."
            )
        return StreamFrame(replace(self._plan, event_time=column, watermark_us=parse_duration(watermark, "watermark")))

    def window(self, spec: WindowSpec) -> WindowedStream:
        """Group rows into event-time windows; continue with ``.group_by(...).agg(...)``."""
        if not isinstance(spec, WindowSpec):
            raise InvalidTypeError("window() takes us.tumble(size), us.hop(size, slide) or us.session(gap).")
        if self._plan.event_time is None:
            raise InvalidOperationError("declare the event time first: stream.with_event_time('ts', watermark='2s').")
        if self._plan.window is not None:
            raise InvalidOperationError("a stream can be windowed once.")
        return WindowedStream(self, spec)

    # -- running ----------------------------------------------------------------------------------------------
    def collect(self, engine: str | None = None) -> pa.Table:
        raise InvalidOperationError(
            "a stream has no end to collect; use write_stream(target, trigger='available_now') "
            "to process what is available, e.g. into us.MemorySink()."
        )

    def write_stream(self, target: Any, format: str = "parquet", checkpoint: str | None = None,
                     trigger: str = "1s", engine: str | None = None) -> Any:
        """Start the stream; returns a handle with ``stop()``, ``await_termination(timeout)``, ``status`` and
        ``progress``.

        ``target`` is a directory (files in ``format``: parquet, csv or json), a callable receiving each
        result as a ``pyarrow.Table``, or a :class:`unistack.MemorySink`. ``trigger`` is a processing
        interval such as ``"1s"``, or ``"available_now"`` (process what is there, flush every window,
        stop). With ``checkpoint`` (a directory), state, watermark and source offsets survive a crash and
        a restart resumes where it stopped; a directory target then holds every result exactly once.
        """
        from unistack.stream.executor import start_stream

        return start_stream(self._plan, target, format=format, checkpoint=checkpoint, trigger=trigger, engine=engine)

    def explain(self, engine: str | None = None, trigger: str = "1s", native: bool = False) -> str:
        """The stream plan, every stream engine's estimate (or why it cannot run the plan), and the engine
        ``write_stream(engine=engine, trigger=trigger)`` would run it on.

        Examples
        --------
        >>> import unistack as us
        >>> s = us.read_stream(format="rate", rows_per_second=100, limit=1000).with_event_time("event_time")
        >>> "chosen local" in s.window(us.tumble("1s")).agg(n=us.count()).explain(trigger="available_now")
        True
        """
        from unistack.stream.explain import explain_stream

        return str(explain_stream(self._plan, engine, trigger, native))


class WindowedStream:
    """``stream.window(spec)``: finish with ``.group_by(*keys).agg(...)`` (or ``.agg(...)`` for no keys)."""

    def __init__(self, stream: StreamFrame, spec: WindowSpec) -> None:
        self._stream = stream
        self._spec = spec

    def group_by(self, *keys: str | Expr) -> WindowedGroupBy:
        return WindowedGroupBy(self._stream, self._spec, [to_column_node(k) for k in flatten(keys)])

    def agg(self, *exprs: Expr, **named: Expr) -> StreamFrame:
        return WindowedGroupBy(self._stream, self._spec, []).agg(*exprs, **named)


class WindowedGroupBy:
    """Aggregates per window and key; output columns ``window_start, window_end, keys..., aggregates...``."""

    def __init__(self, stream: StreamFrame, spec: WindowSpec, keys: list[ex.ExprNode]) -> None:
        self._stream, self._spec, self._keys = stream, spec, keys

    def agg(self, *exprs: Expr, **named: Expr) -> StreamFrame:
        """Aggregate each window (sum, count, us.count(), min, max, mean, std, var).

        Examples
        --------
        >>> import unistack as us, pyarrow as pa, datetime as dt
        >>> t = pa.table({"ts": [dt.datetime(2026, 1, 1)], "v": [1.5]})
        >>> s = us.read_stream([t], schema=t.schema).with_event_time("ts").window(us.tumble("1m"))
        >>> s.agg(total=us.col("v").sum()).schema.names
        ['window_start', 'window_end', 'total']
        """
        p = self._stream.plan
        schema = p.pre.schema
        keys = tuple(bind(k, schema) for k in self._keys)
        nodes = [to_column_node(e) for e in flatten(exprs)] + [ex.Alias(to_column_node(v), k) for k, v in named.items()]
        aggs = tuple(bind(n, schema) for n in nodes)
        if not aggs:
            raise InvalidOperationError("agg() needs at least one aggregate.")
        for a in aggs:
            base = ex.strip_alias(a)
            if not isinstance(base, ex.Agg) or (base.operand is not None and ex.has_agg(base.operand)):
                raise InvalidOperationError(
                    f"on a stream each aggregate must be a single function of a row expression, e.g. "
                    f"us.col('x').sum(); got {ex.expr_text_safe(a)}."
                )
            if base.func not in STREAM_AGGREGATES:
                raise InvalidOperationError(
                    f"{base.func}() is not available on streams (it needs all rows of a window in order or as a "
                    f"set); supported: {', '.join(a for a in STREAM_AGGREGATES if a != 'len')} and us.count()."
                )
            if base.operand is not None and ex.has_window(base.operand):
                raise InvalidOperationError(".over() cannot be used on a stream.")
        for k in keys:
            if ex.has_agg(k) or ex.has_window(k):
                raise InvalidOperationError("group_by keys on a stream must be row expressions.")
        assert p.event_time is not None
        stage = WindowStage(self._spec, p.event_time, keys, aggs, schema.field(p.event_time).type)
        out = stage.output_schema
        placeholder = StreamInput(_OutputSource(out))
        return StreamFrame(replace(p, window=stage, post=pn.Scan(placeholder), post_input=placeholder))


def replace_leaf(plan: pn.PlanNode, leaf: StreamInput, source: pn.Source) -> pn.PlanNode:
    """``plan`` with every scan of the stream leaf ``leaf`` reading ``source`` instead (a micro-batch, or a
    placeholder an engine binds to its own streaming input)."""

    def visit(node: pn.PlanNode) -> pn.PlanNode:
        if isinstance(node, pn.Scan) and node.source == leaf:
            return replace(node, source=source)
        return node

    return pn.transform_up(plan, visit)


def read_stream(source: str | os.PathLike[str] | Iterable[pa.RecordBatch | pa.Table] | None = None, *,
                format: str = "parquet", schema: pa.Schema | Mapping[str, Any] | None = None,
                max_files_per_trigger: int | None = None, **options: Any) -> StreamFrame:
    """Start a stream.

    - ``read_stream(directory, format="csv"|"json"|"parquet", schema=...)``: files in a directory, new
      ones picked up as they appear (a Parquet schema may be taken from the first file);
    - ``read_stream(batches, schema=...)``: an iterable of Arrow record batches or tables (tests, demos);
    - ``read_stream(format="rate", rows_per_second=..., num_keys=..., limit=...)``: generated rows
      ``event_time, key, value`` for load tests.

    - ``read_stream(format="kafka", topic=..., bootstrap_servers=..., schema=..., starting_offsets="earliest")``:
      a Kafka topic of JSON messages, read by the Spark or Flink stream engine through its Kafka connector,
      whose jars are not on PyPI (configure ``spark_conf`` / ``flink_jars``; see docs/streaming.md).

    Examples
    --------
    >>> import unistack as us
    >>> us.read_stream(format="rate", rows_per_second=1000, limit=10).schema.names
    ['event_time', 'key', 'value']
    """
    declared = None
    if schema is not None:
        declared = schema if isinstance(schema, pa.Schema) else pa.schema(
            [pa.field(k, parse_dtype(v)) for k, v in schema.items()])
    src: StreamSource
    if format == "rate" and source is None:
        src = RateSource(**options)
    elif format == "kafka" and source is None:
        if declared is None:
            raise SchemaError("read_stream(format='kafka') needs schema=... (the fields of the JSON message values).")
        src = KafkaSource(schema=declared, **options)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if declared is None:
            declared = _infer_directory_schema(path, format)
        src = DirectorySource(path, format, declared, max_files_per_trigger)
    elif source is not None and isinstance(source, Iterable):
        if declared is None:
            raise SchemaError("read_stream(batches) needs schema=... (a pyarrow.Schema or {name: type}).")
        src = BatchesSource(source, declared, **options)
    else:
        raise InvalidTypeError(
            "read_stream() takes a directory path, an iterable of Arrow batches, format='rate' or format='kafka'."
        )
    inp = StreamInput(src)
    if len(set(canonical_schema(src.schema).names)) != len(src.schema.names):
        raise SchemaError("stream schema has duplicate column names.")
    return StreamFrame(StreamPlan(inp, pn.Scan(inp)))


def _infer_directory_schema(path: str, fmt: str) -> pa.Schema:
    if fmt != "parquet":
        raise SchemaError(f"a {fmt} stream needs schema=...: files arrive later, so types cannot be inferred safely.")
    if not os.path.isdir(path):
        raise UnistackError(f"stream directory {path!r} does not exist; create it first.")
    files = sorted(f for f in os.listdir(path) if f.endswith(".parquet") and not f.startswith((".", "_")))
    if not files:
        raise SchemaError(f"no Parquet file in {path!r} yet to take the schema from; pass schema=....")
    import pyarrow.parquet as pq

    return pq.read_schema(os.path.join(path, files[0])).remove_metadata()


__all__ = ["StreamFrame", "WindowedGroupBy", "WindowedStream", "format_duration", "read_stream"]
