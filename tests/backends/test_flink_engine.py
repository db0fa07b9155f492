"""The Flink engine's runtime: worker lifecycle, failure handling, provisioning errors, explain.

Tests that need the Flink environment skip when it is not installed (``unistack engines install
flink``); they share the registry's engine, so one worker (and JVM) serves the whole session except
where a test kills it on purpose. Run under ``flock /tmp/unistack-heavy.lock``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pyarrow as pa
import pytest

import unistack as us
from unistack.backends.flink import protocol
from unistack.backends.flink.compile import compile_plan, literal_sql, shipped_bytes
from unistack.backends.flink.engine import FlinkEngine, engine_pid_tree
from unistack.backends.flink.provision import find_python
from unistack.backends.registry import get_engine
from unistack.errors import EngineError, EngineNotAvailableError, UnsupportedOperationError


def _flink_available() -> bool:
    try:
        find_python()
    except EngineNotAvailableError:
        return False
    return True


needs_flink = pytest.mark.skipif(not _flink_available(), reason="Flink environment not installed "
                                 "(unistack engines install flink)")


@pytest.fixture(scope="session")
def flink() -> FlinkEngine:
    engine = get_engine("flink")
    assert isinstance(engine, FlinkEngine)
    return engine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int], seconds: float = 30.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def _slow_frame() -> us.LazyFrame:
    """A query that keeps Flink busy far longer than the test waits: a 40k x 40k cross join whose aggregate
    needs both sides (``sum(x)`` alone finished at once: the optimizer turns it into ``sum(x) * count(y)``)."""
    a = us.from_dict({"x": list(range(40_000))})
    b = us.from_dict({"y": list(range(40_000))})
    return a.join(b, how="cross").select(((us.col("x") * us.col("y")) % 7).sum().alias("s"))


# -- no JVM needed -----------------------------------------------------------------------------------------


def test_protocol_roundtrip_with_arrow_payload() -> None:
    table = pa.table({"a": pa.array([1, None], pa.int64()), "s": ["x", "y"]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    raw = protocol.encode({"op": "query", "sql": "SELECT 1"}, [sink.getvalue().to_pybytes(), b""])
    header, payloads = protocol.decode_from(protocol.iter_reader(raw))
    assert header["op"] == "query" and header["sql"] == "SELECT 1"
    assert len(payloads) == 2 and payloads[1] == b""
    assert pa.ipc.open_stream(payloads[0]).read_all().to_pydict() == {"a": [1, None], "s": ["x", "y"]}
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_from(protocol.iter_reader(raw[:-3]))


def test_protocol_module_is_standard_library_only() -> None:
    # The worker loads protocol.py by path under another Python: it may import nothing else.
    with open(protocol.__file__) as fh:
        source = fh.read()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "json", "struct", "collections", "typing"}


def test_worker_imports_only_stdlib_pyflink_pyarrow() -> None:
    # the worker runs under the Flink environment's Python, which has no unistack dependencies
    import ast

    from unistack.backends.flink import worker

    with open(worker.__file__) as fh:
        tree = ast.parse(fh.read())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    third_party = {m for m in modules if m not in sys.stdlib_module_names}
    assert third_party == {"pyflink", "pyarrow", "py4j"}  # py4j: PyFlink's own bridge to the JVM, installed with it


def test_literals_are_escaped() -> None:
    assert literal_sql("it's", pa.large_string()) == "'it''s'"
    assert literal_sql("a\nb", pa.large_string()) == "U&'a\\000Ab'"
    assert literal_sql(None, pa.int32()) == "CAST(NULL AS INT)"
    assert literal_sql(float("-inf"), pa.float64()) == "CAST('-Infinity' AS DOUBLE)"


def test_compiled_sql_quotes_identifiers_and_sorts_outermost() -> None:
    frame = us.from_dict({"we`ird": [2, 1]}).sort("we`ird", descending=True)
    sql = compile_plan(frame.plan).sql
    assert "`we``ird`" in sql
    assert "DESC NULLS LAST" in sql
    assert sql.endswith("ORDER BY `__us_ord`")


def test_parquet_is_shipped_and_counted(tmp_path: os.PathLike[str]) -> None:
    import pyarrow.parquet as pq

    path = os.path.join(str(tmp_path), "t.parquet")
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    frame = us.read_parquet(path)
    compiled = compile_plan(frame.plan)
    assert [i.kind for i in compiled.inputs] == ["arrow"] and compiled.inputs[0].via_main_process
    assert shipped_bytes(frame.plan) == os.path.getsize(path)


def test_missing_environment_names_the_install_command(tmp_path: os.PathLike[str]) -> None:
    frame = us.from_dict({"a": [1]})
    with us.config(cache_dir=str(tmp_path), flink_python=None):
        engine = FlinkEngine()
        assert engine.status().installed is False
        with pytest.raises(EngineNotAvailableError, match="unistack engines install flink"):
            engine.execute(frame.plan)
    with us.config(flink_python=os.path.join(str(tmp_path), "no-such-python")), \
            pytest.raises(EngineNotAvailableError, match=r"does not exist.*unistack engines install flink"):
        FlinkEngine().execute(frame.plan)


def test_map_batches_is_declared_unsupported() -> None:
    caps = FlinkEngine().capabilities()
    assert "node:MapBatches" not in caps.supported
    assert "user functions" in caps.unsupported["node:MapBatches"]
    frame = us.from_dict({"a": [1]}).map_batches(lambda b: b, schema={"a": "int64"})
    with pytest.raises(UnsupportedOperationError, match="flink"):
        frame.collect(engine="flink")


def test_importing_unistack_does_not_import_pyflink() -> None:
    code = "import unistack, unistack.backends.flink, sys; print('pyflink' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- with the worker -------------------------------------------------------------------------------------


@needs_flink
def test_query_and_explain_use_one_worker(flink: FlinkEngine) -> None:
    frame = us.from_dict({"k": ["a", "b", "a", None], "v": [1, 2, 3, 4]}).group_by("k").agg(
        us.col("v").sum().alias("s")).sort("k")
    first = frame.collect(engine="flink")
    assert first.to_pydict() == {"k": ["a", "b", None], "s": [4, 2, 4]}
    pid = flink.client().pid
    explanation = us.explain(frame, engine="flink")
    assert explanation.native is not None
    assert "== Optimized Execution Plan ==" in explanation.native  # Flink's own explain_sql output
    assert "HashAggregate" in explanation.native
    assert flink.client().pid == pid  # reused, not restarted
    assert flink.status().warm


@needs_flink
def test_killed_worker_mid_query_gives_clear_error_then_recovers(flink: FlinkEngine) -> None:
    us.from_dict({"a": [1]}).collect(engine="flink")  # warm
    client = flink.client()
    pid = client.pid
    assert pid is not None
    group = engine_pid_tree(pid)
    assert len(group) >= 2  # the worker and its JVM

    def kill_soon() -> None:
        time.sleep(3.0)
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_soon)
    killer.start()
    started = time.monotonic()
    try:
        with pytest.raises(EngineError, match=r"worker died while running the query.*new one starts"):
            _slow_frame().collect(engine="flink")
    finally:
        killer.join()  # never let the kill land in a later test
    assert time.monotonic() - started < 60
    assert _wait_gone(group) == []  # the JVM went with the worker: no orphan
    result = us.from_dict({"a": [1, 2]}).filter(us.col("a") > 1).collect(engine="flink")
    assert result.to_pydict() == {"a": [2]}
    assert flink.client().pid != pid


@needs_flink
def test_worker_is_recycled_after_jobs_per_worker_queries(flink: FlinkEngine) -> None:
    """Local Flink keeps ~13 MB of JVM metaspace per job: the worker restarts every N queries, cleanly."""
    pids, tmp_dirs = [], set()
    with us.config(flink_jobs_per_worker=2):
        for i in range(5):
            got = us.from_dict({"a": [i]}).select(b=us.col("a") + 1).collect(engine="flink")
            assert got.to_pydict() == {"b": [i + 1]}
            client = flink.client()
            pids.append(client.pid)
            tmp_dirs.add(client.jvm_tmp)
    assert len(set(pids)) == 3  # queries 1-2, 3-4, 5
    assert _wait_gone([p for p in set(pids) if p != pids[-1]]) == []  # earlier workers are gone
    assert [d for d in tmp_dirs if d is not None and os.path.exists(d)] == [flink.client().jvm_tmp]


@needs_flink
def test_hung_worker_times_out_then_recovers(flink: FlinkEngine) -> None:
    us.from_dict({"a": [1]}).collect(engine="flink")
    pid = flink.client().pid
    assert pid is not None
    group = engine_pid_tree(pid)
    os.kill(pid, signal.SIGSTOP)  # the worker stops answering
    try:
        with us.config(flink_timeout=3), \
                pytest.raises(EngineError, match=r"no answer from the Flink worker within 3 s.*flink\.timeout"):
            us.from_dict({"a": [1]}).collect(engine="flink")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    assert _wait_gone(group) == []
    assert us.from_dict({"a": [5]}).collect(engine="flink").to_pydict() == {"a": [5]}


@needs_flink
def test_no_orphan_jvm_when_the_main_process_dies() -> None:
    script = textwrap.dedent("""
        import os, signal, sys
        import unistack as us
        from unistack.backends.flink.engine import engine_pid_tree
        from unistack.backends.registry import get_engine
        us.from_dict({"a": [1]}).collect(engine="flink")
        pid = get_engine("flink").client().pid
        print(" ".join(map(str, engine_pid_tree(pid))), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no cleanup: only the worker's own guards remain
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    pids = [int(p) for p in proc.stdout.split()]
    assert len(pids) >= 2
    assert _wait_gone(pids, 60) == []


@needs_flink
def test_close_stops_worker_and_jvm() -> None:
    engine = FlinkEngine()
    assert engine.execute(us.from_dict({"a": [3]}).plan).to_pydict() == {"a": [3]}
    pid = engine.client().pid
    assert pid is not None
    group = engine_pid_tree(pid)
    assert len(group) >= 2
    engine.close()
    assert _wait_gone(group, 30) == []
    assert not engine.status().warm


@needs_flink
def test_headerless_csv_is_read_by_flinks_filesystem_connector(tmp_path: os.PathLike[str]) -> None:
    csv_path = os.path.join(str(tmp_path), "t.csv")
    with open(csv_path, "w") as fh:
        fh.write("1,x\n2,\n3,zé\n")
    frame = us.read_csv(csv_path, has_header=False, schema={"a": "int64", "b": "string"})
    compiled = compile_plan(frame.plan)
    assert [i.kind for i in compiled.inputs] == ["ddl"]
    assert "'connector' = 'filesystem'" in compiled.inputs[0].ddl
    assert shipped_bytes(frame.plan) == 0
    out = frame.filter(us.col("a") >= 2).collect(engine="flink")
    assert sorted(out.to_pylist(), key=lambda r: r["a"]) == [{"a": 2, "b": None}, {"a": 3, "b": "zé"}]
