"""Where each object lives in its bucket: the one definition the gateway, the aligner and the tests use."""

from __future__ import annotations

import uuid
from datetime import datetime

# Uploads whose checksum is not known in advance wait here; lifecycle expires what a crash leaves.
INCOMING_PREFIX = "incoming/"
# The aligner's per-account faceprints, in the frames bucket (no frame key starts with a letter).
FACEPRINT_PREFIX = "faceprints/"
# The timelapse bucket's pointer to the newest version.
TIMELAPSE_LATEST = "latest.json"


def original_key(owner_id: int, taken_at: datetime, sha256: str, ext: str) -> str:
    """Where an account's original lives: content-addressed within the account, never shared.

    Two accounts with the same bytes get two objects, so one account's tags (a daily photo's
    `ephemeral`) and one account's uploads (streamed to the key a declared checksum names) can
    never touch another account's photo.
    """
    return f"{owner_id}/{taken_at:%Y}/{taken_at:%m}/{sha256}.{ext}"


def owner_of_original(key: str) -> int | None:
    """The account an original belongs to, from its key (None for a key of another shape)."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0].isdigit():
        return int(parts[0])
    return None


def faceprint_key(owner_id: int) -> str:
    """The owner's faceprint in the frames bucket: what the aligner knows of their face (JSON)."""
    return f"{FACEPRINT_PREFIX}{owner_id}.json"


def frame_key(taken_at: datetime, photo_id: str, params_hash: str) -> str:
    """An aligned frame's key: deterministic, so a redelivered event overwrites the same object."""
    return f"{taken_at:%Y}/{taken_at:%m}/{photo_id}-{params_hash}.jpg"


def renditions_prefix(photo_id: str) -> str:
    """Where the archive keeps a photo's renditions in the media bucket (`{prefix}{width}.{fmt}`)."""
    return f"renditions/{photo_id}/"


def incoming_key() -> str:
    """A fresh temporary key for bytes whose content address is not known yet."""
    return f"{INCOMING_PREFIX}{uuid.uuid4().hex}"


def timelapse_key(version: str) -> str:
    return f"{version}.mp4"
