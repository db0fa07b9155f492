"""The Dask engine on a real multi-process cluster: a ``dask scheduler`` and two ``dask worker`` processes
started on localhost (random free ports) by this module; the same queries must give the same answers there
as on the local scheduler, and cluster failures must surface as ``EngineError`` naming the engine."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.testing.compare import assert_table_equal

pytest.importorskip("distributed")

DASK_CLI = os.path.join(os.path.dirname(sys.executable), "dask")
pytestmark = pytest.mark.skipif(not os.path.exists(DASK_CLI), reason="the dask command line is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], log: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([DASK_CLI, *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers in their own processes; yields the scheduler address."""
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask-cluster")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1")
    procs = [_start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                    str(logs / "scheduler.log"), env)]
    try:
        for i in range(2):
            procs.append(_start(["worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}",
                                 "--memory-limit", "2GiB", "--host", "127.0.0.1"], str(logs / f"worker{i}.log"), env))
        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        from unistack.backends.dask.session import get_session

        get_session().close()
        _stop(procs[1:])
        _stop(procs[:1])


def _queries(tmp: str) -> dict[str, us.LazyFrame]:
    people = us.from_dict({
        "id": [1, 2, 3, 4, 5, 6], "g": ["a", "b", None, "a", None, "b"],
        "x": [1.5, float("nan"), 2.0, None, -1.0, 4.0], "n": [10, 20, 30, None, 50, 60],
        "d": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), None, dt.date(2023, 12, 31), dt.date(2024, 1, 1),
              dt.date(2024, 6, 1)],
    })
    scores = us.from_dict({"g": ["a", None, "b", "c"], "w": [100, 200, 300, 400]})
    path = os.path.join(tmp, "people.parquet")
    pq.write_table(pa.table({"id": [1, 2, 3], "s": pa.array(["x", None, "zz"], pa.string_view())}), path)
    return {
        "filter": people.filter((us.col("x") > 1) | us.col("n").is_null()),
        "group": people.group_by("g").agg(s=us.col("n").sum(), m=us.col("x").max(), c=us.count()),
        "join": people.join(scores, on="g", how="full").select("id", "g", "w"),
        "sort": people.sort("x", descending=True).select("id", "x"),
        "window": people.select("id", r=us.row_number().over("g", order_by="n"), t=us.col("n").sum().over("g")),
        "parquet": us.read_parquet(path).with_columns(k=us.col("s").str.len()),
        "batches": people.map_batches(lambda b: b.select(["id"]), schema={"id": "int64"}),
    }


EXPECTED = {
    "filter": {"id": [1, 2, 3, 4, 6], "g": ["a", "b", None, "a", "b"], "x": [1.5, float("nan"), 2.0, None, 4.0],
               "n": [10, 20, 30, None, 60],
               "d": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), None, dt.date(2023, 12, 31), dt.date(2024, 6, 1)]},
    "group": {"g": ["a", "b", None], "s": [10, 80, 80], "m": [1.5, float("nan"), 2.0], "c": [2, 2, 2]},
    "join": {"id": [1, 4, 2, 6, 3, 5, None, None], "g": ["a", "a", "b", "b", None, None, None, "c"],
             "w": [100, 100, 300, 300, None, None, 200, 400]},
    "sort": {"id": [2, 6, 3, 1, 5, 4], "x": [float("nan"), 4.0, 2.0, 1.5, -1.0, None]},
    "window": {"id": [1, 2, 3, 4, 5, 6], "r": [1, 1, 1, 2, 2, 2], "t": [10, 80, 80, 10, 80, 80]},
    "parquet": {"id": [1, 2, 3], "s": ["x", None, "zz"], "k": [1, None, 2]},
    "batches": {"id": [1, 2, 3, 4, 5, 6]},
}


def test_same_answers_on_cluster_as_locally(cluster: str, tmp_path: object) -> None:
    queries = _queries(str(tmp_path))
    local = {name: q.collect(engine="dask") for name, q in queries.items()}
    with us.config(dask_scheduler=cluster):
        remote = {name: q.collect(engine="dask") for name, q in queries.items()}
    for name, q in queries.items():
        ordered = name == "sort"
        assert_table_equal(remote[name], EXPECTED[name], ordered=ordered, schema=q.schema)
        assert_table_equal(local[name], remote[name], ordered=ordered, schema=q.schema)


def test_status_reports_the_cluster(cluster: str) -> None:
    from unistack.backends import get_engine

    with us.config(dask_scheduler=cluster):
        us.from_dict({"a": [1]}).collect(engine="dask")
        status = get_engine("dask").status()
    assert status.cluster == cluster
    assert status.warm is True
    assert status.cores == 2  # two single-threaded workers


def test_work_runs_on_the_workers(cluster: str) -> None:
    def where(batch: pa.RecordBatch) -> pa.RecordBatch:
        return pa.record_batch({"pid": pa.array([os.getpid()] * batch.num_rows, pa.int64())})

    frame = us.from_dict({"a": list(range(8))}).map_batches(where, schema={"pid": "int64"})
    with us.config(dask_scheduler=cluster):
        pids = set(frame.collect(engine="dask").column("pid").to_pylist())
    assert os.getpid() not in pids


def test_unreachable_scheduler_is_an_engine_error() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    with us.config(dask_scheduler=address), pytest.raises(us.EngineError) as info:
        us.from_dict({"a": [1]}).collect(engine="dask")
    assert info.value.engine == "dask"
    assert address in str(info.value)


def test_killed_worker_is_an_engine_error(cluster: str) -> None:
    def die(batch: pa.RecordBatch) -> pa.RecordBatch:
        os._exit(3)

    frame = us.from_dict({"a": [1, 2]}).map_batches(die, schema={"a": "int64"})
    with us.config(dask_scheduler=cluster), pytest.raises(us.EngineError) as info:
        frame.collect(engine="dask")
    assert info.value.engine == "dask"
    assert "KilledWorker" in str(info.value)
