"""Upload endpoints: the streaming photo API, the album list and the upload page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Photo
from picturetime_gateway.albums import repository as albums
from picturetime_gateway.deps import AnyCaller, CurrentUser, S3Dep, SessionDep, SettingsDep, UploadCaller
from picturetime_gateway.errors import ApiError
from picturetime_gateway.photos import repository
from picturetime_gateway.uploads.errors import RejectedUpload
from picturetime_gateway.uploads.formats import ACCEPTED_EXTENSIONS
from picturetime_gateway.uploads.schemas import AlbumOut, UploadOut
from picturetime_gateway.uploads.service import UploadOptions, Uploads, receive_and_record
from picturetime_gateway.web import render

router = APIRouter(tags=["uploads"])
ERRORS = {
    400: {"description": "checksum mismatch, bad file name, malformed form"},
    401: {"description": "no or unknown API key"},
    403: {"description": "the key lacks the upload scope, or the CSRF header is missing"},
    409: {"description": "a RAW file without its photo, or a photo with a different RAW"},
    413: {"description": "file or pixel count over the limit"},
    415: {"description": "not an accepted image type, or a name that contradicts the bytes"},
    422: {"description": "empty, corrupt or truncated image, broken EXIF"},
}
FORM_FIELDS = {
    "file": {"type": "string", "format": "binary", "description": "the photo: JPEG, PNG, WebP or HEIC"},
    "raw": {"type": "string", "format": "binary", "description": "its RAW file (same base name), optional"},
    "kind": {"type": "string", "enum": ["daily", "portfolio"], "default": "daily"},
    "taken_at": {
        "type": "string",
        "format": "date-time",
        "description": "the capture time; wins over the file's EXIF date (to correct a wrong camera clock)",
    },
    "file_time": {
        "type": "string",
        "format": "date-time",
        "description": "the file's modification time, with its offset: the capture time when neither the "
        "file's EXIF nor its name (IMG_20200613_081530.jpg) has a date",
    },
    "album": {"type": "string", "description": "album name; created if missing"},
    "album_visibility": {"type": "string", "enum": ["public", "private"], "default": "private"},
    "tags": {"type": "string", "description": "comma-separated tags"},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "show_location": {"type": "boolean", "default": False, "description": "publish the GPS position"},
}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {"type": "object", "properties": FORM_FIELDS}}},
    }
}


def api_error(exc: RejectedUpload) -> ApiError:
    return ApiError(exc.status, exc.code, exc.detail)


async def upload_out(
    session: AsyncSession, photo: Photo, *, duplicate: bool, options: UploadOptions | None = None
) -> UploadOut:
    """The answer to an upload. With the `options` of the request that created the photo, what the
    catalog would say is known: no frame yet (the aligner hears of it after the commit), and only
    the album and tags the request named."""
    fresh = options is not None
    frame = None if fresh else await repository.frame_of_photo(session, photo.id)
    album_names = await albums.album_names_of_photo(session, photo.id) if not fresh or options.album else []
    tag_names = await albums.tag_names_of_photo(session, photo.id) if not fresh or options.tags else []
    return UploadOut.build(photo, frame, albums=album_names, tags=tag_names, duplicate=duplicate)


@router.post(
    "/api/v1/photos",
    status_code=201,
    response_model=UploadOut,
    responses={200: {"model": UploadOut, "description": "already known: the existing photo"}, **ERRORS},
    openapi_extra=UPLOAD_BODY,
)
async def upload_photo(
    request: Request,
    caller: UploadCaller,
    session: SessionDep,
    s3: S3Dep,
    settings: SettingsDep,
    x_content_sha256: Annotated[
        str | None, Header(description="hex SHA-256 of the (first) file, verified")
    ] = None,
) -> JSONResponse:
    """Upload a photo (and/or its RAW file), streamed: 201 when stored, 200 when already known."""
    uploads = Uploads(session, s3, settings, caller.user, UploadOptions(declared_sha256=x_content_sha256))
    try:
        result, _ = await receive_and_record(request, uploads)
    except RejectedUpload as exc:
        raise api_error(exc) from None
    fresh = uploads.options if result.created else None
    body = await upload_out(session, result.photo, duplicate=result.duplicate, options=fresh)
    created = result.created or result.raw_added
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/api/v1/albums", response_model=list[AlbumOut])
async def list_albums(caller: AnyCaller, session: SessionDep) -> list[AlbumOut]:
    """The caller's albums, by name."""
    return [
        AlbumOut(id=album.id, name=album.name, slug=album.slug, visibility=album.visibility, photos=count)
        for album, count in await albums.albums_of_owner(session, caller.user.id)
    ]


@router.get("/upload", response_class=HTMLResponse, include_in_schema=False)
async def upload_page(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """Drag-and-drop upload for the signed-in user."""
    owned = await albums.albums_of_owner(session, user.id)
    accept = ",".join(sorted(f".{ext}" for ext in ACCEPTED_EXTENSIONS)) + ",image/*"
    return render(
        request, "upload.html", albums=[album for album, _ in owned], accept=accept,
        max_upload_bytes=settings.gateway.max_upload_bytes,
    )  # fmt: skip
