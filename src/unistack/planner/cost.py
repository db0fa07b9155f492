"""The cost model: predicted seconds of a plan on each engine, or why the engine cannot run it.

For engine *e* the prediction is linear in a fixed set of features (:data:`~unistack.planner.profile.FEATURES`)::

    T_e = S_e·[no warm session] + J_e·jobs + G_e·stages
          + Σ_k coef_e,k · (rows or bytes of operator class k) / parallelism_e
          + X_in,e · bytes moved into e + X_out,e · bytes moved out of e as Arrow
          + spill_e · bytes beyond e's memory

The coefficients come from a calibration profile (:mod:`unistack.planner.profile`), fitted with
non-negative least squares (:mod:`unistack.planner.calibrate`). Row counts are intervals
(:mod:`unistack.planner.cardinality`), so every prediction is evaluated at the low end, the point estimate
and the high end. Parallelism is the engine's cores (from :class:`~unistack.backends.base.EngineStatus`
when it reports a cluster), Python batch functions are divided by it only on engines that run them in
several processes.

Because the model is a sum over nodes plus a transfer term, the cost of a sub-plan on one engine and of
the rest on another (with an Arrow hand-off at a materialisation point) is the sum of two such
predictions: :func:`features` works on any sub-plan.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from unistack.plan import exprs as ex
from unistack.plan import nodes as pn
from unistack.planner.cardinality import Estimates, estimate
from unistack.planner.profile import COMPONENT, FEATURES, EngineProfile

PARALLEL = frozenset({"scan_row", "scan_byte", "text_byte", "expr_row", "agg_row", "agg_group", "join_row",
                      "join_out", "sort_row", "distinct_row", "window_row", "window_sort_row", "decimal_row",
                      "string_row"})
PYTHON = frozenset({"udf_row", "udf_cpu"})
SCENARIOS = ("low", "point", "high")

UDF_COST_ATTRIBUTE = "__unistack_cost__"


def udf_cost(seconds_per_row: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the CPU cost of a ``map_batches`` function (seconds per input row) for the planner.

    Without it the planner uses what the query history learned about the function, else zero.

    Examples
    --------
    >>> @udf_cost(2e-6)
    ... def slow(batch):
    ...     return batch
    >>> slow.__unistack_cost__
    2e-06
    """
    if seconds_per_row < 0:
        raise ValueError("seconds_per_row must be >= 0")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, UDF_COST_ATTRIBUTE, float(seconds_per_row))
        return fn

    return mark


def udf_key(node: pn.MapBatches) -> str:
    """A stable name of a batch function (module and qualified name), for learning its cost."""
    fn = node.fn
    mod = getattr(fn, "__module__", None) or ""
    qual = getattr(fn, "__qualname__", None) or node.name
    return f"{mod}.{qual}" if mod else str(qual)


def udf_seconds_per_row(node: pn.MapBatches) -> tuple[float, str]:
    """The CPU seconds per row of a batch function and where the figure comes from."""
    declared = getattr(node.fn, UDF_COST_ATTRIBUTE, None)
    if isinstance(declared, (int, float)):
        return float(declared), "declared"
    from unistack.planner.history import learned_udf_cost

    learned = learned_udf_cost(udf_key(node))
    if learned is not None:
        return learned, "history"
    return 0.0, "unknown"


# -- plan features -----------------------------------------------------------------------------------------
@dataclass
class PlanFeatures:
    """Raw features of a plan (not yet divided by any engine's parallelism), per row scenario."""

    values: dict[str, dict[str, float]]  # scenario -> feature -> value
    arrow_inputs: dict[str, dict[str, float]]  # scenario -> in-memory source key -> bytes
    peak_bytes: float  # bytes the plan holds at its widest point (point estimate)
    unbounded: bool = False
    udf_sources: tuple[str, ...] = ()
    estimates: Estimates | None = None
    nodes: int = 0
    # scenario -> engine -> bytes of data persisted in that engine that the plan reads: another engine
    # gets them exported as Arrow first (see engine_cost)
    persisted: dict[str, dict[str, float]] = field(default_factory=lambda: {s: {} for s in SCENARIOS})


_LEAVES = (ex.Column, ex.Literal, ex.Alias)


def _complexity(e: ex.ExprNode) -> int:
    """Operations in an expression (columns, literals and names are free)."""
    if isinstance(e, (ex.Column, ex.Literal)):
        return 0
    n = 0 if isinstance(e, ex.Alias) else 1
    for c in e.children():
        n += _complexity(c)
    return n


