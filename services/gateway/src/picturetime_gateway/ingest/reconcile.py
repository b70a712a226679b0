"""The reconciler: no daily photo waits for the aligner for ever.

A photo row and its `pt.photo.uploaded` event commit together, but rows written before that was
true, events lost downstream, and photos failed by an outage of our own infrastructure (by an
aligner that did not yet wait outages out) would otherwise stay as they are. At start-up and
periodically, the reconciler stages the event again for each pending daily photo that has no event
in the outbox, or whose newest event is older than `reemit_pending_minutes` (a manual realignment
is asked again with its eye points), and puts the photos
failed by an outage back to pending with a new event. The aligner is idempotent: an event twice
gives the same frame.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from picturetime_common.db.models import Photo, utcnow
from picturetime_common.enums import PhotoStatus
from picturetime_common.events import Event, PhotoRealign, PhotoUploaded
from picturetime_gateway.ingest import repository
from picturetime_gateway.ingest.record import uploaded_event
from picturetime_gateway.outbox.service import add_event, newest_event_by_photo, newest_photo_event
from picturetime_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
BATCH = 500
ALIGN_SUBJECTS = (PhotoUploaded.subject, PhotoRealign.subject)


async def reconcile(session: AsyncSession, reemit_after: timedelta) -> tuple[int, int]:
    """Stage the events that pending and outage-failed photos lack; (re-emitted, retried)."""
    pending = await repository.pending_daily_photos(session, BATCH)
    failed = await repository.photos_failed_by_an_outage(session, BATCH)
    if not pending and not failed:
        return 0, 0
    # Only the events of the last `reemit_after` are read: a photo with none of them (whether its
    # event is older or was never written) is asked again.
    recent = await newest_event_by_photo(session, ALIGN_SUBJECTS, utcnow() - reemit_after)
    reemitted = 0
    for photo in pending:
        if photo.id.hex not in recent:
            add_event(session, await _again(session, photo))
            reemitted += 1
            log.info("gateway.photo.reemitted photo=%s", photo.id.hex)
    for photo in failed:
        log.info("gateway.photo.retried photo=%s failure=%r", photo.id.hex, photo.failure_detail)
        photo.status, photo.failure_reason, photo.failure_detail = PhotoStatus.PENDING, None, None
        add_event(session, await _again(session, photo))
    return reemitted, len(failed)


async def _again(session: AsyncSession, photo: Photo) -> Event:
    """The photo's upload event once more; or, if its newest event asked for a manual realignment,
    that one under a new id (its eye points stay)."""
    last = await newest_photo_event(session, ALIGN_SUBJECTS, photo.id.hex)
    if last is None or last.subject != PhotoRealign.subject:
        return uploaded_event(photo)
    prefix = last.event_id.rpartition("-")[0]
    event = PhotoRealign.model_validate_json(last.payload)
    return event.model_copy(update={"event_id": f"{prefix}-{uuid.uuid4().hex[:16]}", "occurred_at": utcnow()})


async def run_reconciler(
    sessionmaker: async_sessionmaker[AsyncSession], settings: GatewaySettings, wakeup: asyncio.Event
) -> None:
    """Reconcile at start-up and every `reconcile_every_seconds`; the relay wakes for what it staged."""
    options = settings.gateway
    while True:
        try:
            async with sessionmaker() as session, session.begin():
                reemitted, retried = await reconcile(
                    session, timedelta(minutes=options.reemit_pending_minutes)
                )
        except Exception:  # the database is down: try again at the next round
            log.warning("gateway.reconcile.failed", exc_info=True)
        else:
            if reemitted or retried:
                log.info("gateway.reconcile.done reemitted=%d retried=%d", reemitted, retried)
                wakeup.set()
        await asyncio.sleep(options.reconcile_every_seconds)
