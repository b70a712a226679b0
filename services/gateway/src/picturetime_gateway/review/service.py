"""The review queue: photos the aligner could not align well, and the owner's manual eye points.

The owner clicks both eyes on an upright preview of the original; the gateway turns the clicks into
upright original pixels and asks the aligner for a new frame with a `pt.photo.realign` event, written
to the outbox in the same transaction that marks the photo pending again.
"""

from __future__ import annotations

import math
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import IO

from minio.error import S3Error
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from picturetime_common.db.models import Frame, Photo, User
from picturetime_common.enums import FailureReason, PhotoStatus
from picturetime_common.events import PhotoRealign
from picturetime_common.ids import parse_id
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.outbox.service import add_event
from picturetime_gateway.review import repository

PREVIEW_LONG_SIDE = 2048  # the preview the owner clicks on; its scale to the original is known
THUMB_LONG_SIDE = 480
MIN_EYE_DISTANCE = 4.0  # preview pixels: two clicks closer than this are one point clicked twice
SPOOL_IN_MEMORY = 16 * 1024 * 1024
FLAG_LABELS = {"eyes_closed": "eyes closed", "strong_yaw": "turned away", "ambiguous_face": "several faces"}
REASON_LABELS = {
    FailureReason.NO_FACE: "no face found",
    FailureReason.UNDECODABLE: "cannot be decoded",
    FailureReason.MISSING_ORIGINAL: "original missing",
    FailureReason.ERROR: "alignment error",
}


@dataclass(frozen=True)
class Geometry:
    """The upright original's size and the preview's: preview (x, y) ↦ upright (x·sx, y·sy)."""

    upright: tuple[int, int]
    preview: tuple[int, int]

    @classmethod
    def of(cls, upright: tuple[int, int], long_side: int = PREVIEW_LONG_SIDE) -> Geometry:
        w, h = upright
        scale = min(1.0, long_side / max(w, h))
        return cls(upright, (max(1, round(w * scale)), max(1, round(h * scale))))

    def to_upright(self, x: float, y: float) -> tuple[float, float]:
        """Preview coordinates (0..width, corner at 0) to upright pixels (pixel centres at integers)."""
        return (x * self.upright[0] / self.preview[0] - 0.5, y * self.upright[1] / self.preview[1] - 0.5)


@dataclass(frozen=True)
class QueueItem:
    photo: Photo
    frame: Frame | None
    reasons: list[str]
    realigning: bool


class UnreadableOriginal(Exception):
    """The original is gone from the object store, or no image this gateway can open."""


def review_reasons(photo: Photo, frame: Frame | None, threshold: float) -> list[str]:
    """Why a photo waits for review, in words."""
    if photo.status == PhotoStatus.FAILED:
        reason = photo.failure_reason
        return [REASON_LABELS[reason] if reason is not None else "failed"]
    if frame is None:
        return []
    reasons = [label for flag, label in FLAG_LABELS.items() if (frame.quality or {}).get(flag)]
    if frame.confidence < threshold:
        reasons.insert(0, f"low confidence {frame.confidence:.2f}")
    return reasons


