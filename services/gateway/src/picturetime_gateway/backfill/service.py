"""Registering a frame aligned elsewhere (the backfill job): photo and frame rows in one transaction.

The backfill job aligns with the same library as the aligner service, so what it sends is what
the aligner would have produced: the gateway checks it, stores the frame at the aligner's key, and
records the photo as `aligned` directly. No `pt.photo.uploaded` event is written, since there is
nothing left to align.

Without the original (the default), the photo row describes the original (its SHA-256, size,
type, name, dimensions) but `bucket` and `key` are empty strings: nothing is stored for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from fastapi import Request
from PIL import Image
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message

from picturetime_common.daypick import FUTURE_SLACK
from picturetime_common.db.models import Frame, Photo, User, utcnow
from picturetime_common.enums import PhotoKind, PhotoStatus
from picturetime_common.hashing import sha256_stream
from picturetime_common.object_keys import frame_key, original_key
from picturetime_common.objectstore import ObjectStore
from picturetime_common.s3 import EPHEMERAL
from picturetime_gateway.backfill import repository
from picturetime_gateway.backfill.schemas import FrameMetadata
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.service import inspect_whole_file, verify_whole_jpeg
from picturetime_gateway.photos import service as photos
from picturetime_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 32 * 1024 * 1024
MAX_METADATA_BYTES = 64 * 1024
MULTIPART_OVERHEAD = 1024 * 1024
NO_ORIGINAL = ""  # bucket and key of a photo whose original was not sent
# How far (a fraction of the frame's width) a mapped eye may land from its target: rounding only.
EYE_TOLERANCE = 0.02


@dataclass(frozen=True)
class IncomingOriginal:
    """The original file, when the job sends it (`--with-originals`)."""

    file: BinaryIO
    filename: str
    size: int


@dataclass(frozen=True)
class Registration:
    """What one `POST /api/v1/frames` carries."""

    meta: FrameMetadata
    frame_jpeg: bytes
    original: IncomingOriginal | None


@dataclass(frozen=True)
class RegisteredPhoto:
    photo: Photo
    frame: Frame | None
    created: bool


@dataclass(frozen=True)
class OriginalInfo:
    ext: str
    content_type: str
    exif: dict[str, Any]


async def known_sha256(session: AsyncSession, owner_id: int, hashes: Sequence[str]) -> list[str]:
    """Which of `hashes` the owner already has a photo for, in the order given, once each."""
    known = await repository.known_sha256(session, owner_id, sorted(set(hashes)))
    return [h for h in dict.fromkeys(hashes) if h in known]


async def read_registration(request: Request, settings: GatewaySettings) -> tuple[Registration, FormData]:
    """Parse the multipart body (files spool to disk past 1 MB), refusing it past its size limit;
    the caller closes the form."""
    limit = settings.gateway.max_upload_bytes + MAX_FRAME_BYTES + MULTIPART_OVERHEAD
    form = await _bounded_form(request, limit)
    try:
        meta, frame, original = _parts(form)
        frame_jpeg = await frame.read(MAX_FRAME_BYTES + 1)
        incoming = None
        if original is not None:
            size = original.size if original.size is not None else _size_of(original)
            incoming = IncomingOriginal(original.file, original.filename or meta.original_name, size)
    except BaseException:
        await form.close()
        raise
    return Registration(meta, frame_jpeg, incoming), form


async def _bounded_form(request: Request, limit: int) -> FormData:
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


def check_alignment(meta: FrameMetadata, settings: GatewaySettings) -> None:
    """The frame must be what the aligner makes: the configured canvas, with the matrix taking the eye
    points to where the alignment contract puts them (inside the frame). Anything else is an image
    that skipped the aligner, and could be put on the public site."""
    options = settings.gateway
    if (meta.width, meta.height) != (options.frame_width, options.frame_height):
        raise RejectedUpload(
            "invalid_frame",
            f"frames are {options.frame_width}x{options.frame_height} (the aligner's canvas), "
            f"not {meta.width}x{meta.height}",
            422,
        )
    targets = eye_targets(settings)
    tolerance = EYE_TOLERANCE * options.frame_width
    for name, point, target in zip(
        ("left_eye", "right_eye"), (meta.left_eye, meta.right_eye), targets, strict=True
    ):
        (a, b, c), (d, e, f) = meta.matrix
        x, y = a * point[0] + b * point[1] + c, d * point[0] + e * point[1] + f
        inside = 0 <= x < options.frame_width and 0 <= y < options.frame_height
        if not inside or math.hypot(x - target[0], y - target[1]) > tolerance:
            raise RejectedUpload(
                "invalid_alignment",
                f"the matrix maps {name} to ({x:.1f}, {y:.1f}), not to the eye position "
                f"({target[0]:.1f}, {target[1]:.1f}) every frame has",
                422,
            )


def eye_targets(settings: GatewaySettings) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where the eye centres land in every frame (the aligner's `AlignmentSettings.target_eyes`)."""
    options = settings.gateway
    y = options.frame_eye_line * options.frame_height - 0.5
    half = options.frame_eye_distance * options.frame_width / 2
    cx = options.frame_width / 2 - 0.5
    return (cx - half, y), (cx + half, y)


def check_capture_time(meta: FrameMetadata) -> None:
    if meta.taken_at > utcnow() + FUTURE_SLACK:
        raise RejectedUpload(
            "future_taken_at", f"taken_at {meta.taken_at.isoformat()} is more than a day in the future", 422
        )


