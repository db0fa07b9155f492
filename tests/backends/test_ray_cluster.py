"""The Ray engine on a real multi-process cluster: a Ray head started with ``ray start --head`` (its own
GCS, raylet and worker processes) by this module, joined by address through configuration alone; the
same queries must give the same answers there as on a local session, and a lost cluster must surface as
``EngineError`` naming the engine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unistack as us
from unistack.testing.compare import assert_table_equal

pytest.importorskip("ray")

RAY_CLI = os.path.join(os.path.dirname(sys.executable), "ray")
pytestmark = pytest.mark.skipif(not os.path.exists(RAY_CLI), reason="the ray command line is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAY_CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray head node (2 CPUs) in its own processes; yields its address; ``ray stop`` after."""
    from unistack.backends.ray import session

    session.shutdown()  # leave any local session of earlier tests
    port = _free_port()
    # Ray 2.60 turns token authentication on for `ray start` clusters unless told otherwise, and an earlier
    # local session in this process can leave RAY_AUTH_MODE=disabled behind: the head and this client must
    # agree, so this throwaway test cluster runs without tokens on both sides.
    previous_auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = _ray(["start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                    "--object-store-memory=200000000", "--disable-usage-stats"], env)
    if started.returncode != 0:
        _ray(["stop", "--force"], env)
        pytest.fail(f"ray start failed:\n{started.stdout}\n{started.stderr}")
    address = f"127.0.0.1:{port}"
    try:
        with us.config(ray_address=address):
            yield address
    finally:
        session.shutdown()
        _ray(["stop", "--force"], env)
        if previous_auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = previous_auth


def _queries(tmp: str) -> list[us.LazyFrame]:
    path = os.path.join(tmp, "facts.parquet")
    pq.write_table(pa.table({
        "k": pa.array(["a", "b", None, "a", "c", None, "b"], pa.string()),
        "x": pa.array([1.5, None, 3.0, float("nan"), -2.0, 4.0, 0.5]),
        "n": pa.array([1, 2, 3, 4, 5, 6, None], pa.int32()),
    }), path)
    facts = us.read_parquet(path)
    dims = us.from_dict({"k": ["a", "b", "z"], "label": ["A", "B", "Z"]})
    return [
        facts.group_by("k").agg(s=us.col("n").sum(), mx=us.col("x").max(), c=us.count(), u=us.col("x").n_unique()),
        facts.join(dims, on="k", how="left").select("k", "n", "label"),
        facts.filter(us.col("n") % 2 == 0).with_columns(q=us.col("n") // 4, r=us.col("x") / 0),
        facts.sort("x", descending=True).limit(4),
        facts.distinct("k"),
    ]


def test_cluster_gives_the_same_answers_as_local(cluster: str, tmp_path) -> None:
    from unistack.backends.ray import session

    remote = [q.collect(engine="ray") for q in _queries(str(tmp_path))]
    live = session.get_session()
    assert live.address == cluster
    import ray

    assert ray.get_runtime_context().gcs_address.endswith(str(cluster.split(":")[1]))
    with us.config(ray_address=""):
        local = [q.collect(engine="ray") for q in _queries(str(tmp_path))]
        assert session.get_session().address is None
    for i, (r, lo) in enumerate(zip(remote, local)):
        ordered = i == 3
        assert_table_equal(r, lo, ordered=ordered), f"query {i} differs"
    assert remote[0].num_rows == 4  # a, b, c and the null key in one group
    assert remote[3].column("x").to_pylist()[0] != remote[3].column("x").to_pylist()[0]  # NaN first descending


def test_killed_worker_is_an_engine_error(cluster: str) -> None:
    """A user function that kills its Ray worker process: after Ray's retries the query fails with
    EngineError naming the engine and the cause, and the cluster keeps serving queries."""

    def crash(batch: pa.RecordBatch) -> pa.RecordBatch:
        os._exit(1)

    frame = us.from_dict({"a": [1, 2, 3]}).map_batches(crash, {"a": "int64"})
    with pytest.raises(us.EngineError) as info:
        frame.collect(engine="ray")
    assert info.value.engine == "ray"
    assert "worker" in str(info.value).lower() or "crash" in str(info.value).lower()
    ok = us.from_dict({"a": [1, 2, 3]}).filter(us.col("a") > 1)
    assert ok.collect(engine="ray").column("a").to_pylist() == [2, 3]
