"""Fixtures of the panel tests: ``rig``, a real engine with demo traffic on a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.panel import Rig


@pytest.fixture
async def rig(sock_path: Path) -> AsyncIterator[Rig]:
    r = await Rig(sock_path).start()
    await r.chat(20)
    await r.fanout(3)
    yield r
    await r.stop()