def _decimal_ops(e: ex.ExprNode) -> int:
    """Decimal operations in an expression: arithmetic whose result is a decimal, and aggregates of a
    decimal operand (engines differ most on these: fixed-point arithmetic is slow on some)."""
    import pyarrow as pa

    def decimal(node: ex.ExprNode | None) -> bool:
        return node is not None and node.dtype is not None and pa.types.is_decimal(node.dtype)

    return sum(1 for node in e.walk() if (isinstance(node, ex.BinaryOp) and decimal(node))
               or (isinstance(node, ex.Agg) and decimal(node.operand)))


_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


def _string_ops(e: ex.ExprNode) -> int:
    """String operations in an expression: comparisons of strings and string functions (``str_*``)."""
    import pyarrow as pa

    def text(node: ex.ExprNode | None) -> bool:
        t = None if node is None else node.dtype
        return t is not None and (pa.types.is_string(t) or pa.types.is_large_string(t)
                                  or pa.types.is_string_view(t))

    return sum(1 for node in e.walk()
               if (isinstance(node, ex.BinaryOp) and node.op in _COMPARISONS and (text(node.left) or text(node.right)))
               or (isinstance(node, ex.Call) and node.name.startswith("str_")))


def _ordered_windows(e: ex.ExprNode) -> int:
    """Windows with an order (``row_number().over(..., order_by=...)``): each sorts its input."""
    return sum(1 for node in e.walk() if isinstance(node, ex.Over) and node.order_by)


def features(plan: pn.PlanNode, est: Estimates | None = None) -> PlanFeatures:
    """The features of ``plan`` for the three row scenarios (low, point, high).

    Examples
    --------
    >>> import unistack as us
    >>> f = features(us.from_dict({"a": [1, 2, 3]}).plan)
    >>> f.values["point"]["scan_row"], f.values["point"]["job"]
    (3.0, 1.0)
    """
    est = est if est is not None else estimate(plan)
    values = {s: dict.fromkeys(FEATURES, 0.0) for s in SCENARIOS}
    arrow: dict[str, dict[str, float]] = {s: {} for s in SCENARIOS}
    persisted: dict[str, dict[str, float]] = {s: {} for s in SCENARIOS}
    udf_sources: list[str] = []
    unbounded = False
    peak = 0.0
    count = 0
    for s in SCENARIOS:
        values[s]["job"] = 1.0
    # A sort under a limit is a top-k: engines keep k rows, not a full sort.
    top_k = {id(n.input): n.n for n in plan.walk() if isinstance(n, pn.Limit) and isinstance(n.input, pn.Sort)}
    for node in plan.walk():
        count += 1
        out = est[node]
        kids = node.children()
        held = out.bytes("point") + sum(est[k].bytes("point") for k in kids)
        if isinstance(node, pn.Scan):
            held = out.bytes("point")
            if getattr(node.source, "unbounded", False):
                unbounded = True
        peak = max(peak, held)
        # Per-node quantities that do not depend on the row scenario.
        weight = 0.0
        windows = 0
        ordered = 0
        decimal = 0
        strings = 0
        per_row = 0.0
        match node:
            case pn.Filter(predicate=pred):
                weight = max(1, _complexity(pred))
                decimal = _decimal_ops(pred)
                strings = _string_ops(pred)
            case pn.Project(exprs=exprs):
                plain = 0
                for e in exprs:
                    decimal += _decimal_ops(e)
                    strings += _string_ops(e)
                    if ex.has_window(e):
                        windows += 1
                        ordered += _ordered_windows(e)
                    else:
                        plain += _complexity(e)
                weight = max(0.2 * len(exprs), plain)
            case pn.Aggregate(aggs=aggs):
                weight = max(1.0, 0.5 * len(aggs))
                decimal = sum(_decimal_ops(a) for a in aggs)
                strings = sum(_string_ops(a) for a in aggs)
            case pn.Sort(keys=keys):
                weight = max(1, len(keys))
            case pn.MapBatches():
                per_row, origin = udf_seconds_per_row(node)
                udf_sources.append(f"{node.name}: {origin}")
        for s in SCENARIOS:
            v = values[s]
            rows_out = float(getattr(out.rows, s))
            rows_in = [float(getattr(est[k].rows, s)) for k in kids]
            if decimal:
                v["decimal_row"] += rows_in[0] * decimal
            if strings:
                v["string_row"] += rows_in[0] * strings
            match node:
                case pn.Scan(source=src):
                    before = v["arrow_in_byte"]
                    _scan_features(node, src, s, v, arrow[s], rows_out)
                    if isinstance(src, pn.PersistedSource):
                        kept = persisted[s]
                        kept[src.engine] = kept.get(src.engine, 0.0) + v["arrow_in_byte"] - before
                case pn.Filter():
                    v["expr_row"] += rows_in[0] * weight
                case pn.Project():
                    v["expr_row"] += rows_in[0] * weight
                    if windows:
                        v["window_row"] += rows_in[0] * windows
                        v["stage"] += windows
                    if ordered:
                        v["window_sort_row"] += rows_in[0] * math.log2(rows_in[0] + 2) * ordered
                case pn.Aggregate(keys=keys):
                    v["agg_row"] += rows_in[0] * weight
                    v["agg_group"] += rows_out
                    if keys:
                        v["stage"] += 1
                case pn.Join():
                    v["join_row"] += sum(rows_in)
                    v["join_out"] += rows_out
                    v["stage"] += 1
                case pn.Sort():
                    n = rows_in[0]
                    k = top_k.get(id(node))
                    if k is not None:
                        v["expr_row"] += n * weight  # one pass keeping the best k
                        v["sort_row"] += k * math.log2(k + 2) * weight
                    else:
                        v["sort_row"] += n * math.log2(n + 2) * weight
                        v["stage"] += 1
                case pn.Distinct():
                    v["distinct_row"] += rows_in[0]
                    v["stage"] += 1
                case pn.Union():
                    v["expr_row"] += 0.1 * sum(rows_in)
                case pn.MapBatches():
                    v["udf_row"] += rows_in[0]
                    v["udf_cpu"] += rows_in[0] * per_row
                    v["udf_job"] += 1
    for s in SCENARIOS:
        values[s]["out_byte"] = est[plan].bytes(s)
    return PlanFeatures(values, arrow, peak, unbounded, tuple(udf_sources), est, count, persisted)


