"""SQL for albums, tags and their photos."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album, Photo, Tag, album_photos, photo_tags

VISIBILITIES = ("public", "private")
MAX_TAGS = 50


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:180] or "album"


def clean_tags(values: Sequence[str], *, slug: bool = False) -> list[str]:
    """Tags from comma-separated fields: trimmed, lower case, unique, in order."""
    found: list[str] = []
    for value in values:
        for part in value.split(","):
            name = " ".join(part.split()).lower()[:100]
            if slug:
                name = slugify(name) if name else ""
            if name and name not in found:
                found.append(name)
    return found[:MAX_TAGS]


async def albums_of_owner(session: AsyncSession, owner_id: int) -> Sequence[tuple[Album, int]]:
    """The owner's albums with their photo counts, by name."""
    query = (
        select(Album, func.count(album_photos.c.photo_id))
        .outerjoin(album_photos, album_photos.c.album_id == Album.id)
        .where(Album.owner_id == owner_id)
        .group_by(Album.id)
        .order_by(Album.name, Album.id)
    )
    return [(album, count) for album, count in (await session.execute(query)).all()]


async def album_for_owner(session: AsyncSession, owner_id: int, album_id: int) -> Album | None:
    return await session.scalar(select(Album).where(Album.id == album_id, Album.owner_id == owner_id))


async def album_by_name(session: AsyncSession, owner_id: int, name: str) -> Album | None:
    return await session.scalar(select(Album).where(Album.owner_id == owner_id, Album.name == name))


async def create_album(
    session: AsyncSession, owner_id: int, name: str, visibility: str, description: str = ""
) -> Album:
    base = slugify(name)
    slug, n = base, 1
    while await session.scalar(select(Album.id).where(Album.owner_id == owner_id, Album.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    album = Album(owner_id=owner_id, name=name, slug=slug, visibility=visibility, description=description)
    session.add(album)
    await session.flush()
    return album


async def get_or_create_album(session: AsyncSession, owner_id: int, name: str, visibility: str) -> Album:
    """The owner's album of that name; created with `visibility` if there is none yet."""
    album = await album_by_name(session, owner_id, name)
    if album is not None:
        return album
    # Savepoint: two uploads naming the same new album may race to create it; the loser uses the winner's.
    try:
        async with session.begin_nested():
            return await create_album(session, owner_id, name, visibility)
    except IntegrityError:
        album = await album_by_name(session, owner_id, name)
        if album is None:
            raise
        return album


async def add_to_album(session: AsyncSession, album: Album, photo_id: uuid.UUID) -> None:
    exists = await session.scalar(
        select(album_photos.c.photo_id).where(
            album_photos.c.album_id == album.id, album_photos.c.photo_id == photo_id
        )
    )
    if exists is None:
        await session.execute(insert(album_photos).values(album_id=album.id, photo_id=photo_id))
        if album.cover_photo_id is None:
            album.cover_photo_id = photo_id


async def tag_photo(session: AsyncSession, photo_id: uuid.UUID, names: Sequence[str]) -> None:
    for name in names:
        tag = await session.scalar(select(Tag).where(Tag.name == name))
        if tag is None:
            # Savepoint: a concurrent request may create the same tag name first.
            try:
                async with session.begin_nested():
                    tag = Tag(name=name)
                    session.add(tag)
                    await session.flush()
            except IntegrityError:
                tag = await session.scalar(select(Tag).where(Tag.name == name))
                if tag is None:
                    raise
        linked = await session.scalar(
            select(photo_tags.c.tag_id).where(
                photo_tags.c.photo_id == photo_id, photo_tags.c.tag_id == tag.id
            )
        )
        if linked is None:
            await session.execute(insert(photo_tags).values(photo_id=photo_id, tag_id=tag.id))


async def set_tags(session: AsyncSession, photo_id: uuid.UUID, names: Sequence[str]) -> None:
    """Replace a photo's tags."""
    from sqlalchemy import delete

    await session.execute(delete(photo_tags).where(photo_tags.c.photo_id == photo_id))
    await tag_photo(session, photo_id, names)


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
        .where(album_photos.c.album_id == album_id)
        .order_by(album_photos.c.added_at, Photo.id)
    )
    return (await session.scalars(query)).all()
