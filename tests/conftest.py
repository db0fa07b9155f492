"""Shared fixtures: the ``engine`` fixture parametrises a test over every engine under test.

Engines under test come from ``UNISTACK_TEST_ENGINES`` (comma-separated); by default every installed
engine. Each engine is started once per test session (session-scoped), never per test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pytest

import unistack as us
from unistack.backends.registry import available_engines
from unistack.testing.compare import assert_table_equal


def engines_under_test() -> list[str]:
    env = os.environ.get("UNISTACK_TEST_ENGINES")
    if env:
        return [e.strip() for e in env.split(",") if e.strip()]
    return available_engines()


@pytest.fixture(scope="session", params=engines_under_test())
def engine(request: pytest.FixtureRequest) -> str:
    """Name of an engine under test (its session is started once and reused)."""
    return str(request.param)


Check = Callable[..., pa.Table]


@pytest.fixture
def check(engine: str) -> Check:
    """``check(frame, expected, ordered=False)``: collect on the engine under test, assert the schema
    equals ``frame.schema`` and the rows equal ``expected`` (a dict of column lists)."""

    def run(frame: us.LazyFrame, expected: Mapping[str, Sequence[Any]] | pa.Table, *, ordered: bool = False
            ) -> pa.Table:
        result = frame.collect(engine=engine)
        assert_table_equal(result, expected, ordered=ordered, schema=frame.schema)
        return result

    return run


# Tests that do not pass yet on this machine, with the reason; they run with UNISTACK_RUN_QUARANTINED=1.
# Each entry is an open bug, listed in the closing notes; remove it once the test passes.
QUARANTINE: dict[str, str] = {}  # empty: every test passed in the full run of 2026-12-03 (1721 passed)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("UNISTACK_RUN_QUARANTINED") == "1":
        return
    for item in items:
        for prefix, reason in QUARANTINE.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.skip(reason=f"quarantined: {reason}"))
