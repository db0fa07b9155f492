"""Explain text for stream plans: the stages, the window, and the engine that runs them."""

from __future__ import annotations

from unistack.plan.nodes import Scan
from unistack.plan.text import expr_text, plan_text
from unistack.stream.frame import StreamPlan
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


def _spark_line(plan: StreamPlan) -> str:
    from unistack.backends.registry import is_installed
    from unistack.stream.sources import RateSource

    if not is_installed("spark"):
        return "spark    not installed (pip install 'unistack[spark]')"
    if isinstance(plan.source.source, RateSource):
        return "spark    cannot run this plan: the rate generator is local only"
    return ("spark    Structured Streaming: withWatermark + window/session_window, append mode, checkpoint; "
            "end-of-input flush emulated (engine='spark')")


def explain_stream(plan: StreamPlan, engine: str | None = None) -> str:
    """Text of the stream plan and the stream engines that can run it (``*`` marks the chosen one).

    The local executor is the default; ``write_stream(engine="spark")`` picks Spark. There is no automatic
    routing between stream engines.
    """
    chosen = engine or "local"
    lines = [
        "local    micro-batch executor (Polars), exactly-once file sink with a checkpoint",
        "flink    not available for streams in this build (see docs/streaming.md)",
        _spark_line(plan),
    ]
    marked = [ln[:6] + "*" + ln[7:] if ln.startswith(chosen + " ") else ln for ln in lines]
    return stream_plan_text(plan) + "\n== Engines ==\n" + "\n".join(marked) + f"\nchosen {chosen}"
