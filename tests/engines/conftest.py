"""The shared engine suite: every file here runs on each engine named by ``UNISTACK_TEST_ENGINES``.

Tests use only the ``engine`` and ``check`` fixtures of ``tests/conftest.py``. Rule ids such as
``S-NULL-CMP`` refer to docs/semantics.md; ``tests/core/test_semantics_coverage.py`` checks that every
rule there is referenced by at least one test.

An operation an engine declares unsupported fails with :class:`unistack.UnsupportedOperationError`; for
any engine but Polars (the reference, which must run everything) such a test is reported as skipped with
the engine's reason, so the suite shows what each engine lacks without hiding wrong answers.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import unistack as us

REFERENCE_ENGINE = "polars"


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    try:
        return (yield)
    except us.UnsupportedOperationError as e:
        engine = pyfuncitem.funcargs.get("engine")
        if engine is not None and engine != REFERENCE_ENGINE and e.engine == engine:
            pytest.skip(f"declared unsupported on {engine}: {e}")
        raise
