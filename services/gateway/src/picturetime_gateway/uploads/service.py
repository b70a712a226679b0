"""The photo API's uploads: the gateway's own door onto the upload path, and its answers."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Album, Photo, User
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.albums import service as albums
from picturetime_gateway.ingest.service import ApiDoor, Ingested, Upload, UploadOptions, ingest
from picturetime_gateway.photos import service as photos
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.uploads.schemas import UploadOut


async def upload(
    request: Request, session: AsyncSession, store: ObjectStore, settings: GatewaySettings, owner: User,
    declared_sha256: str | None,
) -> tuple[Ingested, UploadOut]:  # fmt: skip
    """Stream the photo (and/or RAW) in and record it; the result, and the answer to give."""
    upload = Upload(session, store, settings, owner, UploadOptions(declared_sha256=declared_sha256))
    result = await ingest(request, upload, ApiDoor())
    fresh = upload.options if result.created else None
    return result, await upload_out(session, result.photo, duplicate=result.duplicate, options=fresh)


async def upload_out(
    session: AsyncSession, photo: Photo, *, duplicate: bool, options: UploadOptions | None = None
) -> UploadOut:
    """The answer to an upload. With the `options` of the request that created the photo, what the
    catalog would say is known: no frame yet (the aligner hears of it after the commit), and only
    the album and tags the request named."""
    if options is not None:
        album_names = await albums.album_names_of_photo(session, photo.id) if options.album else []
        tag_names = await albums.tag_names_of_photo(session, photo.id) if options.tags else []
        return UploadOut.build(photo, None, albums=album_names, tags=tag_names, duplicate=duplicate)
    frame = await photos.frame_of_photo(session, photo.id)
    album_names = await albums.album_names_of_photo(session, photo.id)
    tag_names = await albums.tag_names_of_photo(session, photo.id)
    return UploadOut.build(photo, frame, albums=album_names, tags=tag_names, duplicate=duplicate)


async def albums_of(session: AsyncSession, owner: User) -> Sequence[tuple[Album, int]]:
    """The owner's albums with their photo counts, by name."""
    return await albums.albums_of_owner(session, owner.id)
