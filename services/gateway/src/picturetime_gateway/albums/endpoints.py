"""Albums and tags over the JSON API: create, rename, visibility, cover, add and remove photos."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from picturetime_gateway.albums import service
from picturetime_gateway.albums.schemas import (
    AlbumCreate,
    AlbumOut,
    AlbumPatch,
    AlbumPhotos,
    AlbumPhotosChanged,
    Deleted,
    TagOut,
    TagRename,
)
from picturetime_gateway.deps import AnyCaller, SessionDep, UploadCaller

router = APIRouter(tags=["albums"])
AlbumId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such album for this account"}}
REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such album (or photo) for this account"},
    409: {"description": "you already have an album of that name"},
    422: {"description": "a field is invalid (a cover not in the album, …); nothing changed"},
}
PHOTOS_REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such album, or one of the ids is not one of your photos; nothing changed"}
}


@router.get("/api/v1/albums", response_model=list[AlbumOut])
async def list_albums(caller: AnyCaller, session: SessionDep) -> list[AlbumOut]:
    """Your albums, by name, with how many photos each holds."""
    return await service.api_albums(session, caller.user.id)


@router.post("/api/v1/albums", response_model=AlbumOut, status_code=201, responses=REFUSED)
async def create_album(body: AlbumCreate, caller: UploadCaller, session: SessionDep) -> AlbumOut:
    """A new album (private unless `visibility` says `public`)."""
    return await service.api_create_album(session, caller.user.id, body)


@router.get("/api/v1/albums/{album_id}", response_model=AlbumOut, responses=NOT_FOUND)
async def get_album(album_id: AlbumId, caller: AnyCaller, session: SessionDep) -> AlbumOut:
    """One of your albums; list its photos with `GET /api/v1/photos?album=<id>`."""
    return await service.api_album(session, caller.user.id, album_id)


@router.patch("/api/v1/albums/{album_id}", response_model=AlbumOut, responses=REFUSED)
async def patch_album(
    album_id: AlbumId, body: AlbumPatch, caller: UploadCaller, session: SessionDep
) -> AlbumOut:
    """Rename an album (its address follows the name), change its visibility, description or cover."""
    return await service.api_patch_album(session, caller.user.id, album_id, body)


@router.delete("/api/v1/albums/{album_id}", response_model=Deleted, responses=NOT_FOUND)
async def delete_album(album_id: AlbumId, caller: UploadCaller, session: SessionDep) -> Deleted:
    """Delete an album; its photos stay in your library."""
    return Deleted(deleted=await service.api_delete_album(session, caller.user.id, album_id))


@router.post("/api/v1/albums/{album_id}/photos", response_model=AlbumPhotosChanged, responses=PHOTOS_REFUSED)
async def add_album_photos(
    album_id: AlbumId, body: AlbumPhotos, caller: UploadCaller, session: SessionDep
) -> AlbumPhotosChanged:
    """Put photos in an album (the first becomes its cover if it has none)."""
    return await service.add_photos(session, caller.user.id, album_id, body.ids)


@router.post(
    "/api/v1/albums/{album_id}/photos/remove", response_model=AlbumPhotosChanged, responses=PHOTOS_REFUSED
)
async def remove_album_photos(
    album_id: AlbumId, body: AlbumPhotos, caller: UploadCaller, session: SessionDep
) -> AlbumPhotosChanged:
    """Take photos out of an album; they stay in your library."""
    return await service.remove_photos(session, caller.user.id, album_id, body.ids)


@router.get("/api/v1/tags", response_model=list[TagOut])
async def list_tags(caller: AnyCaller, session: SessionDep) -> list[TagOut]:
    """The tags on your photos, by name, with how many photos carry each."""
    return await service.api_tags(session, caller.user.id)


@router.patch(
    "/api/v1/tags/{name}",
    response_model=TagOut,
    responses={404: {"description": "none of your photos has that tag"}, 422: {"description": "a bad name"}},
)
async def rename_tag(
    name: Annotated[str, Path(max_length=100)], body: TagRename, caller: UploadCaller, session: SessionDep
) -> TagOut:
    """Rename a tag on your photos (other accounts' photos keep theirs); to a tag you use, it merges them."""
    return await service.rename_tag(session, caller.user.id, name, body.name)
