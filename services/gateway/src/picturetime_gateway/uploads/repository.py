"""SQL the upload paths need beyond photos/repository: matching RAW files, listing ids."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, Photo


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def photo_by_stem(session: AsyncSession, owner_id: int, stem: str) -> Photo | None:
    """The owner's newest photo whose file name is `stem` plus an extension (case-insensitive)."""
    query = (
        select(Photo)
        .where(
            Photo.owner_id == owner_id,
            func.lower(Photo.original_name).like(f"{_like_escape(stem.lower())}.%", escape="\\"),
        )
        .order_by(Photo.uploaded_at.desc())
    )
    for photo in (await session.scalars(query)).all():
        base, _, _ = photo.original_name.rpartition(".")
        if base.lower() == stem.lower():
            return photo
    return None


async def photo_ids_of_owner(session: AsyncSession, owner_id: int) -> Sequence[uuid.UUID]:
    return (await session.scalars(select(Photo.id).where(Photo.owner_id == owner_id))).all()


async def pending_status(session: AsyncSession, owner_id: int) -> dict[str, int]:
    """Counts of what waits: photos still to align, aligned frames not yet mirrored home."""
    aligning = await session.scalar(
        select(func.count())
        .select_from(Photo)
        .where(Photo.owner_id == owner_id, Photo.kind == "daily", Photo.status == "pending")
    )
    failed = await session.scalar(
        select(func.count()).select_from(Photo).where(Photo.owner_id == owner_id, Photo.status == "failed")
    )
    unmirrored = await session.scalar(
        select(func.count())
        .select_from(Frame)
        .join(Photo)
        .where(Photo.owner_id == owner_id, Frame.mirrored_at.is_(None))
    )
    return {"aligning": aligning or 0, "failed": failed or 0, "frames_waiting": unmirrored or 0}
