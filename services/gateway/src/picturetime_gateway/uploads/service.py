"""Accepting a photo: validate, deduplicate, store the original, record it with its event."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from zoneinfo import ZoneInfo

from minio import Minio
from minio.commonconfig import Tags
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from picturetime_common.db.models import Photo, User, utcnow
from picturetime_common.events import PhotoUploaded
from picturetime_common.s3 import EPHEMERAL
from picturetime_gateway.outbox.repository import add_event
from picturetime_gateway.photos import repository
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.uploads.metadata import (
    RejectedUpload,
    inspect_image,
    original_key,
    safe_name,
    sha256_of,
)

log = logging.getLogger(__name__)
KINDS = ("daily", "portfolio")


@dataclass(frozen=True)
class StoredPhoto:
    photo: Photo
    created: bool


async def store_photo(
    session: AsyncSession,
    s3: Minio,
    settings: GatewaySettings,
    owner: User,
    stream: BinaryIO,
    *,
    filename: str | None,
    kind: str = "daily",
    declared_sha256: str | None = None,
    taken_at: datetime | None = None,
) -> StoredPhoto:
    """Store one upload; nothing is written unless every check passes."""
    if kind not in KINDS:
        raise RejectedUpload("invalid_kind", f"kind must be one of {', '.join(KINDS)}", 422)
    if taken_at is not None and taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=ZoneInfo(settings.gateway.timezone))
    sha256, size = await run_in_threadpool(sha256_of, stream)
    if size == 0:
        raise RejectedUpload("empty_file", "the file is empty", 422)
    if declared_sha256 is not None and declared_sha256.strip().lower() != sha256:
        raise RejectedUpload("sha256_mismatch", "X-Content-SHA256 does not match the received bytes", 400)
    existing = await repository.photo_by_sha256(session, owner.id, sha256)
    if existing is not None:
        return StoredPhoto(existing, created=False)
    info = await run_in_threadpool(
        inspect_image, stream, max_pixels=settings.gateway.max_pixels, tz=ZoneInfo(settings.gateway.timezone)
    )
    moment = taken_at or info.taken_at or utcnow()
    bucket = settings.buckets.originals
    key = original_key(moment, sha256, info.ext)
    tags = Tags.new_object_tags()
    if kind == "daily":
        # Daily originals are ephemeral: once mirrored home, lifecycle expiry may take them.
        tags[EPHEMERAL] = "true"
    await run_in_threadpool(
        s3.put_object, bucket, key, stream, size, content_type=info.content_type, tags=tags or None
    )
    photo = Photo(
        owner_id=owner.id, sha256=sha256, bucket=bucket, key=key, content_type=info.content_type, size=size,
        original_name=safe_name(filename), kind=kind, width=info.width, height=info.height, taken_at=moment,
        exif=info.exif, status="pending" if kind == "daily" else "stored",
        utc_offset_minutes=_offset_minutes(moment),
    )  # fmt: skip
    session.add(photo)
    try:
        await session.flush()
    except IntegrityError:
        # The same bytes raced in from another request: answer with the winner.
        await session.rollback()
        winner = await repository.photo_by_sha256(session, owner.id, sha256)
        if winner is None:
            raise
        return StoredPhoto(winner, created=False)
    if kind == "daily":
        add_event(
            session,
            PhotoUploaded(
                photo_id=photo.id.hex, bucket=bucket, key=key, sha256=sha256, taken_at=moment,
                content_type=info.content_type,
            ),
        )  # fmt: skip
    log.info("gateway.photo.stored photo=%s sha256=%s kind=%s", photo.id.hex, sha256, kind)
    return StoredPhoto(photo, created=True)


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0
