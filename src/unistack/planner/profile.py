"""Calibration profiles: the fitted coefficients of the cost model, per engine, for one machine.

A profile is JSON. ``unistack calibrate`` writes one per machine into the user cache directory
(``<cache_dir>/profiles/<machine key>.json``); the package ships ``profiles/default.json`` (measured on a
2-core machine), used when this machine has none.

Shape::

    {"name": "...", "created": "2026-11-28", "machine": {"key": "...", "cores": 2, "memory_bytes": ...},
     "source": "calibrate" | "history" | "default",
     "engines": {"polars": {"parallelism": 2, "python_parallel": false, "spills": false,
                            "memory_factor": 2.0, "coef": {"startup": 0.0, "job": 0.001, ...}}, ...}}

Coefficients are seconds per unit of the features in :data:`FEATURES` (see :mod:`unistack.planner.cost`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from unistack.config import cache_dir

# Every feature of the cost model, in a fixed order (see unistack.planner.cost for their meaning).
FEATURES: tuple[str, ...] = (
    "startup",  # 1 when the engine has no warm session
    "job",  # 1 per job submitted
    "stage",  # shuffle boundaries (group-by, join, sort, distinct, partitioned window)
    "scan_row",  # rows read from files / parallelism
    "scan_byte",  # uncompressed bytes read from Parquet / parallelism
    "text_byte",  # CSV/JSON bytes parsed / parallelism
    "arrow_in_byte",  # bytes of in-memory Arrow input moved into the engine
    "arrow_string_byte",  # of which bytes of string and binary columns (some engines convert them value by value)
    "expr_row",  # rows x expressions evaluated by filters and projections / parallelism
    "agg_row",  # rows into aggregations / parallelism
    "agg_group",  # groups out of aggregations / parallelism
    "join_row",  # rows into joins (both sides) / parallelism
    "join_out",  # rows out of joins / parallelism
    "sort_row",  # rows x log2(rows) sorted / parallelism
    "distinct_row",  # rows into distinct / parallelism
    "window_row",  # rows through window functions / parallelism
    "window_sort_row",  # rows x log2(rows) sorted by ordered windows (row_number, rank, ... over order_by) / par.
    "decimal_row",  # rows x decimal operations (arithmetic on and aggregates of decimals) / parallelism
    "string_row",  # rows x string operations (comparisons of strings, string functions) / parallelism
    "udf_row",  # rows through Python batch functions / Python parallelism
    "udf_cpu",  # estimated CPU seconds of Python batch functions / Python parallelism
    "udf_job",  # Python batch functions in the plan (an engine may start Python workers for each)
    "out_byte",  # result bytes moved out of the engine as Arrow
    "spill_byte",  # bytes beyond the engine's memory (spilled to disk)
)

# Which component of the prediction each feature belongs to (explain shows the split).
COMPONENT: dict[str, str] = {f: "compute" for f in FEATURES} | {
    "startup": "start", "arrow_in_byte": "transfer", "arrow_string_byte": "transfer", "out_byte": "transfer",
}


@dataclass
class EngineProfile:
    """Coefficients and traits of one engine on one machine."""

    coef: dict[str, float]
    parallelism: float = 1.0  # cores the engine used when calibrated
    python_parallel: bool = False  # runs Python batch functions in several processes
    spills: bool = True  # can work on more data than memory (out-of-core)
    memory_factor: float = 2.0  # peak memory / bytes held by the plan
    runs: int = 0  # measurements the fit used

    def c(self, feature: str) -> float:
        return float(self.coef.get(feature, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"parallelism": self.parallelism, "python_parallel": self.python_parallel, "spills": self.spills,
                "memory_factor": self.memory_factor, "runs": self.runs,
                "coef": {f: float(self.coef.get(f, 0.0)) for f in FEATURES}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineProfile:
        return cls(coef={k: float(v) for k, v in d.get("coef", {}).items()},
                   parallelism=float(d.get("parallelism", 1.0)), python_parallel=bool(d.get("python_parallel")),
                   spills=bool(d.get("spills", True)), memory_factor=float(d.get("memory_factor", 2.0)),
                   runs=int(d.get("runs", 0)))


@dataclass
class Profile:
    """A calibration profile: per-engine coefficients, where they came from, and for which machine."""

    name: str
    engines: dict[str, EngineProfile]
    created: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    source: str = "default"
    path: str | None = None
    note: str = ""

    def engine(self, name: str) -> EngineProfile:
        """The coefficients of engine ``name`` (a plugin engine without any gets the slowest known ones)."""
        if name in self.engines:
            return self.engines[name]
        return _fallback(self)

    def label(self) -> str:
        """Short text for ``explain``: ``default (2 cores), 2026-11-28``."""
        cores = self.machine.get("cores")
        where = f" ({cores} cores)" if cores else ""
        return f"{self.name}{where}, {self.created}" if self.created else f"{self.name}{where}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "created": self.created, "machine": self.machine, "source": self.source,
                "note": self.note, "engines": {n: e.to_dict() for n, e in sorted(self.engines.items())}}

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str | None = None) -> Profile:
        return cls(name=str(d.get("name", "profile")),
                   engines={n: EngineProfile.from_dict(e) for n, e in d.get("engines", {}).items()},
                   created=str(d.get("created", "")), machine=dict(d.get("machine", {})),
                   source=str(d.get("source", "calibrate")), path=path, note=str(d.get("note", "")))

    def save(self, path: str | None = None) -> str:
        """Write the profile as JSON (atomically) and return the path."""
        path = path or user_profile_path()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1, sort_keys=False)
        os.replace(tmp, path)
        self.path = path
        invalidate()
        return path


def _fallback(profile: Profile) -> EngineProfile:
    """For an engine the profile does not know: per feature, the largest coefficient of any engine."""
    coef: dict[str, float] = {}
    for e in profile.engines.values():
        for k, v in e.coef.items():
            coef[k] = max(coef.get(k, 0.0), v)
    return EngineProfile(coef, parallelism=1.0, python_parallel=False, spills=True)


def total_memory() -> int | None:
    """Physical memory of this machine in bytes (``None`` if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


@functools.lru_cache(maxsize=1)
def _machine_info() -> tuple[tuple[str, Any], ...]:
    cores = os.cpu_count() or 1
    mem = total_memory() or 0
    node = platform.node()
    text = f"{node}|{platform.machine()}|{cores}|{mem // (1 << 30)}"
    key = f"{node or 'host'}-{cores}c-{mem // (1 << 30)}g-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
    return (("key", key), ("host", node), ("cores", cores), ("memory_bytes", mem), ("arch", platform.machine()))


def machine_info() -> dict[str, Any]:
    """Cores, memory, platform, and a key identifying this machine's profile."""
    return dict(_machine_info())


def user_profile_path() -> str:
    """Where this machine's profile lives in the user cache directory."""
    return os.path.join(cache_dir(), "profiles", f"{_machine_info()[0][1]}.json")


def default_profile() -> Profile:
    """The profile shipped with the package (measured on a 2-core machine)."""
    text = resources.files("unistack.planner").joinpath("profiles/default.json").read_text()
    return Profile.from_dict(json.loads(text), path="<package>/planner/profiles/default.json")


_cache_lock = threading.Lock()
_cached: tuple[Any, Profile] | None = None


def invalidate() -> None:
    """Forget the loaded profile (the next :func:`load_profile` reads it again)."""
    global _cached
    with _cache_lock:
        _cached = None


def load_profile() -> Profile:
    """This machine's profile from the cache directory, else the shipped default (cached; re-read when
    the file changes).

    Examples
    --------
    >>> load_profile().engine("polars").c("startup")
    0.0
    """
    global _cached
    path = user_profile_path()
    try:
        st = os.stat(path)
        sig: Any = (path, st.st_size, st.st_mtime_ns)
    except OSError:
        sig = (path, None)
    with _cache_lock:
        if _cached is not None and _cached[0] == sig:
            return _cached[1]
    profile = None
    if sig[1] is not None:
        try:
            with open(path) as fh:
                profile = Profile.from_dict(json.load(fh), path=path)
            # Engines this machine never calibrated keep the shipped coefficients.
            base = default_profile()
            for name, eng in base.engines.items():
                profile.engines.setdefault(name, eng)
        except (OSError, ValueError, KeyError, TypeError):
            profile = None
    if profile is None:
        profile = default_profile()
    with _cache_lock:
        _cached = (sig, profile)
    return profile
