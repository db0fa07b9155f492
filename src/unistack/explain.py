"""``us.explain``: how a frame would run, as text and as a JSON-serialisable dict.

The text shows the optimized plan with the estimated rows of every node and where each estimate came
from, a table of every candidate engine (predicted seconds split into start-up, compute and transfer, or
why it is not feasible), the chosen engine (marked ``*``), its margin to the runner-up, and the
calibration profile used. Where the same plan over the same input versions ran before, the observed
times replace the model's prediction for that engine (history-based correction): the engine's note says so
(``observed: median of 5 runs (model 12.0ms)``) and a line lists the engines and runs used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from unistack.errors import UnistackError
from unistack.plan.text import plan_text
from unistack.planner.choose import Candidate, choose
from unistack.planner.optimize import optimize


@dataclass(frozen=True)
class NodeRows:
    """Estimated rows of one node of the optimized plan (one line of the plan text)."""

    depth: int
    node: str
    low: float
    point: float
    high: float
    source: str
    text: str


@dataclass(frozen=True)
class Explanation:
    """The logical plan, the optimized plan with estimates, every engine's prediction, the chosen engine
    and why, and the engine's own plan.

    Examples
    --------
    >>> import unistack as us
    >>> e = us.explain(us.from_dict({"a": [1, 2]}).select("a"), engine="polars")
    >>> e.engine, e.logical_text.splitlines()[0]
    ('polars', 'Select [a]')
    """

    logical_text: str
    optimized_text: str
    engine: str
    reason: str
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    native: str | None = None
    rows: tuple[NodeRows, ...] = field(default_factory=tuple)
    profile: str = ""
    margin: float | None = None
    runner_up: str | None = None
    planning_seconds: float = 0.0
    history_key: str | None = None

    @property
    def history_runs(self) -> dict[str, int]:
        """Engines whose prediction was replaced by observed runs of this plan, and how many runs."""
        return {c.engine: c.cost.history_runs for c in self.candidates
                if c.feasible and c.cost is not None and c.cost.history_runs}

    def _plan_table(self) -> list[str]:
        if not self.rows:
            return [self.optimized_text]
        lines = self.optimized_text.splitlines()
        width = min(max(len(line) for line in lines) + 2, 100)
        out = [f"{'== Optimized plan ==':{width}} {'est. rows':>13}  source"]
        for line, r in zip(lines, self.rows):
            shown = line if len(line) <= width - 1 else line[: width - 4] + "..."
            out.append(f"{shown:{width}} {r.text:>13}  {r.source}")
        return out

    def _engine_table(self) -> list[str]:
        out = [f"{'engine':10} {'start':>8} {'compute':>8} {'transfer':>8} {'total':>8}  {'range':>15}  note"]
        for c in self.candidates:
            mark = f"{c.engine} *" if c.engine == self.engine else c.engine
            if c.feasible and c.cost is not None:
                k = c.cost
                span = f"{_s(k.low)}-{_s(k.high)}"
                out.append(f"{mark:10} {_s(k.start):>8} {_s(k.compute):>8} {_s(k.transfer):>8} {_s(k.total):>8}  "
                           f"{span:>15}  {c.note}".rstrip())
            else:
                note = c.note if len(c.note) <= 110 else c.note[:107] + "..."
                out.append(f"{mark:10} {'-':>8} {'-':>8} {'-':>8} {'-':>8}  {'':>15}  not feasible: {note}")
        return out

    def __str__(self) -> str:
        lines = ["== Logical plan ==", self.logical_text]
        lines += self._plan_table()
        lines.append("== Engines ==")
        lines += self._engine_table()
        tail = f"chosen {self.engine}"
        if self.reason.startswith("forced"):
            tail += f" ({self.reason})"
        if self.margin is not None and self.runner_up:
            tail += f", {self.margin:.1f}x cheaper than {self.runner_up}"
        elif not self.reason.startswith("forced"):
            tail += f" ({self.reason})"
        if self.profile:
            tail += f" · profile: {self.profile}"
        tail += f" · planned in {self.planning_seconds * 1000:.1f} ms"
        lines.append(tail)
        used = self.history_runs
        if used:
            runs = ", ".join(f"{e} ({n} run{'s' if n != 1 else ''})" for e, n in used.items())
            lines.append(f"history correction: observed times of this plan replaced the model for {runs}"
                         f" · plan key {self.history_key}")
        if self.native:
            lines += [f"== {self.engine} plan ==", self.native.rstrip()]
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython
        p.text(str(self))

    def to_dict(self) -> dict[str, Any]:
        """Everything shown, as plain JSON-serialisable values."""
        return {
            "logical_plan": self.logical_text.splitlines(),
            "optimized_plan": self.optimized_text.splitlines(),
            "estimates": [{"depth": r.depth, "node": r.node, "rows_low": r.low, "rows": r.point,
                           "rows_high": r.high, "source": r.source} for r in self.rows],
            "engine": self.engine,
            "reason": self.reason,
            "candidates": [c.to_dict() for c in self.candidates],
            "margin": self.margin,
            "runner_up": self.runner_up,
            "profile": self.profile,
            "planning_seconds": self.planning_seconds,
            "history_key": self.history_key,
            "history_runs": self.history_runs,
            "native_plan": self.native,
        }


def _s(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}s"
    if x >= 0.01 or x == 0:
        return f"{x:.2f}s"
    return f"{x * 1000:.1f}ms"


def explain(frame: Any, engine: str | None = None, native: bool = True) -> Explanation:
    """Show how ``frame`` runs: its logical plan, the optimized plan with estimated rows per node, every
    engine's predicted cost, the engine chosen and why, and that engine's own plan.

    Examples
    --------
    >>> import unistack as us
    >>> e = us.explain(us.from_dict({"a": [1, 2]}).filter(us.col("a") > 1), engine="polars")
    >>> e.engine
    'polars'
    >>> print(e.optimized_text)  # doctest: +ELLIPSIS
    Scan arrow table ... (2 rows) [1 cols] filter a > 1
    >>> e.to_dict()["estimates"][0]["source"]
    'min/max'
    """
    from unistack.backends.registry import get_engine
    from unistack.frame import LazyFrame
    from unistack.plan.text import node_text

    if not isinstance(frame, LazyFrame):
        from unistack.stream.frame import StreamFrame

        if isinstance(frame, StreamFrame):  # stream engines are chosen by unistack.stream.route
            from unistack.stream.explain import explain_stream

            return explain_stream(frame.plan, engine, native=native)  # type: ignore[return-value]
        raise UnistackError(f"explain() takes a LazyFrame, got {type(frame).__name__} (or a StreamFrame, for streams).")
    optimized = optimize(frame.plan)
    choice = choose(optimized, engine, compare=True)
    native_text = None
    if native:
        try:
            from unistack.backends.persist import localize

            # another engine's persisted input stands in as its sample: explaining moves no data
            native_text = get_engine(choice.engine).explain_native(localize(optimized, choice.engine, sample=True))
        except UnistackError as e:
            native_text = f"(not available: {e})"
        except Exception as e:  # an engine's explain must not break explain
            native_text = f"(not available: {type(e).__name__}: {e})"
    rows: list[NodeRows] = []
    est = choice.estimates
    if est is not None:
        def visit(node: Any, depth: int) -> None:
            r = est[node].rows
            rows.append(NodeRows(depth, node_text(node), r.low, r.point, r.high, r.source, r.text()))
            for child in node.children():
                visit(child, depth + 1)

        visit(optimized, 0)
    runner = choice.runner_up()
    return Explanation(plan_text(frame.plan), plan_text(optimized), choice.engine, choice.reason,
                       choice.candidates, native_text, tuple(rows), choice.profile, choice.margin(),
                       runner.engine if runner is not None else None, choice.planning_seconds,
                       choice.history_key)
