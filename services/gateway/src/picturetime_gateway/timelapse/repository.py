"""SQL for timelapse versions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import TimelapseVersion


async def latest(session: AsyncSession) -> TimelapseVersion | None:
    return await session.scalar(
        select(TimelapseVersion).order_by(TimelapseVersion.created_at.desc()).limit(1)
    )


async def older_than_newest(session: AsyncSession, keep: int) -> Sequence[TimelapseVersion]:
    query = select(TimelapseVersion).order_by(TimelapseVersion.created_at.desc(), TimelapseVersion.id.desc())
    return (await session.scalars(query.offset(keep))).all()


async def add(session: AsyncSession, row: TimelapseVersion) -> None:
    session.add(row)
    await session.flush()


async def delete(session: AsyncSession, row: TimelapseVersion) -> None:
    await session.delete(row)
