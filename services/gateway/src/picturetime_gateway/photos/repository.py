"""SQL for photos and frames."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, Photo, utcnow
from picturetime_common.enums import PhotoKind, PhotoStatus
from picturetime_gateway.scoping import frame_owned_by, photo_owned_by


async def photo_for_owner(session: AsyncSession, owner_id: int, photo_id: uuid.UUID) -> Photo | None:
    return await session.scalar(select(Photo).where(Photo.id == photo_id, photo_owned_by(owner_id)))


async def photo_by_id(session: AsyncSession, photo_id: uuid.UUID) -> Photo | None:
    return await session.get(Photo, photo_id)


async def photo_by_sha256(session: AsyncSession, owner_id: int, sha256: str) -> Photo | None:
    return await session.scalar(select(Photo).where(photo_owned_by(owner_id), Photo.sha256 == sha256))


async def photo_by_piwigo_id(session: AsyncSession, owner_id: int, piwigo_id: int) -> Photo | None:
    return await session.scalar(select(Photo).where(photo_owned_by(owner_id), Photo.piwigo_id == piwigo_id))


async def photos_by_piwigo_ids(session: AsyncSession, owner_id: int, values: set[int]) -> Sequence[Photo]:
    query = select(Photo).where(photo_owned_by(owner_id), Photo.piwigo_id.in_(values))
    return (await session.scalars(query)).all()


async def delete_photo_rows(session: AsyncSession, owner_id: int, photo_ids: list[uuid.UUID]) -> None:
    """Delete the owner's photos (their frames, album and tag links go with them)."""
    await session.execute(
        delete(Photo).where(photo_owned_by(owner_id), Photo.id.in_(photo_ids)),
        execution_options={"synchronize_session": False},
    )


async def piwigo_ids_by_md5(session: AsyncSession, owner_id: int, md5s: set[str]) -> dict[str, int]:
    """The Piwigo image ids of the owner's photos with these MD5s, by MD5."""
    query = select(Photo.md5, Photo.piwigo_id).where(photo_owned_by(owner_id), Photo.md5.in_(md5s))
    return {md5: value for md5, value in await session.execute(query) if md5 is not None}


async def piwigo_ids_by_name(session: AsyncSession, owner_id: int, names: set[str]) -> dict[str, int]:
    """The Piwigo image ids of the owner's photos with these file names, by name (the latest upload)."""
    query = (
        select(Photo.original_name, Photo.piwigo_id)
        .where(photo_owned_by(owner_id), Photo.original_name.in_(names))
        .order_by(Photo.uploaded_at)
    )
    return {name: value for name, value in await session.execute(query)}


async def photos_of_owner(session: AsyncSession, owner_id: int) -> Sequence[Photo]:
    """The owner's photos, oldest upload first."""
    return (
        await session.scalars(select(Photo).where(photo_owned_by(owner_id)).order_by(Photo.uploaded_at))
    ).all()


async def piwigo_ids(session: AsyncSession, photo_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The Piwigo image ids of these photos, by photo id."""
    if not photo_ids:
        return {}
    query = select(Photo.id, Photo.piwigo_id).where(Photo.id.in_(photo_ids))
    return {photo_id: value for photo_id, value in await session.execute(query)}


async def frame_of_photo(session: AsyncSession, photo_id: uuid.UUID) -> Frame | None:
    return await session.scalar(select(Frame).where(Frame.photo_id == photo_id))


async def frame_for_owner(session: AsyncSession, owner_id: int, frame_id: uuid.UUID) -> Frame | None:
    return await session.scalar(select(Frame).where(Frame.id == frame_id, frame_owned_by(owner_id)))


async def unmirrored_frames(session: AsyncSession, owner_id: int, limit: int) -> Sequence[Frame]:
    query = (
        select(Frame)
        .join(Photo)
        .where(photo_owned_by(owner_id), Frame.mirrored_at.is_(None))
        .order_by(Photo.taken_at, Photo.id)
        .limit(limit)
    )
    return (await session.scalars(query)).unique().all()


async def frames_for_owner(
    session: AsyncSession, owner_id: int, frame_ids: list[uuid.UUID]
) -> Sequence[Frame]:
    query = select(Frame).where(frame_owned_by(owner_id), Frame.id.in_(frame_ids))
    return (await session.scalars(query)).unique().all()


async def mark_mirrored(session: AsyncSession, frames: list[tuple[uuid.UUID, str]]) -> None:
    """Stamp frames mirrored, only while they still hold the bytes the agent confirmed."""
    if not frames:
        return
    still_same = or_(*(and_(Frame.id == frame_id, Frame.sha256 == sha256) for frame_id, sha256 in frames))
    await session.execute(
        update(Frame).where(still_same, Frame.mirrored_at.is_(None)).values(mirrored_at=utcnow())
    )


async def waiting_counts(session: AsyncSession, owner_id: int) -> dict[str, int]:
    """Counts of what waits: photos still to align, failed ones, aligned frames not yet mirrored home."""
    aligning = await session.scalar(
        select(func.count())
        .select_from(Photo)
        .where(photo_owned_by(owner_id), Photo.kind == PhotoKind.DAILY, Photo.status == PhotoStatus.PENDING)
    )
    failed = await session.scalar(
        select(func.count())
        .select_from(Photo)
        .where(photo_owned_by(owner_id), Photo.status == PhotoStatus.FAILED)
    )
    unmirrored = await session.scalar(
        select(func.count())
        .select_from(Frame)
        .join(Photo)
        .where(photo_owned_by(owner_id), Frame.mirrored_at.is_(None))
    )
    return {"aligning": aligning or 0, "failed": failed or 0, "frames_waiting": unmirrored or 0}
