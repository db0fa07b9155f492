"""Fixtures of the planner tests: a private cache directory, a controlled profile and fake engines.

Fake engines are registered with :func:`unistack.backends.registry.register`; they run plans with the
Polars engine (or fail on purpose), so no heavy engine is ever started here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import unistack as us
from unistack.backends import registry
from unistack.planner import choose as choose_mod
from unistack.planner import stats
from unistack.planner.profile import Profile, invalidate

sys.path.insert(0, str(Path(__file__).parent))
from planner_fakes import FAST, SLOW, FakeEngine


@pytest.fixture
def cache(tmp_path: Any) -> Iterator[str]:
    """A private cache directory (profiles, history) with a test profile for the fake engines."""
    with us.config(cache_dir=str(tmp_path), history=True):
        invalidate()
        stats.clear_cache()
        choose_mod.clear_caches()
        profile = Profile("test", {"fake_fast": FAST, "fake_slow": SLOW, "fake_other": FAST}, created="2026-11-28",
                          machine={"cores": 2}, source="test")
        profile.save()
        yield str(tmp_path)
    invalidate()


@pytest.fixture
def fakes(cache: str) -> Iterator[dict[str, FakeEngine]]:
    """Three fake engines registered and made the only candidates."""
    engines = {n: FakeEngine(n) for n in ("fake_fast", "fake_slow", "fake_other")}
    engines["fake_other"].fail_with = None
    for e in engines.values():
        registry.register(e)  # type: ignore[arg-type]
    with us.config(engines="fake_fast,fake_slow"):
        yield engines
    for n in engines:
        registry._instances.pop(n, None)
    choose_mod.clear_caches()
