"""Reading photos and frames."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from picturetime_common.enums import PhotoKind, PhotoStatus
from picturetime_gateway.deps import AnyCaller, SessionDep, SettingsDep, StoreDep, UploadCaller
from picturetime_gateway.photos import service
from picturetime_gateway.photos.schemas import (
    BulkRequest,
    BulkResult,
    LibraryPhotoOut,
    PhotoOut,
    PhotoPage,
    PhotoPatch,
    TrashEmptied,
)

router = APIRouter(tags=["photos"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such photo for this account"}}
BAD_CURSOR: dict[int | str, dict[str, Any]] = {400: {"description": "a cursor this API did not give"}}
REFUSED_EDIT: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such photo (or album) for this account"},
    409: {"description": "the photo is in the trash"},
    422: {"description": "a field is invalid (a capture time more than a day ahead, …); nothing changed"},
}
NO_FRAME: dict[int | str, dict[str, Any]] = {404: {"description": "no such frame for this account"}}


@router.get("/api/v1/photos", response_model=PhotoPage, responses=BAD_CURSOR)
async def list_photos(
    caller: AnyCaller,
    session: SessionDep,
    cursor: Annotated[
        str | None, Query(max_length=500, description="`next_cursor` of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    order: Annotated[
        Literal["uploaded", "taken", "taken_asc"],
        Query(description="newest upload first, newest capture first, or oldest capture first"),
    ] = "uploaded",
    taken_from: Annotated[datetime | None, Query(description="captured at or after (no offset: UTC)")] = None,
    taken_to: Annotated[datetime | None, Query(description="captured at or before (no offset: UTC)")] = None,
    kind: PhotoKind | None = None,
    status: PhotoStatus | None = None,
    album: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="one of your albums' id")] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    has_raw: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the title or description")] = None,
    trashed: Annotated[bool, Query(description="list the trash instead")] = False,
) -> PhotoPage:
    """Your photos, a page at a time (follow `next_cursor`), filtered; the trash only with `trashed`."""
    found = service.PhotoFilter(
        taken_from=service.as_utc(taken_from), taken_to=service.as_utc(taken_to), kind=kind, status=status,
        album_id=album, tag=tag.strip().lower() if tag else None, has_raw=has_raw, text=q, trashed=trashed,
    )  # fmt: skip
    return await service.list_library(session, caller.user.id, found, order, cursor, limit)


@router.post("/api/v1/photos/bulk", response_model=BulkResult, responses=REFUSED_EDIT)
async def bulk_photos(
    body: BulkRequest, caller: UploadCaller, session: SessionDep, store: StoreDep
) -> BulkResult:
    """Delete (to the trash), restore or patch many of your photos at once: all of them, or none."""
    return BulkResult(action=body.action, count=await service.bulk(session, store, caller.user.id, body))


@router.post("/api/v1/photos/trash/empty", response_model=TrashEmptied)
async def empty_trash(
    caller: UploadCaller, session: SessionDep, store: StoreDep, settings: SettingsDep
) -> TrashEmptied:
    """Remove the photos in your trash for good: originals, RAW files, frames and renditions."""
    deleted = await service.empty_trash(session, store, settings.buckets.media, caller.user.id)
    return TrashEmptied(deleted=deleted)


@router.patch("/api/v1/photos/{photo_id}", response_model=LibraryPhotoOut, responses=REFUSED_EDIT)
async def patch_photo(
    photo_id: str, body: PhotoPatch, caller: UploadCaller, session: SessionDep, store: StoreDep
) -> LibraryPhotoOut:
    """Change a photo's title, description, capture time, kind, tags, albums or `show_location`.

    A new capture time or kind re-files the photo for the timelapse: its frame is made again.
    """
    return await service.patch_photo(session, store, caller.user.id, photo_id, body)


@router.delete("/api/v1/photos/{photo_id}", response_model=BulkResult, responses=NOT_FOUND)
async def delete_photo(photo_id: str, caller: UploadCaller, session: SessionDep) -> BulkResult:
    """Move a photo to the trash: hidden everywhere, restorable until the trash is emptied or expires."""
    return BulkResult(action="delete", count=await service.trash_photos(session, caller.user.id, [photo_id]))


@router.post("/api/v1/photos/{photo_id}/restore", response_model=BulkResult, responses=NOT_FOUND)
async def restore_photo(photo_id: str, caller: UploadCaller, session: SessionDep) -> BulkResult:
    """Bring a photo back from the trash."""
    return BulkResult(
        action="restore", count=await service.restore_photos(session, caller.user.id, [photo_id])
    )


@router.get("/api/v1/photos/{photo_id}", response_model=PhotoOut, responses=NOT_FOUND)
async def get_photo(photo_id: str, caller: AnyCaller, session: SessionDep) -> PhotoOut:
    """One of your photos with its alignment status and frame; other users' photos are not found."""
    photo, frame = await service.owned_photo(session, caller.user.id, photo_id)
    return PhotoOut.of(photo, frame, viewer_id=caller.user.id)


@router.get(
    "/api/v1/frames/{frame_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **NO_FRAME},
)
async def frame_content(
    frame_id: str, caller: AnyCaller, session: SessionDep, store: StoreDep
) -> StreamingResponse:
    """The aligned frame's JPEG bytes, streamed from the object store."""
    frame = await service.owned_frame(session, caller.user.id, frame_id)
    headers = {
        "Content-Length": str(frame.size),
        "ETag": f'"{frame.sha256}"',
        "X-Content-SHA256": frame.sha256,
    }
    # Starlette runs this blocking iterator in a worker thread.
    return StreamingResponse(store.read(frame.bucket, frame.key), media_type="image/jpeg", headers=headers)
