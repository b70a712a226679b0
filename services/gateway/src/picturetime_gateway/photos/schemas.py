"""API shapes of photos and frames."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from picturetime_common.db.models import Frame, Photo
from picturetime_common.enums import PhotoKind


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


class LocationOut(BaseModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    altitude: float | None = Field(default=None, description="metres above sea level")

    @classmethod
    def of(cls, gps: dict[str, Any] | None) -> LocationOut | None:
        """Read `{"latitude", "longitude", "altitude"?}` (or `lat`/`lon`/`alt`); None when unusable."""
        if not isinstance(gps, dict):
            return None
        lat, lon = gps.get("latitude", gps.get("lat")), gps.get("longitude", gps.get("lon"))
        alt = gps.get("altitude", gps.get("alt"))
        numbers = [v for v in (lat, lon, alt) if v is not None]
        if lat is None or lon is None or not all(_finite(v) for v in numbers):
            return None
        if not (-90 <= float(lat) <= 90 and -180 <= float(lon) <= 180):
            return None
        return cls(latitude=float(lat), longitude=float(lon), altitude=None if alt is None else float(alt))


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
    show_location: bool = Field(description="the owner lets the location be shown")
    location: LocationOut | None = Field(
        default=None, description="only when the owner opted in (`show_location`), and only to the owner"
    )
    deleted_at: datetime | None = Field(default=None, description="in the trash since then")

    @classmethod
    def of(cls, photo: Photo, frame: Frame | None, *, viewer_id: int | None = None) -> PhotoOut:
        """The photo as `viewer_id` may see it; without a viewer, never its location."""
        # GPS is private by default: it leaves only with the owner's opt-in, and only to the owner.
        location = LocationOut.of(photo.gps) if photo.show_location and viewer_id == photo.owner_id else None
        return cls(
            id=photo.id.hex, sha256=photo.sha256, status=photo.status, kind=photo.kind, taken_at=photo.taken_at_local,
            uploaded_at=photo.uploaded_at, content_type=photo.content_type, size=photo.size, width=photo.width,
            height=photo.height, original_name=photo.original_name, failure_reason=photo.failure_reason,
            failure_detail=photo.failure_detail, frame=FrameOut.of(frame) if frame else None,
            show_location=bool(photo.show_location), location=location, deleted_at=photo.deleted_at,
        )  # fmt: skip


class AlbumRef(BaseModel):
    id: int
    name: str


class LibraryPhotoOut(PhotoOut):
    """A photo as the library lists it: with what its owner wrote and filed it under."""

    title: str
    description: str
    has_raw: bool
    tags: list[str]
    albums: list[AlbumRef]

    @classmethod
    def listed(
        cls, photo: Photo, frame: Frame | None, tags: list[str], albums: list[tuple[int, str]]
    ) -> LibraryPhotoOut:
        base = PhotoOut.of(photo, frame, viewer_id=photo.owner_id)
        return cls(
            **base.model_dump(exclude={"frame", "location"}), frame=base.frame, location=base.location,
            title=photo.title, description=photo.description, has_raw=photo.raw_key is not None, tags=tags,
            albums=[AlbumRef(id=album_id, name=name) for album_id, name in albums],
        )  # fmt: skip


class PhotoPage(BaseModel):
    items: list[LibraryPhotoOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class PhotoPatch(BaseModel):
    """The fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=20000)
    taken_at: datetime | None = Field(
        default=None, description="the capture time, with its UTC offset (no offset: UTC)"
    )
    kind: PhotoKind | None = None
    tags: list[str] | None = Field(default=None, max_length=50, description="replaces the photo's tags")
    albums: list[int] | None = Field(
        default=None, max_length=200, description="ids of your albums: replaces the photo's albums"
    )
    show_location: bool | None = None


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=500)
    action: Literal["delete", "restore", "patch"] = Field(
        description="`delete` (to the trash), `restore` (from it) or `patch`"
    )
    patch: PhotoPatch | None = Field(default=None, description="the changes, for `patch`")


class BulkResult(BaseModel):
    action: Literal["delete", "restore", "patch"]
    count: int = Field(description="how many photos it changed")


class TrashEmptied(BaseModel):
    deleted: int = Field(description="how many photos went for good")


def frame_listing(frame: Frame) -> dict[str, Any]:
    """What a list of frames says of each (the sync agent's pending frames, Photolog's status)."""
    return {
        "frame_id": frame.id.hex, "photo_id": frame.photo_id.hex, "taken_at": frame.photo.taken_at_local.isoformat(),
        "sha256": frame.sha256, "size": frame.size, "content_url": f"/api/v1/frames/{frame.id.hex}/content",
    }  # fmt: skip
