"""The outbox: events staged in the transaction of the rows they describe, and the relay that
publishes the committed ones to JetStream, so a NATS outage loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from picturetime_common.db.models import OutboxEvent, utcnow
from picturetime_common.events import Event
from picturetime_gateway.outbox.repository import (
    claim_unpublished,
    delete_published_before,
    events_since,
    newest_event_naming,
)

log = logging.getLogger(__name__)
BATCH = 100
STAGED = "outbox_events_staged"


def add_event(session: AsyncSession, event: Event) -> None:
    """Stage an event in the caller's transaction: it is published only if the rows commit."""
    session.info[STAGED] = True  # the request's session wakes the relay after its commit
    session.add(OutboxEvent(event_id=event.event_id, subject=event.subject, payload=event.model_dump_json()))


def staged_events(session: AsyncSession) -> bool:
    """Whether the session's transaction wrote events (and so gives the relay work once committed)."""
    return bool(session.info.pop(STAGED, False))


async def newest_event_by_photo(
    session: AsyncSession, subjects: tuple[str, ...], since: datetime
) -> dict[str, OutboxEvent]:
    """The newest event on these subjects staged since `since`, by the photo id its payload names."""
    newest: dict[str, OutboxEvent] = {}
    for event in await events_since(session, subjects, since):
        photo_id = json.loads(event.payload).get("photo_id")
        if isinstance(photo_id, str):
            newest[photo_id] = event
    return newest


async def newest_photo_event(
    session: AsyncSession, subjects: tuple[str, ...], photo_id: str
) -> OutboxEvent | None:
    """The newest event on these subjects about this photo, however old."""
    return await newest_event_naming(session, subjects, photo_id)


async def publish_pending(sessionmaker: async_sessionmaker[AsyncSession], js: JetStreamContext) -> int:
    """Publish one batch of unpublished events; returns how many went out."""
    async with sessionmaker() as session, session.begin():
        events = await claim_unpublished(session, BATCH)
        for event in events:
            event.attempts += 1
            await js.publish(event.subject, event.payload.encode(), headers={"Nats-Msg-Id": event.event_id})
            event.published_at = utcnow()
        return len(events)


async def prune_published(sessionmaker: async_sessionmaker[AsyncSession], keep: timedelta) -> int:
    """Delete the events published longer than `keep` ago; how many went."""
    async with sessionmaker() as session, session.begin():
        return await delete_published_before(session, utcnow() - keep)


async def run_relay(
    sessionmaker: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    wakeup: asyncio.Event,
    stop: asyncio.Event,
    idle_poll: float = 1.0,
) -> None:
    """Relay until stopped: at once after each commit (wakeup), and every `idle_poll` seconds."""
    failures = 0
    while not stop.is_set():
        wakeup.clear()
        try:
            published = await publish_pending(sessionmaker, js)
            failures = 0
        except Exception as exc:  # NATS or the DB is down: keep the rows, retry with backoff
            failures += 1
            delay = min(30.0, 0.5 * 2**failures)
            log.warning("outbox.relay.failed error=%r retry_in=%.1fs", exc, delay)
            await asyncio.sleep(delay)
            continue
        if published:
            log.debug("outbox.relay.published count=%d", published)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=idle_poll)
