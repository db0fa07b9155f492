"""The conformance plugin from the outside: the example third-party engine (tests/thirdparty_engine, registered
through the ``unistack.engines`` entry point) runs the suite in a subprocess, and marker/declaration
mismatches are detected.

Needs the example engine installed: ``.venv/bin/pip install -e tests/thirdparty_engine``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

HAS_ARROWCOMPUTE = any(ep.name == "arrowcompute" for ep in metadata.entry_points(group="unistack.engines"))
needs_arrowcompute = pytest.mark.skipif(
    not HAS_ARROWCOMPUTE, reason="install the example engine: .venv/bin/pip install -e tests/thirdparty_engine")


def _pytest(args: list[str], cwd: Path, examples: int = 10) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UNISTACK_CONFORMANCE_EXAMPLES": str(examples)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rxXf", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@needs_arrowcompute
def test_third_party_engine_runs_the_suite(tmp_path: Path):
    results = tmp_path / "results.json"
    proc = _pytest(["--pyargs", "unistack.testing.suite", "--unistack-engine=arrowcompute",
                    f"--unistack-results={results}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    records = json.loads(results.read_text())
    outcomes = {r["outcome"] for r in records}
    assert {r["engine"] for r in records} == {"arrowcompute"}
    assert "failed" not in outcomes
    passed = [r for r in records if r["outcome"] == "passed"]
    declared = [r for r in records if r["outcome"] == "declared"]
    assert len(passed) >= 30, "the engine implements filter/project/aggregate/join/sort: many cases pass"
    assert len(declared) >= 30
    # declared-unsupported operations are reported as such, with the engine's reason
    window = [r for r in declared if r["family"] == "window"]
    assert window and any("window:over" in r["reason"] for r in window)
    assert any("agg:max" in r["reason"] and "NaN" in r["reason"] for r in declared)
    assert "declared unsupported: window:over (pyarrow.compute has no window functions)" in proc.stdout
    families = {r["family"] for r in records}
    assert {"aggregate", "join", "filter", "sort_limit", "window", "differential"} <= families


MISMATCH_TESTS = '''
import pytest
import unistack as us


@pytest.mark.notimpl(["polars"], raises=us.UnsupportedOperationError, reason="wrongly claimed unsupported")
def test_claims_unsupported_but_engine_supports(us_check):
    us_check(us.from_dict({"a": [1]}).filter(us.col("a") > 0), {"a": [1]})


@pytest.mark.notimpl(["arrowcompute"], raises=AssertionError, reason="claims a wrong answer")
def test_marker_expects_other_error_but_engine_declares(us_check):
    us_check(us.from_dict({"a": [1, 1]}).distinct(), {"a": [1]})


@pytest.mark.notyet(["polars"], raises=AssertionError, reason="expected to fail")
def test_strict_xfail_that_passes(us_check):
    us_check(us.from_dict({"a": [1]}), {"a": [1]})


def test_declared_unsupported_becomes_xfail(us_check):
    us_check(us.from_dict({"a": [1, 1]}).distinct(), {"a": [1]})
'''


@needs_arrowcompute
def test_marker_declaration_mismatch_is_detected(tmp_path: Path):
    (tmp_path / "test_mismatch.py").write_text(textwrap.dedent(MISMATCH_TESTS))
    proc = _pytest(["test_mismatch.py", "--unistack-engine=polars,arrowcompute"], cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "FAILED test_mismatch.py::test_claims_unsupported_but_engine_supports[polars]" in out
    assert "FAILED test_mismatch.py::test_marker_expects_other_error_but_engine_declares[arrowcompute]" in out
    assert out.count("marker/declaration mismatch") >= 2
    assert "[XPASS(strict)] expected to fail" in out or "XPASS(strict)" in out
    assert "XFAIL test_mismatch.py::test_declared_unsupported_becomes_xfail[arrowcompute] - declared unsupported: " \
           "node:Distinct" in out
    assert "3 failed, 4 passed, 1 xfailed" in out, out


def test_marker_without_reason_or_raises_is_a_usage_error(tmp_path: Path):
    (tmp_path / "test_bad_marker.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.mark.never(["polars"])
        def test_x(us_engine):
            pass
    '''))
    proc = _pytest(["test_bad_marker.py", "--unistack-engine=polars"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "needs raises=<exception> or reason=" in proc.stdout + proc.stderr


def test_several_engines_and_comma_lists(tmp_path: Path):
    (tmp_path / "test_engines.py").write_text(textwrap.dedent('''
        def test_engine(us_engine):
            assert us_engine in ("polars", "duckdb")
    '''))
    proc = _pytest(["test_engines.py", "--unistack-engine=polars,duckdb", "--unistack-engine=polars", "-rA"],
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "PASSED test_engines.py::test_engine[polars]" in proc.stdout
    assert "PASSED test_engines.py::test_engine[duckdb]" in proc.stdout
    assert "2 passed" in proc.stdout


@pytest.mark.parametrize("name", ["unistack.testing.oracle", "unistack.testing.strategies", "unistack.testing.report",
                                  "unistack.testing.plugin"])
def test_doctests(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name}"
    assert result.attempted > 0


def test_oracle_follows_the_semantics_on_literal_cases() -> None:
    import math

    import unistack as us
    from unistack.testing.oracle import Oracle

    oracle = Oracle()
    df = us.from_dict({"a": [2**63 - 1, -7, None], "b": [1, 2, 0], "f": [math.nan, 1.0, None]})
    out = oracle.run(df.select(p=us.col("a") + us.col("b"), q=us.col("a") // us.col("b"), r=us.col("a") % us.col("b"),
                               d=us.col("a") / us.col("b")).plan)
    assert out.to_pydict() == {"p": [-(2**63), -5, None], "q": [2**63 - 1, -4, None], "r": [0, 1, None],
                               "d": [9.223372036854776e18, -3.5, None]}
    ordered = oracle.run(df.sort("f", descending=True).select("f").plan).column("f").to_pylist()
    assert math.isnan(ordered[0]) and ordered[1:] == [1.0, None]
