"""Engine choice: which engine runs a plan, and why.

With ``engine=`` (or the ``engine`` option) the choice is forced. Otherwise every candidate engine (the
``engines`` option, else every installed engine) gets a cost prediction from :mod:`unistack.planner.cost`
or a reason it cannot run the plan, and the cheapest feasible one wins. When the predicted intervals of
the cheapest engine and another overlap, the one with the smaller worst case wins.

Planning never starts an engine: it reads ``engine.status()`` (which engines keep cheap) and
``engine.capabilities()`` (cached per engine instance), and statistics that are cached per file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from unistack.backends import registry
from unistack.backends.base import Capabilities, Engine, EngineStatus, capabilities_of, forget_capabilities
from unistack.backends.registry import available_engines, engine_names, get_engine, is_installed
from unistack.config import cache_dir, engine_options_version, get_option
from unistack.errors import EngineNotAvailableError, UnsupportedOperationError
from unistack.plan.nodes import PlanNode
from unistack.plan.operations import known_operations, operations
from unistack.planner.cardinality import Estimates, estimate
from unistack.planner.cost import (
    Cost,
    EngineContext,
    PlanFeatures,
    available_memory,
    engine_cost,
    features,
    unsupported_note,
)
from unistack.planner.profile import EngineProfile, Profile, load_profile

PREFERENCE = ("polars", "duckdb", "dask", "ray", "spark", "flink")  # only breaks exact ties


@dataclass(frozen=True)
class Candidate:
    """One engine considered for a plan: feasible or not (with a note), and its predicted cost."""

    engine: str
    feasible: bool
    note: str = ""
    cost: Cost | None = None
    warm: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"engine": self.engine, "feasible": self.feasible, "note": self.note, "warm": self.warm}
        if self.cost is not None:
            d.update({k: v for k, v in self.cost.to_dict().items() if k not in ("engine", "feasible")})
        return d


@dataclass(frozen=True)
class Choice:
    """The engine chosen for a plan, why, every candidate with its prediction, and planning facts."""

    engine: str
    reason: str
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    estimates: Estimates | None = field(default=None, compare=False, repr=False)
    plan_features: PlanFeatures | None = field(default=None, compare=False, repr=False)
    profile: str = ""
    planning_seconds: float = 0.0
    forced: bool = False
    # a forced engine's context, when its prediction is left for after the run (see execution._record)
    context: EngineContext | None = field(default=None, compare=False, repr=False)
    history_key: str | None = None  # the plan's key in the observed runs, when they were consulted
    plan_cache_key: tuple[Any, ...] | None = field(default=None, compare=False, repr=False)  # see REPLAN_EVERY

    def candidate(self, name: str) -> Candidate | None:
        return next((c for c in self.candidates if c.engine == name), None)

    def ranked(self) -> list[Candidate]:
        """Feasible candidates, cheapest first (the chosen engine first)."""
        feasible = [c for c in self.candidates if c.feasible]
        order = {n: i for i, n in enumerate(PREFERENCE)}
        feasible.sort(key=lambda c: (c.engine != self.engine, _total(c), order.get(c.engine, 99)))
        return feasible

    @property
    def predicted(self) -> float | None:
        """Predicted seconds on the chosen engine (``None`` without a prediction)."""
        c = self.candidate(self.engine)
        return None if c is None or c.cost is None or not c.feasible else c.cost.total

    def runner_up(self) -> Candidate | None:
        ranked = self.ranked()
        return ranked[1] if len(ranked) > 1 else None

    def margin(self) -> float | None:
        """How many times cheaper the chosen engine is than the runner-up (predicted)."""
        chosen, runner = self.predicted, self.runner_up()
        if chosen is None or runner is None or runner.cost is None:
            return None
        return runner.cost.total / max(chosen, 1e-9)


def _total(c: Candidate) -> float:
    return c.cost.total if c.cost is not None else math.inf


# -- engine facts (cheap, cached) --------------------------------------------------------------------------
_installed: dict[str, bool] = {}


def _registered() -> Mapping[str, Engine]:
    """Engine instances by name: registered (``registry.register``: tests and embedding) or loaded. Read on
    every planning, so no copy is made."""
    return getattr(registry, "_instances", {})


def _is_installed(name: str) -> bool:
    if name in _registered():
        return True
    hit = _installed.get(name)
    if hit is None:
        hit = _installed[name] = is_installed(name)
    return hit


# Capabilities of built-in engines not loaded in this process come from a file cache, so planning does not
# import their (heavy) modules: an engine that is not loaded has no session, so it is cold anyway.
_disk_caps: dict[str, tuple[Capabilities, bool]] = {}


def _backend_signature(name: str) -> str | None:
    import importlib.util

    mod = registry.BUILTIN[name][0]
    spec = importlib.util.find_spec(mod)
    if spec is None or not spec.submodule_search_locations:
        return None
    parts = []
    for loc in spec.submodule_search_locations:
        try:
            for entry in sorted(os.scandir(loc), key=lambda e: e.name):
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    parts.append(f"{entry.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            return None
    from unistack import __version__

    return hashlib.sha1(f"{__version__}|{'|'.join(parts)}".encode()).hexdigest()[:16]


def _caps_path(name: str, sig: str) -> str:
    return os.path.join(cache_dir(), "capabilities", f"{name}-{sig}.json")


def cached_capabilities(name: str) -> tuple[Capabilities, bool]:
    """Capabilities of a built-in engine and whether it reported itself installed: from memory, else from
    the file cache, else by loading the engine once (and storing them for the next processes)."""
    hit = _disk_caps.get(name)
    if hit is not None:
        return hit
    sig = _backend_signature(name)
    path = _caps_path(name, sig) if sig else None
    if path is not None:
        try:
            with open(path) as fh:
                d = json.load(fh)
            caps = Capabilities(frozenset(d["supported"]), dict(d["unsupported"]), bool(d["batch"]),
                                bool(d["streaming"]))
            _disk_caps[name] = (caps, bool(d.get("installed", True)))
            return _disk_caps[name]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    engine = get_engine(name)
    caps = capabilities_of(engine)
    installed = bool(engine.status().installed)
    if path is not None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                json.dump({"supported": sorted(caps.supported), "unsupported": dict(caps.unsupported),
                           "batch": caps.batch, "streaming": caps.streaming, "installed": installed}, fh)
            os.replace(tmp, path)
        except OSError:
            pass
    _disk_caps[name] = (caps, installed)
    return _disk_caps[name]


def engine_facts(name: str) -> tuple[Engine | None, EngineStatus, Capabilities]:
    """The engine (``None`` if not loaded in this process), its status and its capabilities, cheaply.

    A built-in engine that this process has not loaded yet has no session: it is reported cold without
    being imported, and its capabilities come from :func:`cached_capabilities`.
    """
    instances = _registered()
    engine = instances.get(name)
    if engine is None and name in registry.BUILTIN and name != "polars":
        caps, installed = cached_capabilities(name)
        engine = instances.get(name)  # loading the capabilities may have created it
        if engine is None and installed:
            return None, EngineStatus(installed=True, warm=False, detail="not loaded in this process"), caps
    if engine is None:
        engine = get_engine(name)
    return engine, _status(engine), capabilities_of(engine)


SLOW_STATUS = 0.0005  # seconds: a status() slower than this is reused for STATUS_TTL seconds
STATUS_TTL = 5.0
_status_cache: dict[tuple[str, int], tuple[float, EngineStatus]] = {}


def _status(engine: Engine) -> EngineStatus:
    """``engine.status()``, reused for a few seconds when the engine answers slowly (a cluster query), so
    planning stays in milliseconds; fast answers are never cached."""
    key = (engine.name, id(engine))
    now = time.monotonic()
    hit = _status_cache.get(key)
    if hit is not None and now - hit[0] < STATUS_TTL:
        return hit[1]
    t0 = time.perf_counter()
    status = engine.status()
    if time.perf_counter() - t0 > SLOW_STATUS:
        _status_cache[key] = (now, status)
    else:
        _status_cache.pop(key, None)
    return status


def clear_caches() -> None:
    """Forget cached capabilities and installation checks (tests use this)."""
    global _available, _names
    forget_capabilities()
    _installed.clear()
    _disk_caps.clear()
    _status_cache.clear()
    _memo.clear()
    _assessed.clear()
    _decisions.clear()
    _snapshots.clear()
    _contexts.clear()
    _plan_keys.clear()
    _available = _names = None


_available: list[str] | None = None
_names: list[str] | None = None


def _candidates() -> list[str]:
    global _available
    configured = list(get_option("engines"))
    if configured:
        return configured
    if _available is None:  # entry points and installed packages do not change within a process
        _available = available_engines()
    return _available + sorted(n for n in _registered() if n not in _available)


def _known(name: str) -> bool:
    global _names
    if name in _registered():
        return True
    if _names is None:
        _names = engine_names()
    return name in _names


_contexts: dict[tuple[Any, ...], EngineContext] = {}  # planning a repeated query builds none anew


def _context(name: str, engine: Engine | None, status: EngineStatus, caps: Capabilities, profile: Profile
             ) -> EngineContext:
    memory = float(status.memory_bytes) if status.memory_bytes else available_memory()
    resident_fn = getattr(engine, "resident_sources", None) if engine is not None else None
    resident: frozenset[str] = frozenset()
    if callable(resident_fn):
        try:
            resident = frozenset(resident_fn())
        except Exception:  # an optional hook: never let it break planning
            resident = frozenset()
    # the profile is kept alive by the cached context, so its id is not reused while the entry exists
    key = (name, status, caps.streaming, caps.batch, id(profile), memory, resident)
    hit = _contexts.get(key)
    if hit is None:
        hit = _build_context(name, status, caps, profile, memory, resident)
        _remember(_contexts, key, hit)
    return hit


def _build_context(name: str, status: EngineStatus, caps: Capabilities, profile: Profile, memory: float | None,
                   resident: frozenset[str]) -> EngineContext:
    ep = profile.engine(name)
    cores = float(status.cores) if status.cores else ep.parallelism
    if status.cluster and not ep.python_parallel:
        # A cluster runs Python functions in its worker processes even where the local mode uses threads.
        ep = EngineProfile.from_dict({**ep.to_dict(), "python_parallel": True})
    return EngineContext(name, ep, bool(status.warm), cores, memory, status.cluster, caps.streaming, caps.batch,
                         resident, profile)


def _missing(caps: Capabilities, ops: frozenset[str]) -> dict[str, str]:
    """Like ``Capabilities.missing`` for an operation set computed once per plan."""
    return {op: caps.unsupported.get(op, "not implemented") for op in sorted(ops - caps.supported)}


def _facts_for(name: str, plan: PlanNode, profile: Profile | None, ops: frozenset[str] | None
               ) -> Candidate | tuple[EngineContext, dict[str, str]]:
    """What planning needs to know of engine ``name`` before any prediction: a Candidate saying why the
    engine is not available, or its context and the plan's operations it lacks."""
    if not _is_installed(name):
        return Candidate(name, False, "not installed")
    try:
        engine, status, caps = engine_facts(name)
    except Exception as e:  # a broken or half-installed engine is simply not a candidate
        return Candidate(name, False, f"not available: {type(e).__name__}: {_short(e)}")
    if not status.installed:
        return Candidate(name, False, f"not available: {status.detail or 'not installed'}", warm=False)
    try:
        missing = _missing(caps, ops) if ops is not None else caps.missing(plan)
        return _context(name, engine, status, caps, profile or load_profile()), missing
    except Exception as e:
        return Candidate(name, False, f"not available: {type(e).__name__}: {_short(e)}")


