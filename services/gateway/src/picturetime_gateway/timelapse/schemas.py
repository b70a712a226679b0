"""API shapes of the timelapse."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from picturetime_common.db.models import TimelapseVersion


class TimelapseOut(BaseModel):
    version: str
    key: str
    sha256: str
    size: int
    frames: int
    duration: float
    created_at: datetime

    @classmethod
    def of(cls, row: TimelapseVersion) -> TimelapseOut:
        return cls(version=row.version, key=row.key, sha256=row.sha256, size=row.size, frames=row.frames,
                   duration=row.duration, created_at=row.created_at)  # fmt: skip
