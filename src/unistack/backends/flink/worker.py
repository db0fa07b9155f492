"""unistack's Flink worker: one long-lived PyFlink TableEnvironment serving requests on stdin/stdout.

This file runs as a script under the Python of the Flink environment (``unistack engines install flink``),
which has apache-flink, pyarrow 16 and pandas 2.2 but not unistack or its dependencies: it imports only
the standard library, pyflink and pyarrow, and loads ``protocol.py`` (next to it) by file path.

Requests (a JSON header plus Arrow IPC stream payloads, see protocol.py):

- ``start``: ``{"parallelism", "target", "rest_address", "rest_port", "session_cluster", "jars", "conf"}``;
  creates the TableEnvironment (batch mode) and answers with the versions and the start-up time. Local
  target: a MiniCluster started once in the worker's JVM that every job is submitted to (or, with
  ``session_cluster`` false, Flink's local executor, which starts a mini-cluster per job); remote target: a
  Flink cluster's REST endpoint, with the bundled flink-python jar in ``pipeline.jars``.
- ``query``: ``{"inputs": [...], "sql", "mode": "execute" | "explain"}``; each input is
  ``{"name", "kind": "arrow", "columns": [[name, flink type], ...]}`` (its data is the next payload)
  or ``{"name", "kind": "ddl", "ddl"}``. Inputs are temporary views/tables dropped after the query.
  ``execute`` answers with the result as one Arrow IPC stream; ``explain`` with Flink's plan text.
- ``stream_start``: ``{"id", "inputs", "pre_sql", "event_time", "views", "sql", "conf", "mode"}``
  submits a streaming query on a streaming TableEnvironment (see :meth:`Worker.stream_start`) and
  answers at once; ``stream_poll`` ``{"id"}`` answers with the rows collected since the last poll (one
  Arrow IPC stream) and ``done``; ``stream_cancel`` ``{"id"}`` cancels the job.
- ``ping``, ``shutdown``.

Lifecycle: the worker exits when its stdin closes or its parent dies (a watchdog thread), and then kills
its process group, which holds the JVM that PyFlink started. Anything PyFlink or the JVM prints goes to
stderr: stdout carries only protocol messages.
"""