def assess(name: str, plan: PlanNode, pf: PlanFeatures | None = None, profile: Profile | None = None,
           ops: frozenset[str] | None = None) -> Candidate:
    """Whether engine ``name`` can run ``plan`` (with the reason when it cannot) and its predicted cost.

    Examples
    --------
    >>> import unistack as us
    >>> c = assess("polars", us.from_dict({"a": [1]}).plan)
    >>> c.feasible, c.cost.total < 1
    (True, True)
    """
    facts = _facts_for(name, plan, profile, ops)
    if isinstance(facts, Candidate):
        return facts
    ctx, missing = facts
    try:
        pf = pf if pf is not None else features(plan)
    except Exception as e:
        return Candidate(name, False, f"not available: {type(e).__name__}: {_short(e)}")
    return predicted_candidate(pf, ctx, missing)


def predicted_candidate(pf: PlanFeatures, ctx: EngineContext, missing: dict[str, str] | None = None) -> Candidate:
    """The candidate for an engine in context ``ctx`` with its cost predicted from the plan's features."""
    cost = engine_cost(pf, ctx, missing)
    note = cost.note if cost.feasible else cost.reason
    return Candidate(ctx.name, cost.feasible, note, cost, ctx.warm)


def _short(e: BaseException, limit: int = 160) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- history-based correction -------------------------------------------------------------------------------
def history_corrected(cand: Candidate, runs: list[float]) -> Candidate:
    """``cand`` with its prediction replaced by what was observed: the median of ``runs`` (seconds of the
    same plan over the same input versions on this engine, in the same warm or cold state).

    The model's split into start-up, compute and transfer is kept in proportion; the interval collapses to
    the observed median (what happened is no longer uncertain the way a row estimate is), so among
    overlapping candidates an engine with history wins over one whose model interval reaches higher.

    Examples
    --------
    >>> from unistack.planner.cost import Cost
    >>> c = Candidate("polars", True, "", Cost("polars", True, start=0.0, compute=0.02, transfer=0.0,
    ...                                        low=0.01, high=0.04), True)
    >>> h = history_corrected(c, [0.05, 0.04, 0.06])
    >>> round(h.cost.total, 3), h.cost.history_runs, h.cost.model_total, h.note
    (0.05, 3, 0.02, 'observed: median of 3 runs (model 20.0ms)')
    """
    cost = cand.cost
    if cost is None or not cand.feasible or not runs:
        return cand
    import statistics

    observed = float(statistics.median(runs))
    model = cost.total
    parts = cost.start + cost.compute + cost.transfer
    if parts > 0:
        f = observed / parts
        start, compute, transfer = cost.start * f, cost.compute * f, cost.transfer * f
    else:
        start, compute, transfer = 0.0, observed, 0.0
    new = replace(cost, start=start, compute=compute, transfer=transfer, low=observed, high=observed,
                  history_runs=len(runs), model_total=model)
    note = f"observed: median of {len(runs)} run{'s' if len(runs) != 1 else ''} (model {_ms(model)})"
    return replace(cand, cost=new, note="; ".join(x for x in (note, cand.note) if x))


