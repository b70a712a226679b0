"""API shapes of uploads."""

from __future__ import annotations

from pydantic import BaseModel

from picturetime_common.db.models import Frame, Photo
from picturetime_gateway.photos.schemas import PhotoOut


class RawOut(BaseModel):
    content_type: str
    size: int


class UploadOut(PhotoOut):
    """A photo as an upload answers it: the photo, its RAW, albums and tags, and whether it was new."""

    title: str
    description: str
    exif: dict[str, object]
    raw: RawOut | None
    albums: list[str]
    tags: list[str]
    duplicate: bool

    @classmethod
    def build(
        cls, photo: Photo, frame: Frame | None, *, albums: list[str], tags: list[str], duplicate: bool
    ) -> UploadOut:
        raw = (
            RawOut(content_type=photo.raw_content_type or "", size=photo.raw_size or 0)
            if photo.raw_key
            else None
        )
        return cls(
            **PhotoOut.of(photo, frame, viewer_id=photo.owner_id).model_dump(), title=photo.title,
            description=photo.description, exif=photo.exif or {}, raw=raw, albums=albums, tags=tags,
            duplicate=duplicate,
        )  # fmt: skip
