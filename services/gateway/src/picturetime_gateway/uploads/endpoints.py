"""Upload endpoints: the streaming photo API, the album list and the upload page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse

from picturetime_gateway.deps import CurrentUser, SessionDep, SettingsDep, StoreDep, UploadCaller
from picturetime_gateway.ingest.errors import UPLOAD_ERRORS
from picturetime_gateway.ingest.service import ACCEPTED_EXTENSIONS
from picturetime_gateway.uploads import service
from picturetime_gateway.uploads.schemas import UploadOut
from picturetime_gateway.web import render, size_text

router = APIRouter(tags=["uploads"])
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


@router.post(
    "/api/v1/photos",
    status_code=201,
    response_model=UploadOut,
    responses={
        200: {"model": UploadOut, "description": "already known: the existing photo"},
        **UPLOAD_ERRORS,
    },
    openapi_extra=UPLOAD_BODY,
)
async def upload_photo(
    request: Request,
    caller: UploadCaller,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    x_content_sha256: Annotated[
        str | None, Header(description="hex SHA-256 of the (first) file, verified")
    ] = None,
) -> JSONResponse:
    """Upload a photo (and/or its RAW file), streamed: 201 when stored, 200 when already known."""
    result, body = await service.upload(request, session, store, settings, caller.user, x_content_sha256)
    created = result.created or result.raw_added
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/upload", response_class=HTMLResponse, include_in_schema=False)
async def upload_page(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    """Drag-and-drop upload for the signed-in user."""
    owned = await service.albums_of(session, user)
    accept = ",".join(sorted(f".{ext}" for ext in ACCEPTED_EXTENSIONS)) + ",image/*"
    return render(
        request, "upload.html", albums=[album for album, _ in owned], accept=accept,
        max_upload_bytes=settings.gateway.max_upload_bytes,
        max_upload_text=size_text(settings.gateway.max_upload_bytes),
    )  # fmt: skip
