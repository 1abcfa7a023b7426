"""Fixtures of the panel tests: ``rig``, a real engine with demo traffic on a socket;
``utc`` for the snapshot tests."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
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


@pytest.fixture
def utc() -> Iterator[None]:
    """The clock columns in one time zone whatever the machine's."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()
