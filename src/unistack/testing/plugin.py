"""The unistack pytest plugin: runs the conformance suite against named engines.

Installed through the ``pytest11`` entry point, so it is active in every pytest run where unistack is
installed. Run the suite with::

    pytest --pyargs unistack.testing.suite --unistack-engine=polars
    pytest --pyargs unistack.testing.suite --unistack-engine=polars,duckdb --unistack-engine=dask

An engine registered through the ``unistack.engines`` entry point runs it the same way. What it adds:

- ``--unistack-engine``: engines under test (repeatable, comma-separated; default ``polars``, or the
  ``UNISTACK_CONFORMANCE_ENGINES`` environment variable). Tests that take the ``us_engine`` fixture are
  parametrised over them; each engine is created once per session.
- ``us_check`` / ``us_collect`` fixtures: run a frame on the engine under test. When the plan needs an
  operation the engine *declares* unsupported (``engine.capabilities().unsupported``), the plugin
  expects :class:`unistack.UnsupportedOperationError` and reports the test as xfailed with reason
  ``declared unsupported: <op> (<reason>)``.
- markers ``notimpl`` (could be done, not yet), ``notyet`` (waiting on the engine upstream) and ``never``
  (cannot be done): ``@pytest.mark.notimpl(["dask"], raises=SomeError, reason="...")``. Each needs
  ``raises=`` or ``reason=``; on a listed engine the test becomes a strict xfail (it must fail, with that
  exception). A marker that says ``raises=UnsupportedOperationError`` must match a declaration: if the
  engine supports every operation of the plan, the test fails with ``marker/declaration mismatch``; a
  marker expecting another error on a plan the engine declares unsupported fails the same way.
- ``--unistack-engine=oracle``: a pseudo-engine that runs the hand-written cases on the DuckDB oracle
  (:mod:`unistack.testing.oracle`), so the oracle's translation is itself checked against literal results.
- ``--unistack-results=PATH``: write one JSON record per test (engine, family, outcome) for
  ``python -m unistack.testing.report``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

ENGINE_FIXTURE = "us_engine"
MARKERS = ("notimpl", "notyet", "never")
DECLARED_PREFIX = "declared unsupported"
MISMATCH = "marker/declaration mismatch"
DEFAULT_ENGINES = ("polars",)
# ``--unistack-engine=oracle`` runs the hand-written cases on the DuckDB oracle itself (checks the oracle).
ORACLE = "oracle"
_RESULTS_KEY = pytest.StashKey[list[dict[str, Any]]]()
_CONFIG: dict[str, pytest.Config] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("unistack")
    group.addoption("--unistack-engine", action="append", default=None,
                    help="engine(s) the unistack conformance suite runs against (repeatable, comma-separated)")
    group.addoption("--unistack-results", default=None,
                    help="write the conformance results (engine, family, outcome per test) to this JSON file")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "notimpl(engines, raises=None, reason=None): the engine could do this, "
                            "not yet implemented (strict xfail on those engines)")
    config.addinivalue_line("markers", "notyet(engines, raises=None, reason=None): waiting on the engine "
                            "upstream (strict xfail on those engines)")
    config.addinivalue_line("markers", "never(engines, raises=None, reason=None): the engine cannot do this "
                            "(strict xfail on those engines)")
    config.addinivalue_line("markers", "semantics(*rule_ids): the docs/semantics.md rules a test checks")
    config.stash[_RESULTS_KEY] = []
    _CONFIG["config"] = config


def selected_engines(config: pytest.Config) -> list[str]:
    """Engines under test from ``--unistack-engine`` (or ``UNISTACK_CONFORMANCE_ENGINES``; default polars)."""
    raw = config.getoption("--unistack-engine", default=None) or []
    if not raw and os.environ.get("UNISTACK_CONFORMANCE_ENGINES"):
        raw = [os.environ["UNISTACK_CONFORMANCE_ENGINES"]]
    names = [n.strip() for item in raw for n in item.split(",") if n.strip()]
    return list(dict.fromkeys(names)) or list(DEFAULT_ENGINES)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if ENGINE_FIXTURE in metafunc.fixturenames:
        engines = selected_engines(metafunc.config)
        metafunc.parametrize(ENGINE_FIXTURE, engines, ids=engines, scope="session")


# -- markers ----------------------------------------------------------------------------------------------


def _marker_engines(mark: pytest.Mark) -> list[str]:
    engines = mark.args[0] if mark.args else mark.kwargs.get("engines", [])
    return [engines] if isinstance(engines, str) else list(engines)


def engine_markers(item: pytest.Item, engine: str) -> list[pytest.Mark]:
    """The notimpl/notyet/never markers of ``item`` that name ``engine``."""
    return [m for name in MARKERS for m in item.iter_markers(name) if engine in _marker_engines(m)]


def _engine_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get(ENGINE_FIXTURE)
    return str(value) if value is not None else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for name in MARKERS:
            for mark in item.iter_markers(name):
                if not mark.kwargs.get("raises") and not mark.kwargs.get("reason"):
                    raise pytest.UsageError(
                        f"{item.nodeid}: @pytest.mark.{name} needs raises=<exception> or reason='...'"
                    )
                if not _marker_engines(mark):
                    raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{name} needs a list of engines")
        engine = _engine_of(item)
        if engine is None:
            continue
        item.user_properties.append(("unistack_engine", engine))
        for mark in engine_markers(item, engine):
            reason = f"{mark.name}: {mark.kwargs.get('reason') or mark.kwargs['raises'].__name__}"
            item.add_marker(pytest.mark.xfail(raises=mark.kwargs.get("raises"), reason=reason, strict=True))


# -- running frames on the engine under test ----------------------------------------------------------------


class EngineRunner:
    """Runs frames on one engine for one test, applying declarations and markers (see module docstring)."""

    def __init__(self, engine: str, item: pytest.Item | None) -> None:
        self.engine = engine
        self.item = item

    def missing(self, frame: Any) -> dict[str, str]:
        """Operations of the frame's (optimized) plan that the engine declares unsupported, with reasons."""
        if self.engine == ORACLE:
            return {}
        from unistack.backends.registry import get_engine
        from unistack.planner.optimize import optimize

        return dict(get_engine(self.engine).capabilities().missing(optimize(frame.plan)))

    def _expected_errors(self) -> list[type[BaseException]]:
        if self.item is None:
            return []
        return [m.kwargs["raises"] for m in engine_markers(self.item, self.engine) if m.kwargs.get("raises")]

    def collect(self, frame: Any) -> pa.Table:
        """``frame.collect(engine=...)``; xfails when the engine declares an operation unsupported."""
        from unistack.errors import UnsupportedOperationError

        missing = self.missing(frame)
        expected = self._expected_errors()
        if missing:
            op, reason = next(iter(missing.items()))
            others = [e for e in expected if not issubclass(UnsupportedOperationError, e)]
            if others:
                pytest.fail(
                    f"{MISMATCH}: a marker on {self.engine!r} expects {others[0].__name__}, but the engine "
                    f"declares {op!r} unsupported ({reason}).", pytrace=False)
            try:
                frame.collect(engine=self.engine)
            except UnsupportedOperationError:
                pytest.xfail(f"{DECLARED_PREFIX}: {op} ({reason})")
            pytest.fail(f"engine {self.engine!r} declares {op!r} unsupported but ran the plan without "
                        "UnsupportedOperationError", pytrace=False)
        if any(issubclass(e, UnsupportedOperationError) for e in expected):
            pytest.fail(
                f"{MISMATCH}: a marker says {self.engine!r} raises UnsupportedOperationError here, but the engine "
                "declares support for every operation of the plan. Remove the marker or declare the operation "
                "in capabilities().unsupported.", pytrace=False)
        if self.engine == ORACLE:
            return oracle().run(frame.plan)
        table: pa.Table = frame.collect(engine=self.engine)
        return table

    def check(self, frame: Any, expected: Mapping[str, Sequence[Any]] | pa.Table, *, ordered: bool = False
              ) -> pa.Table:
        """Collect and assert schema == ``frame.schema`` and rows == ``expected`` (order only if ``ordered``)."""
        from unistack.testing.compare import assert_table_equal

        result = self.collect(frame)
        assert_table_equal(result, expected, ordered=ordered, schema=frame.schema)
        return result


