"""Running a plan: optimize, choose an engine, execute, check the result's schema, record the run.

Failover: when the chosen engine fails for an engine reason (:class:`EngineError`, or the engine cannot
start: :class:`EngineNotAvailableError`), the plan runs on the next-best feasible engine, with a
:class:`FailoverWarning`; both attempts go to the query history. User errors (a bad file, a failing
user function, ...) are never retried. A forced engine (``engine=`` or the ``engine`` option) is never
replaced, and the ``failover`` option turns failover off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pyarrow as pa

from unistack.backends.base import require_supported
from unistack.backends.persist import PersistingEngine, localize
from unistack.backends.registry import engines_changed, get_engine
from unistack.config import get_option
from unistack.errors import EngineError, EngineNotAvailableError, UnistackError, UnsupportedOperationError
from unistack.plan import nodes as pn
from unistack.plan.nodes import PlanNode
from unistack.planner.choose import Choice, choose, settle
from unistack.planner.optimize import optimize
from unistack.planner.profile import Profile


class FailoverWarning(RuntimeWarning):
    """The chosen engine failed for an engine reason; the plan ran on another engine."""


_last: dict[str, Any] = {}


def last_run() -> dict[str, Any]:
    """Facts of the most recent execution in this process: engine, predicted and actual seconds, failovers.

    Examples
    --------
    >>> import unistack as us
    >>> _ = us.from_dict({"a": [1]}).collect(engine="polars")
    >>> last_run()["engine"]
    'polars'
    """
    return dict(_last)


def _run_on(name: str, optimized: PlanNode, schema: pa.Schema) -> pa.Table:
    eng = get_engine(name)
    optimized = localize(optimized, name)
    require_supported(eng, optimized)
    try:
        table = eng.execute(optimized)
    except UnistackError:
        raise
    except Exception as e:  # an engine bug or crash: never a raw traceback
        raise EngineError(eng.name, f"{type(e).__name__}: {e}") from e
    if not table.schema.equals(schema):
        raise EngineError(
            eng.name, f"returned schema {table.schema} instead of the plan's {schema} (a bug in the engine)"
        )
    return table


def _persist_on(name: str, optimized: PlanNode, schema: pa.Schema) -> pn.PersistedSource:
    eng = get_engine(name)
    if not isinstance(eng, PersistingEngine):
        raise UnsupportedOperationError(name, "persist", "Reason: the engine cannot keep results. Persist on "
                                        "polars, duckdb, dask, spark or ray, e.g. frame.persist(engine='duckdb').")
    optimized = localize(optimized, name)
    require_supported(eng, optimized)
    try:
        return eng.persist(optimized)
    except UnistackError:
        raise
    except Exception as e:  # an engine bug or crash: never a raw traceback
        raise EngineError(eng.name, f"{type(e).__name__}: {e}") from e


def fingerprint(plan: PlanNode) -> str:
    """A short hash of a plan's text (the same query gets the same fingerprint)."""
    from unistack.plan.text import plan_text

    return hashlib.sha1(plan_text(plan).encode()).hexdigest()[:16]


def _record(choice: Choice, name: str, plan: PlanNode, seconds: float, status: str, error: str = "",
            failover_from: str | None = None) -> None:
    """Add the run to the query history, on the history thread (a forced engine's prediction is made there
    too, after the run). Options are read here, so a ``us.config`` block that ends right after the query
    still decides where its history goes."""
    if not get_option("history"):
        return
    from unistack.planner import history
    from unistack.planner.profile import load_profile

    paths = (history.history_path(), history.udf_costs_path(), history.observed_path())
    profile = load_profile()
    history.submit(lambda: _write_record(choice, name, plan, seconds, status, error, failover_from, paths,
                                         profile))


def _write_record(choice: Choice, name: str, plan: PlanNode, seconds: float, status: str, error: str,
                  failover_from: str | None, paths: tuple[str, str, str], profile: Profile) -> None:
    from unistack.planner.history import record

    cand = choice.candidate(name)
    if cand is not None and cand.cost is None and choice.context is not None and cand.engine == name:
        from unistack.planner.cardinality import estimate
        from unistack.planner.choose import predicted_candidate
        from unistack.planner.cost import features

        est = estimate(plan)
        cand = predicted_candidate(features(plan, est), choice.context)
        choice = dataclasses.replace(choice, candidates=(cand,), estimates=est)
    cost = cand.cost if cand is not None else None
    entry: dict[str, Any] = {
        "engine": name, "status": status, "actual": seconds, "plan": fingerprint(plan),
        "profile": choice.profile, "forced": choice.forced, "planning": choice.planning_seconds,
        "warm": cand.warm if cand is not None else None,
    }
    model = cost.total if cost is not None else None
    if cost is not None and cost.feasible:
        entry.update(predicted=cost.total, predicted_low=cost.low, predicted_high=cost.high,
                     start=cost.start, compute=cost.compute, transfer=cost.transfer, features=cost.features)
        if cost.history_runs and cost.model_total is not None:
            model = cost.model_total
            entry.update(model_predicted=model, history_runs=cost.history_runs)
    if error:
        entry["error"] = error[:500]
    if failover_from:
        entry["failover_from"] = failover_from
    record(entry, paths[0])
    if status == "ok" and cand is not None and cand.warm is not None:
        from unistack.planner.history import observe, plan_key

        observe(choice.history_key or plan_key(plan), name, cand.warm, seconds, paths[2])
    if status == "ok" and cost is not None and cost.feasible and model is not None:
        _learn_udfs(plan, choice, cost.features, model, seconds, name, profile, paths[1])