def _ms(x: float) -> str:
    return f"{x:.2f}s" if x >= 1 else f"{x * 1000:.1f}ms"


_plan_keys: dict[str, str] = {}  # memo key -> history key (the same plan over the same input versions)


def _observed(plan: PlanNode, text: str | None, memo_key: str | None = None
              ) -> tuple[str | None, dict[tuple[str, bool], list[float]]]:
    """The plan's key in the observed runs and its runs per (engine, warm), when the ``history_correction``
    option is on (else ``(None, {})``). ``memo_key`` (see :func:`_memo_key`), when known, saves computing the
    history key again for a plan planned before."""
    if not get_option("history_correction"):
        return None, {}
    from unistack.planner.history import observed_for, plan_key

    try:
        key = _plan_keys.get(memo_key) if memo_key is not None else None
        if key is None:
            key = plan_key(plan, text)
            if memo_key is not None:
                _remember(_plan_keys, memo_key, key)
        return key, observed_for(key)
    except Exception:  # the history must never break planning
        return None, {}


def _corrected(cands: tuple[Candidate, ...], seen: dict[tuple[str, bool], list[float]]) -> tuple[Candidate, ...]:
    out = []
    for c in cands:
        if c.feasible and c.cost is not None:
            runs = seen.get((c.engine, bool(c.warm)))
            if runs:
                c = history_corrected(c, runs)
        out.append(c)
    return tuple(out)


