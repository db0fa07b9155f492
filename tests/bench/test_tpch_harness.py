"""The TPC-H harness's bookkeeping: merged runs keep what they do not re-run; reports name failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from unistack.bench.tpch import harness


def _rec(engine: str, query: int, seconds: float, sf: float = 10.0) -> dict[str, Any]:
    return {"sf": sf, "engine": engine, "query": query, "regime": "warm", "status": "ok", "median_s": seconds,
            "samples": []}


def test_merge_keeps_queries_and_engines_it_does_not_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = [_rec("ray", 1, 40.0), _rec("ray", 2, 30.0), _rec("dask", 1, 7.0)]
    (tmp_path / "tpch_raw.json").write_text(json.dumps(earlier))
    monkeypatch.setattr(harness, "ensure_data", lambda sf: str(tmp_path))
    monkeypatch.setattr(harness, "run_worker", lambda sf, engine, queries, runs, timeout, cold=False:
                        [_rec(engine, q, 25.0) for q in queries])
    reports: list[list[dict[str, Any]]] = []
    monkeypatch.setattr(harness, "write_report", lambda results, out_dir: reports.append(results))
    harness.run([10.0], ["ray"], [2], runs=0, timeout=60, cold_queries=[], out_dir=str(tmp_path), merge=True,
                with_auto=False, with_baselines=False)
    got = {(r["engine"], r["query"]): r["median_s"] for r in json.loads((tmp_path / "tpch_raw.json").read_text())}
    assert got == {("ray", 1): 40.0, ("ray", 2): 25.0, ("dask", 1): 7.0}
    assert len(reports[-1]) == 3


def test_failures_name_the_java_root_cause() -> None:
    trace = ("py4j.protocol.Py4JJavaError: An error occurred\n\tat x.y(Z.java:1)\n"
             "Caused by: java.lang.RuntimeException: outer\n"
             "Caused by: java.lang.OutOfMemoryError: Required array length 2147483639 + 62 is too large\n")
    assert harness._root_cause(trace) == (" (caused by java.lang.OutOfMemoryError: Required array length "
                                          "2147483639 + 62 is too large)")
    assert harness._root_cause("no java here") == ""
