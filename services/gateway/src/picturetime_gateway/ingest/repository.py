"""SQL the upload path needs beyond the photos' own: matching a RAW file to its photo, and finding
the photos whose alignment must be asked for again."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Photo
from picturetime_common.enums import FailureReason, PhotoKind, PhotoStatus
from picturetime_gateway.scoping import photo_owned_by


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def photo_by_stem(session: AsyncSession, owner_id: int, stem: str) -> Photo | None:
    """The owner's newest photo whose file name is `stem` plus an extension (case-insensitive)."""
    query = (
        select(Photo)
        .where(
            photo_owned_by(owner_id),
            func.lower(Photo.original_name).like(f"{_like_escape(stem.lower())}.%", escape="\\"),
        )
        .order_by(Photo.uploaded_at.desc())
    )
    for photo in (await session.scalars(query)).all():
        base, _, _ = photo.original_name.rpartition(".")
        if base.lower() == stem.lower():
            return photo
    return None


async def photos_with_key(session: AsyncSession, bucket: str, key: str) -> int:
    """How many photos name this object as their original."""
    query = select(func.count()).select_from(Photo).where(Photo.bucket == bucket, Photo.key == key)
    return await session.scalar(query) or 0


# Before the aligner waited out outages of S3 and NATS, it failed a photo after a few attempts
# with the reason `error` and this detail: the photo was never at fault.
OUTAGE_FAILURE_DETAIL = "gave up after repeated failures"


async def pending_daily_photos(session: AsyncSession, limit: int) -> Sequence[Photo]:
    """Daily photos waiting for the aligner, longest waiting first."""
    query = (
        select(Photo)
        .where(Photo.kind == PhotoKind.DAILY, Photo.status == PhotoStatus.PENDING, Photo.deleted_at.is_(None))
        .order_by(Photo.uploaded_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()


async def photos_failed_by_an_outage(session: AsyncSession, limit: int) -> Sequence[Photo]:
    """Daily photos the aligner failed because our own infrastructure was down, not for a fault
    of the photo."""
    query = (
        select(Photo)
        .where(
            Photo.kind == PhotoKind.DAILY,
            Photo.deleted_at.is_(None),
            Photo.status == PhotoStatus.FAILED,
            Photo.failure_reason == FailureReason.ERROR,
            Photo.failure_detail.like(f"{OUTAGE_FAILURE_DETAIL}%"),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()
