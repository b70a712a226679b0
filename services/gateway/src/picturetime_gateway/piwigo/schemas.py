"""Piwigo's JSON shapes, as Darktable reads them (`categories[]`, `images[]`)."""

from __future__ import annotations

import uuid
from typing import Any

from picturetime_common.db.models import Album, Photo


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
