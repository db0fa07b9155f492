"""A real multi-process Spark cluster started by the test run: a standalone master and a worker (JVMs
from the installed pyspark), and a driver in another Python process that reaches them by configuration
alone (``UNISTACK_SPARK_MASTER=spark://...``). The same queries must give the same answers there as on
the local session of this process; a killed executor and a lost driver connection must surface as
``EngineError`` naming the engine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.backends.registry import is_installed
from unistack.testing.compare import assert_table_equal

pytestmark = pytest.mark.skipif(
    not is_installed("spark") or shutil.which("java") is None, reason="pyspark or java is not installed"
)

# -- the queries (imported by the driver process too) ----------------------------------------------------------


def _double(batch: pa.RecordBatch) -> pa.RecordBatch:
    import pyarrow.compute as pc

    return pa.RecordBatch.from_arrays([batch.column(0), pc.multiply(batch.column(1), 2)], names=["k", "v2"])


def write_data(directory: Path) -> None:
    """Two Parquet files the cluster reads itself (the worker shares this machine's file system)."""
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": [1, 2, 3], "region": ["eu", "us", "eu"], "amount": [10.5, None, 4.5]}),
                   directory / "part-0.parquet")
    pq.write_table(pa.table({"id": [4, 5], "region": ["us", None], "amount": [7.0, 1.0]}),
                   directory / "part-1.parquet")


