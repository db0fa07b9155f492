"""pytest plugin entry point: adds ``--unistack-engine`` (the engine the conformance suite runs on)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("unistack")
    group.addoption("--unistack-engine", action="append", default=None,
                    help="engine(s) the unistack conformance suite runs against (repeatable)")
