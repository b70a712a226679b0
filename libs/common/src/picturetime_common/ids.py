"""Identifiers as they appear in URLs: UUIDs in 32-character hex."""

from __future__ import annotations

import uuid


def parse_id(text: str) -> uuid.UUID | None:
    """The UUID a hex id names, or None for anything malformed."""
    try:
        return uuid.UUID(hex=text)
    except ValueError:
        return None
