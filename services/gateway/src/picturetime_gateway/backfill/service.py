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
import logging
import math
import unicodedata
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import obstore
from minio import Minio
from PIL import Image
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from picturetime_common.db.models import Frame, Photo, User, utcnow
from picturetime_common.s3 import EPHEMERAL
from picturetime_gateway.photos import repository
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.uploads.errors import RejectedUpload
from picturetime_gateway.uploads.formats import HEAD_BYTES, sniff
from picturetime_gateway.uploads.jpeg import verify_jpeg
from picturetime_gateway.uploads.metadata import exif_summary, original_key
from picturetime_gateway.uploads.objects import object_store
from picturetime_gateway.uploads.streaming import put_options

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 32 * 1024 * 1024
MAX_FRAME_SIDE = 8192
NO_ORIGINAL = ""  # bucket and key of a photo whose original was not sent
HEX64 = r"^[0-9a-f]{64}$"
ORIGINAL_TYPES = ("image/jpeg", "image/png", "image/heic", "image/heif", "image/webp")


class FrameMetadata(BaseModel):
    """What the backfill job knows about one original and the frame it aligned from it."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=HEX64, description="SHA-256 of the original file")
    size: int = Field(ge=1, description="size of the original file in bytes")
    content_type: str = Field(description="type of the original: " + ", ".join(ORIGINAL_TYPES))
    taken_at: AwareDatetime = Field(description="capture time, with its UTC offset")
    original_name: str = Field(default="", max_length=255)
    original_width: int | None = Field(default=None, ge=1, description="upright width of the original")
    original_height: int | None = Field(default=None, ge=1)
    matrix: list[list[float]] = Field(description="2x3 similarity: original pixels to frame pixels")
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    confidence: float = Field(ge=0, le=1)
    quality: dict[str, Any] = Field(default_factory=dict)
    params_hash: str = Field(pattern=r"^[0-9a-f]{8,32}$")
    width: int = Field(ge=8, le=MAX_FRAME_SIDE, description="frame width, checked against the JPEG")
    height: int = Field(ge=8, le=MAX_FRAME_SIDE)
    frame_sha256: str | None = Field(default=None, pattern=HEX64, description="verified when given")
    exif: dict[str, Any] = Field(default_factory=dict, description="a summary: make, model, lens, ...")

    @field_validator("sha256", "frame_sha256", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("original_name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # A base name only, without control characters: it is shown, never used as a path.
        base = value.replace("\\", "/").rsplit("/", 1)[-1]
        return "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")

    @field_validator("content_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in ORIGINAL_TYPES:
            raise ValueError(f"must be one of {', '.join(ORIGINAL_TYPES)}")
        return value

    @field_validator("matrix")
    @classmethod
    def _two_by_three(cls, value: list[list[float]]) -> list[list[float]]:
        if len(value) != 2 or any(len(row) != 3 for row in value):
            raise ValueError("must be a 2x3 matrix")
        if not all(math.isfinite(v) for row in value for v in row):
            raise ValueError("must hold finite numbers")
        return value

    @field_validator("left_eye", "right_eye")
    @classmethod
    def _finite_point(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(math.isfinite(v) for v in value):
            raise ValueError("must hold finite numbers")
        return value


@dataclass(frozen=True)
class IncomingOriginal:
    """The original file, when the job sends it (`--with-originals`)."""

    file: BinaryIO
    filename: str
    size: int


@dataclass(frozen=True)
class RegisteredPhoto:
    photo: Photo
    frame: Frame | None
    created: bool


def frame_key(taken_at: datetime, photo_id: str, params_hash: str) -> str:
    """The aligner's frame key (`picturetime_aligner.worker.frame_key`), so both paths look alike."""
    return f"{taken_at:%Y}/{taken_at:%m}/{photo_id}-{params_hash}.jpg"


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
    except Exception as exc:
        raise RejectedUpload("invalid_frame", f"the frame JPEG is corrupt or truncated: {exc}", 422) from None
    if size != (meta.width, meta.height):
        raise RejectedUpload(
            "invalid_frame",
            f"the frame is {size[0]}x{size[1]}, not the declared {meta.width}x{meta.height}",
            422,
        )
    try:
        verify_jpeg(io.BytesIO(data))  # whole and decodable, without paying for a full decode
    except RejectedUpload as exc:
        raise RejectedUpload("invalid_frame", f"the frame {exc.detail.removeprefix('the ')}", 422) from None
    digest = hashlib.sha256(data).hexdigest()
    if meta.frame_sha256 is not None and meta.frame_sha256 != digest:
        raise RejectedUpload("sha256_mismatch", "frame_sha256 does not match the frame's bytes", 400)
    return digest


