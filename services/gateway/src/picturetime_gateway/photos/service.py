"""Photos and their frames as their owner sees them; the Piwigo id and UTC offset every new photo gets."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, Photo
from picturetime_common.events import PhotoDeleted
from picturetime_common.ids import parse_id
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.aftercommit import remove_after_commit
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.outbox.service import add_event
from picturetime_gateway.photos import repository
from picturetime_gateway.photos.repository import (
    frame_of_photo,
    frames_for_owner,
    mark_mirrored,
    photo_by_id,
    photo_by_piwigo_id,
    photo_by_sha256,
    photos_by_piwigo_ids,
    photos_of_owner,
    piwigo_ids,
    piwigo_ids_by_md5,
    piwigo_ids_by_name,
    unmirrored_frames,
    waiting_counts,
)

__all__ = [
    "delete_photos",
    "frame_of_photo",
    "frames_for_owner",
    "free_piwigo_id",
    "mark_mirrored",
    "offset_minutes",
    "owned_frame",
    "owned_photo",
    "parse_id",
    "photo_by_id",
    "photo_by_piwigo_id",
    "photo_by_sha256",
    "photos_by_piwigo_ids",
    "photos_of_owner",
    "piwigo_ids",
    "piwigo_ids_by_md5",
    "piwigo_ids_by_name",
    "unmirrored_frames",
    "waiting_counts",
]  # fmt: skip

MAX_PIWIGO_ID = 0x1FFFFFFF  # Darktable prints image ids into 10 bytes: at most 9 digits


async def owned_photo(session: AsyncSession, owner_id: int, photo_id: str) -> tuple[Photo, Frame | None]:
    """One of the owner's photos and its frame; another account's photo is not found."""
    parsed = parse_id(photo_id)
    photo = await repository.photo_for_owner(session, owner_id, parsed) if parsed else None
    if photo is None:
        raise GatewayError(404, "not_found", "no such photo")
    return photo, await frame_of_photo(session, photo.id)


async def owned_frame(session: AsyncSession, owner_id: int, frame_id: str) -> Frame:
    parsed = parse_id(frame_id)
    frame = await repository.frame_for_owner(session, owner_id, parsed) if parsed else None
    if frame is None:
        raise GatewayError(404, "not_found", "no such frame")
    return frame


async def free_piwigo_id(session: AsyncSession, owner_id: int) -> int:
    """A Piwigo image id none of the owner's photos has (a random one: nothing to contend on)."""
    while True:
        value = secrets.randbelow(MAX_PIWIGO_ID) + 1
        if await photo_by_piwigo_id(session, owner_id, value) is None:
            return value


def offset_minutes(moment: datetime) -> int:
    """A capture time's UTC offset, which places a photo on its local calendar day."""
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


async def delete_photos(session: AsyncSession, store: ObjectStore, owner_id: int, doomed: list[Photo]) -> int:
    """Delete these photos of the owner's at once (no trash): their rows now, and their original, RAW
    and frame objects once the deletion has committed (`pt.photo.deleted` tells the archive). How
    many went."""
    for photo in doomed:
        add_event(session, PhotoDeleted(photo_id=photo.id.hex, owner=owner_id))
        remove_after_commit(session, store, photo.bucket, photo.key)
        if photo.raw_key:
            remove_after_commit(session, store, photo.bucket, photo.raw_key)
        frame = await frame_of_photo(session, photo.id)
        if frame is not None:
            remove_after_commit(session, store, frame.bucket, frame.key)
    await repository.delete_photo_rows(session, owner_id, [p.id for p in doomed])
    for photo in doomed:
        session.expunge(photo)
    return len(doomed)
