"""The gateway's answers, as the client hands them back."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator


class _Answer(BaseModel):
    # Fields the gateway adds later are ignored: an older client keeps working with a newer gateway.
    model_config = ConfigDict(frozen=True, extra="ignore")


class PendingFrame(_Answer):
    """One frame the gateway holds for the home machine until it is acknowledged."""

    frame_id: str
    photo_id: str
    taken_at: str
    sha256: str
    size: int
    content_url: str
    confidence: float | None = None

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class PendingPage(_Answer):
    """One page of pending frames; `more` means call again after acknowledging these."""

    frames: list[PendingFrame]
    more: bool = False


class PublishedTimelapse(_Answer):
    """A timelapse version the gateway stores."""

    version: str
    key: str
    sha256: str
    frames: int
    duration: float
    size: int | None = None


class _Photo(_Answer):
    id: str
    sha256: str


class _Lookup(_Answer):
    known: list[str]


class _Acknowledged(_Answer):
    acknowledged: int = 0


@dataclass(frozen=True)
class UploadResult:
    """The gateway's answer to a photo upload or a frame registration; `created` False: it had it already."""

    photo_id: str
    sha256: str
    created: bool
