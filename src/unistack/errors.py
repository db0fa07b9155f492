"""The errors unistack raises.

Every error a user can cause or meet subclasses :class:`UnistackError`, names the problem and says
what to do next. Raw engine tracebacks never escape: engines wrap them in :class:`EngineError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UnistackError(Exception):
    """Base class of every error unistack raises on purpose.

    Examples
    --------
    >>> import unistack as us
    >>> try:
    ...     us.from_dict({"a": [1]}).select(us.col("b"))
    ... except us.UnistackError as e:
    ...     print(type(e).__name__)
    ColumnNotFoundError
    """


class ColumnNotFoundError(UnistackError, KeyError):
    """A column name does not exist in the frame's schema."""

    def __init__(self, name: str, available: Iterable[str]) -> None:
        available = list(available)
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        shown = ", ".join(repr(c) for c in available[:20]) + (", ..." if len(available) > 20 else "")
        super().__init__(f"column {name!r} not found.{hint} Available columns: [{shown}].")
        self.name = name

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class SchemaError(UnistackError):
    """The frame cannot be built as asked: duplicate names, mismatched schemas, bad declared schema."""


class InvalidTypeError(UnistackError, TypeError):
    """An operation got values of a type it cannot take (e.g. string + int)."""


class InvalidOperationError(UnistackError, ValueError):
    """An expression is used where it is not allowed (e.g. an aggregate inside ``filter``)."""


class DataSourceError(UnistackError, OSError):
    """An input cannot be read: missing file, corrupt file, unreadable format."""


class EngineNotAvailableError(UnistackError):
    """The engine is not installed or not configured; the message says how to get it."""


class UnsupportedOperationError(UnistackError, NotImplementedError):
    """The engine cannot run an operation of the plan (declared in its capabilities)."""

    def __init__(self, engine: str, operation: str, hint: str = "") -> None:
        msg = f"engine {engine!r} does not support {operation}."
        msg += f" {hint}" if hint else " Run it on another engine, e.g. collect(engine='polars')."
        super().__init__(msg)
        self.engine = engine
        self.operation = operation


class EngineError(UnistackError, RuntimeError):
    """An engine failed while running a plan (not the user's fault): crash, lost connection, out of memory."""

    def __init__(self, engine: str, cause: str) -> None:
        super().__init__(f"engine {engine!r} failed: {cause}")
        self.engine = engine
        self.cause = cause


class UserFunctionError(UnistackError):
    """A user function (``map_batches``) raised or returned data that does not fit its declared schema."""


class ConfigError(UnistackError, ValueError):
    """A configuration key or value is not valid."""


def message_head(e: BaseException, limit: int = 600) -> str:
    """The useful head of an exception message (JVM engines append long stack traces).

    Examples
    --------
    >>> message_head(RuntimeError("boom\\n\\tat org.example.Thing.run(Thing.java:1)"))
    'boom'
    """
    text = str(e).strip()
    for marker in ("\n\tat ", "\nJVM stacktrace:", "\n\n"):
        cut = text.find(marker)
        if cut > 0:
            text = text[:cut]
    return text[:limit]