def queries(directory: Path) -> dict[str, us.LazyFrame]:
    sales = us.read_parquet(str(directory))
    people = us.from_dict({"k": ["a", "b", "a", "c", None], "v": [1, 2, 3, None, 5],
                           "d": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), None, dt.date(2024, 2, 3),
                                 dt.date(2024, 5, 1)]})
    names = us.from_dict({"k": ["a", "b", None], "name": ["Ann", "Bob", "Nil"]})
    return {
        "parquet_group": sales.group_by("region").agg(
            total=us.col("amount").sum(), n=us.count(), first_id=us.col("id").first()),
        "join": people.join(names, on="k").select("k", "v", "name"),
        "window": people.with_columns(
            rn=us.row_number().over("k", order_by="v"), total=us.col("v").sum().over("k")),
        "sorted": people.sort("v", descending=True).limit(3).select("k", "v"),
        "dates": people.select("k", m=us.col("d").dt.month(), w=us.col("d").dt.weekday()),
        "division": people.select("v", q=us.col("v") // 2, r=us.col("v") % 2, z=us.col("v") / 0),
        "map_batches": people.select("k", "v").map_batches(_double, schema={"k": "string", "v2": "int64"}),
    }


EXPECTED: dict[str, tuple[dict, bool]] = {
    "parquet_group": ({"region": ["eu", "us", None], "total": [15.0, 7.0, 1.0], "n": [2, 2, 1],
                       "first_id": [1, 2, 5]}, False),
    "join": ({"k": ["a", "a", "b"], "v": [1, 3, 2], "name": ["Ann", "Ann", "Bob"]}, False),
    "window": ({"k": ["a", "b", "a", "c", None], "v": [1, 2, 3, None, 5],
                "d": [dt.date(2024, 1, 1), dt.date(2024, 2, 1), None, dt.date(2024, 2, 3), dt.date(2024, 5, 1)],
                "rn": [1, 1, 2, 1, 1], "total": [4, 2, 4, None, 5]}, False),
    "sorted": ({"k": [None, "a", "b"], "v": [5, 3, 2]}, True),
    "dates": ({"k": ["a", "b", "a", "c", None], "m": [1, 2, None, 2, 5], "w": [1, 4, None, 6, 3]}, False),
    "division": ({"v": [1, 2, 3, None, 5], "q": [0, 1, 1, None, 2], "r": [1, 0, 1, None, 1],
                  "z": [None, None, None, None, None]}, False),
    "map_batches": ({"k": ["a", "b", "a", "c", None], "v2": [2, 4, 6, None, 10]}, False),
}


def kill_my_executor(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Runs in a Python worker: SIGKILL the executor JVM above it (a simulated executor crash)."""
    pid = os.getpid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"CoarseGrainedExecutorBackend" in fh.read():
                os.kill(pid, signal.SIGKILL)
                time.sleep(30)
        with open(f"/proc/{pid}/stat") as fh:
            pid = int(fh.read().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no executor JVM above this Python worker")


def _sleepy(batch: pa.RecordBatch) -> pa.RecordBatch:
    time.sleep(15)
    return batch


def driver_main(data_dir: str, out_dir: str) -> None:
    """The driver process: run every query on the cluster named by UNISTACK_SPARK_MASTER, then the
    failure scenarios; write results as Arrow IPC files and a JSON report."""
    from unistack.backends.registry import get_engine
    from unistack.backends.spark.session import sessions

    engine = get_engine("spark")
    report: dict = {}
    started = time.perf_counter()
    engine.session()
    report["startup_s"] = time.perf_counter() - started
    report["status_cluster"] = engine.status().cluster
    for name, frame in queries(Path(data_dir)).items():
        t0 = time.perf_counter()
        table = frame.collect(engine="spark")
        report[f"time_{name}"] = time.perf_counter() - t0
        with pa.OSFile(os.path.join(out_dir, f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(
                sink, table.schema) as writer:
            writer.write_table(table)
    executors = engine.session().sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    report["executors_plus_driver"] = executors
    # 1. an executor dies during a job (task retries are off for this driver): EngineError
    killer = us.from_dict({"a": [1, 2]}).map_batches(kill_my_executor, schema={"a": "int64"})
    try:
        killer.collect(engine="spark")
        report["executor_killed"] = "no error"
    except us.EngineError as e:
        report["executor_killed"] = f"EngineError[{e.engine}]: {e}"
    except Exception as e:
        report["executor_killed"] = f"{type(e).__name__}: {e}"
    # the master gives the application a new executor: queries work again
    t0 = time.perf_counter()
    again = queries(Path(data_dir))["join"].collect(engine="spark")
    report["after_kill_rows"] = again.num_rows
    report["after_kill_s"] = time.perf_counter() - t0
    # 2. the driver's JVM dies while a query runs: lost connection -> EngineError; the next query
    #    starts a new session (a new driver JVM) on the same cluster by itself
    session = sessions.active
    assert session is not None
    killer_timer = threading.Timer(4.0, session.sparkContext._gateway.proc.kill)
    killer_timer.start()
    try:
        us.from_dict({"a": [1]}).map_batches(_sleepy, schema={"a": "int64"}).collect(engine="spark")
        report["lost_connection"] = "no error"
    except us.EngineError as e:
        report["lost_connection"] = f"EngineError[{e.engine}]: {e}"
    except Exception as e:
        report["lost_connection"] = f"{type(e).__name__}: {e}"
    killer_timer.join()
    t0 = time.perf_counter()
    recovered = queries(Path(data_dir))["division"].collect(engine="spark")
    report["after_lost_rows"] = recovered.num_rows
    report["after_lost_s"] = time.perf_counter() - t0
    print("REPORT " + json.dumps(report), flush=True)
    sessions.stop()


# -- the cluster -------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as resp:
            return int(json.load(resp).get("aliveworkers", 0))
    except OSError:
        return 0


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    import pyspark

    home = os.path.dirname(pyspark.__file__)
    work = tmp_path_factory.mktemp("spark-cluster")
    env = dict(os.environ, SPARK_HOME=home, SPARK_LOG_DIR=str(work), SPARK_WORKER_DIR=str(work / "work"),
               PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1", SPARK_NO_DAEMONIZE="1")
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    spark_class = os.path.join(home, "bin", "spark-class")
    master_url = f"spark://127.0.0.1:{port}"
    procs = []
    with open(work / "master.log", "wb") as mlog, open(work / "worker.log", "wb") as wlog:
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
             "--webui-port", str(ui)], env=env, stdout=mlog, stderr=subprocess.STDOUT, start_new_session=True))
        procs.append(subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
             "--cores", "2", "--memory", "1500m", "--webui-port", str(worker_ui)],
            env=env, stdout=wlog, stderr=subprocess.STDOUT, start_new_session=True))
        try:
            deadline = time.monotonic() + 120
            while _alive_workers(ui) < 1:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError("the standalone cluster did not start:\n"
                                       + (work / "master.log").read_text()[-2000:]
                                       + (work / "worker.log").read_text()[-2000:])
                time.sleep(0.5)
            yield master_url
        finally:
            for p in reversed(procs):
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def cluster_run(standalone_cluster: str, tmp_path_factory) -> tuple[Path, Path, dict]:  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("cluster-data")
    out = tmp_path_factory.mktemp("cluster-out")
    write_data(data)
    env = dict(os.environ, UNISTACK_SPARK_MASTER=standalone_cluster, UNISTACK_SPARK_DRIVER_MEMORY="1g",
               UNISTACK_SPARK_CONF="spark.task.maxFailures=1,spark.executor.memory=1g,spark.cores.max=2",
               UNISTACK_HISTORY="false", UNISTACK_FAILOVER="false")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('spark_cluster_queries', {__file__!r})\n"
        "mod = importlib.util.module_from_spec(spec); sys.modules['spark_cluster_queries'] = mod\n"
        "spec.loader.exec_module(mod)\n"
        f"mod.driver_main({str(data)!r}, {str(out)!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, f"driver failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return data, out, json.loads(lines[-1][len("REPORT "):])


def test_cluster_is_reached_by_configuration(cluster_run, standalone_cluster: str) -> None:  # type: ignore[no-untyped-def]
    _, _, report = cluster_run
    assert report["status_cluster"] == standalone_cluster
    assert report["executors_plus_driver"] >= 2  # at least one executor process besides the driver


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cluster_answers_equal_local_answers(cluster_run, name: str) -> None:  # type: ignore[no-untyped-def]
    data, out, _ = cluster_run
    with pa.memory_map(str(out / f"{name}.arrow")) as source:
        cluster = pa.ipc.open_file(source).read_all()
    frame = queries(data)[name]
    expected, ordered = EXPECTED[name]
    assert_table_equal(cluster, expected, ordered=ordered, schema=frame.schema)
    local = frame.collect(engine="spark")  # this process: local session
    assert_table_equal(cluster, local, ordered=ordered, schema=frame.schema)


def test_killed_executor_is_an_engine_error_and_the_cluster_recovers(cluster_run) -> None:  # type: ignore[no-untyped-def]
    _, _, report = cluster_run
    assert report["executor_killed"].startswith("EngineError[spark]: engine 'spark' failed"), report
    assert "Traceback" not in report["executor_killed"]
    assert report["after_kill_rows"] == 3


def test_lost_driver_connection_is_an_engine_error(cluster_run) -> None:  # type: ignore[no-untyped-def]
    _, _, report = cluster_run
    assert report["lost_connection"].startswith("EngineError[spark]: engine 'spark' failed: lost the connection"), \
        report
    assert report["after_lost_rows"] == 5  # a new driver session on the same cluster answers again
