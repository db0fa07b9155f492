"""The Flink engine against a real session cluster started from the distribution bundled in the PyFlink
wheel (``pyflink/bin/start-cluster.sh``), on free local ports, reached by address
(``flink.target='remote'``). Run under ``flock /tmp/unistack-heavy.lock``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import unistack as us
from unistack.backends.flink.engine import FlinkEngine
from unistack.backends.flink.provision import find_python
from unistack.backends.registry import get_engine
from unistack.errors import EngineNotAvailableError


def _flink_python() -> str | None:
    try:
        return find_python()
    except EngineNotAvailableError:
        return None


pytestmark = pytest.mark.skipif(_flink_python() is None, reason="Flink environment not installed "
                                "(unistack engines install flink)")


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("localhost", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


class Cluster:
    def __init__(self, home: str, conf_dir: str, rest_port: int, env: dict[str, str]) -> None:
        self.home, self.conf_dir, self.rest_port, self.env = home, conf_dir, rest_port, env

    @property
    def url(self) -> str:
        return f"http://localhost:{self.rest_port}"

    def pids(self) -> list[int]:
        out = []
        for name in os.listdir(self.conf_dir + "/pids"):
            with open(os.path.join(self.conf_dir, "pids", name)) as fh:
                out += [int(x) for x in fh.read().split()]
        return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    python = _flink_python()
    assert python is not None
    home = subprocess.run([python, "-c", "import os, pyflink; print(os.path.dirname(pyflink.__file__))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    base = str(tmp_path_factory.mktemp("flink-cluster"))
    conf_dir = os.path.join(base, "conf")
    os.makedirs(os.path.join(conf_dir, "pids"))
    os.makedirs(os.path.join(base, "log"))
    os.makedirs(os.path.join(base, "tmp"))
    for name in os.listdir(os.path.join(home, "conf")):
        if name.startswith("log4j") or name.startswith("logback"):
            shutil.copy(os.path.join(home, "conf", name), conf_dir)
    with open(os.path.join(home, "conf", "config.yaml")) as fh:
        default = fh.read()
    java_opts = re.search(r"^\s+all: (.*)$", default, re.M)
    rpc, tm_rpc, rest, blob = _free_ports(4)
    settings = {
        "env.java.opts.all": java_opts.group(1) if java_opts else "",
        "env.pid.dir": os.path.join(conf_dir, "pids"),
        "env.log.dir": os.path.join(base, "log"),
        "io.tmp.dirs": os.path.join(base, "tmp"),
        "jobmanager.bind-host": "localhost", "jobmanager.rpc.address": "localhost", "jobmanager.rpc.port": rpc,
        "jobmanager.memory.process.size": "1024m",
        "taskmanager.bind-host": "localhost", "taskmanager.host": "localhost", "taskmanager.rpc.port": tm_rpc,
        "taskmanager.data.port": 0, "taskmanager.numberOfTaskSlots": 2,
        "taskmanager.memory.process.size": "1280m",
        "blob.server.port": blob, "parallelism.default": 1,
        "rest.address": "localhost", "rest.bind-address": "localhost", "rest.port": rest,
    }
    with open(os.path.join(conf_dir, "config.yaml"), "w") as fh:
        fh.writelines(f"{k}: {v}\n" for k, v in settings.items())
    with open(os.path.join(conf_dir, "masters"), "w") as fh:
        fh.write(f"localhost:{rest}\n")
    with open(os.path.join(conf_dir, "workers"), "w") as fh:
        fh.write("localhost\n")
    env = dict(os.environ, FLINK_CONF_DIR=conf_dir, FLINK_PID_DIR=os.path.join(conf_dir, "pids"),
               FLINK_LOG_DIR=os.path.join(base, "log"))
    c = Cluster(home, conf_dir, rest, env)
    subprocess.run(["bash", os.path.join(home, "bin", "start-cluster.sh")], env=env, check=True,
                   capture_output=True, timeout=120)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _get(c.url + "/overview").get("taskmanagers", 0) >= 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = ""
                for name in os.listdir(os.path.join(base, "log")):
                    with open(os.path.join(base, "log", name)) as fh:
                        logs += fh.read()[-2000:] + "\n"
                pytest.fail(f"Flink session cluster did not come up on port {rest}:\n{logs}")
            time.sleep(1)
        yield c
    finally:
        pids = c.pids()
        subprocess.run(["bash", os.path.join(home, "bin", "stop-cluster.sh")], env=env, capture_output=True,
                       timeout=120)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_queries_run_on_a_session_cluster_by_address(cluster: Cluster) -> None:
    engine = get_engine("flink")
    assert isinstance(engine, FlinkEngine)
    before = len(_get(cluster.url + "/jobs/overview")["jobs"])
    left = us.from_dict({"k": [1, 2, 3, None], "v": ["a", "b", "c", "d"]})
    right = us.from_dict({"k": [1, 3, 3, None], "w": [10.0, 30.0, 31.0, 99.0]})
    frame = left.join(right, on="k").group_by("v").agg(us.col("w").sum().alias("t")).sort("v")
    with us.config(flink_target="remote", flink_rest_address="localhost", flink_rest_port=cluster.rest_port):
        result = frame.collect(engine="flink")
        status = engine.status()
    assert result.to_pydict() == {"v": ["a", "c"], "t": [10.0, 61.0]}
    assert status.cluster == f"localhost:{cluster.rest_port}" and status.warm
    jobs = _get(cluster.url + "/jobs/overview")["jobs"]
    assert len(jobs) == before + 1  # the query ran on the cluster, not in a local mini-cluster
    assert jobs[0]["state"] == "FINISHED"
    engine.close()  # the next test in this session goes back to the local mini-cluster
