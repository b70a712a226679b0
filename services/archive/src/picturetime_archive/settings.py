"""Archive settings: the common ones plus the `PT_ARCHIVE__…` group."""

from __future__ import annotations

from pydantic import BaseModel

from picturetime_common.settings import CommonSettings


class ArchiveOptions(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    site_title: str = "Picture Time"
    owner_name: str = ""
    latest_frames: int = 12


class ArchiveSettings(CommonSettings):
    archive: ArchiveOptions = ArchiveOptions()
