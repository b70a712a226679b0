"""Reading photos and frames."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from picturetime_gateway.deps import AnyCaller, SessionDep, StoreDep
from picturetime_gateway.photos import service
from picturetime_gateway.photos.schemas import PhotoOut

router = APIRouter(tags=["photos"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such photo for this account"}}
NO_FRAME: dict[int | str, dict[str, Any]] = {404: {"description": "no such frame for this account"}}


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
    # The length is the object's own: a realignment may have replaced it a moment before its row.
    size, body = await run_in_threadpool(store.open, frame.bucket, frame.key)
    headers = {"Content-Length": str(size)}
    if size == frame.size:
        headers |= {"ETag": f'"{frame.sha256}"', "X-Content-SHA256": frame.sha256}
    else:
        headers["Cache-Control"] = "no-store"
    # Starlette runs this blocking iterator in a worker thread.
    return StreamingResponse(body, media_type="image/jpeg", headers=headers)
