"""Failover on engine errors (never on user errors), and the query history."""

from __future__ import annotations

import warnings

import pyarrow as pa
import pytest
from planner_fakes import FakeEngine  # type: ignore[import-not-found]

import unistack as us
from unistack.errors import DataSourceError, EngineError, EngineNotAvailableError, UserFunctionError
from unistack.execution import FailoverWarning, last_run
from unistack.planner.history import read_history


def _frame() -> us.LazyFrame:
    return us.from_dict({"k": [1, 1, 2], "x": [1.0, 2.0, 3.0]}).group_by("k").agg(us.col("x").sum()).sort("k")


def test_engine_error_fails_over_to_the_next_best_and_is_recorded(fakes: dict[str, FakeEngine]) -> None:
    fakes["fake_fast"].fail_with = EngineError("fake_fast", "worker lost")
    with pytest.warns(FailoverWarning, match="fake_fast.*worker lost.*fake_slow"):
        result = _frame().collect()
    assert result.to_pydict() == {"k": [1, 2], "x": [3.0, 3.0]}
    assert fakes["fake_fast"].calls == 1 and fakes["fake_slow"].calls == 1
    run = last_run()
    assert run["engine"] == "fake_slow" and run["chosen"] == "fake_fast" and len(run["failovers"]) == 1
    hist = read_history()
    assert [(h["engine"], h["status"]) for h in hist] == [("fake_fast", "failed"), ("fake_slow", "ok")]
    assert "worker lost" in hist[0]["error"] and hist[1]["failover_from"] == "fake_fast"
    assert hist[1]["predicted"] > 0 and hist[1]["actual"] > 0 and "features" in hist[1]


def test_crash_inside_an_engine_is_an_engine_error_and_fails_over(fakes: dict[str, FakeEngine]) -> None:
    fakes["fake_fast"].fail_with = MemoryError("boom")
    with pytest.warns(FailoverWarning):
        assert _frame().collect().num_rows == 2


def test_engine_that_cannot_start_fails_over(fakes: dict[str, FakeEngine]) -> None:
    fakes["fake_fast"].fail_with = EngineNotAvailableError("java not found")
    with pytest.warns(FailoverWarning):
        assert _frame().collect().num_rows == 2


@pytest.mark.parametrize("error", [UserFunctionError("your function raised"), DataSourceError("file is corrupt")])
def test_user_errors_are_never_retried(fakes: dict[str, FakeEngine], error: Exception) -> None:
    fakes["fake_fast"].fail_with = error
    with warnings.catch_warnings():
        warnings.simplefilter("error", FailoverWarning)
        with pytest.raises(type(error)):
            _frame().collect()
    assert fakes["fake_slow"].calls == 0


def test_real_user_function_error_is_not_retried(fakes: dict[str, FakeEngine]) -> None:
    def bad(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("bad input")

    frame = us.from_dict({"a": [1]}).map_batches(bad, {"a": "int64"})
    with pytest.raises(UserFunctionError, match="bad input"):
        frame.collect()
    assert fakes["fake_fast"].calls == 1 and fakes["fake_slow"].calls == 0


def test_forced_engine_is_not_replaced(fakes: dict[str, FakeEngine]) -> None:
    fakes["fake_fast"].fail_with = EngineError("fake_fast", "down")
    with pytest.raises(EngineError, match="down"):
        _frame().collect(engine="fake_fast")
    assert fakes["fake_slow"].calls == 0


def test_failover_option_off(fakes: dict[str, FakeEngine]) -> None:
    fakes["fake_fast"].fail_with = EngineError("fake_fast", "down")
    with us.config(failover=False), pytest.raises(EngineError, match="down"):
        _frame().collect()
    assert fakes["fake_slow"].calls == 0


def test_every_engine_failing_reports_all(fakes: dict[str, FakeEngine]) -> None:
    fakes["fake_fast"].fail_with = EngineError("fake_fast", "down")
    fakes["fake_slow"].fail_with = EngineError("fake_slow", "also down")
    with pytest.warns(FailoverWarning), pytest.raises(EngineError, match="every feasible engine failed"):
        _frame().collect()


def test_history_can_be_turned_off(fakes: dict[str, FakeEngine]) -> None:
    with us.config(history=False):
        _frame().collect()
    assert read_history() == []
    _frame().collect()
    assert len(read_history()) == 1


def test_udf_cost_is_learned_from_history(fakes: dict[str, FakeEngine]) -> None:
    from unistack.planner.cost import udf_key, udf_seconds_per_row
    from unistack.planner.optimize import optimize

    def spin(batch: pa.RecordBatch) -> pa.RecordBatch:
        acc = 0
        for i in range(batch.num_rows * 30):
            acc += i
        return batch

    frame = us.from_dict({"a": list(range(20_000))}).map_batches(spin, {"a": "int64"})
    node = optimize(frame.plan)
    assert udf_seconds_per_row(node) == (0.0, "unknown")  # type: ignore[arg-type]
    frame.collect()
    per_row, origin = udf_seconds_per_row(node)  # type: ignore[arg-type]
    assert origin == "history" and per_row > 1e-7, udf_key(node)  # type: ignore[arg-type]
