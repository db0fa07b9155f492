"""Which stream engine runs a stream plan: by capability, then by cost (throughput and latency).

Each stream engine (``local``, ``flink``, ``spark``) gets a :class:`StreamEstimate`: whether it can run the
plan (installed, source and operators supported, fast enough for a paced source) and, if so, its cost from
the figures ``benchmarks/bench_stream.py`` measured on a 2-core machine (:data:`STREAM_PROFILE`):

- a bounded input of known size (``trigger="available_now"``, or a source that ends) is judged by the
  predicted time to process all of it: start-up (when the engine is not running yet) + job submission +
  rows / throughput;
- an unbounded input is judged by event-to-result latency (the engine's floor plus the trigger interval);
  start-up is paid once and does not decide.

``write_stream(engine=None)`` runs the cheapest feasible engine; ``engine=`` forces one; the option
``stream.engines`` restricts the candidates. ``StreamFrame.explain()`` and ``us.explain(stream)`` show the
table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from unistack.errors import InvalidOperationError, UnistackError
from unistack.stream.frame import StreamPlan
from unistack.stream.sources import KAFKA_UNAVAILABLE, BatchesSource, KafkaSource, RateSource

STREAM_ENGINE_NAMES = ("local", "flink", "spark")

#: Per engine: start-up when cold (s), per-query submission (s), keyed tumbling-count throughput (events/s),
#: event-to-result latency floor at a 100 ms trigger (s). Measured with benchmarks/bench_stream.py on the
#: 2-core development machine (benchmarks/results/stream_*.md); Spark's and Flink's start-up from the
#: Spark session and the Flink worker start measured in the batch benchmarks.
STREAM_PROFILE: dict[str, dict[str, float]] = {
    "local": {"startup": 0.0, "submit": 0.01, "events_per_second": 2.2e6, "latency": 0.086},
    "flink": {"startup": 2.5, "submit": 1.5, "events_per_second": 0.25e6, "latency": 1.4},
    "spark": {"startup": 8.0, "submit": 4.0, "events_per_second": 0.05e6, "latency": 3.6},
}


@dataclass(frozen=True)
class StreamEstimate:
    """One stream engine's verdict on a plan: feasible or why not, and its predicted cost."""

    engine: str
    feasible: bool
    reason: str = ""
    warm: bool = False
    startup_seconds: float = 0.0
    submit_seconds: float = 0.0
    events_per_second: float = 0.0
    latency_seconds: float = 0.0
    predicted_seconds: float | None = None  # bounded input of known size: time to process all of it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StreamChoice:
    """The engine chosen for a stream plan, every engine's estimate, and what decided."""

    engine: str
    estimates: tuple[StreamEstimate, ...]
    criterion: str  # "predicted time" (bounded input), "latency" (unbounded), or "forced"
    rows: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "criterion": self.criterion, "rows": self.rows,
                "estimates": [e.to_dict() for e in self.estimates]}


def known_rows(plan: StreamPlan) -> int | None:
    """Rows of a bounded source when they are known without reading files (batches, a limited rate)."""
    src = plan.source.source
    if isinstance(src, BatchesSource):
        return src.total_rows()
    if isinstance(src, RateSource):
        return src.limit
    return None


def _unsupported(plan: StreamPlan, engine: str, trigger: str) -> str:
    """Why ``engine`` cannot run the plan's sources and operators ("" when it can)."""
    src = plan.source.source
    if engine == "local":
        return KAFKA_UNAVAILABLE if isinstance(src, KafkaSource) else ""
    if engine == "spark":
        from unistack.backends.registry import is_installed

        if not is_installed("spark"):
            return "not installed (pip install 'unistack[spark]')"
        if isinstance(src, RateSource):
            return "the rate generator is not available on Spark (its rate source has no deterministic event time)"
        return ""
    from unistack.backends.base import capabilities_of
    from unistack.backends.flink.provision import find_python
    from unistack.backends.registry import get_engine

    try:
        find_python()
    except UnistackError:
        return "not installed (unistack engines install flink)"
    from unistack.stream.flink import source_limit

    reason = source_limit(src)
    if reason:
        return reason
    caps = capabilities_of(get_engine("flink"))
    for stage in (plan.pre, plan.post):
        missing = caps.missing(stage) if stage is not None else {}
        if missing:
            op, why = next(iter(missing.items()))
            return f"{op} is not supported by Flink" + (f": {why}" if why else "")
    return ""


