"""Typed events on the `PICTURETIME` JetStream stream (subjects `pt.>`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from picturetime_common.enums import FailureReason

SCHEMA_VERSION = 1
Point = tuple[float, float]
Matrix = list[list[float]]


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event: `event_id` doubles as the JetStream `Nats-Msg-Id`."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    subject: ClassVar[str]

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = Field(default_factory=_now)
    schema_version: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class PhotoUploaded(Event):
    subject: ClassVar[str] = "pt.photo.uploaded"

    photo_id: str
    bucket: str
    key: str
    sha256: str
    taken_at: datetime
    content_type: str


class PhotoRealign(Event):
    subject: ClassVar[str] = "pt.photo.realign"

    photo_id: str
    bucket: str
    key: str
    taken_at: datetime
    left_eye: Point | None = None
    right_eye: Point | None = None
    settings: dict[str, object] | None = None


class FrameAligned(Event):
    subject: ClassVar[str] = "pt.frame.aligned"

    photo_id: str
    bucket: str
    key: str
    params_hash: str
    sha256: str
    size: int
    width: int
    height: int
    matrix: Matrix
    left_eye: Point
    right_eye: Point
    confidence: float
    quality: dict[str, object] = Field(default_factory=dict)


class FrameFailed(Event):
    subject: ClassVar[str] = "pt.frame.failed"

    photo_id: str
    reason: FailureReason
    detail: str = ""
    # True when the photo itself may be fine (`crashed`: the machine may have been short of memory),
    # so a later try may align it; False for the photo's own faults.
    retryable: bool = False


class TimelapsePublished(Event):
    subject: ClassVar[str] = "pt.timelapse.published"

    version: str
    key: str
    frames: int
    duration: float


class PictureTimeShared(Event):
    """An account's Picture Time became public or private, or the site changed owner: what the public
    site shows changed at once."""

    subject: ClassVar[str] = "pt.timelapse.shared"

    owner_id: int
    public: bool
    site_owner_id: int | None = None


class PhotoDeleted(Event):
    """A photo, its frame and files are gone (the archive forgets it)."""

    subject: ClassVar[str] = "pt.photo.deleted"

    photo_id: str
    owner: int


class LibraryChanged(Event):
    """An owner changed photos in their library (edited, trashed, restored): pages showing them are stale."""

    subject: ClassVar[str] = "pt.library.changed"

    owner: int
    photo_ids: list[str]


EVENT_TYPES: dict[str, type[Event]] = {
    cls.subject: cls
    for cls in (
        PhotoUploaded,
        PhotoRealign,
        FrameAligned,
        FrameFailed,
        TimelapsePublished,
        PictureTimeShared,
        PhotoDeleted,
        LibraryChanged,
    )
}


def parse_event(subject: str, data: bytes) -> Event:
    """Decode a message body into the event model its subject names."""
    try:
        cls = EVENT_TYPES[subject]
    except KeyError:
        raise ValueError(f"unknown event subject {subject!r}") from None
    return cls.model_validate_json(data)
