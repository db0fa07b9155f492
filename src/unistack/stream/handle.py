"""What every stream engine's handle shares: ``status``, ``exception`` and ``await_termination``.

Each engine's handle (the local executor's, Flink's, Spark's) runs its stream on a thread, keeps its
status and the error that ended it, and adds ``progress`` and ``stop``.
"""

from __future__ import annotations

import threading

from unistack.errors import EngineError, UnistackError, message_head


class StreamHandle:
    """Base of stream handles: subclasses start ``self._thread`` and set ``_status`` and ``_error``."""

    engine_label = "stream"
    _status: str
    _error: BaseException | None
    _thread: threading.Thread

    @property
    def status(self) -> str:
        """``running``, ``stopping``, ``stopped``, ``finished`` (input ended) or ``failed``."""
        return self._status

    @property
    def exception(self) -> BaseException | None:
        """The error that ended the stream, if one did."""
        return self._error

    def await_termination(self, timeout: float | None = None) -> bool:
        """Wait until the stream ends; True if it did within ``timeout``. Re-raises the stream's error (a
        :class:`unistack.UnistackError`; an engine's own exception becomes an ``EngineError`` naming it)."""
        self._thread.join(timeout)
        error = self._error
        if error is not None:
            if isinstance(error, UnistackError):
                raise error
            raise EngineError(self.engine_label, f"streaming query failed: {type(error).__name__}: "
                                                 f"{message_head(error)}") from error
        return not self._thread.is_alive()
