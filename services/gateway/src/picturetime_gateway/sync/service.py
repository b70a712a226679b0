"""What the home sync agent pulls, and its acknowledgements: a frame it holds a verified copy of
may expire from the object store (with its daily original), by the lifecycle rules."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame
from picturetime_common.enums import PhotoKind
from picturetime_common.objectstore import ObjectStore
from picturetime_common.s3 import EPHEMERAL, MIRRORED
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.photos import service as photos
from picturetime_gateway.sync.schemas import AckItem


async def pending_frames(session: AsyncSession, owner_id: int, limit: int) -> tuple[Sequence[Frame], bool]:
    """Aligned frames not yet mirrored home, oldest capture first; and whether more wait."""
    frames = await photos.unmirrored_frames(session, owner_id, limit + 1)
    return frames[:limit], len(frames) > limit


async def acknowledge(session: AsyncSession, store: ObjectStore, owner_id: int, items: list[AckItem]) -> int:
    """Mark frames mirrored and tag their objects (and daily originals) for expiry; how many of the
    items name a frame that still holds the bytes the agent verified.

    A frame re-aligned since it was listed has other bytes, so it is not acknowledged and stays
    pending until its new pixels are home."""
    ids = [photos.parse_id(item.frame_id) for item in items]
    if any(i is None for i in ids):
        raise GatewayError(422, "invalid_frame_id", "frame ids are 32-character hex strings")
    frame_ids = [i for i in ids if i is not None]
    confirmed = {(i, item.sha256) for i, item in zip(frame_ids, items, strict=True)}
    frames = await photos.frames_for_owner(session, owner_id, frame_ids)
    matching = [f for f in frames if (f.id, f.sha256) in confirmed]
    fresh = [f for f in matching if f.mirrored_at is None]
    for frame in fresh:
        # Tag before the row commits: a failed tag leaves the frame pending, so the agent retries.
        await store.add_tags(frame.bucket, frame.key, {MIRRORED: "true"})
        photo = frame.photo
        # A backfilled photo may have no stored original (empty key): only its frame is tagged.
        if photo.kind == PhotoKind.DAILY and photo.key:
            await store.add_tags(photo.bucket, photo.key, {EPHEMERAL: "true", MIRRORED: "true"})
    marked: list[tuple[uuid.UUID, str]] = [(f.id, f.sha256) for f in fresh]
    await photos.mark_mirrored(session, marked)
    return len(matching)
