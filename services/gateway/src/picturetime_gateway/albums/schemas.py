"""API shapes of albums and tags."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from picturetime_common.db.models import Album
from picturetime_common.enums import AlbumVisibility


class AlbumOut(BaseModel):
    id: int
    name: str
    slug: str = Field(description="its address on the public site: /albums/<slug>")
    description: str
    visibility: AlbumVisibility
    cover_photo_id: str | None
    photos: int = Field(description="its photos outside the trash")
    created_at: datetime

    @classmethod
    def of(cls, album: Album, count: int) -> AlbumOut:
        return cls(
            id=album.id, name=album.name, slug=album.slug, description=album.description,
            visibility=album.visibility, cover_photo_id=album.cover_photo_id.hex if album.cover_photo_id else None,
            photos=count, created_at=album.created_at,
        )  # fmt: skip


AlbumName = Field(min_length=1, max_length=200, pattern=r"\S")


class AlbumCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = AlbumName
    visibility: AlbumVisibility = AlbumVisibility.PRIVATE
    description: str = Field(default="", max_length=20000)


class AlbumPatch(BaseModel):
    """The fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    visibility: AlbumVisibility | None = None
    description: str | None = Field(default=None, max_length=20000)
    cover_photo_id: str | None = Field(
        default=None, max_length=64, description="one of the album's photos; an empty string: no chosen cover"
    )


class AlbumPhotos(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=500, description="ids of your photos")


class AlbumPhotosChanged(BaseModel):
    changed: int = Field(description="how many photos went in (or out); those already there (or not) count 0")
    album: AlbumOut


class Deleted(BaseModel):
    deleted: int


class TagOut(BaseModel):
    name: str
    count: int = Field(description="how many of your photos (outside the trash) carry it")


class TagRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"\S")


class TagRenamed(BaseModel):
    name: str
    count: int = Field(description="how many of your photos now carry it")
