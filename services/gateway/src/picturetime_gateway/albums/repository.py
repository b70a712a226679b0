"""SQL for albums, tags and their photos."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, delete, func, insert, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album, Photo, Tag, album_photos, photo_tags
from picturetime_gateway.scoping import album_owned_by, photo_owned_by


async def albums_of_owner(session: AsyncSession, owner_id: int) -> Sequence[tuple[Album, int]]:
    """The owner's albums with their photo counts, by name."""
    query = (
        select(Album, func.count(Photo.id))
        .outerjoin(album_photos, album_photos.c.album_id == Album.id)
        .outerjoin(Photo, and_(Photo.id == album_photos.c.photo_id, Photo.deleted_at.is_(None)))
        .where(album_owned_by(owner_id))
        .group_by(Album.id)
        .order_by(Album.name, Album.id)
    )
    return [(album, count) for album, count in (await session.execute(query)).all()]


async def album_for_owner(session: AsyncSession, owner_id: int, album_id: int) -> Album | None:
    return await session.scalar(select(Album).where(Album.id == album_id, album_owned_by(owner_id)))


async def album_by_name(session: AsyncSession, owner_id: int, name: str) -> Album | None:
    return await session.scalar(select(Album).where(album_owned_by(owner_id), Album.name == name))


async def slug_in_use(session: AsyncSession, owner_id: int, slug: str) -> bool:
    return (
        await session.scalar(select(Album.id).where(album_owned_by(owner_id), Album.slug == slug)) is not None
    )


async def add_album(session: AsyncSession, album: Album, *, savepoint: bool = False) -> bool:
    """Insert an album; with `savepoint`, False (and nothing changed) when another request inserted
    one of the same name first."""
    if not savepoint:
        session.add(album)
        await session.flush()
        return True
    try:
        async with session.begin_nested():
            session.add(album)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def link_photo(session: AsyncSession, album_id: int, photo_id: uuid.UUID) -> bool:
    """Put a photo in an album; False when it was there already."""
    exists = await session.scalar(
        select(album_photos.c.photo_id).where(
            album_photos.c.album_id == album_id, album_photos.c.photo_id == photo_id
        )
    )
    if exists is not None:
        return False
    await session.execute(insert(album_photos).values(album_id=album_id, photo_id=photo_id))
    return True


async def unlink_albums(session: AsyncSession, owner_id: int, photo_id: uuid.UUID, keep: set[int]) -> None:
    """Take a photo out of the owner's albums, except those in `keep`."""
    owned = select(Album.id).where(album_owned_by(owner_id))
    leaving = album_photos.c.album_id.not_in(keep) if keep else true()
    await session.execute(
        delete(album_photos).where(
            album_photos.c.photo_id == photo_id, album_photos.c.album_id.in_(owned), leaving
        )
    )
    # A photo taken out of an album is no longer its cover.
    await session.execute(
        update(Album)
        .where(
            album_owned_by(owner_id),
            Album.cover_photo_id == photo_id,
            Album.id.not_in(keep) if keep else true(),
        )
        .values(cover_photo_id=None),
        execution_options={"synchronize_session": "fetch"},
    )


async def tag_named(session: AsyncSession, name: str, *, create: bool) -> Tag | None:
    """The tag of that name; with `create`, made if missing (a concurrent request may make it first)."""
    tag = await session.scalar(select(Tag).where(Tag.name == name))
    if tag is not None or not create:
        return tag
    try:
        async with session.begin_nested():
            tag = Tag(name=name)
            session.add(tag)
            await session.flush()
            return tag
    except IntegrityError:
        return await session.scalar(select(Tag).where(Tag.name == name))


async def link_tag(session: AsyncSession, photo_id: uuid.UUID, tag_id: int) -> None:
    linked = await session.scalar(
        select(photo_tags.c.tag_id).where(photo_tags.c.photo_id == photo_id, photo_tags.c.tag_id == tag_id)
    )
    if linked is None:
        await session.execute(insert(photo_tags).values(photo_id=photo_id, tag_id=tag_id))