def _open_upright(file: IO[bytes], long_side: int | None) -> tuple[Geometry, Image.Image | None]:
    """The original's upright geometry, and (with long_side) its upright pixels reduced to fit."""
    try:
        with Image.open(file) as image:
            orientation = image.getexif().get(0x0112, 1)
            w, h = image.size
            upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
            geometry = Geometry.of(upright, long_side or PREVIEW_LONG_SIDE)
            if long_side is None:
                return geometry, None
            pw, ph = geometry.preview
            # A JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the cost; never below the preview.
            image.draft("RGB", (ph, pw) if upright != (w, h) else (pw, ph))
            pixels = ImageOps.exif_transpose(image).convert("RGB")
            return geometry, pixels.resize(geometry.preview, Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UnreadableOriginal(f"the original cannot be opened as an image ({exc})") from None


def read_original(store: ObjectStore, photo: Photo, long_side: int | None) -> tuple[Geometry, bytes | None]:
    """Read the original (spooled to disk when large): its geometry and, if asked, a JPEG preview."""
    try:
        response = store.client.get_object(photo.bucket, photo.key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
            raise UnreadableOriginal("the original is no longer stored") from None
        raise
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        try:
            for chunk in response.stream(256 * 1024):
                spool.write(chunk)
        finally:
            response.close()
            response.release_conn()
        spool.seek(0)
        geometry, pixels = _open_upright(spool, long_side)
    if pixels is None:
        return geometry, None
    out = BytesIO()
    pixels.save(out, "JPEG", quality=85)
    return geometry, out.getvalue()


async def own_daily_photo(session: AsyncSession, admin: User, photo_id: str) -> Photo:
    """The admin's own daily photo (only daily photos are aligned; photos stay their owner's)."""
    parsed = parse_id(photo_id)
    photo = await repository.daily_photo_of(session, admin.id, parsed) if parsed else None
    if photo is None:
        raise GatewayError(404, "not_found", "no such daily photo")
    return photo


async def queue_items(
    session: AsyncSession, admin: User, threshold: float, limit: int = 200
) -> Sequence[QueueItem]:
    realigning = await repository.realigning_photo_ids(session)
    rows = await repository.review_queue(session, admin.id, threshold, realigning, limit)
    return [
        QueueItem(photo, frame, review_reasons(photo, frame, threshold), photo.id in realigning)
        for photo, frame in rows
    ]


def parse_points(geometry: Geometry, values: dict[str, str]) -> tuple[tuple[float, float], ...]:
    """Two points in preview pixels, checked and ordered left to right; raises ValueError."""
    numbers = {}
    for name, raw in values.items():
        try:
            numbers[name] = float(raw.strip())
        except ValueError:
            raise ValueError("give both eyes: click each one, or type its x and y") from None
        if not math.isfinite(numbers[name]):
            raise ValueError("the coordinates must be numbers")
    points = [(numbers["a_x"], numbers["a_y"]), (numbers["b_x"], numbers["b_y"])]
    pw, ph = geometry.preview
    for x, y in points:
        if not (0 <= x <= pw and 0 <= y <= ph):
            raise ValueError(f"a point lies outside the {pw} x {ph} px preview")
    if math.dist(*points) < MIN_EYE_DISTANCE:
        raise ValueError("the two eyes must be two different points")
    return tuple(sorted(points))  # the eye on the left of the upright image first


@dataclass(frozen=True)
class CandidateBox:
    """A face the aligner saw, as percentages of the upright preview, for the review page."""

    number: int
    left: float
    top: float
    width: float
    height: float
    distance: float | None  # to the owner's faceprint (under 0.6: looks like the owner)
    chosen: bool  # the face the current frame is aligned on


def candidate_boxes(frame: Frame | None) -> list[CandidateBox]:
    """The faces of a group photo the aligner chose among (none for a photo with one face)."""
    quality = (frame.quality or {}) if frame is not None else {}
    size, found = quality.get("image_size"), quality.get("candidates")
    if not (isinstance(size, list) and len(size) == 2 and isinstance(found, list)):
        return []
    try:
        w, h = float(size[0]), float(size[1])
        eyes = None
        if frame is not None and frame.left_eye and frame.right_eye:
            eyes = (
                (frame.left_eye[0] + frame.right_eye[0]) / 2,
                (frame.left_eye[1] + frame.right_eye[1]) / 2,
            )
        boxes = []
        for i, candidate in enumerate(found, start=1):
            x0, y0, x1, y1 = (float(v) for v in candidate["box"])
            distance = candidate.get("distance")
            chosen = eyes is not None and x0 <= eyes[0] <= x1 and y0 <= eyes[1] <= y1
            boxes.append(CandidateBox(
                i, 100 * x0 / w, 100 * y0 / h, 100 * (x1 - x0) / w, 100 * (y1 - y0) / h,
                None if distance is None else float(distance), bool(chosen),
            ))  # fmt: skip
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return []  # a quality record of another shape: the page works without boxes
    return boxes


@dataclass(frozen=True)
class PhotoReview:
    """One photo's review page."""

    photo: Photo
    frame: Frame | None
    reasons: list[str]
    realigning: bool
    candidates: list[CandidateBox]


async def photo_review(session: AsyncSession, photo: Photo, threshold: float) -> PhotoReview:
    frame = await repository.frame_of(session, photo.id)
    realigning = photo.status == PhotoStatus.PENDING and photo.id in await repository.realigning_photo_ids(
        session
    )
    return PhotoReview(
        photo, frame, review_reasons(photo, frame, threshold), realigning, candidate_boxes(frame)
    )


async def preview(store: ObjectStore, photo: Photo, size: int) -> tuple[Geometry, bytes, int]:
    """The original upright, as a JPEG whose long side is at most `size` (within limits): its
    geometry, the JPEG and the long side it was made for."""
    long_side = min(PREVIEW_LONG_SIDE, max(64, size))
    try:
        geometry, jpeg = await run_in_threadpool(read_original, store, photo, long_side)
    except UnreadableOriginal as exc:
        raise GatewayError(404, "original_unavailable", str(exc)) from None
    assert jpeg is not None
    return geometry, jpeg, long_side


async def correct_eyes(
    session: AsyncSession, store: ObjectStore, photo: Photo, points: dict[str, str]
) -> None:
    """Manual eye points (preview pixels) → a `pt.photo.realign` event and the photo pending again.

    Raises UnreadableOriginal, or ValueError for points that are not two eyes on the preview."""
    geometry, _ = await run_in_threadpool(read_original, store, photo, None)
    left, right = parse_points(geometry, points)
    left_eye, right_eye = geometry.to_upright(*left), geometry.to_upright(*right)
    add_event(
        session,
        PhotoRealign(
            event_id=f"{repository.REALIGN_PREFIX}{photo.id.hex}-{uuid.uuid4().hex[:16]}",
            photo_id=photo.id.hex, bucket=photo.bucket, key=photo.key, taken_at=photo.taken_at_local,
            left_eye=left_eye, right_eye=right_eye,
        ),
    )  # fmt: skip
    photo.status, photo.failure_reason, photo.failure_detail = PhotoStatus.PENDING, None, None
