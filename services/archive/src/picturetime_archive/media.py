"""Media from S3 with ETag and HTTP Range (video players seek with Range): renditions, frames, video."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from minio import Minio

from picturetime_archive import repository
from picturetime_archive.renditions import FORMATS, WIDTHS, object_key
from picturetime_archive.repository import ANONYMOUS
from picturetime_archive.web import SessionDep, SiteDep, get_viewer
from picturetime_common.ids import parse_id

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024


def object_response(
    request: Request,
    s3: Minio,
    bucket: str,
    key: str,
    *,
    size: int,
    etag: str,
    media_type: str,
    cache: str,
    extra: dict[str, str] | None = None,
) -> Response:
    headers = {"ETag": f'"{etag}"', "Accept-Ranges": "bytes", "Cache-Control": cache, **(extra or {})}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    requested = request.headers.get("range")
    if requested:
        parsed = _parse_range(requested, size)
        if parsed is None:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        start, end = parsed
        headers |= {"Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": str(end - start + 1)}
        body = _stream(s3, bucket, key, start, end - start + 1)
        return StreamingResponse(body, status_code=206, media_type=media_type, headers=headers)
    headers["Content-Length"] = str(size)
    return StreamingResponse(_stream(s3, bucket, key, 0, 0), media_type=media_type, headers=headers)


def bytes_response(
    request: Request,
    body: bytes,
    *,
    etag: str,
    media_type: str,
    cache: str,
    extra: dict[str, str] | None = None,
) -> Response:
    """A small object already in memory (a rendition just made), with the same headers as from S3."""
    headers = {"ETag": f'"{etag}"', "Cache-Control": cache, **(extra or {})}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def not_modified(request: Request, etag: str) -> bool:
    """Whether If-None-Match names this ETag (weak or strong, in a list, or `*`)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return etag in tags or "*" in tags


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    match = RANGE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start > end or start >= size:
        return None
    return start, end


def _stream(s3: Minio, bucket: str, key: str, offset: int, length: int) -> Iterator[bytes]:
    """Yield the object's bytes (length 0: to the end); Starlette iterates this in a thread."""
    response = s3.get_object(bucket, key, offset=offset, length=length)
    try:
        yield from response.stream(CHUNK)
    finally:
        response.close()
        response.release_conn()


# --- routes ----------------------------------------------------------------------------------

router = APIRouter()
IMMUTABLE = "public, max-age=31536000, immutable"
# A private photo's media: only the owner's browser may keep it, and only for a while.
PRIVATE = "private, max-age=3600"


@router.get("/media/photos/{photo_hex}/{sig}/{width}.{fmt}")
async def rendition(
    photo_hex: str, sig: str, width: int, fmt: str, request: Request, site: SiteDep, session: SessionDep
) -> Response:
    """A photo at one of the standard widths; 404 for a bad signature or a private photo."""
    photo_id = parse_id(photo_hex)
    if photo_id is None or fmt not in FORMATS or width not in WIDTHS or len(sig) != 32:
        return _not_found()
    source = await repository.media_source(session, photo_id)
    if source is None or not site.signer.valid(source.tile, width, fmt, sig):
        return _not_found()
    if width not in site.signer.widths(source.tile):
        return _not_found()
    headers = {}
    if not source.public:
        viewer = await get_viewer(request, site)
        if viewer.user_id != source.tile.owner_id:
            return _not_found()
        headers["Vary"] = "Cookie"
    await session.close()  # making a rendition may take a while: do not hold a connection
    assert site.renditions is not None and site.s3 is not None
    stored = await site.renditions.ensure(source.tile, width, fmt)
    if stored is None:
        return _not_found()
    cache = IMMUTABLE if source.public else PRIVATE
    media_type = FORMATS[fmt][1]
    if stored.body is not None:
        return bytes_response(request, stored.body, etag=stored.etag, media_type=media_type, cache=cache,
                              extra=headers)  # fmt: skip
    return object_response(
        request, site.s3, site.renditions.bucket, object_key(photo_id, width, fmt), size=stored.size,
        etag=stored.etag, media_type=media_type, cache=cache, extra=headers,
    )  # fmt: skip


@router.get("/media/timelapse/{version}.mp4")
async def timelapse_video(version: str, request: Request, site: SiteDep, session: SessionDep) -> Response:
    """A timelapse version, when its owner's Picture Time is public (or to its signed-in owner)."""
    row = await repository.timelapse_by_version(session, ANONYMOUS, version)
    public = row is not None
    if row is None:
        row = await repository.timelapse_by_version(session, await get_viewer(request, site), version)
    if row is None:
        return _not_found()
    assert site.s3 is not None
    disposition = {"Content-Disposition": f'inline; filename="picture-time-{row.version}.mp4"'}
    return object_response(
        request, site.s3, row.bucket, row.key, size=row.size, etag=row.sha256, media_type="video/mp4",
        cache=IMMUTABLE if public else PRIVATE, extra=disposition if public else disposition | {"Vary": "Cookie"},
    )  # fmt: skip


@router.get("/media/frames/{frame_id}.jpg")
async def frame_image(frame_id: str, request: Request, site: SiteDep, session: SessionDep) -> Response:
    """An aligned frame at full size, when its photo is public (or to its signed-in owner)."""
    parsed = parse_id(frame_id)
    frame = await repository.frame_by_id(session, parsed) if parsed else None
    if frame is None or frame.photo.kind != "daily":
        return _not_found()
    source = await repository.media_source(session, frame.photo_id)
    public = source is not None and source.public
    if not public and (await get_viewer(request, site)).user_id != frame.photo.owner_id:
        return _not_found()
    assert site.s3 is not None
    return object_response(
        request, site.s3, frame.bucket, frame.key, size=frame.size, etag=frame.sha256,
        media_type="image/jpeg", cache="public, max-age=3600" if public else PRIVATE,
        extra=None if public else {"Vary": "Cookie"},
    )  # fmt: skip


def _not_found() -> Response:
    return PlainTextResponse("Not found", status_code=404)
