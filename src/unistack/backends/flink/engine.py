"""The Flink engine object and the client of its worker process.

The main process never imports PyFlink. :class:`WorkerClient` starts ``worker.py`` under the Flink
environment's Python (its own process group), talks to it over stdin/stdout (JSON headers plus Arrow IPC
stream payloads, see protocol.py), bounds every request by ``flink.timeout``, and kills the process group
(worker and JVM) when the worker crashes, hangs, or this process exits. A dead or stopped worker is
replaced by a fresh one on the next query.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from typing import Any

import pyarrow as pa

from unistack.backends.base import Capabilities, EngineStatus, conform
from unistack.backends.flink import protocol
from unistack.backends.flink.compile import Compiled, compile_plan, implemented_operations, shipped_bytes
from unistack.backends.flink.provision import find_python
from unistack.backends.registry import engines_changed
from unistack.config import get_option
from unistack.errors import DataSourceError, EngineError, EngineNotAvailableError, UnistackError
from unistack.plan import nodes as pn

ENGINE = "flink"
WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")

UNSUPPORTED = {
    "node:MapBatches": "the Flink runtime is a separate Python without unistack, so user functions cannot be "
                       "shipped to it",
    "agg:first": "Flink's batch execution does not keep input order (parallel sources, hash exchanges), which "
                 "first needs",
    "agg:last": "Flink's batch execution does not keep input order (parallel sources, hash exchanges), which "
                "last needs",
}

_clients: weakref.WeakSet[WorkerClient] = weakref.WeakSet()


def _close_all() -> None:
    for client in list(_clients):
        client.close()
        with contextlib.suppress(OSError):
            os.unlink(client.log_path)  # kept until exit: error messages quote its tail


atexit.register(_close_all)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def jvm_heap() -> str:
    """The local Flink JVM's maximum heap: the ``flink.jvm_heap`` option, else half the machine's memory
    (at most 16 GiB). Inputs reach Flink inside the job graph (there is no Parquet format in its wheel), and
    Java's default quarter of memory ran out at TPC-H SF 1.

    >>> jvm_heap().endswith(("m", "g"))
    True
    """
    chosen = get_option("flink.jvm_heap")
    if chosen:
        return str(chosen)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "4g"
    return f"{max(1024, min(16 * 1024, total // 2 // 2**20))}m"


class WorkerClient:
    """One worker process (and its JVM): start, request with a deadline, stop.

    Examples
    --------
    >>> client = WorkerClient("/path/to/flink-env/bin/python", {"parallelism": 1})  # doctest: +SKIP
    >>> client.request({"op": "ping"}, timeout=10)  # doctest: +SKIP
    ({'ok': True, 'started': True, 'payloads': []}, [])
    """

    def __init__(self, python: str, settings: dict[str, Any]) -> None:
        self.python = python
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.startup_seconds: float | None = None
        self.jvm_tmp: str | None = None
        self.jobs = 0  # queries run by the current worker
        self.streams: set[str] = set()  # stream jobs running in the current worker
        self.lock = threading.RLock()
        fd, self.log_path = tempfile.mkstemp(prefix="unistack-flink-worker-", suffix=".log")
        os.close(fd)
        _clients.add(self)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float) -> None:
        """Start the worker and its TableEnvironment (a no-op when it is running)."""
        with self.lock:
            if self.alive():
                return
            self.close()
            t0 = time.perf_counter()
            env = dict(os.environ)
            env["PYTHONUNBUFFERED"] = "1"
            env.pop("PYTHONPATH", None)  # the worker must not see this process's packages
            jvm_args = env.get("JVM_ARGS", "")  # PyFlink passes JVM_ARGS to the JVM it launches
            if "-Xmx" not in jvm_args:
                jvm_args += f" -Xmx{jvm_heap()}"
            if "log4j2.contextSelector" not in jvm_args:
                # Each local job runs in its own mini-cluster and user-code class loader; log4j's default
                # selector gives every class loader a logger context (and a monitor thread) that is never
                # stopped, which kept ~35 MB and a thread per job until the JVM ran out after ~400 jobs.
                jvm_args += " -Dlog4j2.contextSelector=org.apache.logging.log4j.core.selector.BasicContextSelector"
            if "java.io.tmpdir" not in jvm_args:
                # The JVM unpacks Flink's planner jar (45 MB) into its temp directory on every start and
                # deletes it only on a clean exit: a private directory removed by close() cannot leak.
                self.jvm_tmp = tempfile.mkdtemp(prefix="unistack-flink-jvm-")
                jvm_args += f" -Djava.io.tmpdir={self.jvm_tmp}"
            env["JVM_ARGS"] = jvm_args.strip()
            try:
                with open(self.log_path, "ab") as log:
                    self.proc = subprocess.Popen(
                        [self.python, WORKER_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=log, start_new_session=True, env=env,
                    )
            except OSError as e:
                raise EngineNotAvailableError(f"cannot start the Flink worker with {self.python}: {e}") from e
            self.jobs = 0
            reply, _ = self._exchange({"op": "start", **self.settings}, (), timeout, "starting Flink")
            self.info = reply
            self.startup_seconds = time.perf_counter() - t0

    def request(self, header: dict[str, Any], payloads: list[bytes] | tuple[bytes, ...] = (),
                timeout: float | None = None) -> tuple[dict[str, Any], list[bytes]]:
        """Send one request and wait for its answer (starting the worker first if needed)."""
        timeout = float(get_option("flink.timeout")) if timeout is None else timeout
        with self.lock:
            if (header.get("op") == "query" and self.settings.get("target", "local") == "local"
                    and not self.streams and self.jobs >= int(get_option("flink.jobs_per_worker"))):
                self.close()  # bounded JVM memory: see the option flink.jobs_per_worker
            self.start(timeout)
            if header.get("op") == "query":
                self.jobs += 1
            return self._exchange(header, payloads, timeout, "running the query")

    def open_stream(self, stream_id: str, header: dict[str, Any], payloads: list[bytes]) -> dict[str, Any]:
        """Submit a stream job (see stream/flink.py); the worker is not recycled while it runs."""
        with self.lock:
            self.start(float(get_option("flink.timeout")))
            self.jobs += 1
            self.streams.add(stream_id)
            try:
                reply, _ = self._exchange(header, payloads, float(get_option("flink.timeout")), "starting the stream")
            except BaseException:
                self.streams.discard(stream_id)
                raise
            return reply

    def close_stream(self, stream_id: str) -> None:
        self.streams.discard(stream_id)

    def _exchange(self, header: dict[str, Any], payloads: Any, timeout: float, what: str
                  ) -> tuple[dict[str, Any], list[bytes]]:
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        message = protocol.encode(header, payloads)
        write_error: list[BaseException] = []

        def write() -> None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(message)
                proc.stdin.flush()
            except (OSError, ValueError) as e:
                write_error.append(e)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        fd = proc.stdout.fileno()

        def read_exact(n: int) -> bytes:
            chunks: list[bytes] = []
            left = n
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
                if not ready:
                    continue
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    raise protocol.ProtocolError("worker closed its output")
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)

        try:
            reply, data = protocol.decode_from(read_exact)
        except TimeoutError:
            self.close(graceful=False)
            raise EngineError(
                ENGINE, f"no answer from the Flink worker within {timeout:g} s while {what} (option flink.timeout); "
                "the worker and its JVM were stopped and a new one starts on the next query."
            ) from None
        except (protocol.ProtocolError, OSError) as e:
            code = proc.poll()
            self.close(graceful=False)
            detail = f"exit code {code}" if code is not None else str(e)
            raise EngineError(
                ENGINE, f"the Flink worker died while {what} ({detail}); a new one starts on the next query. "
                f"Worker log: {self.log_tail()}"
            ) from None
        finally:
            writer.join(timeout=5)
        if not reply.get("ok"):
            message_text = str(reply.get("message", "unknown error"))
            if what == "starting Flink":
                self.close(graceful=False)
            if "FileNotFoundException" in message_text or "does not exist" in message_text.lower():
                raise DataSourceError(f"Flink cannot read an input: {message_text}")
            raise EngineError(ENGINE, message_text)
        return reply, data

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(self.log_path) - 8000))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:]) or "(empty)"

    def close(self, graceful: bool = True) -> None:
        """Stop the worker and kill its process group (the JVM included)."""
        with self.lock:
            proc, self.proc = self.proc, None
            if proc is None:
                return
            engines_changed()
            if graceful and proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.write(protocol.encode({"op": "shutdown"}))
                    proc.stdin.flush()
                    proc.stdin.close()
                    proc.wait(timeout=10)
                except (OSError, ValueError, subprocess.TimeoutExpired):
                    pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if self.jvm_tmp is not None:
                shutil.rmtree(self.jvm_tmp, ignore_errors=True)
                self.jvm_tmp = None


class FlinkEngine:
    """Runs plans as Flink SQL in batch mode, in a worker process holding one TableEnvironment
    (a local mini-cluster, or a remote cluster with ``flink.target='remote'``)."""

    name = ENGINE

    def __init__(self) -> None:
        self._client: WorkerClient | None = None
        self._lock = threading.RLock()
        self.last_query_seconds: float | None = None  # round trip of the last query, seen from here
        self.last_flink_seconds: float | None = None  # of which inside the worker (planning + job)

    # -- the worker ---------------------------------------------------------------------------------------

    @staticmethod
    def _settings() -> dict[str, Any]:
        return {
            "parallelism": int(get_option("flink.parallelism")),
            "target": str(get_option("flink.target")),
            "rest_address": str(get_option("flink.rest_address")),
            "rest_port": int(get_option("flink.rest_port")),
            "jars": [os.path.abspath(p) for p in get_option("flink.jars")],
            "session_cluster": bool(get_option("flink.session_cluster")),
        }

    def client(self) -> WorkerClient:
        """The worker client for the current options (a new worker when the options changed)."""
        python = find_python()
        settings = self._settings()
        if settings["target"] not in ("local", "remote"):
            raise EngineNotAvailableError(f"flink.target must be 'local' or 'remote', got {settings['target']!r}.")
        with self._lock:
            c = self._client
            if c is None or c.python != python or c.settings != settings:
                if c is not None:
                    c.close()
                c = self._client = WorkerClient(python, settings)
            return c

    def close(self) -> None:
        """Stop the worker and its JVM (a new one starts on the next query)."""
        with self._lock:
            if self._client is not None:
                self._client.close()

    # -- Engine protocol ------------------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        return Capabilities.from_translator(implemented_operations(), UNSUPPORTED)

    def status(self) -> EngineStatus:
        try:
            python = find_python()
        except EngineNotAvailableError as e:
            return EngineStatus(installed=False, detail=str(e))
        c = self._client
        warm = c is not None and c.alive()
        target = self._settings()
        cluster = (f"{target['rest_address']}:{target['rest_port']}" if target["target"] == "remote" else None)
        detail = f"PyFlink worker under {python}"
        if warm and c is not None:
            detail += f" (apache-flink {c.info.get('pyflink')}, pid {c.pid})"
        return EngineStatus(installed=True, warm=warm, cores=os.cpu_count(), detail=detail, cluster=cluster)

    def compile(self, plan: pn.PlanNode) -> Compiled:
        """The Flink SQL for a plan and the inputs it registers."""
        return compile_plan(plan)

    def shipped_bytes(self, plan: pn.PlanNode) -> int:
        """Bytes of input sent from this process to Flink as Arrow (the planner's transfer cost)."""
        return shipped_bytes(plan)

    def _request(self, compiled: Compiled, mode: str) -> tuple[dict[str, Any], list[bytes]]:
        inputs: list[dict[str, Any]] = []
        payloads: list[bytes] = []
        for item in compiled.inputs:
            if item.kind == "arrow":
                assert item.table is not None
                inputs.append({"name": item.name, "kind": "arrow", "columns": item.columns})
                payloads.append(_ipc(item.table))
            else:
                inputs.append({"name": item.name, "kind": "ddl", "ddl": item.ddl})
        header = {"op": "query", "mode": mode, "sql": compiled.sql, "inputs": inputs}
        return self.client().request(header, payloads)

    def execute(self, plan: pn.PlanNode) -> pa.Table:
        compiled = self.compile(plan)
        t0 = time.perf_counter()
        reply, data = self._request(compiled, "execute")
        self.last_query_seconds = time.perf_counter() - t0
        self.last_flink_seconds = reply.get("flink_seconds")
        try:
            table = pa.ipc.open_stream(pa.py_buffer(data[0])).read_all()
            return conform(_restore_types(table, plan.schema), plan.schema)
        except UnistackError:
            raise
        except (pa.ArrowException, ValueError, IndexError) as e:
            raise EngineError(ENGINE, f"cannot convert Flink's result to the plan's schema: {e}") from e

    def explain_native(self, plan: pn.PlanNode) -> str:
        compiled = self.compile(plan)
        reply, _ = self._request(compiled, "explain")
        return f"== Flink SQL ==\n{compiled.sql}\n== Flink plan (TableEnvironment.explain_sql) ==\n{reply['explain']}"


def _restore_types(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Undo what Flink's types cannot hold before :func:`conform` casts the rest: null-typed columns
    (held as BOOLEAN) and time zones (timestamps travel as UTC wall time)."""
    if table.num_columns != len(schema):
        return table
    arrays = []
    for column, f in zip(table.columns, schema):
        if pa.types.is_null(f.type):
            column = pa.chunked_array([pa.nulls(len(column))], type=pa.null())
        elif pa.types.is_timestamp(f.type) and f.type.tz is not None and pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp(f.type.unit)).cast(f.type)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=schema.names)


def engine_pid_tree(pid: int) -> list[int]:
    """Process ids in the worker's process group (the worker and its JVM); for tests and diagnostics."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pid:
                    out.append(int(entry))
            except (ProcessLookupError, PermissionError):
                continue
    return sorted(out)

