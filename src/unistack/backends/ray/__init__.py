"""The Ray Data engine: plans become Ray Data datasets that run inside a Ray session or cluster.

Imported lazily (only when the engine is first used), never by ``import unistack``.
"""

from unistack.backends.ray.engine import RayEngine

__all__ = ["RayEngine"]