import contextlib
import importlib.util
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_protocol() -> Any:
    spec = importlib.util.spec_from_file_location("_unistack_flink_protocol", os.path.join(_HERE, "protocol.py"))
    if spec is None or spec.loader is None:
        raise ImportError("protocol.py not found next to worker.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


protocol = _load_protocol()


def _kill_group_and_exit(code: int = 0) -> None:
    """Exit, taking the JVM along (it is in this process group when unistack started the worker)."""
    sys.stderr.flush()
    if os.getpgrp() == os.getpid():
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            os.killpg(os.getpgrp(), signal.SIGTERM)
    os._exit(code)


def _die_with_parent() -> None:
    """Exit (with the JVM) as soon as the process that started us is gone, even in the middle of a query.

    A watchdog thread polls the parent pid; Linux's PR_SET_PDEATHSIG is not used because it fires when
    the *thread* that started the worker ends, which in a thread pool is not the end of the process.
    """
    parent = os.getppid()
    if parent == 1:
        _kill_group_and_exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                _kill_group_and_exit(1)

    threading.Thread(target=watch, name="unistack-parent-watchdog", daemon=True).start()


def _parse_type(spec: str) -> Any:
    """A Flink DataType from the type text the main process sends (``BIGINT``, ``DECIMAL(12, 2)``...)."""
    from pyflink.table import DataTypes

    spec = spec.strip().upper()
    simple = {
        "BOOLEAN": DataTypes.BOOLEAN, "TINYINT": DataTypes.TINYINT, "SMALLINT": DataTypes.SMALLINT,
        "INT": DataTypes.INT, "BIGINT": DataTypes.BIGINT, "FLOAT": DataTypes.FLOAT,
        "DOUBLE": DataTypes.DOUBLE, "STRING": DataTypes.STRING, "BYTES": DataTypes.BYTES,
        "DATE": DataTypes.DATE,
    }
    if spec in simple:
        return simple[spec]()
    name, _, rest = spec.partition("(")
    args = [int(a) for a in rest.rstrip(")").split(",")] if rest else []
    if name == "TIMESTAMP":
        return DataTypes.TIMESTAMP(*args)
    if name == "DECIMAL":
        return DataTypes.DECIMAL(*args)
    raise ValueError(f"unsupported Flink type {spec!r}")


class Worker:
    def __init__(self) -> None:
        self.t_env: Any = None
        self.s_env: Any = None  # the streaming TableEnvironment, created by the first stream
        self.s_exec_env: Any = None
        self.cluster: Any = None  # the session MiniCluster (local target)
        self.conf: Any = None
        self.started = 0.0
        self.streams: dict[str, RunningStream] = {}

    # -- requests ------------------------------------------------------------------------------------

    def start(self, header: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        t0 = time.perf_counter()
        import pyarrow
        import pyflink
        from pyflink.common import Configuration
        from pyflink.table import EnvironmentSettings, TableEnvironment

        conf = Configuration()
        conf.set_string("parallelism.default", str(header.get("parallelism", 1)))
        conf.set_string("table.exec.resource.default-parallelism", str(header.get("parallelism", 1)))
        conf.set_string("table.local-time-zone", "UTC")
        if header.get("target", "local") == "local" and header.get("session_cluster", True):
            # One mini-cluster for the worker's life, jobs submitted to its REST endpoint: Flink's local
            # executor would start (and leak the RPC system of) a new mini-cluster for every job.
            host, port = self._start_session_cluster(int(header.get("parallelism", 1)))
            conf.set_string("execution.target", "remote")
            conf.set_string("rest.address", host)
            conf.set_string("rest.port", str(port))
            jars = []
        elif header.get("target", "local") == "remote":
            jar = os.path.join(os.path.dirname(pyflink.__file__), "opt")
            jars = [os.path.join(jar, f) for f in sorted(os.listdir(jar)) if f.startswith("flink-python")]
            conf.set_string("execution.target", "remote")
            conf.set_string("rest.address", str(header["rest_address"]))
            conf.set_string("rest.port", str(header["rest_port"]))
        else:
            jars = []
        jars += list(header.get("jars") or [])  # e.g. connectors the user added (option flink.jars)
        if jars:
            conf.set_string("pipeline.jars", ";".join("file://" + j for j in jars))
        for key, value in (header.get("conf") or {}).items():
            conf.set_string(str(key), str(value))
        self.conf = conf
        settings = EnvironmentSettings.new_instance().in_batch_mode().with_configuration(conf).build()
        self.t_env = TableEnvironment.create(settings)
        self.started = time.perf_counter() - t0
        return {"ok": True, "pyflink": _pyflink_version(), "pyarrow": pyarrow.__version__,
                "python": sys.version.split()[0], "startup_seconds": self.started}, []

    def _register(self, t_env: Any, inputs: list[dict[str, Any]], payloads: list[bytes],
                  created: list[tuple[str, str]]) -> None:
        """Register a request's inputs (Arrow views and DDL tables), noting each in ``created``."""
        pending = list(payloads)
        for item in inputs:
            if item["kind"] == "arrow":
                table = self._arrow_input(t_env, item["columns"], pending.pop(0))
                t_env.create_temporary_view(item["name"], table)
                created.append(("view", item["name"]))
            else:
                t_env.execute_sql(item["ddl"])
                created.append(("table", item["name"]))

    @staticmethod
    def _drop(t_env: Any, created: list[tuple[str, str]]) -> None:
        for kind, name in reversed(created):
            try:
                if kind == "view":
                    t_env.drop_temporary_view(name)
                else:
                    t_env.drop_temporary_table(name)
            except Exception:
                pass

    def query(self, header: dict[str, Any], payloads: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        t_env = self.t_env
        created: list[tuple[str, str]] = []
        try:
            self._register(t_env, header.get("inputs", []), payloads, created)
            if header.get("mode") == "explain":
                return {"ok": True, "explain": t_env.explain_sql(header["sql"])}, []
            t0 = time.perf_counter()
            data, rows = self._collect(t_env.sql_query(header["sql"]))
            return {"ok": True, "rows": rows, "flink_seconds": time.perf_counter() - t0}, [data]
        finally:
            self._drop(t_env, created)

    def _start_session_cluster(self, parallelism: int) -> tuple[str, int]:
        """Start a MiniCluster in this JVM (REST on a free port) and return its address. Its task manager
        shares the JVM's class path, so jobs need no jar upload."""
        from pyflink.java_gateway import get_gateway

        jvm = get_gateway().jvm
        conf = jvm.org.apache.flink.configuration.Configuration()
        conf.setString("rest.port", "0")
        conf.setString("rest.bind-address", "127.0.0.1")
        conf.setString("rest.address", "127.0.0.1")
        slots = max(4, parallelism * 2)  # a batch job and stream jobs can run at once
        builder = jvm.org.apache.flink.runtime.minicluster.MiniClusterConfiguration.Builder()
        cluster = jvm.org.apache.flink.runtime.minicluster.MiniCluster(
            builder.setConfiguration(conf).setNumTaskManagers(1).setNumSlotsPerTaskManager(slots).build())
        cluster.start()
        self.cluster = cluster
        uri = cluster.getRestAddress().get()
        return str(uri.getHost()), int(uri.getPort())

    # -- streams ------------------------------------------------------------------------------------------

    def _stream_env(self) -> Any:
        """The streaming TableEnvironment (one per worker, made on first use).

        ``pipeline.auto-watermark-interval = 0`` makes Flink's watermark assigner emit a new watermark
        as soon as it rises, i.e. after every row that raises it, instead of on a wall-clock timer: late
        rows are then decided by the rows before them, never by timing."""
        if self.s_env is None:
            from pyflink.common import Configuration
            from pyflink.datastream import StreamExecutionEnvironment
            from pyflink.table import EnvironmentSettings, StreamTableEnvironment

            conf = Configuration(self.conf)
            conf.set_string("pipeline.auto-watermark-interval", "0")
            env = StreamExecutionEnvironment.get_execution_environment(conf)
            settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
            self.s_env = StreamTableEnvironment.create(env, settings)
            self.s_exec_env = env
        return self.s_env

    def stream_start(self, header: dict[str, Any], payloads: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        """Register the inputs and views of a stream query, submit it and collect its rows on a thread.

        ``pre_sql`` is the stateless part; with ``event_time`` it goes through a DataStream and back so
        that a watermark can be declared on it (``__us_rt``: the event time at millisecond precision, null
        replaced by a time before any watermark; the query itself treats null event times as late).
        ``views`` are then defined in order and ``sql`` is submitted."""
        from pyflink.table import Schema

        t_env = self._stream_env()
        conf = header.get("conf") or {}
        if "parallelism.default" in conf:  # the DataStream part takes it from the execution environment
            self.s_exec_env.set_parallelism(int(conf["parallelism.default"]))
        for key, value in conf.items():
            t_env.get_config().set(str(key), str(value))
        created: list[tuple[str, str]] = []
        try:
            self._register(t_env, header.get("inputs", []), payloads, created)
            pre = t_env.sql_query(header["pre_sql"])
            et = header.get("event_time")
            if et is not None:
                schema = pre.get_schema()
                builder = Schema.new_builder()
                for name, dtype in zip(schema.get_field_names(), schema.get_field_data_types()):
                    builder = builder.column(name, dtype)
                builder = builder.column_by_expression(
                    "__us_rt", f"COALESCE(CAST({et['column']} AS TIMESTAMP(3)), TIMESTAMP '0001-01-01 00:00:00')")
                builder = builder.watermark("__us_rt", f"`__us_rt` - INTERVAL '{et['delay_seconds']}' SECOND")
                pre = t_env.from_data_stream(t_env.to_data_stream(pre), builder.build())
            t_env.create_temporary_view("__us_pre", pre)
            created.append(("view", "__us_pre"))
            for name, sql in header.get("views", []):
                t_env.create_temporary_view(name, t_env.sql_query(sql))
                created.append(("view", name))
            if header.get("mode") == "explain":
                text = t_env.explain_sql(header["sql"])
                self._drop(t_env, created)
                return {"ok": True, "explain": text}, []
            stream = RunningStream(t_env.sql_query(header["sql"]), lambda: self._drop(t_env, created))
        except BaseException:
            self._drop(t_env, created)
            raise
        self.streams[header["id"]] = stream
        return {"ok": True, "job_id": stream.job_id}, []

    def stream_poll(self, header: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        """The rows collected since the last poll (Arrow IPC), and whether the job has ended."""
        stream = self.streams.get(header["id"])
        if stream is None:
            return {"ok": False, "error": "UnknownStream", "message": f"no stream {header['id']!r}"}, []
        data, rows, done, error = stream.take()
        if done:
            self.streams.pop(header["id"], None)
            stream.cleanup()
        reply: dict[str, Any] = {"ok": True, "rows": rows, "done": done}
        if error is not None:
            reply["failed"] = error
        return reply, [data]

    def stream_cancel(self, header: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        stream = self.streams.get(header["id"])
        if stream is not None:
            stream.cancel()
        return {"ok": True}, []

    def _arrow_input(self, t_env: Any, columns: list[list[str]], data: bytes) -> Any:
        """A Flink table from an Arrow IPC stream, without pandas in between (the route from_pandas
        takes inside PyFlink, fed directly with Arrow record batches)."""
        import pyarrow as pa
        from pyflink.java_gateway import get_gateway
        from pyflink.table import Table
        from pyflink.table.types import RowField, RowType, _to_java_data_type, create_arrow_schema
        from pyflink.util.java_utils import load_java_class

        names = [c[0] for c in columns]
        types = [_parse_type(c[1]) for c in columns]
        row_type = RowType([RowField(n, t) for n, t in zip(names, types)])
        schema = create_arrow_schema(names, types)
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        arrays = [col.cast(f.type) if col.type != f.type else col for col, f in zip(table.columns, schema)]
        table = pa.Table.from_arrays(arrays, schema=schema)
        fd, path = tempfile.mkstemp(prefix="unistack-flink-", suffix=".arrow")
        try:
            with os.fdopen(fd, "wb") as out:
                writer = pa.RecordBatchStreamWriter(out, schema)
                for batch in table.to_batches():
                    writer.write_batch(batch)
                writer.close()
            jvm = get_gateway().jvm
            data_type = _to_java_data_type(row_type).notNull()
            data_type = data_type.bridgedTo(load_java_class("org.apache.flink.table.data.RowData"))
            desc = jvm.org.apache.flink.table.runtime.arrow.ArrowUtils.createArrowTableSourceDesc(data_type, path)
            return Table(getattr(t_env._j_tenv, "from")(desc), t_env)
        finally:
            os.unlink(path)

    def _collect(self, table: Any) -> tuple[bytes, int]:
        """Run a query and return its result as Arrow IPC stream bytes (and the row count)."""
        import pyarrow as pa
        from pyflink.java_gateway import get_gateway
        from pyflink.table.serializers import ArrowSerializer
        from pyflink.table.types import create_arrow_schema

        gateway = get_gateway()
        self.t_env._before_execute()
        j_table = table._j_table
        schema = table.get_schema()
        names, types = schema.get_field_names(), schema.get_field_data_types()
        arrow_schema = create_arrow_schema(names, types)
        size = j_table.getTableEnvironment().getConfig().get(
            gateway.jvm.org.apache.flink.python.PythonOptions.MAX_ARROW_BATCH_SIZE)
        batches_iterator = gateway.jvm.org.apache.flink.table.runtime.arrow.ArrowUtils.collectAsPandasDataFrame(
            j_table, size)
        batches = []
        if batches_iterator.hasNext():
            serializer = ArrowSerializer(arrow_schema, schema.to_row_data_type(), None)
            batches = list(serializer.load_from_iterator(batches_iterator))
        sink = pa.BufferOutputStream()
        writer = pa.ipc.new_stream(sink, arrow_schema)
        rows = 0
        for batch in batches:
            if batch.schema != arrow_schema:
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=arrow_schema)
            writer.write_batch(batch)
            rows += batch.num_rows
        writer.close()
        return sink.getvalue().to_pybytes(), rows


class RunningStream:
    """A submitted stream query whose rows a thread collects until the job ends or is cancelled.

    The collecting thread talks to the JVM through its own Py4J client. Py4J serves each connection on its
    own JVM thread and shares a client's connections between Python threads; Flink's planner keeps per-thread
    state (Calcite's metadata provider) on the JVM thread that created it, so a planning call that landed on
    the collector's connection failed with ``NullPointerException: metadataHandlerProvider``. With its own
    client the collector never lends a connection to the main thread. Rows are converted field by field
    (numbers, strings and bytes as Py4J gives them; decimals, dates and times from their Java text)."""

    def __init__(self, table: Any, cleanup: Any) -> None:
        import pyarrow as pa
        from pyflink.table.types import create_arrow_schema

        schema = table.get_schema()
        self.arrow_schema = create_arrow_schema(schema.get_field_names(), schema.get_field_data_types())
        self.rows: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()
        self.done = False
        self.error: dict[str, Any] | None = None
        self.cancelled = False
        self.cleanup = cleanup  # run by the main thread once the stream is done (it plans: main JVM thread)
        self._pa = pa
        self.result = table.execute()
        client = self.result.get_job_client()
        self.job_id = str(client.get_job_id()) if client is not None else None
        # kept referenced: Py4J releases a Java object when its last Python proxy goes away
        self._j_iterator = self.result._j_table_result.collect()
        self.thread = threading.Thread(target=self._run, name="unistack-flink-stream", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from py4j.java_gateway import GatewayParameters, JavaGateway, JavaObject
        from pyflink.java_gateway import get_gateway

        own: Any = None
        try:
            params = get_gateway().gateway_parameters
            own = JavaGateway(gateway_parameters=GatewayParameters(
                port=params.port, auth_token=params.auth_token, auto_convert=True))
            iterator = JavaObject(self._j_iterator._target_id, own._gateway_client)
            while iterator.hasNext():
                row = iterator.next()
                values = tuple(_python_value(row.getField(i), f.type) for i, f in enumerate(self.arrow_schema))
                with self.lock:
                    self.rows.append(values)
        except Exception as e:
            if not self.cancelled:
                self.error = _error(e)
        finally:
            self.done = True
            if own is not None:
                with contextlib.suppress(Exception):
                    own.close()

    def take(self) -> tuple[bytes, int, bool, dict[str, Any] | None]:
        pa = self._pa
        done = self.done  # read before taking the rows: rows added later are taken by the next poll
        with self.lock:
            rows, self.rows = self.rows, []
        columns = list(zip(*rows)) if rows else [() for _ in self.arrow_schema]
        arrays = [pa.array(list(values), type=f.type) for values, f in zip(columns, self.arrow_schema)]
        table = pa.Table.from_arrays(arrays, schema=self.arrow_schema)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.arrow_schema) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes(), len(rows), done, self.error

    def cancel(self) -> None:
        self.cancelled = True
        client = self.result.get_job_client()
        if client is not None and not self.done:
            with contextlib.suppress(Exception):  # the job may have ended meanwhile
                client.cancel().result()


def _python_value(value: Any, arrow_type: Any) -> Any:
    """A field of a Flink row, as Py4J hands it over, as the Python value Arrow expects for the column."""
    import datetime
    import decimal

    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    text = str(value.toString())
    import pyarrow as pa

    if pa.types.is_decimal(arrow_type):
        return decimal.Decimal(text)
    if pa.types.is_date(arrow_type):
        return datetime.date.fromisoformat(text)
    if pa.types.is_timestamp(arrow_type):
        return datetime.datetime.fromisoformat(text.rstrip("Z"))
    if pa.types.is_time(arrow_type):
        return datetime.time.fromisoformat(text)
    return text


def _pyflink_version() -> str:
    try:
        from importlib.metadata import version

        return version("apache-flink")
    except Exception:
        return "unknown"


def _error(e: BaseException) -> dict[str, Any]:
    """An error answer: the Java exception chain when there is one, else the Python error."""
    message = f"{type(e).__name__}: {e}"
    java = getattr(e, "java_exception", None)
    if java is not None:
        try:
            parts: list[str] = []
            cause = java
            while cause is not None and len(parts) < 12:
                text = str(cause.toString())
                if not parts or text not in parts[-1]:
                    parts.append(text)
                nxt = cause.getCause()
                cause = None if nxt is None or nxt.equals(cause) else nxt
            message = "\n  caused by: ".join(parts)
        except Exception:
            message = str(java)
    return {"ok": False, "error": type(e).__name__, "message": message[:20000],
            "traceback": traceback.format_exc()[-4000:]}


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # PyFlink, py4j and the JVM print to stdout; keep it for the protocol
    sys.stdout = sys.stderr
    signal.signal(signal.SIGTERM, lambda *_: _kill_group_and_exit(143))
    _die_with_parent()
    try:
        _serve(out)
    finally:
        _kill_group_and_exit(0)


def _serve(out: Any) -> None:
    """Answer requests until stdin closes, a shutdown request arrives, or the main process stops reading."""
    read_exact = protocol.stream_reader(sys.stdin.buffer)
    worker = Worker()
    while True:
        try:
            header, payloads = protocol.decode_from(read_exact)
        except protocol.ProtocolError:
            return  # stdin closed: the main process is gone or done with us
        op = header.get("op")
        reply: dict[str, Any]
        data: list[bytes]
        try:
            if op == "shutdown":
                protocol.send(out, {"ok": True})
                return
            if op == "ping":
                reply, data = {"ok": True, "started": worker.t_env is not None}, []
            elif op == "start":
                reply, data = worker.start(header)
            elif worker.t_env is None and op in ("query", "stream_start", "stream_poll", "stream_cancel"):
                raise RuntimeError("worker not started")
            elif op == "query":
                reply, data = worker.query(header, payloads)
            elif op == "stream_start":
                reply, data = worker.stream_start(header, payloads)
            elif op == "stream_poll":
                reply, data = worker.stream_poll(header)
            elif op == "stream_cancel":
                reply, data = worker.stream_cancel(header)
            else:
                reply, data = {"ok": False, "error": "ProtocolError", "message": f"unknown op {op!r}"}, []
        except Exception as e:
            reply, data = _error(e), []
        try:
            protocol.send(out, reply, data)
        except OSError:
            return  # the main process stopped reading (it timed out or exited)


if __name__ == "__main__":
    main()
