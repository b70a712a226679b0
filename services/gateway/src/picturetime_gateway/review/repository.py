"""SQL for the review queue."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, OutboxEvent, Photo, utcnow
from picturetime_common.enums import PhotoKind, PhotoStatus
from picturetime_common.events import PhotoRealign
from picturetime_common.ids import parse_id
from picturetime_gateway.scoping import photo_owned_by

# A correction's `pt.photo.realign` event id starts with this and the photo id, so the outbox tells
# which pending photos are being re-aligned (rather than waiting for a first frame).
REALIGN_PREFIX = "realign-"
REALIGN_LOOKBACK = timedelta(days=2)


async def daily_photo_of(session: AsyncSession, owner_id: int, photo_id: uuid.UUID) -> Photo | None:
    return await session.scalar(
        select(Photo).where(
            Photo.id == photo_id,
            photo_owned_by(owner_id),
            Photo.kind == PhotoKind.DAILY,
            Photo.deleted_at.is_(None),
        )
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
        quality["ambiguous_face"].as_boolean(),
    )
    wanted = [Photo.status == PhotoStatus.FAILED, and_(Photo.status == PhotoStatus.ALIGNED, doubtful)]
    if realigning:
        wanted.append(and_(Photo.status == PhotoStatus.PENDING, Photo.id.in_(realigning)))
    query = (
        select(Photo, Frame)
        .outerjoin(Frame, Frame.photo_id == Photo.id)
        .where(
            photo_owned_by(owner_id), Photo.kind == PhotoKind.DAILY, Photo.deleted_at.is_(None), or_(*wanted)
        )
        .order_by(Photo.taken_at.desc(), Photo.id)
        .limit(limit)
    )
    return [(photo, frame) for photo, frame in (await session.execute(query)).unique().all()]
