"""API shapes of the timelapse."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

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


class PictureTimeIn(BaseModel):
    public: bool = Field(
        description="show this account's daily frames (the frame and the date) and timelapse"
    )


class PictureTimeOut(BaseModel):
    public: bool
    site_owner: bool = Field(description="whether the site's /picture-time page is this account's")
    page: str = Field(description="the public site's path of this account's Picture Time")


class SiteOwnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="an admin account's name")


class SiteOwnerOut(BaseModel):
    name: str