@dataclass(frozen=True)
class OriginalInfo:
    ext: str
    content_type: str
    exif: dict[str, Any]


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
    stream = original.file
    stream.seek(0)
    digest = hashlib.sha256()
    size = 0
    while block := stream.read(1024 * 1024):
        digest.update(block)
        size += len(block)
    if digest.hexdigest() != meta.sha256 or size != meta.size:
        raise RejectedUpload("sha256_mismatch", "the original's bytes do not match its sha256 and size", 400)
    stream.seek(0)
    kind = sniff(stream.read(HEAD_BYTES), original.filename)
    if kind.raw:
        raise RejectedUpload("unsupported_type", "send the JPEG, PNG, WebP or HEIC original, not a RAW file")
    stream.seek(0)
    max_pixels = settings.gateway.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream, formats=[kind.name]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise RejectedUpload(
                        "too_many_pixels",
                        f"{width}x{height} is more than the limit of {max_pixels} pixels",
                        413,
                    )
                exif, _, _ = exif_summary(image.getexif(), ZoneInfo(settings.gateway.timezone))
                if kind.name != "JPEG":
                    image.load()
        if kind.name == "JPEG":
            verify_jpeg(stream)
    except RejectedUpload:
        raise
    except Exception as exc:
        raise RejectedUpload("corrupt_image", f"the original cannot be decoded: {exc}", 422) from None
    stream.seek(0)
    return OriginalInfo(kind.ext, kind.content_type, exif)


async def register_frame(
    session: AsyncSession,
    s3: Minio,
    settings: GatewaySettings,
    owner: User,
    meta: FrameMetadata,
    frame_jpeg: bytes,
    original: IncomingOriginal | None,
) -> RegisteredPhoto:
    """Check everything, then store the frame (and original) and record photo and frame rows."""
    frame_sha256 = await run_in_threadpool(check_frame, frame_jpeg, meta)
    info = await run_in_threadpool(check_original, original, meta, settings) if original else None
    existing = await repository.photo_by_sha256(session, owner.id, meta.sha256)
    if existing is not None:
        return RegisteredPhoto(existing, await repository.frame_of_photo(session, existing.id), created=False)

    photo_id = uuid.uuid4()
    key = frame_key(meta.taken_at, photo_id.hex, meta.params_hash)
    frames_bucket = settings.buckets.frames
    # File bytes take the uploads' data path (obstore); the MinIO SDK keeps the control path.
    await obstore.put_async(
        object_store(settings.s3, frames_bucket), key, frame_jpeg, **put_options("image/jpeg", {})
    )
    bucket = original_object = NO_ORIGINAL
    content_type, exif = meta.content_type, meta.exif
    if original is not None and info is not None:
        bucket, original_object = (
            settings.buckets.originals,
            original_key(owner.id, meta.taken_at, meta.sha256, info.ext),
        )
        content_type, exif = info.content_type, info.exif or meta.exif
        # Daily originals are ephemeral: once the frame is mirrored home, lifecycle expiry may take them.
        await obstore.put_async(
            object_store(settings.s3, bucket), original_object, original.file,
            **put_options(content_type, {EPHEMERAL: "true"}),
        )  # fmt: skip
    photo = Photo(
        id=photo_id, owner_id=owner.id, piwigo_id=await repository.free_piwigo_id(session, owner.id),
        sha256=meta.sha256, bucket=bucket, key=original_object,
        content_type=content_type, size=meta.size, original_name=meta.original_name, kind="daily",
        width=meta.original_width, height=meta.original_height, taken_at=meta.taken_at,
        utc_offset_minutes=_offset_minutes(meta.taken_at), exif=exif, status="aligned",
    )  # fmt: skip
    frame = Frame(
        photo_id=photo_id, bucket=frames_bucket, key=key, params_hash=meta.params_hash, sha256=frame_sha256,
        size=len(frame_jpeg), width=meta.width, height=meta.height, matrix=meta.matrix,
        left_eye=list(meta.left_eye), right_eye=list(meta.right_eye), confidence=meta.confidence,
        quality=meta.quality, aligned_at=utcnow(),
    )  # fmt: skip
    try:
        session.add(photo)
        await session.flush()  # the photo row first: the frame's foreign key names it
        session.add(frame)
        await session.flush()
    except IntegrityError:
        # The same original raced in from another request: answer with the winner, drop our frame.
        await session.rollback()
        await run_in_threadpool(_remove_quietly, s3, frames_bucket, key)
        winner = await repository.photo_by_sha256(session, owner.id, meta.sha256)
        if winner is None:
            raise
        return RegisteredPhoto(winner, await repository.frame_of_photo(session, winner.id), created=False)
    log.info(
        "gateway.backfill.registered photo=%s sha256=%s frame=%s original=%s",
        photo_id.hex, meta.sha256, key, bool(original_object),
    )  # fmt: skip
    return RegisteredPhoto(photo, frame, created=True)


def _remove_quietly(s3: Minio, bucket: str, key: str) -> None:
    try:
        s3.remove_object(bucket, key)
    except Exception:
        log.warning("gateway.backfill.cleanup_failed bucket=%s key=%s", bucket, key, exc_info=True)


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0
