"""Piwigo's JSON shapes: what Darktable reads (`categories[]`, `images[]`), the tags, and the
methods' signatures that `reflection.getMethodDetails` answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from picturetime_common.db.models import Album, Photo, Tag


def album_json(album: Album, count: int, covers: dict[uuid.UUID, int]) -> dict[str, Any]:
    return {
        "id": album.id, "name": album.name, "comment": album.description, "permalink": None,
        "status": album.visibility, "uppercats": str(album.id), "global_rank": str(album.id),
        "id_uppercat": None, "nb_images": count, "total_nb_images": count, "nb_categories": 0,
        "representative_picture_id": covers.get(album.cover_photo_id) if album.cover_photo_id else None,
        "date_last": None, "max_date_last": None, "url": f"/albums/{album.slug}", "tn_url": None,
    }  # fmt: skip


def image_json(photo: Photo, album_ids: list[int]) -> dict[str, Any]:
    return {
        "id": photo.piwigo_id, "width": photo.width, "height": photo.height, "hit": 0,
        "file": photo.original_name, "name": photo.title or photo.original_name.rpartition(".")[0],
        "comment": photo.description or None, "date_creation": f"{photo.taken_at_local:%Y-%m-%d %H:%M:%S}",
        "date_available": f"{photo.uploaded_at:%Y-%m-%d %H:%M:%S}", "page_url": f"/api/v1/photos/{photo.id.hex}",
        "element_url": f"/api/v1/photos/{photo.id.hex}", "derivatives": {},
        "categories": [{"id": i, "url": "", "page_url": ""} for i in album_ids],
    }  # fmt: skip


@dataclass(frozen=True)
class Param:
    """One parameter of a method, as `reflection.getMethodDetails` describes it."""

    name: str
    optional: bool = True
    accept_array: bool = False
    type: str = "mixed"  # mixed, bool, int, int positive, …
    default: Any = None
    info: str | None = None

    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": self.name, "optional": self.optional, "acceptArray": self.accept_array, "type": self.type,
        }  # fmt: skip
        if self.default is not None:
            found["defaultValue"] = self.default
        if self.info:
            found["info"] = self.info
        return found


@dataclass(frozen=True)
class Signature:
    """A served method's description, parameters and options (Piwigo's `post_only`, `admin_only`)."""

    description: str
    params: tuple[Param, ...] = ()
    post_only: bool = False
    admin_only: bool = False

    def json(self, name: str) -> dict[str, Any]:
        options = {k: True for k, v in (("admin_only", self.admin_only), ("post_only", self.post_only)) if v}
        return {
            "name": name, "description": self.description, "params": [p.json() for p in self.params],
            "options": options,
        }  # fmt: skip


def tag_json(tag: Tag, count: int) -> dict[str, Any]:
    return {
        "id": tag.id, "name": tag.name, "url_name": tag.name.replace(" ", "_"), "lastmodified": None,
        "counter": count, "url": "",
    }  # fmt: skip
