"""Read-only catalog queries for the public site."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, Photo, TimelapseVersion


async def latest_timelapse(session: AsyncSession) -> TimelapseVersion | None:
    query = select(TimelapseVersion).order_by(TimelapseVersion.created_at.desc(), TimelapseVersion.id.desc())
    return await session.scalar(query.limit(1))


async def timelapse_by_version(session: AsyncSession, version: str) -> TimelapseVersion | None:
    return await session.scalar(select(TimelapseVersion).where(TimelapseVersion.version == version))


async def latest_frames(session: AsyncSession, limit: int) -> Sequence[Frame]:
    query = select(Frame).join(Photo).order_by(Photo.taken_at.desc()).limit(limit)
    return (await session.scalars(query)).unique().all()


async def frame_by_id(session: AsyncSession, frame_id: uuid.UUID) -> Frame | None:
    return await session.get(Frame, frame_id)


async def frame_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(Frame.id))) or 0)
