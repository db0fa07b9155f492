"""The Dask session: a local threaded scheduler by default, or a connection to a running scheduler.

Which one is chosen by configuration alone: the option ``dask.scheduler`` (environment variable
``UNISTACK_DASK_SCHEDULER``) holding a scheduler address such as ``tcp://host:8786``. The client is
created lazily on first use, reused by every query, and closed at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask
import pandas as pd

from unistack.config import get_option
from unistack.errors import EngineError

ENGINE = "dask"
LOCAL = ("", "local", "threads")
CONNECT_TIMEOUT = "10s"


def _local_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class DaskSession:
    """Holds the ``distributed.Client`` for a configured scheduler (none for the local scheduler).

    Examples
    --------
    >>> s = DaskSession()
    >>> s.address is None or s.address.startswith(("tcp://", "tls://", "inproc://", "ucx://"))
    True
    """

    def __init__(self) -> None:
        self._client: Any = None
        self._client_address: str | None = None
        self._lock = threading.RLock()

    @property
    def address(self) -> str | None:
        """The configured scheduler address, or ``None`` for the local threaded scheduler."""
        value = get_option("dask.scheduler")
        if value is None or str(value).strip().lower() in LOCAL:
            return None
        return str(value).strip()

    @property
    def warm(self) -> bool:
        address = self.address
        return address is None or self.connected_to(address)

    def connected_to(self, address: str) -> bool:
        """Whether the session holds a client of the scheduler at ``address``."""
        return self._client is not None and self._client_address == address

    def client(self) -> Any:
        """The client of the configured scheduler (connecting on first use), or ``None`` when local."""
        address = self.address
        with self._lock:
            if address is None:
                return None
            if self._client is not None and self._client_address == address:
                if self._client.status in ("running", "connecting"):
                    return self._client
                self._close_client()
            from distributed import Client

            try:
                self._client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except (OSError, TimeoutError) as e:
                raise EngineError(ENGINE, f"cannot connect to the Dask scheduler at {address}: {e}") from e
            self._client_address = address
            return self._client

    @contextmanager
    def context(self) -> Iterator[Any]:
        """Dask configuration for building and running one query on this session's scheduler."""
        client = self.client()
        settings: dict[str, Any] = {"dataframe.convert-string": False}
        if client is None:
            settings.update({"scheduler": "threads", "num_workers": _local_cores()})
        else:
            settings["scheduler"] = client
        with dask.config.set(settings):
            yield client

    def compute(self, frame: Any) -> pd.DataFrame:
        """Run a Dask DataFrame and return its partitions concatenated in order."""
        return frame.compute()

    def resources(self, address: str | None) -> tuple[int | None, int | None]:
        """Total worker threads and memory of the session at the scheduler ``address`` (:attr:`address`, read
        by the caller: an option lookup); local: this machine's cores, and no memory figure (the planner then
        uses what this process may still use, which a container's limit can lower)."""
        if address is not None and self._client is None:
            return None, None  # not connected yet: unknown until the first query
        client = self._client if address is not None else None
        if client is None:
            return _local_cores(), None
        info = client.scheduler_info()
        workers = info.get("workers", {}).values()
        return (sum(w.get("nthreads", 0) for w in workers),
                sum(w.get("memory_limit", 0) for w in workers))

    def forget_client(self) -> None:
        """Drop a client whose connection failed, so the next query reconnects."""
        with self._lock:
            self._close_client()

    def _close_client(self) -> None:
        client, self._client, self._client_address = self._client, None, None
        if client is not None:
            from unistack.backends.persist import store

            store("dask").clear()  # partitions persisted on the cluster go with the client
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken client must not raise
                client.close(timeout=5)

    def close(self) -> None:
        """Close the client (called at interpreter exit)."""
        with self._lock:
            self._close_client()


_session: DaskSession | None = None
_session_lock = threading.Lock()


def get_session() -> DaskSession:
    """The process-wide Dask session (created on first use, closed at exit)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = DaskSession()
            atexit.register(_session.close)
        return _session
