"""Reading photos and frames."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from minio import Minio

from picturetime_gateway.deps import AnyCaller, S3Dep, SessionDep
from picturetime_gateway.errors import ApiError
from picturetime_gateway.photos import repository
from picturetime_gateway.photos.schemas import PhotoOut

router = APIRouter(tags=["photos"])
NOT_FOUND = {404: {"description": "no such photo for this account"}}
NO_FRAME = {404: {"description": "no such frame for this account"}}


@router.get("/api/v1/photos/{photo_id}", response_model=PhotoOut, responses=NOT_FOUND)
async def get_photo(photo_id: str, caller: AnyCaller, session: SessionDep) -> PhotoOut:
    """One of your photos with its alignment status and frame; other users' photos are not found."""
    parsed = repository.parse_id(photo_id)
    photo = await repository.photo_for_owner(session, caller.user.id, parsed) if parsed else None
    if photo is None:
        raise ApiError(404, "not_found", "no such photo")
    frame = await repository.frame_of_photo(session, photo.id)
    return PhotoOut.of(photo, frame, viewer_id=caller.user.id)


@router.get(
    "/api/v1/frames/{frame_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **NO_FRAME},
)
async def frame_content(
    frame_id: str, caller: AnyCaller, session: SessionDep, s3: S3Dep
) -> StreamingResponse:
    """The aligned frame's JPEG bytes, streamed from the object store."""
    parsed = repository.parse_id(frame_id)
    frame = await repository.frame_for_owner(session, caller.user.id, parsed) if parsed else None
    if frame is None:
        raise ApiError(404, "not_found", "no such frame")
    headers = {
        "Content-Length": str(frame.size),
        "ETag": f'"{frame.sha256}"',
        "X-Content-SHA256": frame.sha256,
    }
    return StreamingResponse(
        stream_object(s3, frame.bucket, frame.key), media_type="image/jpeg", headers=headers
    )


def stream_object(s3: Minio, bucket: str, key: str, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """Yield an object's bytes; Starlette runs this sync iterator in a worker thread."""
    response = s3.get_object(bucket, key)
    try:
        yield from response.stream(chunk)
    finally:
        response.close()
        response.release_conn()
