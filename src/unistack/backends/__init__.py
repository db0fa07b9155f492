"""Engines: one module or package per engine behind the small interface in :mod:`unistack.backends.base`."""

from unistack.backends.base import Capabilities, Engine, EngineStatus
from unistack.backends.registry import available_engines, engine_names, get_engine

__all__ = ["Capabilities", "Engine", "EngineStatus", "available_engines", "engine_names", "get_engine"]