@pytest.fixture
def us_runner(us_engine: str, request: pytest.FixtureRequest) -> EngineRunner:
    """An :class:`EngineRunner` for the engine under test."""
    return EngineRunner(us_engine, request.node)


@pytest.fixture
def us_collect(us_runner: EngineRunner) -> Callable[[Any], pa.Table]:
    """``us_collect(frame)``: run a frame on the engine under test (see :meth:`EngineRunner.collect`)."""
    return us_runner.collect


@pytest.fixture
def us_check(us_runner: EngineRunner) -> Callable[..., pa.Table]:
    """``us_check(frame, expected, ordered=False)``: run and compare (see :meth:`EngineRunner.check`)."""
    return us_runner.check


_ORACLE: list[Any] = []


def oracle() -> Any:
    """The session's DuckDB oracle (:class:`unistack.testing.oracle.Oracle`), created on first use."""
    if not _ORACLE:
        from unistack.testing.oracle import Oracle

        _ORACLE.append(Oracle())
    return _ORACLE[0]


@pytest.fixture(scope="session")
def us_oracle() -> Any:
    """The DuckDB oracle (:class:`unistack.testing.oracle.Oracle`), one per session."""
    return oracle()


def require_engine(engine: str) -> None:
    """Skip the current test under ``--unistack-engine=oracle`` (it needs a real engine object).

    Examples
    --------
    >>> require_engine("polars")
    """
    if engine == ORACLE:
        pytest.skip("needs a real engine (the oracle only runs plans)")


# -- results --------------------------------------------------------------------------------------------------


def family_of(nodeid: str) -> str:
    """The operation family of a test: its module name without ``test_``.

    Examples
    --------
    >>> family_of("test_join.py::test_semi_and_anti[polars]")
    'join'
    """
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return module.removesuffix(".py").removeprefix("test_")


def outcome_of(report: pytest.TestReport) -> str:
    """``passed``, ``declared`` (declared unsupported), ``marked`` (notimpl/notyet/never), ``failed`` or
    ``skipped``."""
    wasxfail = getattr(report, "wasxfail", None)
    if report.failed:
        return "failed"
    if wasxfail is not None and report.skipped:
        return "declared" if DECLARED_PREFIX in str(wasxfail) else "marked"
    if report.skipped:
        return "skipped"
    return "passed"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    engine = props.get("unistack_engine")
    if engine is None:
        return
    if report.when == "call" or (report.when == "setup" and (report.failed or report.skipped)) or (
            report.when == "teardown" and report.failed):
        config = _CONFIG.get("config")
        if config is None:
            return
        config.stash[_RESULTS_KEY].append({
            "nodeid": report.nodeid, "engine": engine, "family": family_of(report.nodeid),
            "outcome": outcome_of(report), "reason": str(getattr(report, "wasxfail", "") or ""),
        })


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--unistack-results", default=None)
    if not path:
        return
    records = session.config.stash.get(_RESULTS_KEY, [])
    Path(path).write_text(json.dumps(records, indent=1))
