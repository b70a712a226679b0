"""Seed-compatible endpoints: Photolog's `POST /photos/` form and Picture Time's `GET /picture-time/status`.

Photolog clients post `photo_file` with `tags` (comma-separated) and `skip`; they authenticate with
a Picture Time API key (upload scope) sent as `Authorization: Bearer`, as the `X-PHOTOLOG-SECRET`
header, or as the `secret` form field placed before the file.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import User
from picturetime_gateway.auth.access import Access, declares
from picturetime_gateway.auth.service import authenticate_key
from picturetime_gateway.deps import S3Dep, SessionDep, SettingsDep, SyncCaller, require_scope
from picturetime_gateway.errors import ApiError
from picturetime_gateway.photos import repository as photos
from picturetime_gateway.timelapse import repository as timelapse
from picturetime_gateway.uploads import repository
from picturetime_gateway.uploads.endpoints import ERRORS, api_error
from picturetime_gateway.uploads.errors import RejectedUpload
from picturetime_gateway.uploads.service import UploadOptions, Uploads, receive_and_record
from picturetime_gateway.uploads.streaming import FileStart, ReceivedForm, Target

router = APIRouter(tags=["seed compatibility"])
SECRET_HEADER = "x-photolog-secret"
UNAUTHENTICATED = RejectedUpload(
    "unauthenticated",
    "send an API key as 'Authorization: Bearer <key>', X-PHOTOLOG-SECRET or the secret field",
    401,
)
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


async def _key_owner(session: AsyncSession, secret: str) -> User:
    key = await authenticate_key(session, secret.strip())
    if key is None:
        raise ApiError(
            401, "invalid_api_key", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"}
        )
    if "upload" not in key.scope_set and "admin" not in key.scope_set:
        raise ApiError(403, "missing_scope", "this API key lacks the 'upload' scope")
    return key.user


_upload_scope = require_scope("upload")


@declares(Access.UPLOAD)
async def photolog_uploader(request: Request, session: SessionDep) -> User | None:
    """The uploader named by a header, or None when the key is to come in the form's `secret` field."""
    if request.headers.get("authorization") or request.cookies.get("pt_session"):
        return (await _upload_scope(request, session)).user
    if secret := request.headers.get(SECRET_HEADER):
        return await _key_owner(session, secret)
    return None


class PhotologOut(BaseModel):
    key: str
    queued: bool
    reason: str | None = None
    status: str
    sha256: str


@router.post(
    "/photos/",
    status_code=202,
    response_model=PhotologOut,
    responses={200: {"model": PhotologOut, "description": "a duplicate: the existing photo"}, **ERRORS},
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
    s3: S3Dep,
    settings: SettingsDep,
    uploader: User | None = Depends(photolog_uploader),
) -> JSONResponse:
    """Photolog's upload form: 202 `{"key", "queued": true}`, or 200 with `"reason": "duplicate"`."""
    if uploader is None and not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(401, "unauthenticated", UNAUTHENTICATED.detail, {"WWW-Authenticate": "Bearer"})
    uploads = Uploads(session, s3, settings, uploader, UploadOptions(kind="daily"))

    async def plan(start: FileStart) -> Target:
        if start.field != "photo_file":
            raise RejectedUpload("invalid_request", "send the photo in the 'photo_file' field", 400)
        if uploads.owner is None:
            secret = (start.fields.get("secret") or [""])[-1]
            if not secret:
                raise UNAUTHENTICATED
            try:
                uploads.owner = await _key_owner(session, secret)
            except ApiError as exc:
                raise RejectedUpload(exc.code, exc.detail, exc.status) from None
        return await uploads.plan(start)

    async def options_from(form: ReceivedForm, defaults: UploadOptions) -> UploadOptions:
        from picturetime_gateway.albums.repository import clean_tags

        if uploads.owner is None:
            raise UNAUTHENTICATED
        defaults.kind = form.get("kind") or defaults.kind
        defaults.album = (form.get("album") or "").strip() or None
        defaults.tags = clean_tags(form.fields.get("tags", []), slug=True)
        if day := (form.get("target_date") or "").strip():
            try:
                date = datetime.strptime(day, "%Y-%m-%d").date()
            except ValueError:
                raise RejectedUpload(
                    "invalid_target_date", "target_date must look like 2024-06-13", 422
                ) from None
            defaults.taken_at = datetime.combine(date, time(12), ZoneInfo(settings.gateway.timezone))
        return defaults

    try:
        result, _ = await receive_and_record(request, uploads, plan=plan, options_from=options_from)
    except RejectedUpload as exc:
        raise api_error(exc) from None
    photo = result.photo
    body = PhotologOut(
        key=photo.id.hex, queued=not result.duplicate, reason="duplicate" if result.duplicate else None,
        status=photo.status, sha256=photo.sha256,
    )  # fmt: skip
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if result.duplicate else 202)


class WaitingFrame(BaseModel):
    frame_id: str
    photo_id: str
    taken_at: str
    sha256: str
    size: int
    url: str


class StatusOut(BaseModel):
    waiting: list[WaitingFrame]
    count: int
    more: bool
    aligning: int
    failed: int
    timelapse: dict[str, object] | None


@router.get("/picture-time/status", response_model=StatusOut)
async def picture_time_status(caller: SyncCaller, session: SessionDep) -> StatusOut:
    """What waits for the home sync agent: aligned frames to mirror, photos still aligning, the video."""
    limit = 500
    frames = await photos.unmirrored_frames(session, caller.user.id, limit + 1)
    counts = await repository.pending_status(session, caller.user.id)
    latest = await timelapse.latest(session)
    return StatusOut(
        waiting=[
            WaitingFrame(
                frame_id=f.id.hex, photo_id=f.photo_id.hex, taken_at=f.photo.taken_at_local.isoformat(),
                sha256=f.sha256, size=f.size, url=f"/api/v1/frames/{f.id.hex}/content",
            )
            for f in frames[:limit]
        ],
        count=counts["frames_waiting"], more=len(frames) > limit, aligning=counts["aligning"],
        failed=counts["failed"],
        timelapse=None if latest is None else {
            "version": latest.version, "frames": latest.frames, "duration": latest.duration,
            "created_at": latest.created_at.isoformat(),
        },
    )  # fmt: skip
