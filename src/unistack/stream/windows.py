"""Event-time windows: ``us.tumble(size)``, ``us.hop(size, slide)``, ``us.session(gap)``.

Windows are half-open ``[start, end)``, aligned to the Unix epoch, in UTC. Durations are given as
``"10s"``, ``"5m"``, ``"1h"``, ``"250ms"``, ``"1d"`` or a :class:`datetime.timedelta`.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from unistack.errors import InvalidOperationError

_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000, "min": 60_000_000, "h": 3_600_000_000,
             "d": 86_400_000_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(us|ms|s|min|m|h|d)\s*$")


def parse_duration(value: str | _dt.timedelta | int, what: str = "duration") -> int:
    """A duration in microseconds.

    Examples
    --------
    >>> parse_duration("2s"), parse_duration("250ms")
    (2000000, 250000)
    """
    if isinstance(value, _dt.timedelta):
        us = round(value.total_seconds() * 1_000_000)
    elif isinstance(value, int) and not isinstance(value, bool):
        us = value
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        us = int(m[1]) * _UNITS_US[m[2]]
    else:
        raise InvalidOperationError(
            f"cannot read {what} {value!r}; use e.g. '10s', '5m', '1h', '250ms' or a datetime.timedelta."
        )
    if us < 0:
        raise InvalidOperationError(f"{what} must not be negative, got {value!r}.")
    return us


def format_duration(us: int) -> str:
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS_US[unit]
        if us % size == 0 and us >= size:
            return f"{us // size}{unit}"
    return f"{us}us"


@dataclass(frozen=True)
class WindowSpec:
    """A window kind with its sizes in microseconds."""

    kind: str  # "tumble", "hop" or "session"
    size_us: int
    slide_us: int | None = None
    gap_us: int | None = None

    def __str__(self) -> str:
        if self.kind == "tumble":
            return f"tumble({format_duration(self.size_us)})"
        if self.kind == "hop":
            return f"hop({format_duration(self.size_us)}, {format_duration(self.slide_us or 0)})"
        return f"session({format_duration(self.gap_us or 0)})"


def tumble(size: str | _dt.timedelta) -> WindowSpec:
    """Fixed, non-overlapping windows of ``size``.

    Examples
    --------
    >>> import unistack as us
    >>> str(us.tumble("10s"))
    'tumble(10s)'
    """
    size_us = parse_duration(size, "window size")
    if size_us == 0:
        raise InvalidOperationError("window size must be positive.")
    return WindowSpec("tumble", size_us)


def hop(size: str | _dt.timedelta, slide: str | _dt.timedelta) -> WindowSpec:
    """Overlapping windows of ``size`` starting every ``slide`` (each row is in size/slide windows).

    Examples
    --------
    >>> import unistack as us
    >>> str(us.hop("10s", "5s"))
    'hop(10s, 5s)'
    """
    size_us, slide_us = parse_duration(size, "window size"), parse_duration(slide, "slide")
    if size_us == 0 or slide_us == 0:
        raise InvalidOperationError("window size and slide must be positive.")
    if size_us % slide_us:
        raise InvalidOperationError(f"window size {size} must be a multiple of the slide {slide}.")
    return WindowSpec("hop", size_us, slide_us=slide_us)


def session(gap: str | _dt.timedelta) -> WindowSpec:
    """Per-key sessions: rows closer than ``gap`` belong to one window ``[first, last + gap)``.

    Examples
    --------
    >>> import unistack as us
    >>> str(us.session("30s"))
    'session(30s)'
    """
    gap_us = parse_duration(gap, "session gap")
    if gap_us == 0:
        raise InvalidOperationError("session gap must be positive.")
    return WindowSpec("session", 0, gap_us=gap_us)