def _is_text(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
                or pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t))


def _scan_features(node: pn.Scan, src: pn.Source, s: str, v: dict[str, float], arrow: dict[str, float],
                   rows_out: float) -> None:
    from unistack.planner import stats as st

    stats = st.source_stats(src)
    total = float(getattr(stats, {"low": "rows_low", "point": "rows", "high": "rows_high"}[s]))
    rows_read = total if node.limit is None or node.filters else min(total, float(node.limit))
    if isinstance(src, pn.FileSource) and src.format == "parquet" and node.filters and rows_out == 0:
        rows_read = 0.0  # the footers' min/max prove no row group matches: engines skip them all
    cols = node.schema
    read_width = sum(stats.column_width(f.name, f.type) for f in cols)
    if isinstance(src, pn.FileSource):
        v["scan_row"] += rows_read
        if src.format == "parquet":
            v["scan_byte"] += rows_read * read_width
        else:
            share = rows_read / total if total else 1.0
            v["text_byte"] += stats.file_bytes * share
    else:
        v["scan_row"] += rows_read
        key = getattr(src, "key", str(id(src)))
        arrow[key] = arrow.get(key, 0.0) + rows_read * read_width
        v["arrow_in_byte"] += rows_read * read_width
        text = sum(stats.column_width(f.name, f.type) for f in cols if _is_text(f.type))
        if text:
            v["arrow_string_byte"] += rows_read * text
    for f in node.filters:
        v["expr_row"] += rows_read * max(1, _complexity(f))
        v["string_row"] += rows_read * _string_ops(f)


# -- engines -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineContext:
    """What the cost model knows about an engine right now (from its status and the profile)."""

    name: str
    profile: EngineProfile
    warm: bool
    parallelism: float
    memory_bytes: float | None
    cluster: str | None = None
    streaming: bool = False
    batch: bool = True
    resident: frozenset[str] = frozenset()  # in-memory and persisted sources already held by the engine
    others: Any = None  # the whole calibration Profile: the cost of exporting another engine's persisted data


