"""One configuration for every engine: ``us.config(...)``, ``UNISTACK_*`` environment variables and an
optional TOML file (``$UNISTACK_CONFIG`` or ``~/.config/unistack/config.toml``).

Precedence, highest first: ``us.config(...)``, environment, file, defaults. Keys are dotted
(``spark.master``); in ``us.config`` keyword form the first underscore stands for the dot
(``spark_master=``); in the environment they are upper case with ``_`` (``UNISTACK_SPARK_MASTER``).
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from unistack.errors import ConfigError


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {v!r}")


def _list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return tuple(x.strip() for x in v.split(",") if x.strip())
    return tuple(str(x) for x in v)


def _opt_str(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


def _opt_int(v: Any) -> int | None:
    return None if v is None or v == "" else int(v)


def _dict(v: Any) -> dict[str, str]:
    if isinstance(v, Mapping):
        return {str(k): str(x) for k, x in v.items()}
    out = {}
    for part in str(v).split(","):
        if part.strip():
            k, _, x = part.partition("=")
            out[k.strip()] = x.strip()
    return out


@dataclass(frozen=True)
class Option:
    key: str
    default: Any
    parse: Callable[[Any], Any]
    doc: str

    @property
    def env(self) -> str:
        """The environment variable that sets this option (``spark.master`` -> ``UNISTACK_SPARK_MASTER``)."""
        return "UNISTACK_" + self.key.upper().replace(".", "_")


OPTIONS: dict[str, Option] = {
    o.key: o
    for o in [
        Option("engine", "auto", str, "engine used when collect() names none; 'auto' lets the planner choose"),
        Option("engines", (), _list, "candidate engines for 'auto' (empty: every installed engine)"),
        Option("failover", True, _bool, "retry on the next-best engine when the chosen one fails"),
        Option("history", True, _bool, "record predicted vs actual time of each query"),
        Option("history_correction", True, _bool,
               "plan with the observed times of plans seen before (same plan, same input versions) instead of "
               "the cost model's prediction, per engine"),
        Option("cache_dir", None, _opt_str, "where profiles, history and environments live"),
        Option("stream.engines", (), _list,
               "candidate stream engines for write_stream(engine=None): local, flink, spark (empty: all)"),
        Option("polars.streaming", False, _bool, "run Polars plans on its streaming engine"),
        Option("duckdb.threads", None, _opt_int, "DuckDB worker threads (default: all cores)"),
        Option("duckdb.memory_limit", None, _opt_str, "DuckDB memory limit, e.g. '8GB'"),
        Option("spark.master", "local[*]", str, "Spark master URL, e.g. spark://host:7077"),
        Option("spark.remote", None, _opt_str, "Spark Connect address, e.g. sc://host:15002"),
        Option("spark.shuffle_partitions", 4, int, "spark.sql.shuffle.partitions"),
        Option("spark.driver_memory", "4g", str, "spark.driver.memory for a local session"),
        Option("spark.conf", {}, _dict, "extra Spark settings, 'k=v,k2=v2' or a mapping"),
        Option("dask.scheduler", None, _opt_str, "Dask scheduler address (tcp://host:8786); default local"),
        Option("dask.partition_rows", 1_000_000, int, "rows per Dask partition for in-memory input"),
        Option("dask.blocksize", "64MiB", str,
               "bytes of the selected Parquet columns per Dask partition (Dask's own default: 256MiB)"),
        Option("ray.address", None, _opt_str, "Ray cluster address (host:6379 or 'auto'); default local"),
        Option("ray.object_store_memory", None, _opt_int, "bytes for a local Ray object store"),
        Option("ray.shuffle_parallelism", 4, int, "Ray Data shuffle partitions"),
        Option("flink.python", None, _opt_str, "interpreter of the Flink runtime environment"),
        Option("flink.target", "local", str, "'local' (mini-cluster) or 'remote'"),
        Option("flink.rest_address", "localhost", str, "Flink REST address for a remote cluster"),
        Option("flink.rest_port", 8081, int, "Flink REST port for a remote cluster"),
        Option("flink.parallelism", 2, int, "Flink default parallelism"),
        Option("flink.session_cluster", True, _bool,
               "local target: one Flink mini-cluster per worker that every job is submitted to (false: Flink's "
               "local executor, a new mini-cluster per job, about 0.4 s slower per query)"),
        Option("flink.jars", (), _list, "extra jars for Flink (e.g. flink-sql-connector-kafka), paths"),
        Option("flink.stream_parallelism", 1, int,
               "parallelism of Flink stream jobs (1: late rows are decided by the input's row order exactly)"),
        Option("flink.timeout", 300.0, float, "seconds before a Flink request is declared hung"),
        Option("flink.jvm_heap", None, _opt_str,
               "maximum heap of the local Flink JVM, e.g. '8g' (default: half the machine's memory, at most 16g; "
               "in-memory and file inputs travel inside the job, so large inputs need a large heap)"),
        Option("flink.jobs_per_worker", 150, int,
               "local mini-cluster only: restart the Flink worker after this many queries (Flink loads its RPC "
               "system afresh for every local job and never unloads it: ~13 MB of JVM metaspace per job)"),
    ]
}

_overrides: dict[str, Any] = {}
_ENV_NAMES = {k: o.env for k, o in OPTIONS.items()}  # planning reads options many times per query
_lock = threading.RLock()
_file_cache: dict[str, Any] | None = None


def _config_file() -> str:
    return os.environ.get("UNISTACK_CONFIG") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "unistack", "config.toml"
    )


def _file_values() -> dict[str, Any]:
    global _file_cache
    if _file_cache is None:
        path = _config_file()
        values: dict[str, Any] = {}
        if os.path.isfile(path):
            import tomllib

            try:
                with open(path, "rb") as fh:
                    data = tomllib.load(fh)
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise ConfigError(f"cannot read config file {path!r}: {e}") from e

            def flatten(prefix: str, d: Mapping[str, Any]) -> None:
                for k, v in d.items():
                    key = f"{prefix}{k}"
                    if isinstance(v, Mapping) and key not in OPTIONS:
                        flatten(key + ".", v)
                    else:
                        values[key] = v

            flatten("", data)
        _file_cache = values
    return _file_cache


def _check_key(key: str) -> Option:
    if key not in OPTIONS:
        close = difflib.get_close_matches(key, list(OPTIONS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown option {key!r}.{hint} Options: {', '.join(OPTIONS)}.")
    return OPTIONS[key]


def _parse(opt: Option, value: Any, where: str) -> Any:
    try:
        return opt.parse(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad value {value!r} for {opt.key} ({where}): {e}") from e


def get_option(key: str) -> Any:
    """The value of an option, from the highest-precedence place that sets it.

    Examples
    --------
    >>> from unistack.config import get_option
    >>> get_option("spark.shuffle_partitions") >= 1
    True
    """
    opt = OPTIONS.get(key) or _check_key(key)
    value = _overrides.get(key, _MISSING)  # one dict read is atomic: writers hold _lock
    if value is not _MISSING:
        return value
    env = _ENV_NAMES.get(key) or opt.env
    raw = os.environ.get(env)
    if raw is not None:
        return _parse(opt, raw, f"environment {env}")
    file_values = _file_values()
    if key in file_values:
        return _parse(opt, file_values[key], f"config file {_config_file()}")
    return opt.default


def _normalise(name: str) -> str:
    if name in OPTIONS:
        return name
    head, _, rest = name.partition("_")
    dotted = f"{head}.{rest}"
    return dotted if dotted in OPTIONS else name


class _Restore:
    """Returned by :func:`config`: use as a context manager to undo the change on exit."""

    def __init__(self, previous: dict[str, Any]) -> None:
        self._previous = previous

    def __enter__(self) -> _Restore:
        return self

    def __exit__(self, *exc: object) -> None:
        with _lock:
            for key, value in self._previous.items():
                if value is _MISSING:
                    _overrides.pop(key, None)
                else:
                    _overrides[key] = value
            _changed(self._previous)


_MISSING = object()
# Options only the planner reads for itself; a change of any other may change what an engine reports
# (its cluster, threads, memory), so the planner's snapshot of the engines' facts is taken again.
PLANNING_OPTIONS = frozenset({"history", "history_correction", "failover", "engine"})
_engine_options_version = 0


def _changed(keys: Iterable[str]) -> None:
    global _engine_options_version
    if any(k not in PLANNING_OPTIONS for k in keys):
        _engine_options_version += 1


def engine_options_version() -> int:
    """A number that changes whenever ``us.config`` changes an option an engine may read (every option but
    the planner's own: ``history``, ``history_correction``, ``failover``, ``engine``).

    Examples
    --------
    >>> import unistack as us
    >>> before = engine_options_version()
    >>> with us.config(history_correction=False):
    ...     engine_options_version() == before
    True
    >>> with us.config(duckdb_threads=1):
    ...     engine_options_version() > before
    True
    """
    return _engine_options_version


def config(options: Mapping[str, Any] | None = None, /, **kwargs: Any) -> _Restore:
    """Set options for this process (or, used in ``with``, for a block).

    Examples
    --------
    >>> import unistack as us
    >>> with us.config(engine="polars", spark_shuffle_partitions=2):
    ...     us.get_option("spark.shuffle_partitions")
    2
    """
    items = dict(options or {})
    items.update({_normalise(k): v for k, v in kwargs.items()})
    parsed = {}
    for key, value in items.items():
        opt = _check_key(key)
        parsed[key] = _parse(opt, value, "us.config")
    with _lock:
        previous = {k: _overrides.get(k, _MISSING) for k in parsed}
        _overrides.update(parsed)
        _changed(parsed)
    return _Restore(previous)


def reset_config() -> None:
    """Forget every ``us.config`` override and re-read the config file on next use.

    Examples
    --------
    >>> import unistack as us
    >>> _ = us.config(spark_shuffle_partitions=3)
    >>> us.reset_config()
    >>> us.get_option("spark.shuffle_partitions") == 3
    False
    """
    global _file_cache, _engine_options_version
    with _lock:
        _overrides.clear()
        _file_cache = None
        _engine_options_version += 1


@contextmanager
def option_context(**kwargs: Any) -> Iterator[None]:
    """Like ``with us.config(...)``; kept for symmetry with pandas/Polars."""
    with config(**kwargs):
        yield


def describe_options() -> str:
    """A table of every option, its current value and what it does."""
    rows = [f"{k:28} {get_option(k)!r:20} {o.doc}" for k, o in OPTIONS.items()]
    return "\n".join(rows)


def cache_dir() -> str:
    """The user cache directory (profiles, history, engine environments)."""
    configured = get_option("cache_dir")
    if configured:
        path = configured
    else:  # planning asks several times per query: expanduser and join once per environment
        env = (os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))
        path = _default_dirs.get(env) or ""
        if not path:
            path = _default_dirs[env] = os.path.join(env[0] or os.path.expanduser("~/.cache"), "unistack")
    if path not in _made_dirs:  # planning asks several times per query: create (and check) once per process
        os.makedirs(path, exist_ok=True)
        _made_dirs.add(path)
    return path


_made_dirs: set[str] = set()
_default_dirs: dict[tuple[str | None, str | None], str] = {}
