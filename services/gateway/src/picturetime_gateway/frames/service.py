"""Recording the aligner's verdicts in the catalog: idempotent, so a redelivered event changes nothing."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.bus import PermanentFailure
from picturetime_common.db.models import Frame, utcnow
from picturetime_common.enums import PhotoStatus
from picturetime_common.events import FrameAligned, FrameFailed
from picturetime_gateway.photos import service as photos

log = logging.getLogger(__name__)


async def record_aligned(session: AsyncSession, event: FrameAligned) -> None:
    photo_id = photos.parse_id(event.photo_id)
    photo = await photos.photo_by_id(session, photo_id) if photo_id else None
    if photo is None:
        raise PermanentFailure(f"frame for unknown photo {event.photo_id}")
    frame = await photos.frame_of_photo(session, photo.id)
    if frame is None:
        frame = Frame(photo_id=photo.id)
        session.add(frame)
    elif frame.sha256 == event.sha256 and frame.key == event.key:
        # Same pixels again (a redelivery, or a correction that changed nothing): keep the frame and its
        # mirror state, but the photo is aligned either way.
        photo.status, photo.failure_reason, photo.failure_detail = PhotoStatus.ALIGNED, None, None
        return
    frame.bucket, frame.key, frame.params_hash = event.bucket, event.key, event.params_hash
    frame.sha256, frame.size, frame.width, frame.height = event.sha256, event.size, event.width, event.height
    frame.matrix, frame.left_eye, frame.right_eye = event.matrix, list(event.left_eye), list(event.right_eye)
    frame.confidence, frame.quality = event.confidence, dict(event.quality)
    frame.aligned_at = utcnow()
    # New pixels must reach the home mirror again.
    frame.mirrored_at = None
    photo.status, photo.failure_reason, photo.failure_detail = PhotoStatus.ALIGNED, None, None
    log.info("gateway.frame.recorded photo=%s key=%s", event.photo_id, event.key)


async def record_failed(session: AsyncSession, event: FrameFailed) -> None:
    photo_id = photos.parse_id(event.photo_id)
    photo = await photos.photo_by_id(session, photo_id) if photo_id else None
    if photo is None:
        raise PermanentFailure(f"failure for unknown photo {event.photo_id}")
    if photo.status == PhotoStatus.ALIGNED:
        return  # a late failure never overrides a frame that exists
    photo.status, photo.failure_reason, photo.failure_detail = PhotoStatus.FAILED, event.reason, event.detail
    log.info("gateway.frame.failed photo=%s reason=%s", event.photo_id, event.reason)
