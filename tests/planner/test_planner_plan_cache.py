"""The plan cache: a repeated plan reuses its engine choice until something it depends on changes."""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from planner_fakes import FakeEngine

import unistack as us
from unistack.planner import choose as choose_mod
from unistack.planner.optimize import optimize

TABLE = pa.table({"k": [1, 2, 1, 3], "x": [10, 20, 30, 40]})


def _query(path: str) -> us.LazyFrame:
    return us.read_parquet(path).filter(us.col("x") > 15).group_by("k").agg(us.count().alias("n"))


def _plan(path: str) -> Any:
    return optimize(_query(path).plan)


def _file(tmp: str) -> str:
    path = os.path.join(tmp, "t.parquet")
    pq.write_table(TABLE, path)
    return path


def test_a_repeated_plan_reuses_the_decision_without_predicting(fakes: dict[str, FakeEngine], cache: str,
                                                                monkeypatch: Any) -> None:
    path = _file(cache)
    first = choose_mod.choose(_plan(path))
    assert first.plan_cache_key is not None
    calls: list[int] = []
    real = choose_mod.predicted_candidate
    monkeypatch.setattr(choose_mod, "predicted_candidate", lambda *a: calls.append(1) or real(*a))
    again = choose_mod.choose(_plan(path))
    assert again.engine == first.engine == "fake_fast"
    assert calls == []  # nothing predicted again
    assert again.estimates is None  # the cached decision carries no estimates of another plan's nodes


def test_the_plan_is_planned_again_every_few_uses(fakes: dict[str, FakeEngine], cache: str, monkeypatch: Any
                                                   ) -> None:
    path = _file(cache)
    choose_mod.choose(_plan(path))
    planned: list[int] = []
    real = choose_mod._plan_facts
    monkeypatch.setattr(choose_mod, "_plan_facts", lambda *a: planned.append(1) or real(*a))
    for _ in range(choose_mod.REPLAN_EVERY + 1):
        choose_mod.choose(_plan(path))
    assert planned == [1]  # REPLAN_EVERY reuses, then one full planning


def test_changed_data_or_engine_state_is_planned_afresh(fakes: dict[str, FakeEngine], cache: str) -> None:
    path = _file(cache)
    first = choose_mod.choose(_plan(path))
    pq.write_table(pa.concat_tables([TABLE] * 2), path)
    os.utime(path, ns=(5, 5))
    second = choose_mod.choose(_plan(path))
    assert second.plan_cache_key != first.plan_cache_key and second.estimates is not None
    fakes["fake_fast"].warm = False  # its start-up now counts: the decision is not reused
    third = choose_mod.choose(_plan(path))
    assert third.plan_cache_key != second.plan_cache_key and third.estimates is not None


def test_restricting_the_candidates_is_not_answered_from_the_cache(fakes: dict[str, FakeEngine], cache: str
                                                                    ) -> None:
    path = _file(cache)
    assert choose_mod.choose(_plan(path)).engine == "fake_fast"
    with us.config(engines="fake_slow"):
        assert choose_mod.choose(_plan(path)).engine == "fake_slow"


def test_a_failure_or_a_far_off_time_drops_the_decision(fakes: dict[str, FakeEngine], cache: str) -> None:
    path = _file(cache)
    choice = choose_mod.choose(_plan(path))
    assert choice.plan_cache_key in choose_mod._decisions
    choose_mod.settle(choice, choice.engine, None)  # the engine failed
    assert choice.plan_cache_key not in choose_mod._decisions
    choice = choose_mod.choose(_plan(path))
    assert choice.predicted is not None
    choose_mod.settle(choice, choice.engine, choice.predicted * 1.5)  # close to the prediction: kept
    assert choice.plan_cache_key in choose_mod._decisions
    choose_mod.settle(choice, choice.engine, choice.predicted * 10)  # far slower: planned again next time
    assert choice.plan_cache_key not in choose_mod._decisions


def test_failover_is_planned_again_next_time(fakes: dict[str, FakeEngine], cache: str) -> None:
    path = _file(cache)
    fakes["fake_fast"].fail_with = RuntimeError("worker lost")
    with us.config(failover=True):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _query(path).collect()
    assert out.num_rows == 3 and fakes["fake_slow"].calls == 1
    assert not choose_mod._decisions  # the failed choice is not reused


def test_observed_runs_of_other_engines_replan_only_when_they_could_win() -> None:
    from unistack.planner.choose import Candidate, Choice, _same_observations

    choice = Choice("polars", "cheapest", (Candidate("polars", True, "", None, True),
                                           Candidate("duckdb", True, "", None, True)))
    then = {("polars", True): 0.010, ("duckdb", True): 0.020}
    assert _same_observations(then, {("polars", True): 0.011, ("duckdb", True): 0.060}, choice)  # slower: moot
    assert _same_observations(then, {("polars", True): 0.010, ("duckdb", True): 0.014}, choice)  # still behind
    assert not _same_observations(then, {("polars", True): 0.010, ("duckdb", True): 0.009}, choice)  # could win
    # an engine now faster than the chosen one is planned for, even when its own runs moved by little
    assert not _same_observations({("polars", True): 0.100, ("duckdb", True): 0.095},
                                  {("polars", True): 0.083, ("duckdb", True): 0.096},
                                  Choice("duckdb", "cheapest", choice.candidates))
    assert not _same_observations(then, {("polars", True): 0.020, ("duckdb", True): 0.020}, choice)  # chosen moved
    assert not _same_observations(then, {("polars", True): 0.010}, choice)  # an engine's runs are gone
    assert not _same_observations(then, {("polars", True): 0.010, ("duckdb", True): 0.060})  # no choice: strict


def _looks(monkeypatch: Any) -> list[int]:
    """Count the planner's looks at every engine's facts."""
    looks: list[int] = []
    real = choose_mod._all_facts
    monkeypatch.setattr(choose_mod, "_all_facts", lambda *a: looks.append(1) or real(*a))
    return looks


def test_unistacks_own_engines_are_looked_at_again_only_after_a_change(cache: str, monkeypatch: Any) -> None:
    path = _file(cache)
    with us.config(engines="polars,duckdb"):
        for _ in range(2):  # the first look may load an engine (to read its capabilities): a change
            choose_mod.choose(_plan(path))
        looks = _looks(monkeypatch)
        for _ in range(3):
            choose_mod.choose(_plan(path))
        assert looks == []  # the snapshot of the engines' facts is reused
        _query(path).persist(engine="polars")  # an engine holds new results: it is looked at again
        choose_mod.choose(_plan(path))
        assert looks == [1]
        with us.config(duckdb_threads=1):  # an option an engine reads
            choose_mod.choose(_plan(path))
        assert len(looks) == 2
        with us.config(history_correction=True):  # the planner's own option does not touch the engines
            choose_mod.choose(_plan(path))
        monkeypatch.setattr(choose_mod, "FACTS_TTL", 0.0)  # what no one reports is seen after FACTS_TTL
        choose_mod.choose(_plan(path))
        assert len(looks) == 4


def test_another_engine_among_the_candidates_is_looked_at_every_time(fakes: dict[str, FakeEngine], cache: str,
                                                                     monkeypatch: Any) -> None:
    path = _file(cache)
    choose_mod.choose(_plan(path))
    looks = _looks(monkeypatch)
    for _ in range(3):
        choose_mod.choose(_plan(path))
    assert looks == [1, 1, 1]  # a registered engine's state may change without a word
