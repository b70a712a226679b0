"""SQL for photos and frames."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album, Frame, Photo, Tag, album_photos, photo_tags, utcnow
from picturetime_common.enums import PhotoKind, PhotoStatus
from picturetime_gateway.scoping import album_owned_by, frame_owned_by, photo_owned_by


def not_trashed() -> ColumnElement[bool]:
    """A photo outside the trash: the only kind anything but the trash itself shows or works on."""
    return Photo.deleted_at.is_(None)


@dataclass
class PhotoFilter:
    """What `GET /api/v1/photos` narrows the owner's photos to."""

    taken_from: datetime | None = None
    taken_to: datetime | None = None
    kind: PhotoKind | None = None
    status: PhotoStatus | None = None
    album_id: int | None = None
    tag: str | None = None
    has_raw: bool | None = None
    text: str | None = None
    trashed: bool = False


ORDERS = {
    "uploaded": (Photo.uploaded_at, True),
    "taken": (Photo.taken_at, True),
    "taken_asc": (Photo.taken_at, False),
}


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_photos(
    session: AsyncSession,
    owner_id: int,
    found: PhotoFilter,
    order: str,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[tuple[Photo, Frame | None]]:
    """A page of the owner's photos (and their frames) matching `found`, after the cursor's row."""
    column, descending = ORDERS[order]
    query = (
        select(Photo, Frame)
        .outerjoin(Frame, Frame.photo_id == Photo.id)
        .where(photo_owned_by(owner_id))
        .where(Photo.deleted_at.is_not(None) if found.trashed else not_trashed())
    )
    if found.taken_from is not None:
        query = query.where(Photo.taken_at >= found.taken_from)
    if found.taken_to is not None:
        query = query.where(Photo.taken_at <= found.taken_to)
    if found.kind is not None:
        query = query.where(Photo.kind == found.kind)
    if found.status is not None:
        query = query.where(Photo.status == found.status)
    if found.has_raw is not None:
        query = query.where(Photo.raw_key.is_not(None) if found.has_raw else Photo.raw_key.is_(None))
    if found.album_id is not None:
        in_album = select(album_photos.c.photo_id).join(Album, Album.id == album_photos.c.album_id)
        query = query.where(
            Photo.id.in_(in_album.where(Album.id == found.album_id, album_owned_by(owner_id)))
        )
    if found.tag is not None:
        tagged = (
            select(photo_tags.c.photo_id)
            .join(Tag, Tag.id == photo_tags.c.tag_id)
            .where(Tag.name == found.tag)
        )
        query = query.where(Photo.id.in_(tagged))
    if found.text:
        pattern = _like(found.text)
        query = query.where(
            or_(
                func.lower(Photo.title).like(pattern, escape="\\"),
                func.lower(Photo.description).like(pattern, escape="\\"),
            )
        )
    if after is not None:
        value, last_id = after
        if descending:
            query = query.where(or_(column < value, and_(column == value, Photo.id < last_id)))
        else:
            query = query.where(or_(column > value, and_(column == value, Photo.id > last_id)))
    ordering = (column.desc(), Photo.id.desc()) if descending else (column.asc(), Photo.id.asc())
    rows = await session.execute(query.order_by(*ordering).limit(limit))
    return [(photo, frame) for photo, frame in rows.all()]


async def tags_by_photo(session: AsyncSession, photo_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    query = (
        select(photo_tags.c.photo_id, Tag.name)
        .join(Tag, Tag.id == photo_tags.c.tag_id)
        .where(photo_tags.c.photo_id.in_(photo_ids))
        .order_by(Tag.name)
    )
    found: dict[uuid.UUID, list[str]] = {}
    for photo_id, name in await session.execute(query):
        found.setdefault(photo_id, []).append(name)
    return found


async def albums_by_photo(
    session: AsyncSession, photo_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[int, str]]]:
    query = (
        select(album_photos.c.photo_id, Album.id, Album.name)
        .join(Album, Album.id == album_photos.c.album_id)
        .where(album_photos.c.photo_id.in_(photo_ids))
        .order_by(Album.name)
    )
    found: dict[uuid.UUID, list[tuple[int, str]]] = {}
    for photo_id, album_id, name in await session.execute(query):
        found.setdefault(photo_id, []).append((album_id, name))
    return found


async def photos_for_owner(
    session: AsyncSession, owner_id: int, photo_ids: list[uuid.UUID]
) -> Sequence[Photo]:
    query = select(Photo).where(photo_owned_by(owner_id), Photo.id.in_(photo_ids))
    return (await session.scalars(query)).all()


async def trashed_photos(
    session: AsyncSession, owner_id: int | None, before: datetime | None, limit: int
) -> Sequence[Photo]:
    """Photos in the trash: one owner's (or everyone's, for expiry), put there before `before`."""
    query = select(Photo).where(Photo.deleted_at.is_not(None))
    if owner_id is not None:
        query = query.where(photo_owned_by(owner_id))
    if before is not None:
        query = query.where(Photo.deleted_at < before)
    return (await session.scalars(query.order_by(Photo.deleted_at, Photo.id).limit(limit))).all()


async def photo_for_owner(session: AsyncSession, owner_id: int, photo_id: uuid.UUID) -> Photo | None:
    return await session.scalar(select(Photo).where(Photo.id == photo_id, photo_owned_by(owner_id)))


async def photo_by_id(session: AsyncSession, photo_id: uuid.UUID) -> Photo | None:
    return await session.get(Photo, photo_id)


async def photo_by_sha256(session: AsyncSession, owner_id: int, sha256: str) -> Photo | None:
    return await session.scalar(select(Photo).where(photo_owned_by(owner_id), Photo.sha256 == sha256))


async def photo_by_piwigo_id(session: AsyncSession, owner_id: int, piwigo_id: int) -> Photo | None:
    return await session.scalar(select(Photo).where(photo_owned_by(owner_id), Photo.piwigo_id == piwigo_id))


async def photos_by_piwigo_ids(session: AsyncSession, owner_id: int, values: set[int]) -> Sequence[Photo]:
    query = select(Photo).where(photo_owned_by(owner_id), not_trashed(), Photo.piwigo_id.in_(values))
    return (await session.scalars(query)).all()


async def delete_photo_rows(session: AsyncSession, owner_id: int, photo_ids: list[uuid.UUID]) -> None:
    """Delete the owner's photos (their frames, album and tag links go with them)."""
    await session.execute(
        delete(Photo).where(photo_owned_by(owner_id), Photo.id.in_(photo_ids)),
        execution_options={"synchronize_session": False},
    )


async def piwigo_ids_by_md5(session: AsyncSession, owner_id: int, md5s: set[str]) -> dict[str, int]:
    """The Piwigo image ids of the owner's photos with these MD5s, by MD5."""
    query = select(Photo.md5, Photo.piwigo_id).where(
        photo_owned_by(owner_id), not_trashed(), Photo.md5.in_(md5s)
    )
    return {md5: value for md5, value in await session.execute(query) if md5 is not None}


async def piwigo_ids_by_name(session: AsyncSession, owner_id: int, names: set[str]) -> dict[str, int]:
    """The Piwigo image ids of the owner's photos with these file names, by name (the latest upload)."""
    query = (
        select(Photo.original_name, Photo.piwigo_id)
        .where(photo_owned_by(owner_id), not_trashed(), Photo.original_name.in_(names))
        .order_by(Photo.uploaded_at)
    )
    return {name: value for name, value in await session.execute(query)}


async def photos_of_owner(session: AsyncSession, owner_id: int) -> Sequence[Photo]:
    """The owner's photos, oldest upload first."""
    return (
        await session.scalars(
            select(Photo).where(photo_owned_by(owner_id), not_trashed()).order_by(Photo.uploaded_at)
        )
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
        .where(photo_owned_by(owner_id), not_trashed(), Frame.mirrored_at.is_(None))
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
        .where(
            photo_owned_by(owner_id),
            not_trashed(),
            Photo.kind == PhotoKind.DAILY,
            Photo.status == PhotoStatus.PENDING,
        )
    )
    failed = await session.scalar(
        select(func.count())
        .select_from(Photo)
        .where(photo_owned_by(owner_id), not_trashed(), Photo.status == PhotoStatus.FAILED)
    )
    unmirrored = await session.scalar(
        select(func.count())
        .select_from(Frame)
        .join(Photo)
        .where(photo_owned_by(owner_id), not_trashed(), Frame.mirrored_at.is_(None))
    )
    return {"aligning": aligning or 0, "failed": failed or 0, "frames_waiting": unmirrored or 0}
