"""Helpers shared by the test suite: real servers, fake providers, waits, rigs.

Test modules import from here and never from each other.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's top folder (pyproject.toml, README.md, engine/, panel/, ...)."""
