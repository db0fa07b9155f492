"""Finding engines by name: built-in ones are imported lazily; others come from the
``unistack.engines`` entry-point group (value: ``module:factory`` returning an :class:`Engine`)."""

from __future__ import annotations

import importlib
import importlib.util
import threading
from importlib import metadata

from unistack.backends.base import Engine
from unistack.errors import EngineNotAvailableError

# name -> (module, factory, pip extra, python modules it needs)
BUILTIN: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "polars": ("unistack.backends.polars", "PolarsEngine", "", ("polars",)),
    "duckdb": ("unistack.backends.duckdb", "DuckDBEngine", "duckdb", ("duckdb",)),
    "dask": ("unistack.backends.dask", "DaskEngine", "dask", ("dask", "distributed")),
    "spark": ("unistack.backends.spark", "SparkEngine", "spark", ("pyspark",)),
    "ray": ("unistack.backends.ray", "RayEngine", "ray", ("ray",)),
    "flink": ("unistack.backends.flink", "FlinkEngine", "", ()),
}
ENTRY_POINT_GROUP = "unistack.engines"

_instances: dict[str, Engine] = {}
_generation = 0  # see engines_changed


def engines_changed() -> None:
    """Note that an engine was added, started or stopped, or that the results it holds changed.

    The planner reuses its look at every engine's facts (installed, warm, cores, resident results) for a
    repeated query for a fraction of a second (``unistack.planner.choose.FACTS_TTL``); this makes the next
    planning look again at once. unistack calls it wherever it changes an engine's state.

    Examples
    --------
    >>> before = generation()
    >>> engines_changed()
    >>> generation() > before
    True
    """
    global _generation
    _generation += 1


def generation() -> int:
    """How many times :func:`engines_changed` was called in this process."""
    return _generation
_lock = threading.Lock()


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def engine_names() -> list[str]:
    """Every engine unistack knows: built-in ones whose module exists, then plugins."""
    names = [n for n, (mod, *_rest) in BUILTIN.items() if importlib.util.find_spec(mod) is not None]
    return names + [n for n in _entry_points() if n not in BUILTIN]


def is_installed(name: str) -> bool:
    """Whether an engine's Python dependencies are importable (without importing them)."""
    if name in BUILTIN:
        mod, _, _, needs = BUILTIN[name]
        return importlib.util.find_spec(mod) is not None and all(
            importlib.util.find_spec(m) is not None for m in needs
        )
    return name in _entry_points()


def available_engines() -> list[str]:
    """Engines that are installed here (their sessions may still be cold)."""
    return [n for n in engine_names() if is_installed(n)]


def register(engine: Engine) -> None:
    """Register an engine instance under its name (for tests and embedding; plugins use the entry point)."""
    with _lock:
        _instances[engine.name] = engine
    engines_changed()


def get_engine(name: str) -> Engine:
    """The engine named ``name``, created on first use.

    Examples
    --------
    >>> from unistack.backends import get_engine
    >>> get_engine("polars").name
    'polars'
    """
    with _lock:
        if name in _instances:
            return _instances[name]
        engine = _create(name)
        _instances[name] = engine
    engines_changed()
    return engine


def _create(name: str) -> Engine:
    if name in BUILTIN:
        mod, factory, extra, needs = BUILTIN[name]
        if importlib.util.find_spec(mod) is None:
            raise EngineNotAvailableError(f"engine {name!r} is not part of this unistack build.")
        for m in needs:
            if importlib.util.find_spec(m) is None:
                raise EngineNotAvailableError(
                    f"engine {name!r} needs the Python package {m!r}, which is not installed. "
                    f"Install it with: pip install 'unistack[{extra}]'"
                )
        try:
            return getattr(importlib.import_module(mod), factory)()
        except (ImportError, AttributeError) as e:
            raise EngineNotAvailableError(
                f"engine {name!r} could not be loaded ({type(e).__name__}: {e}). "
                f"Reinstall it with: pip install 'unistack[{extra or name}]'"
            ) from e
    eps = _entry_points()
    if name in eps:
        obj = eps[name].load()
        engine = obj() if callable(obj) and not isinstance(obj, Engine) else obj
        if not isinstance(engine, Engine):
            raise EngineNotAvailableError(f"entry point {name!r} did not produce an Engine.")
        return engine
    known = ", ".join(engine_names())
    raise EngineNotAvailableError(f"unknown engine {name!r}. Known engines: {known}.")
