"""Upload endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Response, UploadFile

from picturetime_gateway.deps import S3Dep, SessionDep, SettingsDep, UploadCaller
from picturetime_gateway.errors import ApiError
from picturetime_gateway.photos import repository
from picturetime_gateway.photos.schemas import PhotoOut
from picturetime_gateway.uploads.metadata import RejectedUpload
from picturetime_gateway.uploads.service import store_photo

router = APIRouter(tags=["uploads"])
ERRORS = {
    400: {"description": "checksum mismatch"},
    401: {"description": "no or unknown API key"},
    403: {"description": "the key lacks the upload scope"},
    413: {"description": "file or pixel count over the limit"},
    415: {"description": "not an accepted image type"},
    422: {"description": "empty, corrupt or truncated image"},
}


@router.post(
    "/api/v1/photos", status_code=201, response_model=PhotoOut, responses={200: {"model": PhotoOut}, **ERRORS}
)
async def upload_photo(
    caller: UploadCaller,
    session: SessionDep,
    s3: S3Dep,
    settings: SettingsDep,
    response: Response,
    file: Annotated[UploadFile, File(description="the photo: JPEG, PNG or WebP")],
    kind: Annotated[str, Form(description="daily (timelapse) or portfolio")] = "daily",
    taken_at: Annotated[
        datetime | None, Form(description="capture time when the file has no EXIF date")
    ] = None,
    x_content_sha256: Annotated[str | None, Header(description="hex SHA-256 of the file, verified")] = None,
) -> PhotoOut:
    """Upload a photo. 201 when stored, 200 with the existing photo when the bytes are already known."""
    try:
        stored = await store_photo(
            session, s3, settings, caller.user, file.file, filename=file.filename, kind=kind,
            declared_sha256=x_content_sha256, taken_at=taken_at,
        )  # fmt: skip
    except RejectedUpload as exc:
        raise ApiError(exc.status, exc.code, exc.detail) from None
    if not stored.created:
        response.status_code = 200
    frame = None if stored.created else await repository.frame_of_photo(session, stored.photo.id)
    return PhotoOut.of(stored.photo, frame)
