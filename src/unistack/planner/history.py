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


# -- observed times of plans seen before (history-based correction) --------------------------------------
# Every successful run appends one short line to <cache_dir>/observed.jsonl: the plan's key (optimized plan
# and the versions of its inputs), the engine, whether the engine was warm, and the seconds it took.
# Planning reads the file incrementally (only the lines added since its last look), so a lookup costs one
# stat() when nothing changed. The file is compacted to the last RECENT runs per (key, engine, state) when
# it grows beyond MAX_OBSERVED_BYTES.
RECENT = 5  # runs per (plan key, engine, warm) kept and used
MAX_OBSERVED_BYTES = 4 * 1024 * 1024


def observed_path() -> str:
    """Path of the observed run times of plans (for the history-based correction)."""
    return os.path.join(cache_dir(), "observed.jsonl")


def _source_identity(src: Any) -> str:
    from unistack.plan import nodes as pn

    if isinstance(src, pn.FileSource):
        versions = src.versions()
        return f"{src.format}:{len(src.paths)}:{versions}"
    if isinstance(src, pn.InMemorySource):
        return f"arrow:{src.table.num_rows}"  # with the schema in the plan's text: same shape, same cost
    if isinstance(src, pn.PersistedSource):
        return f"persisted:{src.engine}:{src.rows}"
    return f"{type(src).__name__}:{getattr(src, 'estimated_rows', '')}"


def plan_key(plan: Any, text: str | None = None) -> str:
    """A fingerprint of an optimized plan and of the data it reads: its text (in-memory tables named by
    position rather than by their per-call key) plus each file source's size and modification time and
    each in-memory table's rows. The same query over the same data gets the same key; a
    rewritten input file gets a new one. ``text`` is the plan's text when the caller has it already.

    Examples
    --------
    >>> import pyarrow as pa, unistack as us
    >>> t = pa.table({"a": [1, 2]})
    >>> plan_key(us.from_arrow(t).select("a").plan) == plan_key(us.from_arrow(t).select("a").plan)
    True
    """
    import hashlib

    from unistack.plan import nodes as pn
    from unistack.plan.text import plan_text

    text = plan_text(plan) if text is None else text
    parts = []
    seen: dict[str, int] = {}
    for node in plan.walk():
        if isinstance(node, pn.Scan):
            src = node.source
            key = getattr(src, "key", None)
            if isinstance(src, (pn.InMemorySource, pn.PersistedSource)) and isinstance(key, str):
                if key not in seen:
                    seen[key] = len(seen)
                text = text.replace(key, f"#{seen[key]}")
            parts.append(_source_identity(src))
    return hashlib.sha1("\n".join([text, *parts]).encode()).hexdigest()[:20]


class _Observed:
    """The observed runs, read incrementally from the file."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.ident: tuple[int, int] | None = None  # (device, inode): a compaction replaces the file
        self.offset = 0
        self.runs: dict[str, dict[tuple[str, bool], list[float]]] = {}  # key -> (engine, warm) -> seconds

    def refresh(self, path: str) -> None:
        try:
            st = os.stat(path)
        except OSError:
            self.__init__()  # type: ignore[misc]
            return
        ident = (st.st_dev, st.st_ino)
        if path != self.path or ident != self.ident or st.st_size < self.offset:
            self.__init__()  # type: ignore[misc]
            self.path, self.ident = path, ident
        if st.st_size == self.offset:
            return
        try:
            with open(path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        for line in data[:end].splitlines():
            try:
                d = json.loads(line)
                key, k = str(d["k"]), (str(d["e"]), bool(d["w"]))
                seconds = float(d["s"])
            except (ValueError, KeyError, TypeError):
                continue
            self.add(key, k, seconds)
        self.offset += end

    def add(self, key: str, k: tuple[str, bool], seconds: float) -> None:
        runs = self.runs.setdefault(key, {}).setdefault(k, [])
        runs.append(seconds)
        if len(runs) > RECENT:
            del runs[0]

    def wrote(self, path: str, ident: tuple[int, int], start: int, end: int, key: str, k: tuple[str, bool],
              seconds: float) -> None:
        """This process appended one run at bytes ``start:end`` of the file: take it in directly when
        everything before it was read already (so planning does not open the file to read its own run)."""
        if path == self.path and ident == self.ident and start == self.offset:
            self.add(key, k, seconds)
            self.offset = end


_observed = _Observed()
_obs_lock = threading.Lock()  # the reader's own lock: planning never waits for the history thread's writes


def observed_runs(key: str, engine: str, warm: bool, path: str | None = None) -> list[float]:
    """The last (up to :data:`RECENT`) observed seconds of plan ``key`` on ``engine`` in that state
    (``warm``: the engine already had a session), oldest first.

    Examples
    --------
    >>> import unistack as us, tempfile
    >>> with us.config(cache_dir=tempfile.mkdtemp()):
    ...     observe("k1", "polars", True, 0.25)
    ...     observe("k1", "polars", True, 0.35)
    ...     observed_runs("k1", "polars", True), observed_runs("k1", "duckdb", True)
    ([0.25, 0.35], [])
    """
    path = path or observed_path()
    with _obs_lock:
        _observed.refresh(path)
        return list(_observed.runs.get(key, {}).get((engine, bool(warm)), ()))


def observed_for(key: str, path: str | None = None) -> dict[tuple[str, bool], list[float]]:
    """Every engine's observed runs of plan ``key``: ``{(engine, warm): seconds}`` (one look at the file)."""
    path = path or observed_path()
    with _obs_lock:
        _observed.refresh(path)
        return {k: list(r) for k, r in _observed.runs.get(key, {}).items()}


def observe(key: str, engine: str, warm: bool, seconds: float, path: str | None = None) -> None:
    """Append one observed run of plan ``key`` on ``engine`` (ignored when the ``history`` option is off)."""
    if not get_option("history"):
        return
    path = path or observed_path()
    seconds = round(float(seconds), 6)
    data = (json.dumps({"k": key, "e": engine, "w": bool(warm), "s": seconds, "t": round(time.time(), 3)})
            + "\n").encode()
    with _lock:
        try:
            if os.path.exists(path) and os.path.getsize(path) > MAX_OBSERVED_BYTES:
                _compact(path)
            with open(path, "ab") as fh:
                fh.write(data)
                fh.flush()
                end = fh.tell()  # another process's append between ours and this: start differs, file re-read
                st = os.fstat(fh.fileno())
        except OSError:
            return
    with _obs_lock:
        _observed.wrote(path, (st.st_dev, st.st_ino), end - len(data), end, key, (engine, bool(warm)), seconds)


def _compact(path: str) -> None:
    """Rewrite the file keeping the last RECENT runs per (key, engine, state)."""
    kept: dict[tuple[str, str, bool], list[str]] = {}
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                d = json.loads(raw)
                k = (str(d["k"]), str(d["e"]), bool(d["w"]))
            except (ValueError, KeyError, TypeError):
                continue
            lines = kept.setdefault(k, [])
            lines.append(raw.decode().rstrip("\n"))
            if len(lines) > RECENT:
                del lines[0]
    # the most recently used plans first to go when even the compacted file is too large
    ordered = sorted(kept.values(), key=lambda ls: json.loads(ls[-1]).get("t", 0.0), reverse=True)
    out, size = [], 0
    for lines in ordered:
        size += sum(len(x) + 1 for x in lines)
        if size > MAX_OBSERVED_BYTES // 2:
            break
        out.extend(lines)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write("".join(x + "\n" for x in out))
    os.replace(tmp, path)
