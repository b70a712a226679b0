"""SQL for photos and frames."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, Photo, utcnow
from picturetime_common.ids import parse_id

__all__ = ["parse_id"]


async def photo_for_owner(session: AsyncSession, owner_id: int, photo_id: uuid.UUID) -> Photo | None:
    return await session.scalar(select(Photo).where(Photo.id == photo_id, Photo.owner_id == owner_id))


async def photo_by_id(session: AsyncSession, photo_id: uuid.UUID) -> Photo | None:
    return await session.get(Photo, photo_id)


async def photo_by_sha256(session: AsyncSession, owner_id: int, sha256: str) -> Photo | None:
    return await session.scalar(select(Photo).where(Photo.owner_id == owner_id, Photo.sha256 == sha256))


MAX_PIWIGO_ID = 0x1FFFFFFF  # Darktable prints image ids into 10 bytes: at most 9 digits


async def free_piwigo_id(session: AsyncSession, owner_id: int) -> int:
    """A Piwigo image id none of the owner's photos has (a random one: nothing to contend on)."""
    while True:
        value = secrets.randbelow(MAX_PIWIGO_ID) + 1
        if await photo_by_piwigo_id(session, owner_id, value) is None:
            return value


async def photo_by_piwigo_id(session: AsyncSession, owner_id: int, piwigo_id: int) -> Photo | None:
    return await session.scalar(select(Photo).where(Photo.owner_id == owner_id, Photo.piwigo_id == piwigo_id))


async def piwigo_ids(session: AsyncSession, photo_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The Piwigo image ids of these photos, by photo id."""
    if not photo_ids:
        return {}
    query = select(Photo.id, Photo.piwigo_id).where(Photo.id.in_(photo_ids))
    return {photo_id: value for photo_id, value in await session.execute(query)}


async def frame_of_photo(session: AsyncSession, photo_id: uuid.UUID) -> Frame | None:
    return await session.scalar(select(Frame).where(Frame.photo_id == photo_id))


async def frame_for_owner(session: AsyncSession, owner_id: int, frame_id: uuid.UUID) -> Frame | None:
    query = select(Frame).join(Photo).where(Frame.id == frame_id, Photo.owner_id == owner_id)
    return await session.scalar(query)


async def unmirrored_frames(session: AsyncSession, owner_id: int, limit: int) -> Sequence[Frame]:
    query = (
        select(Frame)
        .join(Photo)
        .where(Photo.owner_id == owner_id, Frame.mirrored_at.is_(None))
        .order_by(Photo.taken_at, Photo.id)
        .limit(limit)
    )
    return (await session.scalars(query)).unique().all()


async def frames_for_owner(
    session: AsyncSession, owner_id: int, frame_ids: list[uuid.UUID]
) -> Sequence[Frame]:
    query = select(Frame).join(Photo).where(Photo.owner_id == owner_id, Frame.id.in_(frame_ids))
    return (await session.scalars(query)).unique().all()


async def mark_mirrored(session: AsyncSession, frames: list[tuple[uuid.UUID, str]]) -> None:
    """Stamp frames mirrored, only while they still hold the bytes the agent confirmed."""
    if not frames:
        return
    still_same = or_(*(and_(Frame.id == frame_id, Frame.sha256 == sha256) for frame_id, sha256 in frames))
    await session.execute(
        update(Frame).where(still_same, Frame.mirrored_at.is_(None)).values(mirrored_at=utcnow())
    )
