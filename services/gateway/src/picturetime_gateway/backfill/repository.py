"""SQL for the backfill endpoints."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, Photo
from picturetime_gateway.scoping import photo_owned_by


async def known_sha256(session: AsyncSession, owner_id: int, hashes: Sequence[str]) -> set[str]:
    """Which of `hashes` the owner already has a photo for."""
    if not hashes:
        return set()
    query = select(Photo.sha256).where(photo_owned_by(owner_id), Photo.sha256.in_(list(hashes)))
    return set((await session.scalars(query)).all())


async def add_photo_with_frame(session: AsyncSession, photo: Photo, frame: Frame) -> bool:
    """Insert both rows; False (and neither) when the owner already has a photo of those bytes."""
    try:
        async with session.begin_nested():
            session.add(photo)
            await session.flush()  # the photo row first: the frame's foreign key names it
            session.add(frame)
            await session.flush()
    except IntegrityError:
        return False
    return True
