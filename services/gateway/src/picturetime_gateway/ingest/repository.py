"""SQL the upload path needs beyond the photos' own: matching a RAW file to its photo."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Photo
from picturetime_gateway.scoping import photo_owned_by


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def photo_by_stem(session: AsyncSession, owner_id: int, stem: str) -> Photo | None:
    """The owner's newest photo whose file name is `stem` plus an extension (case-insensitive)."""
    query = (
        select(Photo)
        .where(
            photo_owned_by(owner_id),
            func.lower(Photo.original_name).like(f"{_like_escape(stem.lower())}.%", escape="\\"),
        )
        .order_by(Photo.uploaded_at.desc())
    )
    for photo in (await session.scalars(query)).all():
        base, _, _ = photo.original_name.rpartition(".")
        if base.lower() == stem.lower():
            return photo
    return None


async def photos_with_key(session: AsyncSession, bucket: str, key: str) -> int:
    """How many photos name this object as their original."""
    query = select(func.count()).select_from(Photo).where(Photo.bucket == bucket, Photo.key == key)
    return await session.scalar(query) or 0
