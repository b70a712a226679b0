"""SQL the upload paths need beyond photos/repository: matching RAW files, what waits."""

from __future__ import annotations

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
