"""CI entry for the conformance suite: ``pytest --pyargs unistack.testing.suite --unistack-engine=<e>`` for every
engine under test, each in its own subprocess (heavy engines under ``flock /tmp/unistack-heavy.lock``).

Engines come from ``UNISTACK_CONFORMANCE_SUITE_ENGINES``, else ``UNISTACK_TEST_ENGINES`` (comma-separated;
default: every installed engine, as in tests/conftest.py). Each differential test runs
``UNISTACK_CONFORMANCE_EXAMPLES`` generated plans (default 200). A failing engine prints its failures;
known failures carry notimpl/notyet/never markers in the suite.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from unistack.backends.registry import available_engines
from unistack.testing.report import HEAVY, run_engine


def _engines() -> list[str]:
    # the conformance suite may cover more engines than the shared suites (scripts/test.sh adds Flink here)
    env = os.environ.get("UNISTACK_CONFORMANCE_SUITE_ENGINES") or os.environ.get("UNISTACK_TEST_ENGINES")
    names = [e.strip() for e in env.split(",") if e.strip()] if env else available_engines()
    # arrowcompute is covered by tests/test_conformance_plugin.py
    return [n for n in dict.fromkeys(names) if n != "arrowcompute"]


@pytest.mark.parametrize("engine", [pytest.param(e, marks=[pytest.mark.slow] if e in HEAVY else [])
                                    for e in _engines()])
def test_conformance_suite(engine: str):
    examples = int(os.environ.get("UNISTACK_CONFORMANCE_EXAMPLES", "200"))
    run = run_engine(engine, examples, timeout=int(os.environ.get("UNISTACK_CONFORMANCE_TIMEOUT", "3000")))
    assert run.records, f"the suite did not run on {engine}: {run.error}"
    counts = Counter(r["outcome"] for r in run.records)
    failed = [r["nodeid"] for r in run.records if r["outcome"] == "failed"]
    assert not failed, f"{engine}: {len(failed)} unexplained conformance failures: {failed}\n{run.output}"
    assert counts["passed"] > 0


def test_oracle_passes_the_hand_written_cases():
    """The DuckDB oracle is checked against the literal expectations too (``--unistack-engine=oracle``)."""
    run = run_engine("oracle", examples=1)
    counts = Counter(r["outcome"] for r in run.records)
    assert counts["failed"] == 0, [r["nodeid"] for r in run.records if r["outcome"] == "failed"]
    assert counts["passed"] >= 140
