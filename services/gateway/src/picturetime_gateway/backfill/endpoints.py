"""Backfill endpoints: which originals the server has, and registering frames aligned by the job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from picturetime_gateway.backfill import service
from picturetime_gateway.backfill.schemas import LookupIn, LookupOut
from picturetime_gateway.deps import SessionDep, SettingsDep, StoreDep, UploadCaller
from picturetime_gateway.photos.schemas import PhotoOut

router = APIRouter(tags=["backfill"])


@router.post(
    "/api/v1/photos/lookup",
    response_model=LookupOut,
    responses={422: {"description": "not a list of at most 1000 hex SHA-256 strings"}},
)
async def lookup_photos(body: LookupIn, caller: UploadCaller, session: SessionDep) -> LookupOut:
    """Which of these originals (by SHA-256) are already in your catalog, so a backfill can skip them."""
    return LookupOut(known=await service.known_sha256(session, caller.user.id, body.sha256))


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed multipart body or metadata, or a checksum mismatch"},
    413: {"description": "a file over its size or pixel limit"},
    415: {"description": "the frame is not a JPEG, or the original not an accepted image"},
    422: {"description": "metadata that does not validate, or a corrupt image"},
}


@router.post(
    "/api/v1/frames",
    status_code=201,
    response_model=PhotoOut,
    responses={200: {"model": PhotoOut, "description": "the original was known already"}, **ERRORS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["frame", "metadata"],
                        "properties": {
                            "frame": {"type": "string", "format": "binary", "description": "the aligned JPEG"},
                            "original": {
                                "type": "string", "format": "binary", "description": "the original (optional)",
                            },
                            "metadata": {"type": "string", "description": "FrameMetadata as JSON"},
                        },
                    }
                }
            },
        }
    },
)  # fmt: skip
async def register_aligned_frame(
    request: Request,
    caller: UploadCaller,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    response: Response,
) -> PhotoOut:
    """Register a frame the backfill job aligned: the photo is recorded as aligned, with its frame.

    Multipart fields: `frame` (the aligned JPEG), `metadata` (JSON: the original's sha256, size,
    content_type, taken_at with offset, original_name, and the alignment: matrix, left_eye,
    right_eye, confidence, quality, params_hash, width, height), and optionally `original` (the
    original file, stored like an upload). 201 when recorded; 200 with the existing photo when the
    original's SHA-256 is known already. Nothing is stored unless every check passes.
    """
    registration, form = await service.read_registration(request, settings)
    try:
        registered = await service.register_frame(session, store, settings, caller.user, registration)
    finally:
        await form.close()
    if not registered.created:
        response.status_code = 200
    return PhotoOut.of(registered.photo, registered.frame, viewer_id=caller.user.id)
