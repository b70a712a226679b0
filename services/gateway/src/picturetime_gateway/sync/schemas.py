"""API shapes of the sync agent's endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

from picturetime_common.db.models import Frame
from picturetime_gateway.photos.schemas import frame_listing


class PendingFrame(BaseModel):
    frame_id: str
    photo_id: str
    taken_at: str
    sha256: str
    size: int
    confidence: float
    content_url: str

    @classmethod
    def of(cls, frame: Frame) -> PendingFrame:
        return cls(**frame_listing(frame), confidence=frame.confidence)


class PendingOut(BaseModel):
    frames: list[PendingFrame]
    more: bool


class AckItem(BaseModel):
    frame_id: str = Field(max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the bytes the agent keeps")


class AckIn(BaseModel):
    frames: list[AckItem] = Field(max_length=1000)


class AckOut(BaseModel):
    acknowledged: int
