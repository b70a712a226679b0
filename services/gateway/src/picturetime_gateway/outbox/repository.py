"""SQL for the outbox table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import OutboxEvent
from picturetime_common.events import Event

STAGED = "outbox_events_staged"


def add_event(session: AsyncSession, event: Event) -> None:
    """Stage an event in the caller's transaction: it is published only if the rows commit."""
    session.info[STAGED] = True  # the request's session wakes the relay after its commit
    session.add(OutboxEvent(event_id=event.event_id, subject=event.subject, payload=event.model_dump_json()))


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
