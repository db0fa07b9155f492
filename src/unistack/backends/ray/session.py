"""The Ray session unistack runs on: started lazily, reused, shut down at exit.

By default a local Ray instance is started on first use (two CPUs, a small object store, no dashboard,
quiet logging). With the option ``ray.address`` (environment ``UNISTACK_RAY_ADDRESS``) an existing
cluster is joined instead, by configuration alone. Ray Data's context is tuned for small machines:
few shuffle partitions (option ``ray.shuffle_parallelism``), no progress bars, order preserved.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from unistack.backends.persist import store
from unistack.config import get_option
from unistack.errors import EngineError, EngineNotAvailableError

DEFAULT_OBJECT_STORE_BYTES = 256 * 1024 * 1024
LOCAL_CPUS = 2

_lock = threading.Lock()


@dataclass
class RaySession:
    """A live connection to Ray (local or a cluster) and what it took to start."""

    address: str | None
    started_here: bool
    startup_seconds: float

    def resources(self) -> dict[str, float]:
        import ray

        return dict(ray.cluster_resources())


_session: RaySession | None = None
_atexit_registered = False


def _quiet_logging() -> None:
    for name in ("ray", "ray.data", "ray._private", "ray.data._internal.execution.streaming_executor"):
        logging.getLogger(name).setLevel(logging.WARNING)


def tune_data_context(shuffle_partitions: int) -> None:
    """Ray Data settings for a small machine: few shuffle partitions, ordered output, no progress bars.

    Examples
    --------
    >>> tune_data_context(4)  # doctest: +SKIP
    """
    import ray.data as rd

    ctx = rd.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.execution_options.preserve_order = True
    ctx.default_hash_shuffle_parallelism = shuffle_partitions
    ctx.max_hash_shuffle_aggregators = shuffle_partitions
    ctx.min_parallelism = shuffle_partitions
    ctx.verbose_stats_logs = False
    ctx.enable_rich_progress_bars = False
    ctx.log_internal_stack_trace_to_stdout = False


def get_session() -> RaySession:
    """The current Ray session, started (or connected) on first use.

    Examples
    --------
    >>> session = get_session()  # doctest: +SKIP
    >>> session.started_here  # doctest: +SKIP
    True
    """
    global _session
    with _lock:
        import ray

        address = configured_address()
        if _session is not None and ray.is_initialized():
            if _session.address == address:
                return _session
            # the configured cluster changed: leave the old one, join the new one
            if _session.started_here:
                ray.shutdown()
            _session = None
            store("ray").clear()
        start = time.perf_counter()
        started_here = False
        _quiet_logging()
        os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            if not ray.is_initialized():
                kwargs: dict[str, Any] = {
                    "include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
                    "configure_logging": True, "ignore_reinit_error": True,
                }
                if address:
                    ray.init(address=address, **kwargs)
                else:
                    store_bytes = get_option("ray.object_store_memory") or DEFAULT_OBJECT_STORE_BYTES
                    # address="local": always a new instance (None would join any cluster running here)
                    ray.init(address="local", num_cpus=LOCAL_CPUS, object_store_memory=store_bytes, **kwargs)
                started_here = True
        except ConnectionError as e:
            raise EngineError("ray", f"cannot connect to the Ray cluster at {address!r}: {e}") from e
        except (RuntimeError, ValueError, OSError) as e:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            raise EngineNotAvailableError(f"cannot start {where}: {type(e).__name__}: {e}") from e
        _quiet_logging()
        tune_data_context(int(get_option("ray.shuffle_parallelism")))
        _session = RaySession(address, started_here, time.perf_counter() - start)
        global _atexit_registered
        if started_here and not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return _session


def configured_address() -> str | None:
    """The cluster to join (option ``ray.address`` / ``UNISTACK_RAY_ADDRESS``), ``None`` for local."""
    return get_option("ray.address") or os.environ.get("UNISTACK_RAY_ADDRESS") or None


def current_session() -> RaySession | None:
    """The session this process holds now (``None`` before the first query or after shutdown)."""
    return _session


def is_warm() -> bool:
    """Whether a Ray session is live in this process (without starting one)."""
    import sys

    ray = sys.modules.get("ray")
    return bool(ray is not None and _session is not None and ray.is_initialized())


def shutdown() -> None:
    """Disconnect from Ray (and stop the local instance if unistack started it)."""
    global _session
    with _lock:
        import sys

        ray = sys.modules.get("ray")
        if _session is not None and _session.started_here and ray is not None and ray.is_initialized():
            ray.shutdown()
        _session = None
        store("ray").clear()  # what the object store held goes with it