@dataclass(frozen=True)
class Cost:
    """A prediction for one engine: seconds split into start-up, compute and transfer (at the point
    estimate), the total at the low and high ends of the row intervals, or infeasibility with a reason."""

    engine: str
    feasible: bool
    reason: str = ""
    start: float = 0.0
    compute: float = 0.0
    transfer: float = 0.0
    low: float = 0.0
    high: float = 0.0
    note: str = ""
    peak_memory: float = 0.0
    features: dict[str, float] = field(default_factory=dict)  # scaled features at the point estimate
    # History-based correction (see unistack.planner.choose): the observed runs of this plan on this engine
    # that replaced the model's prediction, and the model's own prediction.
    history_runs: int = 0
    model_total: float | None = None

    @property
    def total(self) -> float:
        """Predicted seconds at the point estimate (``inf`` when not feasible)."""
        return self.start + self.compute + self.transfer if self.feasible else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "feasible": self.feasible, "reason": self.reason,
                "start": self.start, "compute": self.compute, "transfer": self.transfer,
                "total": self.total if self.feasible else None, "low": self.low, "high": self.high,
                "note": self.note, "peak_memory_bytes": self.peak_memory, "history_runs": self.history_runs,
                "model_total": self.model_total if self.history_runs else (self.total if self.feasible else None)}


def scaled(raw: dict[str, float], ctx: EngineContext, arrow_inputs: dict[str, float] | None = None,
           peak: float = 0.0) -> dict[str, float]:
    """Raw plan features turned into this engine's: parallel terms divided by its parallelism,
    start-up only when cold, resident inputs not moved again, bytes beyond memory spilled."""
    p = max(ctx.parallelism, 1.0)
    py = p if ctx.profile.python_parallel else 1.0
    out = dict.fromkeys(FEATURES, 0.0)
    for f, x in raw.items():
        if not x or f not in out:
            continue
        if f in PARALLEL:
            x /= p
        elif f in PYTHON:
            x /= py
        out[f] = x
    out["startup"] = 0.0 if ctx.warm else 1.0
    if arrow_inputs and ctx.resident:
        before = out["arrow_in_byte"]
        out["arrow_in_byte"] = max(0.0, before - sum(b for k, b in arrow_inputs.items() if k in ctx.resident))
        if before > 0:
            out["arrow_string_byte"] *= out["arrow_in_byte"] / before
    need = peak * ctx.profile.memory_factor
    if ctx.memory_bytes and ctx.profile.spills and need > ctx.memory_bytes:
        out["spill_byte"] = need - ctx.memory_bytes
    return out


def predict(raw: dict[str, float], profile: EngineProfile) -> dict[str, float]:
    """Seconds per component (start, compute, transfer) for scaled features."""
    parts = {"start": 0.0, "compute": 0.0, "transfer": 0.0}
    coef = profile.coef
    for f, x in raw.items():
        if x:
            parts[COMPONENT[f]] += float(coef.get(f, 0.0)) * x
    return parts


def unsupported_note(missing: dict[str, str]) -> str:
    """Why an engine cannot run a plan: its first missing operation, how many more, and the reason.

    >>> unsupported_note({"window:over": "no windows", "agg:first": "unordered"})
    'unsupported window:over (+1 more): no windows'
    """
    op, why = next(iter(missing.items()))
    more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
    return f"unsupported {op}{more}: {why}"


def engine_cost(pf: PlanFeatures, ctx: EngineContext, missing: dict[str, str] | None = None) -> Cost:
    """The prediction for one engine, or why it is not feasible.

    Examples
    --------
    >>> import unistack as us
    >>> from unistack.planner.profile import load_profile
    >>> pf = features(us.from_dict({"a": [1, 2, 3]}).plan)
    >>> ctx = EngineContext("polars", load_profile().engine("polars"), warm=True, parallelism=2,
    ...                     memory_bytes=None)
    >>> engine_cost(pf, ctx).feasible
    True
    """
    peak = pf.peak_bytes * ctx.profile.memory_factor
    if missing:
        return Cost(ctx.name, False, unsupported_note(missing), peak_memory=peak)
    if pf.unbounded and not ctx.streaming:
        return Cost(ctx.name, False, "streaming plan (unbounded input) on a batch-only engine", peak_memory=peak)
    if not pf.unbounded and not ctx.batch:
        return Cost(ctx.name, False, "bounded input on a streaming-only engine", peak_memory=peak)
    if ctx.memory_bytes and not ctx.profile.spills and peak > ctx.memory_bytes:
        return Cost(ctx.name, False, f"estimated peak memory {_bytes(peak)} above the {_bytes(ctx.memory_bytes)} "
                    "available (the engine does not spill)", peak_memory=peak)
    totals = {}
    feats = scaled(pf.values["point"], ctx, pf.arrow_inputs["point"], pf.peak_bytes)
    parts = predict(feats, ctx.profile)
    parts["transfer"] += export_seconds(pf.persisted["point"], ctx)
    totals["point"] = sum(parts.values())
    for s in ("low", "high"):
        if pf.values[s] == pf.values["point"] and pf.arrow_inputs[s] == pf.arrow_inputs["point"]:
            totals[s] = totals["point"]  # exact estimates: the same features (most plans over known data)
            continue
        x = scaled(pf.values[s], ctx, pf.arrow_inputs[s], pf.peak_bytes)
        totals[s] = sum(predict(x, ctx.profile).values()) + export_seconds(pf.persisted[s], ctx)
    notes = []
    if not ctx.warm:
        notes.append("no session yet")
    if ctx.cluster:
        notes.append(f"cluster {ctx.cluster} ({ctx.parallelism:g} cores)")
    if feats.get("spill_byte"):
        notes.append(f"spills ~{_bytes(feats['spill_byte'])}")
    for owner, nbytes in sorted(pf.persisted["point"].items()):
        notes.append("holds the persisted input" if owner == ctx.name
                     else f"exports ~{_bytes(nbytes)} persisted in {owner}")
    lo, hi = min(totals.values()), max(totals.values())
    return Cost(ctx.name, True, "", parts["start"], parts["compute"], parts["transfer"], lo, hi,
                "; ".join(notes), peak, feats)


