"""Engine choice: which engine runs a plan, and why.

With ``engine=`` (or the ``engine`` option) the choice is forced. Otherwise every candidate is checked
for feasibility (installed, supports every operation of the plan); the embedded engines are preferred
because they need no session. The cost-based model replaces this preference order when it lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unistack.backends.base import Engine
from unistack.backends.registry import available_engines, engine_names, get_engine, is_installed
from unistack.config import get_option
from unistack.errors import EngineNotAvailableError, UnistackError, UnsupportedOperationError
from unistack.plan.nodes import PlanNode

PREFERENCE = ("polars", "duckdb", "dask", "ray", "spark", "flink")


@dataclass(frozen=True)
class Candidate:
    engine: str
    feasible: bool
    note: str = ""


@dataclass(frozen=True)
class Choice:
    engine: str
    reason: str
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)


def _candidates() -> list[str]:
    configured = list(get_option("engines"))
    names = configured or available_engines()
    order = {n: i for i, n in enumerate(PREFERENCE)}
    return sorted(names, key=lambda n: order.get(n, len(order)))


def assess(name: str, plan: PlanNode) -> Candidate:
    """Whether engine ``name`` can run ``plan``, with the reason when it cannot."""
    if not is_installed(name):
        return Candidate(name, False, "not installed")
    try:
        engine = get_engine(name)
        missing = engine.capabilities().missing(plan)
    except UnistackError as e:
        return Candidate(name, False, str(e))
    if missing:
        op, why = next(iter(missing.items()))
        return Candidate(name, False, f"unsupported: {op} ({why})")
    return Candidate(name, True)


def choose(plan: PlanNode, engine: str | None = None) -> Choice:
    """Pick the engine for ``plan``.

    Examples
    --------
    >>> import unistack as us
    >>> choose(us.from_dict({"a": [1]}).plan).engine
    'polars'
    """
    forced = engine or (None if get_option("engine") == "auto" else get_option("engine"))
    if forced is not None:
        if forced not in engine_names():
            raise EngineNotAvailableError(f"unknown engine {forced!r}. Known engines: {', '.join(engine_names())}.")
        cand = assess(forced, plan)
        if not cand.feasible:
            if cand.note == "not installed":
                get_engine(forced)  # raises with the install hint
            if cand.note.startswith("unsupported: "):
                op = cand.note.removeprefix("unsupported: ")
                raise UnsupportedOperationError(forced, op)
            raise EngineNotAvailableError(f"engine {forced!r} cannot run this plan: {cand.note}")
        return Choice(forced, "forced by engine=" if engine else "forced by the 'engine' option", (cand,))
    assessed = tuple(assess(n, plan) for n in _candidates())
    feasible = [c for c in assessed if c.feasible]
    if not feasible:
        notes = "; ".join(f"{c.engine}: {c.note}" for c in assessed)
        raise UnsupportedOperationError("any", "this plan", f"No candidate engine can run it ({notes}).")
    return Choice(feasible[0].engine, "first feasible engine in preference order (embedded engines first)",
                  assessed)


def engine_for(choice: Choice) -> Engine:
    return get_engine(choice.engine)
