"""Seed-compatible endpoints: Photolog's `POST /photos/` form and Picture Time's `GET /picture-time/status`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from picturetime_common.db.models import User
from picturetime_common.websessions import SESSION_COOKIE
from picturetime_gateway.access import Access, declares
from picturetime_gateway.deps import SessionDep, SettingsDep, StoreDep, SyncCaller, require_scope
from picturetime_gateway.ingest.errors import UPLOAD_ERRORS
from picturetime_gateway.photolog import service
from picturetime_gateway.photolog.schemas import PhotologOut, StatusOut, WaitingFrame

router = APIRouter(tags=["seed compatibility"])
SECRET_HEADER = "x-photolog-secret"
PHOTOLOG_FIELDS = {
    "photo_file": {"type": "string", "format": "binary"},
    "secret": {"type": "string", "description": "an API key with the upload scope (before photo_file)"},
    "tags": {"type": "string", "description": "comma-separated; slugified as Photolog did"},
    "skip": {
        "type": "string",
        "description": "accepted and ignored (Photolog's Flickr/Google Photos targets)",
    },
    "target_date": {"type": "string", "format": "date", "description": "the capture day when EXIF has none"},
    "kind": {"type": "string", "enum": ["daily", "portfolio"], "default": "daily"},
    "album": {"type": "string"},
}

_upload_scope = require_scope("upload")


@declares(Access.UPLOAD)
async def photolog_uploader(request: Request, session: SessionDep) -> User | None:
    """The uploader named by a header, or None when the key is to come in the form's `secret` field."""
    if request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE):
        return (await _upload_scope(request, session)).user
    if secret := request.headers.get(SECRET_HEADER):
        return await service.key_owner(session, secret)
    return None


@router.post(
    "/photos/",
    status_code=202,
    response_model=PhotologOut,
    responses={
        200: {"model": PhotologOut, "description": "a duplicate: the existing photo"},
        **UPLOAD_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": {"type": "object", "properties": PHOTOLOG_FIELDS}}},
        }
    },
)
async def photolog_upload(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    uploader: User | None = Depends(photolog_uploader),
) -> JSONResponse:
    """Photolog's upload form: 202 `{"key", "queued": true}`, or 200 with `"reason": "duplicate"`."""
    result = await service.upload(request, session, store, settings, uploader)
    photo = result.photo
    body = PhotologOut(
        key=photo.id.hex, queued=not result.duplicate, reason="duplicate" if result.duplicate else None,
        status=photo.status, sha256=photo.sha256,
    )  # fmt: skip
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if result.duplicate else 202)


@router.get("/picture-time/status", response_model=StatusOut)
async def picture_time_status(caller: SyncCaller, session: SessionDep) -> StatusOut:
    """What waits for the home sync agent: aligned frames to mirror, photos still aligning, the video."""
    waiting = await service.waiting(session, caller.user.id)
    return StatusOut(
        waiting=[WaitingFrame.of(f) for f in waiting.frames], count=waiting.counts["frames_waiting"],
        more=waiting.more, aligning=waiting.counts["aligning"], failed=waiting.counts["failed"],
        timelapse=StatusOut.timelapse_of(waiting.timelapse),
    )  # fmt: skip
