"""Backfill endpoints: which originals the server has, and registering frames aligned by the job."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StringConstraints, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message

from picturetime_gateway.backfill import repository
from picturetime_gateway.backfill.service import (
    MAX_FRAME_BYTES,
    FrameMetadata,
    IncomingOriginal,
    register_frame,
)
from picturetime_gateway.deps import S3Dep, SessionDep, SettingsDep, UploadCaller
from picturetime_gateway.errors import ApiError
from picturetime_gateway.photos.schemas import PhotoOut
from picturetime_gateway.uploads.errors import RejectedUpload

router = APIRouter(tags=["backfill"])
MAX_LOOKUP = 1000
MAX_METADATA_BYTES = 64 * 1024
MULTIPART_OVERHEAD = 1024 * 1024

Sha256 = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")]


class LookupIn(BaseModel):
    sha256: list[Sha256] = Field(max_length=MAX_LOOKUP, description="SHA-256 of original files")


class LookupOut(BaseModel):
    known: list[str] = Field(description="the given hashes this account already has a photo for")


@router.post(
    "/api/v1/photos/lookup",
    response_model=LookupOut,
    responses={422: {"description": "not a list of at most 1000 hex SHA-256 strings"}},
)
async def lookup_photos(body: LookupIn, caller: UploadCaller, session: SessionDep) -> LookupOut:
    """Which of these originals (by SHA-256) are already in your catalog, so a backfill can skip them."""
    known = await repository.known_sha256(session, caller.user.id, sorted(set(body.sha256)))
    return LookupOut(known=[h for h in dict.fromkeys(body.sha256) if h in known])


ERRORS = {
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
    s3: S3Dep,
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
    limit = settings.gateway.max_upload_bytes + MAX_FRAME_BYTES + MULTIPART_OVERHEAD
    try:
        form = await _bounded_form(request, limit)
        try:
            meta, frame, original = _parts(form)
            frame_jpeg = await frame.read(MAX_FRAME_BYTES + 1)
            incoming = None
            if original is not None:
                size = original.size if original.size is not None else _size_of(original)
                incoming = IncomingOriginal(original.file, original.filename or meta.original_name, size)
            registered = await register_frame(session, s3, settings, caller.user, meta, frame_jpeg, incoming)
        finally:
            await form.close()
    except RejectedUpload as exc:
        raise ApiError(exc.status, exc.code, exc.detail) from None
    if not registered.created:
        response.status_code = 200
    return PhotoOut.of(registered.photo, registered.frame, viewer_id=caller.user.id)


async def _bounded_form(request: Request, limit: int) -> FormData:
    """Parse the multipart body (files spool to disk past 1 MB), refusing it past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RejectedUpload("too_large", f"the request body is larger than the limit of {limit} bytes", 413)
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise RejectedUpload(
                    "too_large", f"the request body is larger than the limit of {limit} bytes", 413
                )
        return message

    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise RejectedUpload(
            "invalid_request", "send frame, metadata and original as multipart/form-data", 415
        )
    bounded = Request(request.scope, counting_receive)
    try:
        return await bounded.form(max_files=2, max_fields=1, max_part_size=MAX_METADATA_BYTES)
    except StarletteHTTPException as exc:
        raise RejectedUpload(
            "invalid_request", f"the multipart body is malformed: {exc.detail}", 400
        ) from None


def _parts(form: FormData) -> tuple[FrameMetadata, UploadFile, UploadFile | None]:
    unknown = set(form.keys()) - {"frame", "original", "metadata"}
    if unknown:
        raise RejectedUpload("invalid_request", f"unexpected fields: {', '.join(sorted(unknown))}", 400)
    raw = form.get("metadata")
    if not isinstance(raw, str):
        raise RejectedUpload("invalid_request", "the 'metadata' field (JSON text) is missing", 400)
    frame = form.get("frame")
    if not isinstance(frame, UploadFile):
        raise RejectedUpload("missing_file", "the 'frame' file is missing", 400)
    original = form.get("original")
    if original is not None and not isinstance(original, UploadFile):
        raise RejectedUpload("invalid_request", "'original' must be a file", 400)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RejectedUpload("invalid_metadata", f"metadata is not valid JSON: {exc}", 400) from None
    try:
        meta = FrameMetadata.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "metadata"
        raise RejectedUpload(
            "invalid_metadata", f"metadata.{where}: {first.get('msg', 'invalid')}", 422
        ) from None
    return meta, frame, original


def _size_of(upload: UploadFile) -> int:
    upload.file.seek(0, 2)
    size = upload.file.tell()
    upload.file.seek(0)
    return size
