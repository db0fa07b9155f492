"""The workload matrix report: model-alone and with-history figures from raw runs."""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_report_gives_both_planner_figures_and_the_load(tmp_path: object) -> None:
    sys.path.insert(0, ROOT)
    try:
        from benchmarks.planner_matrix import report
    finally:
        sys.path.remove(ROOT)
    raw = os.path.join(str(tmp_path), "raw.jsonl")
    recs = []
    for pipe, times, model, history in (("a", {"polars": 1.0, "duckdb": 2.0}, ("duckdb", 2.1), ("polars", 1.05)),
                                        ("b", {"polars": 4.0, "duckdb": 1.0}, ("duckdb", 1.0), ("duckdb", 1.02))):
        for e, t in times.items():
            recs.append({"sf": "1", "pipeline": pipe, "runner": e, "state": "warm", "seconds": t, "predicted": t,
                         "load": 0.5})
        recs.append({"sf": "1", "pipeline": pipe, "runner": "planner_model", "state": "warm", "engine": model[0],
                     "seconds": model[1], "predicted": model[1], "load": 0.7})
        recs.append({"sf": "1", "pipeline": pipe, "runner": "planner", "state": "warm", "engine": history[0],
                     "seconds": history[1], "predicted": history[1], "load": 0.9})
    with open(raw, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in recs)
    text = report(raw, os.path.join(str(tmp_path), "out.md"))
    model, history = text.split("**Cost model alone")[1].split("**With history-based correction**")
    assert "within 10% of the best engine: 1/2 = 50%" in model
    assert "worst case: 2.10 (a @ sf1)" in model
    assert "within 10% of the best engine: 2/2 = 100%" in history
    assert f"geometric-mean regret: {(1.05 * 1.02) ** 0.5:.3f}" in history
    assert "SF 1: median 0.6 (max 0.9)" in text
    assert "| 1 | a | warm | 1.000 ◆ | 2.000 | duckdb | 2.100 | 2.10 | polars | 1.050 | 1.05 |" in text
