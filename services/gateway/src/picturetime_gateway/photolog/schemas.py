"""API shapes of the seed-compatible endpoints."""

from __future__ import annotations

from pydantic import BaseModel

from picturetime_common.db.models import Frame, TimelapseVersion
from picturetime_gateway.photos.schemas import frame_listing


class PhotologOut(BaseModel):
    key: str
    queued: bool
    reason: str | None = None
    status: str
    sha256: str


class WaitingFrame(BaseModel):
    frame_id: str
    photo_id: str
    taken_at: str
    sha256: str
    size: int
    url: str

    @classmethod
    def of(cls, frame: Frame) -> WaitingFrame:
        listed = frame_listing(frame)
        listed["url"] = listed.pop("content_url")  # the seed's name for it
        return cls(**listed)


class StatusOut(BaseModel):
    waiting: list[WaitingFrame]
    count: int
    more: bool
    aligning: int
    failed: int
    timelapse: dict[str, object] | None

    @staticmethod
    def timelapse_of(row: TimelapseVersion | None) -> dict[str, object] | None:
        if row is None:
            return None
        return {
            "version": row.version, "frames": row.frames, "duration": row.duration,
            "created_at": row.created_at.isoformat(),
        }  # fmt: skip
