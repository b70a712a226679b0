"""SQL for the admin overview and the review queue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, OutboxEvent, Photo, User, utcnow
from picturetime_common.events import PhotoRealign
from picturetime_common.ids import parse_id


async def photos_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Photo.status, func.count()).group_by(Photo.status))
    return {status: count for status, count in rows}


async def frames_pending_mirror(session: AsyncSession) -> int:
    return (
        await session.scalar(select(func.count()).select_from(Frame).where(Frame.mirrored_at.is_(None))) or 0
    )


async def user_count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(User)) or 0


# The review queue. A correction's `pt.photo.realign` event id starts with this and the photo id, so
# the outbox tells which pending photos are being re-aligned (rather than waiting for a first frame).
REALIGN_PREFIX = "realign-"
REALIGN_LOOKBACK = timedelta(days=2)


async def daily_photo_of(session: AsyncSession, owner_id: int, photo_id: uuid.UUID) -> Photo | None:
    return await session.scalar(
        select(Photo).where(Photo.id == photo_id, Photo.owner_id == owner_id, Photo.kind == "daily")
    )


async def frame_of(session: AsyncSession, photo_id: uuid.UUID) -> Frame | None:
    return await session.scalar(select(Frame).where(Frame.photo_id == photo_id))


async def realigning_photo_ids(session: AsyncSession, limit: int = 1000) -> set[uuid.UUID]:
    """Photos with a recent manual correction in the outbox (the caller checks they are pending)."""
    query = (
        select(OutboxEvent.event_id)
        .where(
            OutboxEvent.subject == PhotoRealign.subject,
            OutboxEvent.event_id.startswith(REALIGN_PREFIX),
            OutboxEvent.created_at >= utcnow() - REALIGN_LOOKBACK,
        )
        .order_by(OutboxEvent.id.desc())
        .limit(limit)
    )
    found = set()
    for event_id in await session.scalars(query):
        parsed = parse_id(event_id.removeprefix(REALIGN_PREFIX).split("-")[0])
        if parsed is not None:
            found.add(parsed)
    return found


async def review_queue(
    session: AsyncSession, owner_id: int, threshold: float, realigning: set[uuid.UUID], limit: int
) -> Sequence[tuple[Photo, Frame | None]]:
    """The owner's daily photos that want a look: failed, aligned doubtfully, or being corrected."""
    quality = Frame.quality
    doubtful = or_(
        Frame.confidence < threshold,
        quality["eyes_closed"].as_boolean(),
        quality["strong_yaw"].as_boolean(),
    )
    wanted = [Photo.status == "failed", and_(Photo.status == "aligned", doubtful)]
    if realigning:
        wanted.append(and_(Photo.status == "pending", Photo.id.in_(realigning)))
    query = (
        select(Photo, Frame)
        .outerjoin(Frame, Frame.photo_id == Photo.id)
        .where(Photo.owner_id == owner_id, Photo.kind == "daily", or_(*wanted))
        .order_by(Photo.taken_at.desc(), Photo.id)
        .limit(limit)
    )
    return [(photo, frame) for photo, frame in (await session.execute(query)).unique().all()]
