"""Fixtures for the sync agent tests: the real gateway app, served over real HTTP on real servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.live_gateway import live_gateway

__all__ = ["live_gateway"]


@pytest.fixture
def frames_dir(tmp_path: Path) -> Path:
    """An empty frames folder."""
    d = tmp_path / "frames"
    d.mkdir()
    return d
