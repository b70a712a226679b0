"""What the home sync agent pulls and acknowledges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from picturetime_common.s3 import EPHEMERAL, MIRRORED, add_tags
from picturetime_gateway.deps import S3Dep, SessionDep, SyncCaller
from picturetime_gateway.errors import ApiError
from picturetime_gateway.photos import repository

router = APIRouter(tags=["sync"])


class PendingFrame(BaseModel):
    frame_id: str
    photo_id: str
    taken_at: str
    sha256: str
    size: int
    confidence: float
    content_url: str


class PendingOut(BaseModel):
    frames: list[PendingFrame]
    more: bool


class AckItem(BaseModel):
    frame_id: str = Field(max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the bytes the agent keeps")


class AckIn(BaseModel):
    frames: list[AckItem] = Field(max_length=1000)


class AckOut(BaseModel):
    acknowledged: int


@router.get("/api/v1/sync/pending", response_model=PendingOut)
async def pending_frames(
    caller: SyncCaller, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 500
) -> PendingOut:
    """Aligned frames not yet mirrored to the home machine, oldest capture first."""
    frames = await repository.unmirrored_frames(session, caller.user.id, limit + 1)
    items = [
        PendingFrame(
            frame_id=f.id.hex,
            photo_id=f.photo_id.hex,
            taken_at=f.photo.taken_at_local.isoformat(),
            sha256=f.sha256,
            size=f.size,
            confidence=f.confidence,
            content_url=f"/api/v1/frames/{f.id.hex}/content",
        )
        for f in frames[:limit]
    ]
    return PendingOut(frames=items, more=len(frames) > limit)


@router.post(
    "/api/v1/sync/ack", response_model=AckOut, responses={422: {"description": "malformed frame ids"}}
)
async def acknowledge_frames(body: AckIn, caller: SyncCaller, session: SessionDep, s3: S3Dep) -> AckOut:
    """Mark frames mirrored; their objects (and ephemeral originals) become eligible for expiry.

    Each item names the SHA-256 the agent verified: a frame re-aligned since it was listed has other
    bytes, so it is not acknowledged and stays pending until its new pixels are home.
    """
    ids = [repository.parse_id(item.frame_id) for item in body.frames]
    if any(i is None for i in ids):
        raise ApiError(422, "invalid_frame_id", "frame ids are 32-character hex strings")
    confirmed = {(i, item.sha256) for i, item in zip(ids, body.frames, strict=True)}
    frames = await repository.frames_for_owner(session, caller.user.id, ids)  # type: ignore[arg-type]
    matching = [f for f in frames if (f.id, f.sha256) in confirmed]
    fresh = [f for f in matching if f.mirrored_at is None]
    for frame in fresh:
        # Tag before the row commits: a failed tag leaves the frame pending, so the agent retries.
        await run_in_threadpool(add_tags, s3, frame.bucket, frame.key, {MIRRORED: "true"})
        photo = frame.photo
        # A backfilled photo may have no stored original (empty key): only its frame is tagged.
        if photo.kind == "daily" and photo.key:
            await run_in_threadpool(
                add_tags, s3, photo.bucket, photo.key, {EPHEMERAL: "true", MIRRORED: "true"}
            )
    await repository.mark_mirrored(session, [(f.id, f.sha256) for f in fresh])
    return AckOut(acknowledged=len(matching))
