"""SQL for the outbox table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import OutboxEvent


async def claim_unpublished(session: AsyncSession, limit: int) -> Sequence[OutboxEvent]:
    # SKIP LOCKED lets several gateway replicas relay at once on PostgreSQL; SQLite ignores it.
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()


async def delete_published_before(session: AsyncSession, cutoff: datetime) -> int:
    """Delete the events published before `cutoff` (never an unpublished one); how many went."""
    query = delete(OutboxEvent).where(
        OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < cutoff
    )
    result = await session.execute(query)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def events_since(
    session: AsyncSession, subjects: Sequence[str], since: datetime
) -> Sequence[OutboxEvent]:
    """The events on these subjects staged at or after `since`, oldest first (published or not)."""
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.subject.in_(subjects), OutboxEvent.created_at >= since)
        .order_by(OutboxEvent.id)
    )
    return (await session.scalars(query)).all()


async def newest_event_naming(
    session: AsyncSession, subjects: Sequence[str], photo_id: str
) -> OutboxEvent | None:
    """The newest event on these subjects whose payload names this photo."""
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.subject.in_(subjects), OutboxEvent.payload.contains(f'"photo_id":"{photo_id}"'))
        .order_by(OutboxEvent.id.desc())
        .limit(1)
    )
    return await session.scalar(query)
