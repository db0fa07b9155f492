"""Differential property tests: generated tables and plans run on the engine under test and on the
independent DuckDB oracle (:mod:`unistack.testing.oracle`); any disagreement is a bug.

Examples per test: ``UNISTACK_CONFORMANCE_EXAMPLES`` (default 200; e.g. 5000 for a nightly run); set
``UNISTACK_CONFORMANCE_RANDOM=1`` to draw new examples each run instead of the fixed CI sequence. Shrinking is
on for in-process engines and off for engines where one plan costs seconds (Spark, Ray, Flink, Dask), unless
``UNISTACK_CONFORMANCE_SHRINK=1``: a failure there prints the unshrunk reproducer at once.
Shrunk counterexamples become hand-written cases in the other modules.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import unistack as us
from unistack.testing.compare import diff_tables
from unistack.testing.oracle import Undefined
from unistack.testing.plugin import require_engine
from unistack.testing.strategies import GeneratedPlan, expression_batches, generated_plans

EXAMPLES = int(os.environ.get("UNISTACK_CONFORMANCE_EXAMPLES", "200"))
SLOW_ENGINES = ("spark", "ray", "flink", "dask")

pytestmark = pytest.mark.semantics("S-SCHEMA", "S-ORDER")


def _settings(engine: str) -> settings:
    shrink = os.environ.get("UNISTACK_CONFORMANCE_SHRINK", "0" if engine in SLOW_ENGINES else "1") == "1"
    phases = tuple(Phase) if shrink else (Phase.explicit, Phase.reuse, Phase.generate)
    return settings(
        max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("UNISTACK_CONFORMANCE_RANDOM") != "1",
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        phases=phases, print_blob=True,
    )


def _run_property(engine: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    require_engine(engine)

    @_settings(engine)
    @given(strategy)
    def prop(value: Any) -> None:
        check(value)

    prop()


def _expected(oracle: Any, frame: us.LazyFrame) -> Any:
    try:
        return oracle.run(frame.plan)
    except Undefined:
        assume(False)  # e.g. an integer sum overflow: not in the contract
        raise


def _compare(actual: Any, expected: Any, gen: GeneratedPlan) -> str | None:
    schema = gen.frame.schema
    problem = diff_tables(actual, expected, ordered=gen.ordered, schema=schema)
    if problem is None and gen.sort_keys and not gen.ordered:
        keys = [k for k in gen.sort_keys if k in schema.names]
        problem = diff_tables(actual.select(keys), expected.select(keys), ordered=True)
    return problem


def test_generated_plans_match_oracle(us_runner, us_oracle):
    def check(gen: GeneratedPlan) -> None:
        if us_runner.missing(gen.frame):
            with pytest.raises(us.UnsupportedOperationError):
                gen.frame.collect(engine=us_runner.engine)
            return
        expected = _expected(us_oracle, gen.frame)
        actual = gen.frame.collect(engine=us_runner.engine)
        problem = _compare(actual, expected, gen)
        assert problem is None, (f"{us_runner.engine} disagrees with the oracle: {problem}\n"
                                 f"reproducer:\n{gen.describe()}")

    _run_property(us_runner.engine, generated_plans(), check)


def test_generated_expressions_match_oracle(us_runner, us_oracle):
    def check(batch: Any) -> None:
        table, exprs = batch
        frame = us.from_arrow(table).select("id", **exprs)
        if us_runner.missing(frame):
            with pytest.raises(us.UnsupportedOperationError):
                frame.collect(engine=us_runner.engine)
            return
        expected = _expected(us_oracle, frame)
        actual = frame.collect(engine=us_runner.engine)
        problem = diff_tables(actual, expected, schema=frame.schema)
        text = ", ".join(f"{k}={v!r}" for k, v in exprs.items())
        assert problem is None, (f"{us_runner.engine} disagrees with the oracle: {problem}\n"
                                 f"table = {table.to_pydict()!r}\nexprs: {text}")

    _run_property(us_runner.engine, expression_batches(), check)