async def unlink_tags(session: AsyncSession, photo_id: uuid.UUID) -> None:
    await session.execute(delete(photo_tags).where(photo_tags.c.photo_id == photo_id))


async def album_names_of_photo(session: AsyncSession, photo_id: uuid.UUID) -> list[str]:
    query = (
        select(Album.name)
        .join(album_photos, album_photos.c.album_id == Album.id)
        .where(album_photos.c.photo_id == photo_id)
        .order_by(Album.name)
    )
    return list((await session.scalars(query)).all())


async def tag_names_of_photo(session: AsyncSession, photo_id: uuid.UUID) -> list[str]:
    query = (
        select(Tag.name)
        .join(photo_tags, photo_tags.c.tag_id == Tag.id)
        .where(photo_tags.c.photo_id == photo_id)
    )
    return sorted((await session.scalars(query)).all())


async def photos_in_album(session: AsyncSession, album_id: int) -> Sequence[Photo]:
    query = (
        select(Photo)
        .join(album_photos, album_photos.c.photo_id == Photo.id)
        .where(album_photos.c.album_id == album_id, Photo.deleted_at.is_(None))
        .order_by(album_photos.c.added_at, Photo.id)
    )
    return (await session.scalars(query)).all()


async def tags_of_owner(session: AsyncSession, owner_id: int) -> Sequence[tuple[Tag, int]]:
    """The tags on the owner's photos, each with how many of them carry it, by name."""
    count = func.count(photo_tags.c.photo_id)
    query = (
        select(Tag, count)
        .join(photo_tags, photo_tags.c.tag_id == Tag.id)
        .join(Photo, Photo.id == photo_tags.c.photo_id)
        .where(photo_owned_by(owner_id), Photo.deleted_at.is_(None))
        .group_by(Tag.id)
        .order_by(Tag.name)
    )
    return [(tag, n) for tag, n in (await session.execute(query)).all()]


async def album_count(session: AsyncSession, album_id: int) -> int:
    """The album's photos outside the trash."""
    query = (
        select(func.count())
        .select_from(album_photos)
        .join(Photo, Photo.id == album_photos.c.photo_id)
        .where(album_photos.c.album_id == album_id, Photo.deleted_at.is_(None))
    )
    return int(await session.scalar(query) or 0)


async def owned_photo_ids(session: AsyncSession, owner_id: int, photo_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these photos are the owner's."""
    query = select(Photo.id).where(photo_owned_by(owner_id), Photo.id.in_(photo_ids))
    return set((await session.scalars(query)).all())


async def in_album(session: AsyncSession, album_id: int, photo_id: uuid.UUID) -> bool:
    query = select(album_photos.c.photo_id).where(
        album_photos.c.album_id == album_id, album_photos.c.photo_id == photo_id
    )
    return await session.scalar(query) is not None


async def unlink_photos(session: AsyncSession, album_id: int, photo_ids: set[uuid.UUID]) -> int:
    result = await session.execute(
        delete(album_photos).where(
            album_photos.c.album_id == album_id, album_photos.c.photo_id.in_(photo_ids)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_album(session: AsyncSession, album: Album) -> None:
    """Delete an album (its photo links go with it; the photos stay)."""
    await session.execute(delete(album_photos).where(album_photos.c.album_id == album.id))
    await session.delete(album)


async def owner_photo_ids_tagged(session: AsyncSession, owner_id: int, tag_id: int) -> list[uuid.UUID]:
    query = (
        select(photo_tags.c.photo_id)
        .join(Photo, Photo.id == photo_tags.c.photo_id)
        .where(photo_tags.c.tag_id == tag_id, photo_owned_by(owner_id))
    )
    return list((await session.scalars(query)).all())


async def unlink_tag(session: AsyncSession, photo_ids: list[uuid.UUID], tag_id: int) -> None:
    await session.execute(
        delete(photo_tags).where(photo_tags.c.tag_id == tag_id, photo_tags.c.photo_id.in_(photo_ids))
    )