def _apply_history(plan: PlanNode, cands: tuple[Candidate, ...], text: str | None = None,
                   memo_key: str | None = None) -> tuple[tuple[Candidate, ...], str | None]:
    """Candidates with observed times in place of predictions where this plan ran before (the
    ``history_correction`` option), and the plan's key (``None`` when the option is off)."""
    key, seen = _observed(plan, text, memo_key)
    return (_corrected(cands, seen), key) if key is not None else (cands, None)


# -- per-plan memo of the model's predictions ----------------------------------------------------------------
# A repeated query whose input versions, engine facts (installed, warm, cores, cluster, memory where it
# matters) and profile are unchanged gets the same predictions: they are reused rather than computed again
# (the observed runs, which change with every run, are applied to them afresh each time).
_assessed: dict[tuple[Any, ...], tuple[Profile, tuple[Candidate, ...]]] = {}

Facts = list[tuple[str, "Candidate | tuple[EngineContext, dict[str, str]]"]]


def _facts_signature(facts: Candidate | tuple[EngineContext, dict[str, str]], pf: PlanFeatures) -> tuple[Any, ...]:
    """Everything of an engine's facts that its prediction depends on."""
    if isinstance(facts, Candidate):
        return (facts.engine, facts.note)
    ctx, missing = facts
    need = pf.peak_bytes * ctx.profile.memory_factor
    memory = ctx.memory_bytes if ctx.memory_bytes and need * 2 > ctx.memory_bytes else None  # far below: moot
    return (ctx.name, ctx.warm, ctx.parallelism, memory, ctx.cluster, ctx.streaming, ctx.batch, ctx.resident,
            ctx.profile.python_parallel, tuple(missing))


def _all_facts(plan: PlanNode, profile: Profile, ops: frozenset[str], pf: PlanFeatures
               ) -> tuple[Facts, tuple[Any, ...]]:
    """Every candidate engine's facts and their signature."""
    facts: Facts = [(n, _facts_for(n, plan, profile, ops)) for n in _candidates()]
    return facts, tuple(_facts_signature(f, pf) for _, f in facts)


def _assess_all(plan: PlanNode, pf: PlanFeatures, profile: Profile, text: str, memo_key: str | None,
                facts: Facts, signature: tuple[Any, ...],
                observed: tuple[str | None, dict[tuple[str, bool], list[float]]] | None = None
                ) -> tuple[tuple[Candidate, ...], str | None, dict[tuple[str, bool], list[float]]]:
    """Every candidate engine assessed and corrected by the observed runs (``observed``, when the caller
    already looked them up), the plan's history key and the observed runs used."""
    memo = (memo_key, signature) if memo_key is not None else None
    hit = _assessed.get(memo) if memo is not None else None
    if hit is not None and hit[0] is profile:
        cands = hit[1]
    else:
        cands = tuple(f if isinstance(f, Candidate) else predicted_candidate(pf, *f) for _, f in facts)
        if memo is not None:
            _remember(_assessed, memo, (profile, cands))
    key, seen = observed if observed is not None else _observed(plan, text, memo_key)
    return _corrected(cands, seen), key, seen


