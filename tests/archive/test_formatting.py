"""Template filters in words (picturetime_archive.formatting)."""

from __future__ import annotations

from picturetime_archive.app import plural


def test_plural() -> None:
    assert (plural(1, "day"), plural(0, "day"), plural(2, "frame")) == ("1 day", "0 days", "2 frames")
