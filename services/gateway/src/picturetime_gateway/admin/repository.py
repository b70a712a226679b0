"""SQL for the admin overview."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, Photo


async def photos_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(Photo.status, func.count()).where(Photo.deleted_at.is_(None)).group_by(Photo.status)
    )
    return {str(status): count for status, count in rows}


async def frames_pending_mirror(session: AsyncSession) -> int:
    return (
        await session.scalar(select(func.count()).select_from(Frame).where(Frame.mirrored_at.is_(None))) or 0
    )