def _medians(seen: dict[tuple[str, bool], list[float]]) -> dict[tuple[str, bool], float]:
    return {k: statistics.median(v) for k, v in seen.items() if v}


def _same_observations(then: dict[tuple[str, bool], float], now: dict[tuple[str, bool], float],
                        choice: Choice | None = None) -> bool:
    """Whether the observed runs still support a decision: the same engines observed, and each median within
    :data:`SETTLE_TOLERANCE` of its value then. With the decision's ``choice``, only the chosen engine's
    median is held to that; another engine's may have moved anywhere that does not make it the cheapest
    (it is still no faster than the chosen engine now), so noise in the runs of engines that cannot win
    does not cost a new planning, while one that now runs faster than the chosen engine is planned for at
    once, however little its own runs moved.

    Examples
    --------
    >>> _same_observations({("polars", True): 0.010}, {("polars", True): 0.012})
    True
    >>> _same_observations({("polars", True): 0.010}, {("polars", True): 0.020})
    False
    """
    if then.keys() != now.keys():
        return False
    chosen: tuple[str, bool] | None = None
    reference = math.inf
    if choice is not None:
        cand = choice.candidate(choice.engine)
        chosen = (choice.engine, bool(cand.warm)) if cand is not None else None
        reference = now.get(chosen, choice.predicted or math.inf) if chosen is not None else math.inf
    for k, was in then.items():
        is_ = now[k]
        if chosen is not None and k != chosen:
            if is_ >= reference:
                continue
            return False
        if was / SETTLE_TOLERANCE <= is_ <= was * SETTLE_TOLERANCE:
            continue
        return False
    return True


# -- plan cache ------------------------------------------------------------------------------------------------
# Like a database's plan cache: the engine chosen for a plan is reused for the same plan over the same input
# versions while the engines' facts, the profile and the observed runs' medians (within SETTLE_TOLERANCE)
# are unchanged, without predicting again; the plan is planned afresh every REPLAN_EVERY uses regardless.
# This keeps the planner's cost for a repeated millisecond query in the tens of microseconds. Plans with
# Python batch functions are always planned (their learned cost changes as they run, and execution needs the
# plan's estimates to learn it).
REPLAN_EVERY = 8
_decisions: dict[tuple[Any, ...], list[Any]] = {}  # key -> [profile, Choice, uses since planned, medians]


# The plan cache's key holds every engine's facts (installed, warm, cores, memory where it matters, resident
# results): looking at four engines costs tens of microseconds, as much as the rest of a cached planning. A
# repeated plan therefore reuses its last look for up to FACTS_TTL seconds, unless an engine was added,
# started or stopped, or its resident results changed in the meantime (unistack reports each of these:
# registry.engines_changed), or us.config changed an option an engine reads. What no one reports (an
# environment variable, another process stopping a cluster, free memory) is seen within FACTS_TTL. Only
# unistack's own engines are covered: with any other engine among the candidates (a plugin, or an engine
# registered by a program or a test, whose state may change without a word) every planning looks afresh.
FACTS_TTL = 0.25
_snapshots: dict[tuple[Any, ...], tuple[float, tuple[int, int], tuple[Any, ...]]] = {}


def _snapshot_key(memo_key: str, profile: Profile) -> tuple[Any, ...] | None:
    """The key of the plan's snapshot of the engines' facts; ``None`` when a candidate is not one of
    unistack's own engines."""
    names = tuple(_candidates())
    instances = _registered()
    ids = []
    for n in names:
        engine = instances.get(n)
        if n not in registry.BUILTIN or (engine is not None and not type(engine).__module__.startswith(_OWN)):
            return None
        ids.append(id(engine))
    return memo_key, bool(get_option("history_correction")), id(profile), names, tuple(ids)


_OWN = "unistack.backends."


def _facts_version() -> tuple[int, int]:
    return registry.generation(), engine_options_version()


