"""Exactly-once after a crash: the local executor is killed with SIGKILL mid-stream and restarted from its
checkpoint; the file sink then holds every window result exactly once, equal to an uninterrupted run."""

from __future__ import annotations

import datetime as dt
import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

RUNNER = Path(__file__).with_name("crash_runner.py")
T0 = dt.datetime(2026, 1, 1)


def write_inputs(directory: Path, files: int = 30) -> pa.Table:
    tables = []
    for i in range(files):
        n = 50
        table = pa.table({
            "ts": pa.array([T0 + dt.timedelta(seconds=i, milliseconds=20 * j) for j in range(n)], pa.timestamp("us")),
            "k": pa.array([f"k{j % 3}" for j in range(n)], pa.large_string()),
            "v": pa.array([float(i * 100 + j) for j in range(n)]),
        })
        pq.write_table(table, directory / f"part-{i:03d}.parquet")
        os.utime(directory / f"part-{i:03d}.parquet", ns=(i * 10**9, i * 10**9))  # arrival order
        tables.append(table)
    return pa.concat_tables(tables)


def expected(rows: pa.Table) -> dict[tuple[dt.datetime, str], tuple[int, float]]:
    out: dict[tuple[dt.datetime, str], tuple[int, float]] = {}
    for r in rows.to_pylist():
        key = (r["ts"].replace(microsecond=0), r["k"])
        n, total = out.get(key, (0, 0.0))
        out[key] = (n + 1, total + r["v"])
    return out


def run(src: Path, out: Path, ck: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(RUNNER), str(src), str(out), str(ck)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_mid_stream_then_restart_gives_each_window_exactly_once(tmp_path: Path) -> None:
    src, out, ck = tmp_path / "in", tmp_path / "out", tmp_path / "checkpoint"
    src.mkdir()
    rows = write_inputs(src)
    proc = run(src, out, ck)
    deadline = time.time() + 60
    while time.time() < deadline and len(glob.glob(str(ck / "commits" / "*.json"))) < 5:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = len(glob.glob(str(ck / "commits" / "*.json")))
    assert 5 <= committed < 30, "the kill must land mid-stream"
    restarted = run(src, out, ck)
    _, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err.decode()[-2000:]
    result = pq.read_table(str(out)).to_pylist()
    seen = [(r["window_start"], r["k"]) for r in result]
    assert len(seen) == len(set(seen)), "a window result was written twice"
    got = {(r["window_start"], r["k"]): (r["n"], r["total"]) for r in result}
    assert got == expected(rows)