def export_seconds(persisted: dict[str, float], ctx: EngineContext) -> float:
    """Seconds for the engines holding persisted inputs (other than ``ctx``'s) to hand them out as Arrow:
    one job each plus their cost per byte of result (moving the data into ``ctx`` is its own
    ``arrow_in_byte`` term).

    Examples
    --------
    >>> from unistack.planner.profile import load_profile
    >>> prof = load_profile()
    >>> ctx = EngineContext("polars", prof.engine("polars"), True, 2, None, others=prof)
    >>> export_seconds({"polars": 1e6}, ctx)
    0.0
    >>> export_seconds({"duckdb": 1e6}, ctx) > 0
    True
    """
    total = 0.0
    for owner, nbytes in persisted.items():
        if owner == ctx.name or ctx.others is None:
            continue
        coef = ctx.others.engine(owner).coef
        total += float(coef.get("job", 0.0)) + float(coef.get("out_byte", 0.0)) * nbytes
    return total


def _bytes(n: float) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n:.0f} B"


_meminfo_cache: tuple[float, int | None] = (0.0, None)


def cgroup_memory_left(proc: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes this process's control group may still use: its memory limit minus what it holds (file pages
    the kernel can drop not counted), or ``None`` without a limit. Containers, batch schedulers and
    ``systemd-run -p MemoryMax=`` confine a process this way, below what ``/proc/meminfo`` shows.

    Examples
    --------
    >>> left = cgroup_memory_left()
    >>> left is None or left >= 0
    True
    """
    try:
        with open(proc) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:  # cgroup v2
            base, files = os.path.join(root, path.lstrip("/")), ("memory.max", "memory.current")
            reclaimable = "inactive_file"
        elif "memory" in controllers.split(","):  # cgroup v1
            base = os.path.join(root, "memory", path.lstrip("/"))
            files, reclaimable = ("memory.limit_in_bytes", "memory.usage_in_bytes"), "total_inactive_file"
        else:
            continue
        try:
            with open(os.path.join(base, files[0])) as fh:
                text = fh.read().strip()
            if text == "max" or int(text) >= 1 << 60:  # no limit
                continue
            with open(os.path.join(base, files[1])) as fh:
                used = int(fh.read().strip())
            with open(os.path.join(base, "memory.stat")) as fh:
                stat = dict(ln.split() for ln in fh if ln.count(" ") == 1)
        except (OSError, ValueError):
            continue
        used -= int(stat.get(reclaimable, 0))
        return max(int(text) - max(used, 0), 0)
    return None


def available_memory() -> int | None:
    """Memory available to this process now: ``MemAvailable`` of the machine, or less when its control group
    has a lower limit (re-read at most once a second); the ``UNISTACK_PLANNER_MEMORY`` environment variable
    (bytes) when set."""
    global _meminfo_cache
    import time

    override = os.environ.get("UNISTACK_PLANNER_MEMORY")
    if override:
        try:
            return int(float(override))
        except ValueError:
            pass
    now = time.monotonic()
    if now - _meminfo_cache[0] < 1.0:
        return _meminfo_cache[1]
    value: int | None = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    value = int(line.split()[1]) * 1024
                    break
    except OSError:
        value = None
    if value is None:
        from unistack.planner.profile import total_memory

        value = total_memory()
    confined = cgroup_memory_left()
    if confined is not None:
        value = confined if value is None else min(value, confined)
    _meminfo_cache = (now, value)
    return value