def _learn_udfs(plan: PlanNode, choice: Choice, feats: dict[str, float], predicted: float, actual: float,
                engine: str, profile: Profile, udf_path: str) -> None:
    """Attribute the unexplained part of the time to batch functions whose cost was not declared."""
    from unistack.planner.cost import UDF_COST_ATTRIBUTE, udf_key
    from unistack.planner.history import learn_udf_cost

    nodes = [n for n in plan.walk() if isinstance(n, pn.MapBatches)
             and not isinstance(getattr(n.fn, UDF_COST_ATTRIBUTE, None), (int, float))]
    if not nodes or choice.estimates is None:
        return
    prof = profile.engine(engine)
    if prof.python_parallel or prof.c("startup") > 1.0:
        # Learn from in-process engines only: they run the function on one core next to a cheap, well
        # predicted plan, whereas on distributed engines the residual is mostly their own misprediction.
        return
    udf_part = prof.c("udf_cpu") * feats.get("udf_cpu", 0.0)
    residual = actual - (predicted - udf_part)
    rows = [choice.estimates[n.input].rows.point for n in nodes]
    total_rows = sum(rows)
    # Learn only when the unexplained time dominates the run: otherwise it is more likely a misprediction of
    # the rest of the plan (or noise) than the function's cost.
    if total_rows < 1000 or residual <= 0.5 * actual:
        return
    raw_rows = feats.get("udf_row", 0.0)  # rows / python parallelism
    py_par = total_rows / raw_rows if raw_rows else 1.0
    per_row = residual * py_par / total_rows / max(prof.c("udf_cpu"), 1e-3)
    for n in nodes:
        learn_udf_cost(udf_key(n), per_row, path=udf_path)


def execute(plan: PlanNode, engine: str | None = None) -> pa.Table:
    """Optimize ``plan``, run it on the chosen engine (failing over when the engine fails) and return its
    result as Arrow.

    Examples
    --------
    >>> import unistack as us
    >>> execute(us.from_dict({"a": [1, 2]}).plan).num_rows
    2
    """
    return _run(plan, engine, _run_on, record=True)


def persist(plan: PlanNode, engine: str | None = None) -> pn.PersistedSource:
    """Optimize ``plan``, run it on the chosen engine among those that can keep results (or on ``engine``)
    and keep the result there; see :meth:`unistack.LazyFrame.persist`.

    Examples
    --------
    >>> import unistack as us
    >>> src = persist(us.from_dict({"a": [1, 2]}).plan, engine="polars")
    >>> src.engine, src.rows
    ('polars', 2)
    """
    return _run(plan, engine, _persist_on, record=False)


_R = TypeVar("_R")


def _can_persist(name: str) -> bool:
    try:
        return isinstance(get_engine(name), PersistingEngine)
    except UnistackError:
        return False


def _fallbacks(choice: Choice, tried: list[str], record: bool) -> list[str]:
    """Where a failed run goes next: the other feasible engines, cheapest first (when persisting, those that
    can keep a result); none for a forced engine or with the ``failover`` option off."""
    if choice.forced or not get_option("failover"):
        return []
    return [c.engine for c in choice.ranked() if c.engine not in tried and (record or _can_persist(c.engine))]


def _run(plan: PlanNode, engine: str | None, run: Callable[[str, PlanNode, pa.Schema], _R], record: bool) -> _R:
    optimized = optimize(plan)
    choice = choose(optimized, engine)
    first = choice.engine
    if not choice.forced and not record:  # persisting: the best engine that can keep a result
        first = next((c.engine for c in choice.ranked() if _can_persist(c.engine)), first)
    # the fallbacks are ranked only when the first engine fails (ranking costs microseconds on every query)
    order = [first]
    failures: list[str] = []
    previous: str | None = None
    i = 0
    while i < len(order):
        name = order[i]
        t0 = time.perf_counter()
        try:
            result = run(name, optimized, plan.schema)
        except (EngineError, EngineNotAvailableError) as e:
            elapsed = time.perf_counter() - t0
            engines_changed()  # a failed engine may have stopped, or started half-way
            if record:
                settle(choice, name, None)
                _record(choice, name, optimized, elapsed, "failed", str(e), previous)
            failures.append(f"{name}: {e}")
            if i == 0:
                order += _fallbacks(choice, order, record)
            if i + 1 < len(order):
                warnings.warn(f"engine {name!r} failed ({e}); running on {order[i + 1]!r} instead.",
                              FailoverWarning, stacklevel=4)
                previous = name
                i += 1
                continue
            if len(failures) > 1:
                raise EngineError(name, f"every feasible engine failed: {'; '.join(failures)}") from e
            raise
        elapsed = time.perf_counter() - t0
        cand = choice.candidate(name)
        if cand is None or not cand.warm:
            engines_changed()  # the engine had no session before this run: it has one now
        if record:
            settle(choice, name, elapsed)
            _record(choice, name, optimized, elapsed, "ok", failover_from=previous)
        _last.clear()
        _last.update(engine=name, chosen=choice.engine, predicted=choice.predicted, actual=elapsed,
                     planning=choice.planning_seconds, failovers=list(failures), reason=choice.reason)
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def execute_batches(plan: PlanNode, engine: str | None = None, max_chunksize: int | None = None
                    ) -> Iterator[pa.RecordBatch]:
    """Run ``plan`` and yield its result as record batches."""
    table = execute(plan, engine)
    yield from table.to_batches(max_chunksize=max_chunksize)