def check_frame(data: bytes, meta: FrameMetadata) -> str:
    """The frame must be a complete JPEG of the declared size; returns its SHA-256."""
    if len(data) > MAX_FRAME_BYTES:
        raise RejectedUpload(
            "too_large", f"the frame is larger than the limit of {MAX_FRAME_BYTES} bytes", 413
        )
    if not data.startswith(b"\xff\xd8\xff"):
        raise RejectedUpload("invalid_frame", "the frame must be a JPEG image", 415)
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            size = image.size
            if size == (meta.width, meta.height):
                image.load()  # every pixel decodes (frames are small: a few milliseconds)
    except Exception as exc:
        raise RejectedUpload("invalid_frame", f"the frame JPEG is corrupt or truncated: {exc}", 422) from None
    if size != (meta.width, meta.height):
        raise RejectedUpload(
            "invalid_frame",
            f"the frame is {size[0]}x{size[1]}, not the declared {meta.width}x{meta.height}",
            422,
        )
    try:
        verify_whole_jpeg(data)  # whole and decodable, without paying for a full decode
    except RejectedUpload as exc:
        raise RejectedUpload("invalid_frame", f"the frame {exc.detail.removeprefix('the ')}", 422) from None
    digest = hashlib.sha256(data).hexdigest()
    if meta.frame_sha256 is not None and meta.frame_sha256 != digest:
        raise RejectedUpload("sha256_mismatch", "frame_sha256 does not match the frame's bytes", 400)
    return digest


def check_original(
    original: IncomingOriginal, meta: FrameMetadata, settings: GatewaySettings
) -> OriginalInfo:
    """The original must be the file the metadata describes, and a decodable image within limits."""
    if original.size > settings.gateway.max_upload_bytes:
        raise RejectedUpload(
            "too_large",
            f"the original is larger than the limit of {settings.gateway.max_upload_bytes} bytes",
            413,
        )
    original.file.seek(0)
    size, sha256 = sha256_stream(original.file)
    if sha256 != meta.sha256 or size != meta.size:
        raise RejectedUpload("sha256_mismatch", "the original's bytes do not match its sha256 and size", 400)
    kind, exif = inspect_whole_file(
        original.file, original.filename, max_pixels=settings.gateway.max_pixels,
        tz=ZoneInfo(settings.gateway.timezone),
    )  # fmt: skip
    return OriginalInfo(kind.ext, kind.content_type, exif)


async def register_frame(
    session: AsyncSession,
    store: ObjectStore,
    settings: GatewaySettings,
    owner: User,
    registration: Registration,
) -> RegisteredPhoto:
    """Check everything, then store the frame (and original) and record photo and frame rows."""
    meta, frame_jpeg, original = registration.meta, registration.frame_jpeg, registration.original
    check_capture_time(meta)
    check_alignment(meta, settings)
    frame_sha256 = await run_in_threadpool(check_frame, frame_jpeg, meta)
    info = await run_in_threadpool(check_original, original, meta, settings) if original else None
    existing = await photos.photo_by_sha256(session, owner.id, meta.sha256)
    if existing is not None:
        return RegisteredPhoto(existing, await photos.frame_of_photo(session, existing.id), created=False)

    photo_id = uuid.uuid4()
    key = frame_key(meta.taken_at, photo_id.hex, meta.params_hash)
    frames_bucket = settings.buckets.frames
    await store.put(frames_bucket, key, frame_jpeg, content_type="image/jpeg")
    bucket = original_object = NO_ORIGINAL
    content_type, exif = meta.content_type, meta.exif
    if original is not None and info is not None:
        bucket = settings.buckets.originals
        original_object = original_key(owner.id, meta.taken_at, meta.sha256, info.ext)
        content_type, exif = info.content_type, info.exif or meta.exif
        # Daily originals are ephemeral: once the frame is mirrored home, lifecycle expiry may take them.
        await store.put(
            bucket, original_object, original.file, content_type=content_type, tags={EPHEMERAL: "true"}
        )
    photo = Photo(
        id=photo_id, owner_id=owner.id, piwigo_id=await photos.free_piwigo_id(session, owner.id),
        sha256=meta.sha256, bucket=bucket, key=original_object,
        content_type=content_type, size=meta.size, original_name=meta.original_name, kind=PhotoKind.DAILY,
        width=meta.original_width, height=meta.original_height, taken_at=meta.taken_at,
        utc_offset_minutes=photos.offset_minutes(meta.taken_at), exif=exif, status=PhotoStatus.ALIGNED,
    )  # fmt: skip
    frame = Frame(
        photo_id=photo_id, bucket=frames_bucket, key=key, params_hash=meta.params_hash, sha256=frame_sha256,
        size=len(frame_jpeg), width=meta.width, height=meta.height, matrix=meta.matrix,
        left_eye=list(meta.left_eye), right_eye=list(meta.right_eye), confidence=meta.confidence,
        quality=meta.quality, aligned_at=utcnow(),
    )  # fmt: skip
    if not await repository.add_photo_with_frame(session, photo, frame):
        # The same original raced in from another request: answer with the winner, drop our frame.
        await store.remove_quietly(frames_bucket, key)
        winner = await photos.photo_by_sha256(session, owner.id, meta.sha256)
        if winner is None:
            raise LookupError(f"photo {meta.sha256} neither recorded nor found")
        return RegisteredPhoto(winner, await photos.frame_of_photo(session, winner.id), created=False)
    log.info(
        "gateway.backfill.registered photo=%s sha256=%s frame=%s original=%s",
        photo_id.hex, meta.sha256, key, bool(original_object),
    )  # fmt: skip
    return RegisteredPhoto(photo, frame, created=True)
