"""Explain text for stream plans: the stages, the window, and the engine that runs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unistack.errors import UnistackError
from unistack.plan.nodes import Scan
from unistack.plan.text import expr_text, plan_text
from unistack.stream.frame import StreamPlan
from unistack.stream.route import StreamChoice, StreamEstimate, choose_stream_engine
from unistack.stream.windows import format_duration


def stream_plan_text(plan: StreamPlan) -> str:
    lines = []
    if plan.post is not None and plan.window is not None and not isinstance(plan.post, Scan):
        lines.append("== after the window ==")
        lines.append(plan_text(plan.post))
    if plan.window is not None:
        w = plan.window
        keys = ", ".join(expr_text(k) for k in w.keys)
        aggs = ", ".join(expr_text(a) for a in w.aggs)
        lines.append("== window ==")
        lines.append(f"WindowAggregate {w.spec} on {w.time_column} by [{keys}] [{aggs}] (append mode)")
    lines.append("== per micro-batch ==")
    lines.append(plan_text(plan.pre).replace("Scan StreamInput", f"Stream {plan.source.source.describe()}"))
    if plan.event_time is not None:
        lines.append(f"event time {plan.event_time}, watermark = max event time - {format_duration(plan.watermark_us)}")
    return "\n".join(lines)


def _engine_line(e: StreamEstimate, chosen: str) -> str:
    mark = "*" if e.engine == chosen else " "
    if not e.feasible:
        return f"{mark} {e.engine:<6} not feasible: {e.reason}"
    predicted = f"{e.predicted_seconds:8.2f}s" if e.predicted_seconds is not None else "       -"
    start = "warm" if e.warm else f"cold +{e.startup_seconds:.1f}s"
    return (f"{mark} {e.engine:<6} {predicted}  {e.events_per_second / 1e6:5.2f} M events/s  "
            f"latency {e.latency_seconds:.2f}s  ({start}, submit {e.submit_seconds:.2f}s)")


@dataclass(frozen=True)
class StreamExplanation:
    """The stream plan, every stream engine's estimate, the chosen one, and (optionally) its own plan."""

    plan_text: str
    choice: StreamChoice
    native_text: str | None = None

    @property
    def engine(self) -> str:
        return self.choice.engine

    def __str__(self) -> str:
        c = self.choice
        lines = [self.plan_text, "== Stream engines =="]
        rows = f", {c.rows:,} rows" if c.rows is not None else ""
        lines.append(f"  engine  predicted  throughput  (chosen by {c.criterion}{rows}; * = chosen)")
        lines += [_engine_line(e, c.engine) for e in c.estimates]
        feasible = sorted((e for e in c.estimates if e.feasible and e.engine != c.engine),
                          key=lambda e: (e.predicted_seconds or 0.0) if c.rows is not None else e.latency_seconds)
        if feasible and c.criterion != "forced":
            chosen = next(e for e in c.estimates if e.engine == c.engine)
            runner = feasible[0]
            if c.rows is not None and chosen.predicted_seconds and runner.predicted_seconds:
                lines.append(f"runner-up {runner.engine}: {runner.predicted_seconds / chosen.predicted_seconds:.1f}x "
                             f"the chosen engine's predicted time")
            else:
                lines.append(f"runner-up {runner.engine}: latency {runner.latency_seconds:.2f}s vs "
                             f"{chosen.latency_seconds:.2f}s")
        lines.append(f"chosen {c.engine}")
        lines.append("profile: measured stream figures, benchmarks/bench_stream.py (unistack.stream.route)")
        if self.native_text:
            lines += [f"== {c.engine} plan ==", self.native_text]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan_text, "native": self.native_text, **self.choice.to_dict()}


def explain_stream(plan: StreamPlan, engine: str | None = None, trigger: str = "1s",
                   native: bool = False) -> StreamExplanation:
    """How a stream plan runs: its stages, every stream engine's estimate and the one chosen.

    ``write_stream(engine=None)`` runs the chosen engine (see :mod:`unistack.stream.route`); with
    ``native=True`` the chosen engine's own plan is added (Flink's ``explain_sql``).

    Examples
    --------
    >>> import unistack as us
    >>> s = us.read_stream(format="rate", rows_per_second=1000, limit=5000).with_event_time("event_time")
    >>> e = explain_stream(s.window(us.tumble("1s")).agg(n=us.count()).plan, trigger="available_now")
    >>> e.engine, e.to_dict()["criterion"]
    ('local', 'predicted time')
    """
    choice = choose_stream_engine(plan, trigger, engine)
    native_text = None
    if native and choice.engine == "flink":
        from unistack.stream.flink import explain_flink_stream

        try:
            native_text = explain_flink_stream(plan)
        except UnistackError as e:
            native_text = f"(not available: {e})"
    return StreamExplanation(stream_plan_text(plan), choice, native_text)
