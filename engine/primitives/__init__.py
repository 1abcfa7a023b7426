"""The four primitives (Cache, Parallel, Router, Memory) and the composition base."""

from flowdeck.engine.primitives.base import Primitive, Sequence, Step, as_primitive
from flowdeck.engine.primitives.cache import Cache
from flowdeck.engine.primitives.memory import Memory
from flowdeck.engine.primitives.parallel import Parallel
from flowdeck.engine.primitives.router import Router

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
