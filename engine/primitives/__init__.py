"""The four primitives (Cache, Parallel, Router, Memory) and the composition base."""

from engine.primitives.base import Primitive, Sequence, Step, as_primitive
from engine.primitives.cache import Cache
from engine.primitives.memory import Memory
from engine.primitives.parallel import Parallel
from engine.primitives.router import Router

__all__ = [
    "Cache",
    "Memory",
    "Parallel",
    "Primitive",
    "Router",
    "Sequence",
    "Step",
    "as_primitive",
]