def _warm(engine: str) -> bool:
    if engine == "local":
        return True
    try:
        from unistack.backends.registry import get_engine

        return bool(get_engine(engine).status().warm)
    except Exception:
        return False


def estimate(plan: StreamPlan, engine: str, trigger: str = "1s", rows: int | None = None) -> StreamEstimate:
    """One engine's estimate for ``plan`` (see the module docstring)."""
    from unistack.stream.windows import parse_duration

    reason = _unsupported(plan, engine, trigger)
    if reason:
        return StreamEstimate(engine, False, reason)
    figures = STREAM_PROFILE[engine]
    eps = figures["events_per_second"]
    src = plan.source.source
    if isinstance(src, RateSource) and src.realtime and src.rows_per_second > eps:
        return StreamEstimate(engine, False, f"cannot keep up: the source makes {src.rows_per_second:,.0f} events/s, "
                                             f"about {eps:,.0f} measured here")
    warm = _warm(engine)
    startup = 0.0 if warm else figures["startup"]
    interval = 0.0 if trigger == "available_now" else parse_duration(trigger, "trigger") / 1e6
    predicted = None if rows is None else startup + figures["submit"] + rows / eps
    return StreamEstimate(engine, True, "", warm, startup, figures["submit"], eps, figures["latency"] + interval,
                          predicted)


def candidates() -> tuple[str, ...]:
    """The stream engines the option ``stream.engines`` allows (all of them when it is empty)."""
    from unistack.config import get_option

    allowed = tuple(get_option("stream.engines") or ())
    unknown = [e for e in allowed if e not in STREAM_ENGINE_NAMES]
    if unknown:
        raise InvalidOperationError(f"stream.engines names unknown stream engines {unknown}; "
                                    f"stream engines: {', '.join(STREAM_ENGINE_NAMES)}.")
    return allowed or STREAM_ENGINE_NAMES


def choose_stream_engine(plan: StreamPlan, trigger: str = "1s", engine: str | None = None) -> StreamChoice:
    """The stream engine for ``plan``: ``engine`` when given, else the cheapest feasible candidate.

    Examples
    --------
    >>> import unistack as us
    >>> s = us.read_stream(format="rate", rows_per_second=1000, limit=10_000).with_event_time("event_time")
    >>> choice = choose_stream_engine(s.window(us.tumble("1s")).agg(n=us.count()).plan, "available_now")
    >>> choice.engine, choice.criterion, choice.rows
    ('local', 'predicted time', 10000)
    """
    from unistack.backends.registry import engine_names

    batch_only = [n for n in engine_names() if n not in STREAM_ENGINE_NAMES]
    if engine is not None and engine in batch_only:
        from unistack.errors import UnsupportedOperationError

        raise UnsupportedOperationError(engine, "streaming plans", f"{engine} is a batch-only engine; stream "
                                        f"engines: {', '.join(STREAM_ENGINE_NAMES)} (or engine=None).")
    if engine is not None and engine not in STREAM_ENGINE_NAMES:
        raise InvalidOperationError(
            f"unknown stream engine {engine!r}; stream engines: {', '.join(STREAM_ENGINE_NAMES)}.")
    src = plan.source.source
    bounded = trigger == "available_now" or src.bounded
    rows = known_rows(plan) if bounded else None
    names = (engine,) if engine is not None else candidates()
    estimates = tuple(estimate(plan, name, trigger, rows) for name in names)
    if engine is None:  # shown in explain: why the batch engines are not candidates
        estimates += tuple(StreamEstimate(n, False, "batch-only engine: no streaming execution") for n in batch_only)
    if engine is not None:
        if not estimates[0].feasible:
            from unistack.errors import UnsupportedOperationError

            raise UnsupportedOperationError(
                engine, f"this stream plan ({estimates[0].reason})",
                "Run it on another stream engine, e.g. write_stream(..., engine='local'), or leave engine=None "
                "to let unistack choose.")
        return StreamChoice(engine, estimates, "forced", rows)
    feasible = [e for e in estimates if e.feasible]
    if not feasible:
        why = "; ".join(f"{e.engine}: {e.reason}" for e in estimates if e.engine in STREAM_ENGINE_NAMES)
        raise InvalidOperationError(f"no stream engine can run this plan ({why}).")
    if rows is not None:
        best = min(feasible, key=lambda e: e.predicted_seconds or 0.0)
        return StreamChoice(best.engine, estimates, "predicted time", rows)
    best = min(feasible, key=lambda e: e.latency_seconds)
    return StreamChoice(best.engine, estimates, "latency", rows)
