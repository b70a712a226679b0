"""Albums and tags: names, slugs, and putting photos in them (the uploads and Piwigo do)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album
from picturetime_common.enums import AlbumVisibility
from picturetime_gateway.albums import repository
from picturetime_gateway.albums.repository import (
    album_by_name,
    album_for_owner,
    album_names_of_photo,
    albums_of_owner,
    photos_in_album,
    tag_names_of_photo,
    tags_of_owner,
)

__all__ = [
    "add_to_album",
    "album_by_name",
    "album_for_owner",
    "album_names_of_photo",
    "albums_of_owner",
    "clean_tags",
    "create_album",
    "get_or_create_album",
    "photos_in_album",
    "set_albums",
    "set_tags",
    "slugify",
    "tag_names_of_photo",
    "tag_photo",
    "tags_of_owner",
]  # fmt: skip

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


async def create_album(
    session: AsyncSession, owner_id: int, name: str, visibility: AlbumVisibility, description: str = ""
) -> Album:
    """A new album of the owner's, with a slug of its own."""
    album = await _new_album(session, owner_id, name, visibility, description)
    await repository.add_album(session, album)
    return album


async def get_or_create_album(
    session: AsyncSession, owner_id: int, name: str, visibility: AlbumVisibility
) -> Album:
    """The owner's album of that name; created with `visibility` if there is none yet."""
    album = await album_by_name(session, owner_id, name)
    if album is not None:
        return album
    album = await _new_album(session, owner_id, name, visibility)
    if await repository.add_album(session, album, savepoint=True):
        return album
    # Two uploads naming the same new album raced to create it: the loser uses the winner's.
    winner = await album_by_name(session, owner_id, name)
    if winner is None:
        raise LookupError(f"album {name!r} neither created nor found")
    return winner


async def _new_album(
    session: AsyncSession, owner_id: int, name: str, visibility: AlbumVisibility, description: str = ""
) -> Album:
    base = slugify(name)
    slug, n = base, 1
    while await repository.slug_in_use(session, owner_id, slug):
        n += 1
        slug = f"{base}-{n}"
    return Album(owner_id=owner_id, name=name, slug=slug, visibility=visibility, description=description)


async def add_to_album(session: AsyncSession, album: Album, photo_id: uuid.UUID) -> None:
    """Put a photo in an album; the album's first photo becomes its cover."""
    if await repository.link_photo(session, album.id, photo_id) and album.cover_photo_id is None:
        album.cover_photo_id = photo_id


async def tag_photo(session: AsyncSession, photo_id: uuid.UUID, names: Sequence[str]) -> None:
    for name in names:
        tag = await repository.tag_named(session, name, create=True)
        if tag is None:
            raise LookupError(f"tag {name!r} neither created nor found")
        await repository.link_tag(session, photo_id, tag.id)


async def set_albums(
    session: AsyncSession, owner_id: int, photo_id: uuid.UUID, album_ids: Sequence[int]
) -> None:
    """Put a photo in exactly these albums of the owner's (checked to be the owner's)."""
    await repository.unlink_albums(session, owner_id, photo_id, keep=set(album_ids))
    for album_id in dict.fromkeys(album_ids):
        album = await album_for_owner(session, owner_id, album_id)
        if album is None:
            raise LookupError(f"album {album_id} is not the owner's")
        await add_to_album(session, album, photo_id)


async def set_tags(session: AsyncSession, photo_id: uuid.UUID, names: Sequence[str]) -> None:
    """Replace a photo's tags."""
    await repository.unlink_tags(session, photo_id)
    await tag_photo(session, photo_id, names)
