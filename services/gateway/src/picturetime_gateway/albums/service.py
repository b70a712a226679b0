"""Albums and tags: names, slugs, and putting photos in them (the uploads and Piwigo do)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album
from picturetime_common.enums import AlbumVisibility
from picturetime_common.events import LibraryChanged
from picturetime_common.ids import parse_id
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
from picturetime_gateway.albums.schemas import AlbumCreate, AlbumOut, AlbumPatch, AlbumPhotosChanged, TagOut
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.outbox.service import add_event

__all__ = [
    "add_photos",
    "add_to_album",
    "album_by_name",
    "album_for_owner",
    "album_names_of_photo",
    "albums_of_owner",
    "api_album",
    "api_albums",
    "api_create_album",
    "api_delete_album",
    "api_patch_album",
    "api_tags",
    "clean_tags",
    "create_album",
    "get_or_create_album",
    "owned_album",
    "photos_in_album",
    "remove_photos",
    "rename_tag",
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


# ---- the library API ----------------------------------------------------------------------------


def _changed(session: AsyncSession, owner_id: int) -> None:
    """Pages that show the owner's albums are stale (the archive clears its cache)."""
    add_event(session, LibraryChanged(owner=owner_id, photo_ids=[]))


async def owned_album(session: AsyncSession, owner_id: int, album_id: int) -> Album:
    album = await album_for_owner(session, owner_id, album_id)
    if album is None:
        raise GatewayError(404, "not_found", "no such album")
    return album


async def _out(session: AsyncSession, album: Album) -> AlbumOut:
    return AlbumOut.of(album, await repository.album_count(session, album.id))


async def api_album(session: AsyncSession, owner_id: int, album_id: int) -> AlbumOut:
    return await _out(session, await owned_album(session, owner_id, album_id))


async def api_albums(session: AsyncSession, owner_id: int) -> list[AlbumOut]:
    """The owner's albums, by name, with their photo counts (the trash left out)."""
    return [AlbumOut.of(album, count) for album, count in await albums_of_owner(session, owner_id)]


async def _name_free(session: AsyncSession, owner_id: int, name: str, album: Album | None = None) -> None:
    other = await album_by_name(session, owner_id, name)
    if other is not None and other is not album:
        raise GatewayError(409, "album_exists", f"you already have an album named {name!r}")


async def api_create_album(session: AsyncSession, owner_id: int, form: AlbumCreate) -> AlbumOut:
    name = form.name.strip()
    await _name_free(session, owner_id, name)
    album = await _new_album(session, owner_id, name, form.visibility, form.description)
    if not await repository.add_album(session, album, savepoint=True):
        raise GatewayError(409, "album_exists", f"you already have an album named {name!r}")
    _changed(session, owner_id)
    return await _out(session, album)


async def api_patch_album(session: AsyncSession, owner_id: int, album_id: int, patch: AlbumPatch) -> AlbumOut:
    """Rename (a new slug too), change visibility, description or cover; refused whole, or done whole."""
    album = await owned_album(session, owner_id, album_id)
    cover: uuid.UUID | None = album.cover_photo_id
    if patch.cover_photo_id is not None:
        cover = parse_id(patch.cover_photo_id) if patch.cover_photo_id else None
        if patch.cover_photo_id and (
            cover is None or not await repository.in_album(session, album.id, cover)
        ):
            raise GatewayError(422, "cover_not_in_album", "the cover must be one of the album's photos")
    if patch.name is not None and patch.name.strip() != album.name:
        name = patch.name.strip()
        await _name_free(session, owner_id, name, album)
        base, slug, n = slugify(name), slugify(name), 1
        while slug != album.slug and await repository.slug_in_use(session, owner_id, slug):
            n += 1
            slug = f"{base}-{n}"
        album.name, album.slug = name, slug
    if patch.visibility is not None:
        album.visibility = patch.visibility
    if patch.description is not None:
        album.description = patch.description
    album.cover_photo_id = cover
    await session.flush()
    _changed(session, owner_id)
    return await _out(session, album)


async def api_delete_album(session: AsyncSession, owner_id: int, album_id: int) -> int:
    """Delete an album; its photos stay in the library."""
    album = await owned_album(session, owner_id, album_id)
    await repository.delete_album(session, album)
    _changed(session, owner_id)
    return 1


async def _owned_photos(session: AsyncSession, owner_id: int, photo_ids: Sequence[str]) -> list[uuid.UUID]:
    parsed = [parse_id(value) for value in photo_ids]
    wanted = list(dict.fromkeys(p for p in parsed if p is not None))
    owned = await repository.owned_photo_ids(session, owner_id, set(wanted)) if wanted else set()
    if None in parsed or len(owned) != len(wanted):
        raise GatewayError(404, "not_found", "no such photo (one of the ids is not one of your photos)")
    return wanted


async def add_photos(
    session: AsyncSession, owner_id: int, album_id: int, photo_ids: Sequence[str]
) -> AlbumPhotosChanged:
    album = await owned_album(session, owner_id, album_id)
    changed = 0
    for photo_id in await _owned_photos(session, owner_id, photo_ids):
        if await repository.link_photo(session, album.id, photo_id):
            changed += 1
            album.cover_photo_id = album.cover_photo_id or photo_id
    _changed(session, owner_id)
    return AlbumPhotosChanged(changed=changed, album=await _out(session, album))


async def remove_photos(
    session: AsyncSession, owner_id: int, album_id: int, photo_ids: Sequence[str]
) -> AlbumPhotosChanged:
    """Take photos out of an album (they stay in the library); a cover taken out is no longer the cover."""
    album = await owned_album(session, owner_id, album_id)
    gone = set(await _owned_photos(session, owner_id, photo_ids))
    changed = await repository.unlink_photos(session, album.id, gone)
    if album.cover_photo_id in gone:
        album.cover_photo_id = None
    _changed(session, owner_id)
    return AlbumPhotosChanged(changed=changed, album=await _out(session, album))


async def api_tags(session: AsyncSession, owner_id: int) -> list[TagOut]:
    return [TagOut(name=tag.name, count=n) for tag, n in await tags_of_owner(session, owner_id)]


async def rename_tag(session: AsyncSession, owner_id: int, old: str, new: str) -> TagOut:
    """Rename a tag on the owner's photos only (tags are shared names: other accounts keep theirs);
    renaming to a tag already used merges them."""
    (old_name,) = clean_tags([old]) or [""]
    cleaned = clean_tags([new])
    if not cleaned or "," in new:
        raise GatewayError(422, "bad_tag", "a tag name is some text without commas")
    new_name = cleaned[0]
    tag = await repository.tag_named(session, old_name, create=False) if old_name else None
    photo_ids = await repository.owner_photo_ids_tagged(session, owner_id, tag.id) if tag else []
    if tag is None or not photo_ids:
        raise GatewayError(404, "not_found", "none of your photos has that tag")
    if new_name != old_name:
        await repository.unlink_tag(session, photo_ids, tag.id)
        for photo_id in photo_ids:
            await tag_photo(session, photo_id, [new_name])
        _changed(session, owner_id)
    count = {t.name: n for t, n in await tags_of_owner(session, owner_id)}.get(new_name, 0)
    return TagOut(name=new_name, count=count)
