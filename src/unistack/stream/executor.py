"""The local micro-batch stream executor (the embedded default stream engine).

Per micro-batch it:

1. writes the batch's source offsets to the checkpoint (write-ahead), then reads those rows;
2. runs the stateless part of the plan on them with the Polars engine;
3. drops rows behind the watermark (counted as late), assigns event-time windows and computes partial
   aggregates with Polars;
4. merges the partials into the keyed window state, advances the watermark (largest event time seen minus
   the delay; it never goes back), and emits every window whose end the watermark has passed (append mode,
   once per window);
5. writes the results to the sink and then commits state, watermark and offsets atomically (Arrow IPC plus
   a JSON record, each written to a temporary file and renamed).

After a crash the last commit is loaded and an uncommitted batch is replayed from its recorded offsets; a
directory sink names files by batch id, so the replay overwrites rather than duplicates: each window result
is in the sink exactly once. At the end of a bounded input (or with ``trigger="available_now"``) every open
window is flushed.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import tempfile
import threading
import time
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from unistack.backends.polars.compile import agg_expr
from unistack.errors import UnsupportedOperationError
from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.stream.frame import StreamPlan, WindowStage, replace_leaf
from unistack.stream.handle import StreamHandle
from unistack.stream.sinks import make_sink
from unistack.stream.sources import StreamInput
from unistack.stream.windows import parse_duration

_UNIT_PER_US = {"s": 1e-6, "ms": 1e-3, "us": 1, "ns": 1000}
_INF = 2**62


def _typed_col(name: str, dtype: pa.DataType) -> ex.Column:
    c = ex.Column(name)
    object.__setattr__(c, "dtype", dtype)
    return c


def _agg(func: str, name: str, dtype: pa.DataType) -> pl.Expr:
    """The Polars expression of a unistack aggregate over one column (same semantics as the engine)."""
    node = ex.Agg(func, _typed_col(name, dtype))
    from unistack.plan.typecheck import bind

    bound = bind(node, pa.schema({name: dtype}))
    assert isinstance(bound, ex.Agg)
    return agg_expr(bound)


def _substitute(plan: pn.PlanNode, inp: StreamInput, table: pa.Table) -> pn.PlanNode:
    """The plan with the stream leaf replaced by one micro-batch of rows."""
    return replace_leaf(plan, inp, pn.InMemorySource(table))


def _materialise_static(plan: pn.PlanNode, inp: StreamInput) -> pn.PlanNode:
    """Run every sub-plan that does not read the stream (static join sides) once, up front."""
    from unistack.execution import execute

    def reads_stream(node: pn.PlanNode) -> bool:
        return any(isinstance(n, pn.Scan) and n.source == inp for n in node.walk())

    def visit(node: pn.PlanNode) -> pn.PlanNode:
        if isinstance(node, pn.Join) and not reads_stream(node.right):
            table = execute(node.right, engine="polars")
            return dataclasses.replace(node, right=pn.Scan(pn.InMemorySource(table)))
        return node

    return pn.transform_up(plan, visit)


@dataclasses.dataclass
class Progress:
    batches: int = 0
    rows_in: int = 0
    rows_out: int = 0
    late_rows_dropped: int = 0
    watermark_us: int | None = None
    state_rows: int = 0
    last_batch_seconds: float = 0.0
    started: float = dataclasses.field(default_factory=time.time)


def _final_expr(func: str, j: int) -> pl.Expr:
    """The final value of aggregate ``j`` from its merged partial columns."""
    c, s, q = pl.col(f"__c{j}"), pl.col(f"__s{j}"), pl.col(f"__q{j}")
    match func:
        case "len":
            return pl.col(f"__n{j}")
        case "count":
            return c
        case "sum":
            return s
        case "min" | "max":
            return pl.col(f"__m{j}")
        case "mean":
            return pl.when(c > 0).then(s / c)
        case "var":
            return pl.when(c > 1).then(q / (c - 1))
        case "std":
            return pl.when(c > 1).then((q / (c - 1)).sqrt())
    raise UnsupportedOperationError("local-stream", f"aggregate {func}")


class WindowAggregator:
    """Keyed window state for one window stage: partial aggregates per (window, keys)."""

    def __init__(self, stage: WindowStage, input_schema: pa.Schema) -> None:
        self.stage = stage
        unit = stage.time_type.unit
        self.per_us = _UNIT_PER_US[unit]
        spec = stage.spec
        self.size = int(spec.size_us * self.per_us)
        self.slide = int((spec.slide_us or 0) * self.per_us)
        self.gap = int((spec.gap_us or 0) * self.per_us)
        self.keys = [f"__k{i}" for i in range(len(stage.keys))]
        self.key_types = [k.dtype for k in stage.keys]
        self.aggs: list[tuple[str, str, pa.DataType | None]] = []  # (func, arg column, arg type)
        for j, a in enumerate(stage.aggs):
            base = ex.strip_alias(a)
            assert isinstance(base, ex.Agg)
            arg_type = base.operand.dtype if base.operand is not None else None
            self.aggs.append((base.func, f"__a{j}", arg_type))
        self.state: pl.DataFrame | None = None

    # -- partials -------------------------------------------------------------------------------------------
    def _partial_exprs(self) -> list[pl.Expr]:
        out: list[pl.Expr] = []
        for j, (func, col, t) in enumerate(self.aggs):
            if func == "len":
                out.append(pl.len().cast(pl.Int64).alias(f"__n{j}"))
                continue
            assert t is not None
            x = pl.col(col)
            out.append(x.count().cast(pl.Int64).alias(f"__c{j}"))
            if func == "sum":
                out.append(_agg("sum", col, t).alias(f"__s{j}"))
            elif func in ("min", "max"):
                out.append(_agg(func, col, t).alias(f"__m{j}"))
            elif func in ("mean", "std", "var"):
                xf = x.cast(pl.Float64)
                out.append(xf.sum().alias(f"__s{j}"))
                out.append(((xf - xf.mean()) ** 2).sum().alias(f"__q{j}"))
        return out

    def _merge_exprs(self) -> list[pl.Expr]:
        out: list[pl.Expr] = []
        for j, (func, _col, t) in enumerate(self.aggs):
            if func == "len":
                out.append(pl.col(f"__n{j}").sum().alias(f"__n{j}"))
                continue
            assert t is not None
            out.append(pl.col(f"__c{j}").sum().alias(f"__c{j}"))
            if func == "sum":
                out.append(_agg("sum", f"__s{j}", self._sum_type(t)).alias(f"__s{j}"))
            elif func in ("min", "max"):
                out.append(_agg(func, f"__m{j}", t).alias(f"__m{j}"))
            elif func in ("mean", "std", "var"):
                c, s, q = pl.col(f"__c{j}").cast(pl.Float64), pl.col(f"__s{j}"), pl.col(f"__q{j}")
                # Chan et al.: combine (n, sum, M2) of parts; mean_i = s_i / n_i.
                n = c.sum()
                total = s.sum()
                between = pl.when(c > 0).then(s * s / c).otherwise(0.0).sum() - pl.when(n > 0).then(
                    total * total / n).otherwise(0.0)
                out.append(total.alias(f"__s{j}"))
                out.append((q.sum() + between).alias(f"__q{j}"))
        return out

    def _sum_type(self, t: pa.DataType) -> pa.DataType:
        from unistack.plan.types import sum_type

        return sum_type(t)

    def _windows(self, df: pl.DataFrame) -> pl.DataFrame:
        t = pl.col("__t")
        if self.stage.spec.kind == "tumble":
            start = t - (t % self.size)
            return df.with_columns(start.alias("__ws"), (start + self.size).alias("__we"))
        k = self.size // self.slide
        last = t - (t % self.slide)
        parts = [df.with_columns((last - i * self.slide).alias("__ws")) for i in range(k)]
        return pl.concat(parts).with_columns((pl.col("__ws") + self.size).alias("__we"))

    def add(self, df: pl.DataFrame) -> None:
        """Fold one batch (columns __t, __k*, __a*) into the state."""
        if df.height == 0:
            return
        group = ["__ws", "__we", *self.keys]
        if self.stage.spec.kind == "session":
            partial = self._session_partials(df)
        else:
            partial = self._windows(df).group_by(group).agg(self._partial_exprs())
        combined = partial if self.state is None else pl.concat([self.state, partial], how="vertical_relaxed")
        if self.stage.spec.kind == "session":
            self.state = self._merge_sessions(combined)
        else:
            self.state = combined.group_by(group).agg(self._merge_exprs())

    def _session_partials(self, df: pl.DataFrame) -> pl.DataFrame:
        mini = df.with_columns(pl.col("__t").alias("__ws"), (pl.col("__t") + self.gap).alias("__we"))
        return self._merge_sessions(mini.group_by(["__ws", "__we", *self.keys]).agg(self._partial_exprs()))

    def _merge_sessions(self, parts: pl.DataFrame) -> pl.DataFrame:
        """Merge overlapping [start, end) intervals per key (vectorised: sort, running max of ends)."""
        keys = self.keys
        ordered = parts.sort([*keys, "__ws"], nulls_last=True)
        prev_end = pl.col("__we").cum_max().shift(1)
        if keys:
            prev_end = prev_end.over(keys)
        starts_new = (prev_end.is_null() | (pl.col("__ws") >= prev_end)).cast(pl.Int64)
        session_id = starts_new.cum_sum().over(keys) if keys else starts_new.cum_sum()
        with_id = ordered.with_columns(session_id.alias("__gid"))
        merged = with_id.group_by([*keys, "__gid"]).agg(
            pl.col("__ws").min(), pl.col("__we").max(), *self._merge_exprs()
        )
        partials = [c for c in merged.columns if c.startswith(("__n", "__c", "__s", "__m", "__q"))]
        return merged.select(["__ws", "__we", *keys, *partials])

    # -- emission -----------------------------------------------------------------------------------------
    def emit(self, watermark: int) -> pa.Table | None:
        """Remove and return every window whose end is at or before the watermark, finalised."""
        if self.state is None or self.state.height == 0:
            return None
        done = self.state.filter(pl.col("__we") <= watermark)
        if done.height == 0:
            return None
        self.state = self.state.filter(pl.col("__we") > watermark)
        return self._finalise(done)

    def _finalise(self, done: pl.DataFrame) -> pa.Table:
        out_schema = self.stage.output_schema
        cols: list[pl.Expr] = [pl.col("__ws"), pl.col("__we"), *[pl.col(k) for k in self.keys]]
        for j, (func, _col, _t) in enumerate(self.aggs):
            expr = _final_expr(func, j)
            cols.append(expr.alias(f"__out{j}"))
        table = done.select(cols).to_arrow(compat_level=pl.CompatLevel.oldest())
        arrays = []
        for column, field in zip(table.columns, out_schema):
            if pa.types.is_timestamp(field.type) and not pa.types.is_timestamp(column.type):
                column = pc.cast(column, pa.int64()).cast(pa.timestamp(field.type.unit, field.type.tz))
            arrays.append(column.cast(field.type))
        return pa.Table.from_arrays(arrays, schema=out_schema)

    def flush(self) -> pa.Table | None:
        return self.emit(_INF)

    # -- checkpointing ------------------------------------------------------------------------------------
    def state_table(self) -> pa.Table | None:
        return None if self.state is None else self.state.to_arrow(compat_level=pl.CompatLevel.oldest())

    def load(self, table: pa.Table | None) -> None:
        self.state = None if table is None else pl.from_arrow(table)  # type: ignore[assignment]

    def rows(self) -> int:
        return 0 if self.state is None else self.state.height


class LocalStreamExecutor:
    """Runs a :class:`StreamPlan` in micro-batches on this machine (see the module docstring)."""

    def __init__(self, plan: StreamPlan, sink: Any, checkpoint: str | None, trigger: str) -> None:
        self.plan = plan
        self.sink = sink
        self.checkpoint = os.path.abspath(checkpoint) if checkpoint else None
        self.available_now = trigger == "available_now"
        self.interval = 0.0 if self.available_now else parse_duration(trigger, "trigger") / 1e6
        self.source = plan.source.source
        self.offset: Any = self.source.initial_offset()
        self.next_batch = 0
        self.progress = Progress()
        self.aggregator: WindowAggregator | None = None
        self.pre = _materialise_static(plan.pre, plan.source)
        if plan.window is not None:
            stage = plan.window
            time_col = ex.Alias(_typed_col(stage.time_column, stage.time_type), "__t")
            object.__setattr__(time_col, "dtype", stage.time_type)
            prep: list[ex.ExprNode] = [time_col]
            prep += [self._alias(k, f"__k{i}") for i, k in enumerate(stage.keys)]
            for j, a in enumerate(stage.aggs):
                base = ex.strip_alias(a)
                assert isinstance(base, ex.Agg)
                if base.operand is not None:
                    prep.append(self._alias(base.operand, f"__a{j}"))
            self.pre = pn.Project(self.pre, tuple(prep))
            self.aggregator = WindowAggregator(stage, plan.pre.schema)
        self._stop = threading.Event()

    @staticmethod
    def _alias(node: ex.ExprNode, name: str) -> ex.ExprNode:
        out = ex.Alias(node, name)
        object.__setattr__(out, "dtype", node.dtype)
        return out

    # -- checkpoint files -------------------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        assert self.checkpoint is not None
        return os.path.join(self.checkpoint, *parts)

    @staticmethod
    def _atomic_write(path: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _write_ahead(self, batch: int, descriptor: Any, new_offset: Any) -> None:
        if self.checkpoint:
            record = {"batch": batch, "descriptor": descriptor, "offset": new_offset}
            self._atomic_write(self._path("offsets", f"{batch:08d}.json"), json.dumps(record).encode())

    def _commit(self, batch: int, finished: bool = False) -> None:
        if not self.checkpoint:
            return
        state_file = None
        if self.aggregator is not None:
            table = self.aggregator.state_table()
            if table is not None:
                sink = pa.BufferOutputStream()
                with pa.ipc.new_file(sink, table.schema) as writer:
                    writer.write_table(table)
                state_file = f"state-{batch:08d}.arrow"
                self._atomic_write(self._path(state_file), sink.getvalue().to_pybytes())
        p = self.progress
        record = {"batch": batch, "offset": self.offset, "watermark_us": p.watermark_us, "state": state_file,
                  "finished": finished, "rows_in": p.rows_in, "rows_out": p.rows_out,
                  "late_rows_dropped": p.late_rows_dropped}
        self._atomic_write(self._path("commits", f"{batch:08d}.json"), json.dumps(record).encode())
        for old in sorted(glob.glob(self._path("state-*.arrow")))[:-2]:
            os.remove(old)

    def _recover(self) -> dict[str, Any] | None:
        """Load the last commit; return the write-ahead record of an uncommitted batch to replay, if any."""
        if not self.checkpoint:
            return None
        os.makedirs(self._path("offsets"), exist_ok=True)
        os.makedirs(self._path("commits"), exist_ok=True)
        commits = sorted(glob.glob(self._path("commits", "*.json")))
        if commits:
            with open(commits[-1]) as fh:
                record = json.load(fh)
            self.offset = record["offset"]
            self.next_batch = record["batch"] + 1
            p = self.progress
            p.watermark_us = record["watermark_us"]
            p.rows_in, p.rows_out = record["rows_in"], record["rows_out"]
            p.late_rows_dropped = record["late_rows_dropped"]
            if self.aggregator is not None and record["state"]:
                with pa.memory_map(self._path(record["state"])) as source:
                    self.aggregator.load(pa.ipc.open_file(source).read_all())
            if record.get("finished"):
                self._stop.set()
                return None
        pending = self._path("offsets", f"{self.next_batch:08d}.json")
        if os.path.exists(pending):
            with open(pending) as fh:
                pending_record: dict[str, Any] = json.load(fh)
                return pending_record
        return None

    # -- the loop ---------------------------------------------------------------------------------------------------
    def run(self) -> None:
        self.sink.open(self.plan.schema)
        replay = self._recover()
        if replay is not None:
            self._process(replay["batch"], replay["descriptor"], replay["offset"])
        while not self._stop.is_set():
            t0 = time.monotonic()
            planned = self.source.plan(self.offset)
            if planned is not None:
                descriptor, new_offset = planned
                batch = self.next_batch
                self._write_ahead(batch, descriptor, new_offset)
                self._process(batch, descriptor, new_offset)
                if not self.available_now:  # one micro-batch per trigger interval (immediately if it overran)
                    self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))
                continue
            if self.available_now or self.source.exhausted(self.offset):
                self._finish()
                return
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)) or 0.01)

    def stop(self) -> None:
        self._stop.set()

    def _finish(self) -> None:
        if self.aggregator is not None:
            out = self.aggregator.flush()
            if out is not None:
                self._emit(self.next_batch, out)
        self._commit(self.next_batch, finished=True)
        self.next_batch += 1

    def _emit(self, batch: int, table: pa.Table) -> None:
        if self.plan.post is not None and self.plan.post_input is not None:
            from unistack.execution import execute

            table = execute(_substitute(self.plan.post, self.plan.post_input, table), engine="polars")
        if table.num_rows:
            self.sink.write(batch, table)
            self.progress.rows_out += table.num_rows

    def _process(self, batch: int, descriptor: Any, new_offset: Any) -> None:
        from unistack.execution import execute

        t0 = time.perf_counter()
        rows = self.source.read(descriptor)
        p = self.progress
        p.rows_in += rows.num_rows
        table = execute(_substitute(self.pre, self.plan.source, rows), engine="polars")
        if self.aggregator is None:
            self._emit(batch, table)
        else:
            df = pl.from_arrow(table)
            assert isinstance(df, pl.DataFrame)
            ts = pl.col("__t").cast(pl.Int64)
            df = df.with_columns(ts.alias("__t"))
            floor = p.watermark_us if p.watermark_us is not None else -_INF
            on_time = pl.col("__t").is_not_null() & (pl.col("__t") >= floor)
            late_rows = df.height - df.filter(on_time).height
            if late_rows:
                p.late_rows_dropped += late_rows
                df = df.filter(on_time)
            self.aggregator.add(df)
            if df.height:
                delay = int(self.plan.watermark_us * self.aggregator.per_us)
                candidate = int(df["__t"].max()) - delay  # type: ignore[arg-type]
                p.watermark_us = candidate if p.watermark_us is None else max(p.watermark_us, candidate)
            out = self.aggregator.emit(p.watermark_us) if p.watermark_us is not None else None
            if out is not None:
                self._emit(batch, out)
            p.state_rows = self.aggregator.rows()
        self.offset = new_offset
        self._commit(batch)
        self.next_batch = batch + 1
        p.batches += 1
        p.last_batch_seconds = time.perf_counter() - t0


class StreamingQuery(StreamHandle):
    """A running stream: ``stop()``, ``await_termination(timeout)``, ``status``, ``progress``, ``exception``.

    Examples
    --------
    >>> import unistack as us
    >>> q = us.read_stream(format="rate", rows_per_second=1e6, limit=1000, realtime=False).write_stream(
    ...     us.MemorySink(), trigger="available_now")
    >>> q.await_termination(30), q.status, q.progress["rows_in"]
    (True, 'finished', 1000)
    """

    engine_label = "local-stream"

    def __init__(self, executor: LocalStreamExecutor) -> None:
        self._executor = executor
        self._status = "running"
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="unistack-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._executor.run()
            self._status = "stopped" if self._executor._stop.is_set() and self._status == "stopping" else "finished"
        except BaseException as e:  # reported through status/exception/await_termination
            self._error = e
            self._status = "failed"

    @property
    def progress(self) -> dict[str, Any]:
        """Batches, rows in and out, late rows dropped, the watermark, state size, events per second."""
        p = self._executor.progress
        elapsed = max(time.time() - p.started, 1e-9)
        wm = None
        if p.watermark_us is not None and self._executor.aggregator is not None:
            unit = self._executor.aggregator.stage.time_type.unit
            wm = pa.scalar(p.watermark_us, pa.timestamp(unit, "UTC")).as_py() if abs(p.watermark_us) < _INF else None
        return {
            "batches": p.batches, "rows_in": p.rows_in, "rows_out": p.rows_out,
            "late_rows_dropped": p.late_rows_dropped, "watermark": wm, "state_rows": p.state_rows,
            "last_batch_seconds": p.last_batch_seconds, "events_per_second": p.rows_in / elapsed,
        }

    def stop(self, timeout: float | None = 60) -> None:
        """Stop after the current micro-batch (its results and checkpoint are complete)."""
        if self._status == "running":
            self._status = "stopping"
        self._executor.stop()
        self._thread.join(timeout)


def start_stream(plan: StreamPlan, target: Any, *, format: str, checkpoint: str | None, trigger: str,
                 engine: str | None) -> Any:
    """Start ``plan`` on a stream engine and return its handle."""
    from unistack.stream.route import choose_stream_engine

    if trigger != "available_now":
        parse_duration(trigger, "trigger")
    name = choose_stream_engine(plan, trigger, engine).engine
    if name == "flink":
        from unistack.stream.flink import start_flink_stream

        return start_flink_stream(plan, target, checkpoint, trigger, format=format)
    if name == "spark":
        from unistack.backends.registry import is_installed

        if not is_installed("spark"):
            from unistack.errors import EngineNotAvailableError

            raise EngineNotAvailableError("stream engine 'spark' needs pyspark: pip install 'unistack[spark]'")
        from unistack.stream.spark import start_spark_stream

        return start_spark_stream(plan, target, checkpoint, trigger, format=format)
    sink = make_sink(target, format)
    if checkpoint is not None:
        os.makedirs(checkpoint, exist_ok=True)
    return StreamingQuery(LocalStreamExecutor(plan, sink, checkpoint, trigger))