def _recent_decision(snapshot: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    """The plan cache's key made from a look at the engines taken less than FACTS_TTL ago, if nothing
    reported a change of the engines since."""
    hit = _snapshots.get(snapshot) if snapshot is not None else None
    if hit is None or time.monotonic() - hit[0] >= FACTS_TTL or hit[1] != _facts_version():
        return None
    return hit[2]


def _decision_now(memo_key: str, plan: PlanNode, profile: Profile, ops: frozenset[str], pf: PlanFeatures
                  ) -> tuple[tuple[Any, ...], tuple[Facts, tuple[Any, ...]]]:
    """:func:`_decision` from a fresh look at the engines, remembered for :func:`_recent_decision`."""
    version = _facts_version()  # read first: a change during the look makes the snapshot stale at once
    decision, known = _decision(memo_key, plan, profile, ops, pf)
    snapshot = _snapshot_key(memo_key, profile)
    if snapshot is not None:
        _remember(_snapshots, snapshot, (time.monotonic(), version, decision))
    return decision, known


def _cacheable(ops: frozenset[str]) -> bool:
    """Whether a plan with these operations may reuse a cached decision (not with batch functions)."""
    return "node:MapBatches" not in ops


def _decision(memo_key: str, plan: PlanNode, profile: Profile, ops: frozenset[str], pf: PlanFeatures
              ) -> tuple[tuple[Any, ...], tuple[Facts, tuple[Any, ...]]]:
    """The plan cache's key for a plan with memoised facts, and every engine's facts it was made of."""
    facts, signature = _all_facts(plan, profile, ops, pf)
    return (memo_key, signature, bool(get_option("history_correction"))), (facts, signature)


def _pick(feasible: list[Candidate]) -> Candidate:
    """The cheapest by point estimate; among engines whose interval overlaps it, the smallest worst case."""
    order = {n: i for i, n in enumerate(PREFERENCE)}
    ranked = sorted(feasible, key=lambda c: (_total(c), order.get(c.engine, 99)))
    best = ranked[0]
    assert best.cost is not None
    overlapping = [c for c in ranked if c.cost is not None and c.cost.low <= best.cost.high
                   and best.cost.low <= c.cost.high]
    return min(overlapping, key=lambda c: (c.cost.high if c.cost else math.inf, _total(c),
                                           order.get(c.engine, 99)))


# -- per-plan memo of the engine-independent facts ------------------------------------------------------------
# A query run again (a new frame, a new plan object, the same text over the same data) gets the same row
# estimates, features and operations: they are reused rather than recomputed, so planning a repeated
# millisecond query costs a fraction of a millisecond. Engine state (warm, cores, memory), the profile and
# the history are still read on every call.
MEMO_SIZE = 256


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Store ``value`` in one of the planner's caches, forgetting the oldest entry beyond :data:`MEMO_SIZE`."""
    if len(cache) >= MEMO_SIZE and key not in cache:
        cache.pop(next(iter(cache)))
    cache[key] = value
_memo: dict[str, tuple[PlanNode, Estimates, PlanFeatures, frozenset[str]]] = {}


def _memo_key(plan: PlanNode, text: str | None = None) -> str | None:
    """The plan's text with each in-memory table named by its identity, each file source's versions, and
    the current cost of each batch function (it is learned from the history and may change)."""
    from unistack.plan import nodes as pn
    from unistack.plan.text import plan_text
    from unistack.planner.cost import udf_seconds_per_row
    from unistack.planner.stats import table_token

    text = plan_text(plan) if text is None else text
    extra: list[str] = []
    for node in plan.walk():
        if isinstance(node, pn.Scan):
            src = node.source
            if isinstance(src, pn.InMemorySource):
                text = text.replace(src.key, table_token(src))
            elif isinstance(src, pn.PersistedSource):
                pass  # immutable while it exists; its key is in the text
            elif isinstance(src, pn.FileSource):
                versions = src.versions()
                if versions is None:
                    return None
                extra.append(repr(versions))
            else:
                return None  # a source whose statistics may change (a stream): never memoised
        elif isinstance(node, pn.MapBatches):
            extra.append(repr(udf_seconds_per_row(node)))
    return "\n".join([text, *extra])


def _safe_memo_key(plan: PlanNode, text: str | None) -> str | None:
    try:
        return _memo_key(plan, text)
    except Exception:  # the memo is an optimisation: never let it break planning
        return None


def _rebind(old: PlanNode, est: Estimates, pf: PlanFeatures, plan: PlanNode) -> tuple[Estimates, PlanFeatures] | None:
    """The memoised facts of ``old`` attached to ``plan`` (the same text): estimates by the new nodes,
    in-memory inputs by the new sources' keys."""
    from unistack.plan import nodes as pn

    olds, news = list(old.walk()), list(plan.walk())
    if len(olds) != len(news):
        return None
    out = Estimates(plan)
    keys: dict[str, str] = {}
    for a, b in zip(olds, news):
        if type(a) is not type(b):
            return None
        out.set(b, est[a])
        if isinstance(a, pn.Scan) and isinstance(a.source, pn.InMemorySource) and isinstance(b, pn.Scan) \
                and isinstance(b.source, pn.InMemorySource):
            keys[a.source.key] = b.source.key
    arrow = {s: {keys.get(k, k): v for k, v in d.items()} for s, d in pf.arrow_inputs.items()}
    return out, replace(pf, arrow_inputs=arrow, estimates=out)


def plan_facts(plan: PlanNode, text: str | None = None) -> tuple[Estimates, PlanFeatures, frozenset[str]]:
    """Row estimates, cost-model features and operations of ``plan``, memoised per plan text and data
    version (see :data:`MEMO_SIZE`).

    Examples
    --------
    >>> import pyarrow as pa, unistack as us
    >>> t = pa.table({"a": [1, 2, 3]})
    >>> f1 = plan_facts(us.from_arrow(t).filter(us.col("a") > 1).plan)[1]
    >>> f2 = plan_facts(us.from_arrow(t).filter(us.col("a") > 1).plan)[1]
    >>> f1.values == f2.values
    True
    """
    return _plan_facts(plan, text)[:3]


def _plan_facts(plan: PlanNode, text: str | None = None, key: str | None = None
                ) -> tuple[Estimates, PlanFeatures, frozenset[str], str | None]:
    """:func:`plan_facts` and the memo key (``None`` when the plan is not memoised); ``key`` is the memo key
    when the caller computed it already."""
    key = key if key is not None else _safe_memo_key(plan, text)
    if key is not None:
        hit = _memo.get(key)
        if hit is not None:
            rebound = _rebind(hit[0], hit[1], hit[2], plan)
            if rebound is not None:
                return rebound[0], rebound[1], hit[3], key
    est = estimate(plan)
    pf = features(plan, est)
    ops = frozenset(operations(plan))
    if key is not None:
        _remember(_memo, key, (plan, est, pf, ops))
    return est, pf, ops, key


def _raise_if_infeasible(forced: str, cand: Candidate) -> None:
    if cand.feasible:
        return
    if cand.note == "not installed" or cand.note.startswith("not available"):
        get_engine(forced)  # raises with the install hint
        raise EngineNotAvailableError(f"engine {forced!r} cannot run now: {cand.note}")
    if cand.note.startswith("unsupported "):
        raise UnsupportedOperationError(forced, cand.note.removeprefix("unsupported "))
    raise EngineNotAvailableError(f"engine {forced!r} cannot run this plan: {cand.note}")


def choose(plan: PlanNode, engine: str | None = None, compare: bool = False) -> Choice:
    """Pick the engine for ``plan``: the forced one, or the cheapest feasible candidate.

    With a forced engine nothing is predicted unless ``compare`` is true (explain): the run does not wait for
    a prediction it does not need, and the history predicts it after the run from ``Choice.context``.

    Examples
    --------
    >>> import unistack as us
    >>> choose(us.from_dict({"a": [1]}).plan, engine="polars").engine
    'polars'
    """
    t0 = time.perf_counter()
    profile = load_profile()
    forced = engine or (None if get_option("engine") == "auto" else get_option("engine"))
    if forced is not None and not compare:
        ops = frozenset(operations(plan))
        # Nothing to compare: the prediction (kept in the history) is made after the run, off the result's
        # path (see Choice.context).
        if not _known(forced):
            raise EngineNotAvailableError(f"unknown engine {forced!r}. Known engines: {', '.join(engine_names())}.")
        facts = _facts_for(forced, plan, profile, ops)
        ctx = None if isinstance(facts, Candidate) else facts[0]
        if isinstance(facts, Candidate):
            cand = facts
        elif facts[1]:
            cand = Candidate(forced, False, unsupported_note(facts[1]))
        else:
            cand = Candidate(forced, True, "", None, facts[0].warm)
        _raise_if_infeasible(forced, cand)
        reason = "forced by engine=" if engine else "forced by the 'engine' option"
        return Choice(forced, reason, (cand,), None, None, profile.label(), time.perf_counter() - t0, True,
                      context=ctx)
    from unistack.plan.text import plan_text

    text = plan_text(plan)
    cacheable = forced is None and not compare
    decision, known, observed = None, None, None
    early_key = _safe_memo_key(plan, text) if cacheable else None
    memo_hit = _memo.get(early_key) if early_key is not None else None
    if early_key is not None and memo_hit is not None and _cacheable(memo_hit[3]):
        decision = _recent_decision(_snapshot_key(early_key, profile))
        if decision is None:
            decision, known = _decision_now(early_key, plan, profile, memo_hit[3], memo_hit[2])
        cached = _decisions.get(decision)
        if cached is not None and cached[0] is profile and cached[2] < REPLAN_EVERY:
            observed = _observed(plan, text, early_key) if decision[2] else (None, {})
            if not decision[2] or _same_observations(cached[3], _medians(observed[1]), cached[1]):
                cached[2] += 1
                known_operations(plan, memo_hit[3])  # so the engine's check does not walk the plan again
                return _with_planning_time(cached[1], time.perf_counter() - t0)
        if known is None:  # planning afresh: with a fresh look at the engines
            decision, known = _decision_now(early_key, plan, profile, memo_hit[3], memo_hit[2])
    est, pf, ops, memo_key = _plan_facts(plan, text, early_key)
    known_operations(plan, ops)
    if forced is not None:
        if not _known(forced):
            raise EngineNotAvailableError(f"unknown engine {forced!r}. Known engines: {', '.join(engine_names())}.")
        cand = assess(forced, plan, pf, profile, ops)
        _raise_if_infeasible(forced, cand)
        # The others are still predicted so explain can compare; they are not run.
        others = tuple(assess(n, plan, pf, profile, ops) for n in _candidates() if n != forced) if compare else ()
        reason = "forced by engine=" if engine else "forced by the 'engine' option"
        every, key = _apply_history(plan, (cand, *others), text, memo_key)
        return Choice(forced, reason, every, est, pf, profile.label(), time.perf_counter() - t0, True,
                      history_key=key)
    if decision is None and cacheable and memo_key is not None and _cacheable(ops):
        decision, known = _decision_now(memo_key, plan, profile, ops, pf)  # a first planning of this plan
    every_facts, signature = known if known is not None else _all_facts(plan, profile, ops, pf)
    assessed, key, seen = _assess_all(plan, pf, profile, text, memo_key, every_facts, signature, observed)
    feasible = [c for c in assessed if c.feasible]
    if not feasible:
        notes = "; ".join(f"{c.engine}: {c.note}" for c in assessed)
        raise UnsupportedOperationError("any", "this plan", f"No candidate engine can run it ({notes}).")
    best = _pick(feasible)
    assert best.cost is not None
    rest = sorted((c for c in feasible if c is not best), key=_total)
    if rest:
        runner = rest[0]
        ratio = _total(runner) / max(best.cost.total, 1e-9)
        if ratio >= 1:
            reason = f"cheapest feasible engine ({best.cost.total:.3g}s predicted, {ratio:.1f}x cheaper than " \
                     f"{runner.engine})"
        else:
            reason = f"smallest worst case ({best.cost.high:.3g}s) among engines whose predictions overlap"
    else:
        reason = f"only feasible engine ({best.cost.total:.3g}s predicted)"
    if best.cost.history_runs:
        reason = reason.replace("s predicted", f"s observed over {best.cost.history_runs} runs", 1)
    choice = Choice(best.engine, reason, assessed, est, pf, profile.label(), time.perf_counter() - t0,
                    history_key=key)
    if decision is not None:
        choice = replace(choice, plan_cache_key=decision)
        # the estimates belong to this plan's nodes: a later plan reusing the decision gets none
        _remember(_decisions, decision, [profile, replace(choice, estimates=None, plan_features=None), 0,
                                         _medians(seen)])
    return choice


def _with_planning_time(choice: Choice, seconds: float) -> Choice:
    """A copy of a cached ``choice`` with its own planning time (``dataclasses.replace`` re-runs the
    constructor over every field: a few microseconds on the plan cache's path, which is all it does)."""
    out = copy.copy(choice)
    object.__setattr__(out, "planning_seconds", seconds)
    return out


SETTLE_TOLERANCE = 1.3  # observed medians that moved this many times (either way) are planned again
RUN_TOLERANCE = 2.0  # a run this many times off its prediction (either way) is planned again next time


def settle(choice: Choice, engine: str, seconds: float | None) -> None:
    """Tell the plan cache how a run of ``choice`` went: a failure (``seconds`` is ``None``), a failover, or
    (when the history correction planned it) a time far from the prediction drops the cached decision, so
    the next run is planned with what was just observed (as it would be without the cache).

    Examples
    --------
    >>> import unistack as us
    >>> c = choose(us.from_dict({"a": [1]}).plan)
    >>> settle(c, c.engine, 10.0)  # far slower than predicted: planned afresh next time
    """
    key = choice.plan_cache_key
    if key is None:
        return
    predicted, learns = choice.predicted, key[2]  # key[2]: planned with the observed runs
    off = not predicted or not predicted / RUN_TOLERANCE <= (seconds or 0.0) <= predicted * RUN_TOLERANCE
    if seconds is None or engine != choice.engine or (learns and off):
        _decisions.pop(key, None)  # (hashing the key only when there is something to drop)


def engine_for(choice: Choice) -> Engine:
    return get_engine(choice.engine)
