"""The query history: predicted vs actual seconds of every execution, one JSON object per line.

It lives in ``<cache_dir>/history.jsonl`` (turn it off with the ``history`` option).
``unistack calibrate --from-history`` refits the cost model from it, and the observed cost of Python
batch functions is learned from it (``<cache_dir>/udf_costs.json``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from unistack.config import cache_dir, get_option

MAX_BYTES = 20 * 1024 * 1024  # the history is rotated (to history.jsonl.1) beyond this size

_lock = threading.Lock()
_worker: ThreadPoolExecutor | None = None
_last_task: Future[None] | None = None


def submit(task: Callable[[], None]) -> None:
    """Run ``task`` (bookkeeping after a query: its prediction, its history line, learned costs) on one
    background thread, in order, so a result never waits for it. Errors in it are dropped: the history must
    never break a query. Tasks still queued at exit finish before the interpreter stops.

    Examples
    --------
    >>> done = []
    >>> submit(lambda: done.append(1)); flush(); done
    [1]
    """
    global _worker, _last_task
    with _lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unistack-history")
        _last_task = _worker.submit(_quietly, task)


def _quietly(task: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):
        task()


def flush() -> None:
    """Wait until every submitted bookkeeping task has finished."""
    task = _last_task
    if task is not None and not threading.current_thread().name.startswith("unistack-history"):
        task.result()


def history_path() -> str:
    """Path of the history file."""
    return os.path.join(cache_dir(), "history.jsonl")


def record(entry: dict[str, Any], path: str | None = None) -> None:
    """Append one entry (ignored when the ``history`` option is off; never raises on I/O errors).

    Examples
    --------
    >>> import unistack as us, tempfile
    >>> with us.config(cache_dir=tempfile.mkdtemp()):
    ...     record({"engine": "polars", "predicted": 0.1, "actual": 0.2})
    ...     [e["engine"] for e in read_history()]
    ['polars']
    """
    if not get_option("history"):
        return
    entry = {"time": time.time(), **entry}
    line = json.dumps(entry, default=str) + "\n"
    path = path or history_path()
    with _lock:
        try:
            if os.path.exists(path) and os.path.getsize(path) > MAX_BYTES:
                os.replace(path, path + ".1")
            with open(path, "a") as fh:
                fh.write(line)
        except OSError:
            pass


def read_history(path: str | None = None) -> list[dict[str, Any]]:
    """Every entry of the history (and of its rotated predecessor), oldest first."""
    flush()
    path = path or history_path()
    out: list[dict[str, Any]] = []
    for p in (path + ".1", path):
        try:
            with open(p) as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        continue  # a torn line from a crashed writer
        except OSError:
            continue
    return out


# -- learned cost of batch functions ----------------------------------------------------------------------
_udf_cache: tuple[Any, dict[str, float]] | None = None


def udf_costs_path() -> str:
    """Path of the learned batch-function costs."""
    return os.path.join(cache_dir(), "udf_costs.json")


def _udf_costs(path: str | None = None) -> dict[str, float]:
    global _udf_cache
    path = path or udf_costs_path()
    try:
        st = os.stat(path)
        sig: Any = (path, st.st_size, st.st_mtime_ns)
    except OSError:
        return {}
    if _udf_cache is not None and _udf_cache[0] == sig:
        return _udf_cache[1]
    try:
        with open(path) as fh:
            data = {str(k): float(v) for k, v in json.load(fh).items()}
    except (OSError, ValueError, AttributeError):
        data = {}
    _udf_cache = (sig, data)
    return data


def learned_udf_cost(key: str) -> float | None:
    """Seconds per row the history observed for the batch function ``key`` (``None`` if never seen)."""
    flush()
    return _udf_costs().get(key)


def learn_udf_cost(key: str, seconds_per_row: float, weight: float = 0.5, path: str | None = None) -> float:
    """Blend a new observation into the learned cost of a batch function and store it.

    Examples
    --------
    >>> import unistack as us, tempfile
    >>> with us.config(cache_dir=tempfile.mkdtemp()):
    ...     _ = learn_udf_cost("m.f", 2e-6)
    ...     learned_udf_cost("m.f")
    2e-06
    """
    path = path or udf_costs_path()
    with _lock:
        costs = dict(_udf_costs(path))
        old = costs.get(key)
        new = seconds_per_row if old is None else (1 - weight) * old + weight * seconds_per_row
        costs[key] = max(new, 0.0)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as fh:
                json.dump(costs, fh)
            os.replace(tmp, path)
        except OSError:
            pass
    return costs[key]
