"""API shapes of photos and frames."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from picturetime_common.db.models import Frame, Photo


class FrameOut(BaseModel):
    id: str
    key: str
    sha256: str
    size: int
    width: int
    height: int
    matrix: list[list[float]]
    left_eye: list[float]
    right_eye: list[float]
    confidence: float
    quality: dict[str, object]
    aligned_at: datetime
    mirrored_at: datetime | None
    content_url: str

    @classmethod
    def of(cls, frame: Frame) -> FrameOut:
        return cls(
            id=frame.id.hex, key=frame.key, sha256=frame.sha256, size=frame.size, width=frame.width,
            height=frame.height, matrix=frame.matrix, left_eye=frame.left_eye, right_eye=frame.right_eye,
            confidence=frame.confidence, quality=frame.quality, aligned_at=frame.aligned_at,
            mirrored_at=frame.mirrored_at, content_url=f"/api/v1/frames/{frame.id.hex}/content",
        )  # fmt: skip


class PhotoOut(BaseModel):
    id: str
    sha256: str
    status: str
    kind: str
    taken_at: datetime
    uploaded_at: datetime
    content_type: str
    size: int
    width: int | None
    height: int | None
    original_name: str
    failure_reason: str | None
    failure_detail: str | None
    frame: FrameOut | None

    @classmethod
    def of(cls, photo: Photo, frame: Frame | None) -> PhotoOut:
        return cls(
            id=photo.id.hex, sha256=photo.sha256, status=photo.status, kind=photo.kind, taken_at=photo.taken_at_local,
            uploaded_at=photo.uploaded_at, content_type=photo.content_type, size=photo.size, width=photo.width,
            height=photo.height, original_name=photo.original_name, failure_reason=photo.failure_reason,
            failure_detail=photo.failure_detail, frame=FrameOut.of(frame) if frame else None,
        )  # fmt: skip
