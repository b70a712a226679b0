"""One Aligner for the whole aligner test session (loading FaceMesh takes a while)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from picturetime_aligner import Aligner


@pytest.fixture(scope="session")
def aligner() -> Iterator[Aligner]:
    with Aligner() as shared:
        yield shared
