"""What the home sync agent pulls and acknowledges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from picturetime_gateway.deps import SessionDep, StoreDep, SyncCaller
from picturetime_gateway.sync import service
from picturetime_gateway.sync.schemas import AckIn, AckOut, PendingFrame, PendingOut

router = APIRouter(tags=["sync"])


@router.get("/api/v1/sync/pending", response_model=PendingOut)
async def pending_frames(
    caller: SyncCaller, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 500
) -> PendingOut:
    """Aligned frames not yet mirrored to the home machine, oldest capture first."""
    frames, more = await service.pending_frames(session, caller.user.id, limit)
    return PendingOut(frames=[PendingFrame.of(f) for f in frames], more=more)


@router.post(
    "/api/v1/sync/ack", response_model=AckOut, responses={422: {"description": "malformed frame ids"}}
)
async def acknowledge_frames(body: AckIn, caller: SyncCaller, session: SessionDep, store: StoreDep) -> AckOut:
    """Mark frames mirrored; their objects (and ephemeral originals) become eligible for expiry.

    Each item names the SHA-256 the agent verified: a frame re-aligned since it was listed has other
    bytes, so it is not acknowledged and stays pending until its new pixels are home.
    """
    return AckOut(acknowledged=await service.acknowledge(session, store, caller.user.id, body.frames))
