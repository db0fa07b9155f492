"""``us.explain``: how a frame would run, as text and as a JSON-serialisable dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from unistack.errors import UnistackError
from unistack.plan.text import plan_text
from unistack.planner.choose import Candidate, choose
from unistack.planner.optimize import optimize


@dataclass(frozen=True)
class Explanation:
    """The logical plan, the optimized plan, the chosen engine and why, and the engine's own plan."""

    logical_text: str
    optimized_text: str
    engine: str
    reason: str
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    native: str | None = None

    def __str__(self) -> str:
        lines = ["== Logical plan ==", self.logical_text, "== Optimized plan ==", self.optimized_text,
                 "== Engines =="]
        for c in self.candidates:
            mark = " *" if c.engine == self.engine else ""
            lines.append(f"{c.engine}{mark:2} {'feasible' if c.feasible else 'not feasible'}"
                         + (f": {c.note}" if c.note else ""))
        lines.append(f"chosen {self.engine}: {self.reason}")
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
            "engine": self.engine,
            "reason": self.reason,
            "candidates": [{"engine": c.engine, "feasible": c.feasible, "note": c.note} for c in self.candidates],
            "native_plan": self.native,
        }


def explain(frame: Any, engine: str | None = None, native: bool = True) -> Explanation:
    """Show how ``frame`` runs: its logical and optimized plans (one node per line, indented), the engine
    chosen and why, and that engine's own plan.

    Examples
    --------
    >>> import unistack as us
    >>> e = us.explain(us.from_dict({"a": [1, 2]}).filter(us.col("a") > 1))
    >>> e.engine
    'polars'
    >>> print(e.optimized_text)  # doctest: +ELLIPSIS
    Scan arrow table ... (2 rows) [1 cols] filter a > 1
    """
    from unistack.backends.registry import get_engine
    from unistack.frame import LazyFrame

    if not isinstance(frame, LazyFrame):
        raise UnistackError(f"explain() takes a LazyFrame, got {type(frame).__name__}.")
    optimized = optimize(frame.plan)
    choice = choose(optimized, engine)
    native_text = None
    if native:
        try:
            native_text = get_engine(choice.engine).explain_native(optimized)
        except UnistackError as e:
            native_text = f"(not available: {e})"
    return Explanation(plan_text(frame.plan), plan_text(optimized), choice.engine, choice.reason,
                       choice.candidates, native_text)
