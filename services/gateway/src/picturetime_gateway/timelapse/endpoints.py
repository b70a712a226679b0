"""Publishing the timelapse the sync agent encoded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from picturetime_gateway.deps import AnyCaller, SessionDep, SettingsDep, StoreDep, SyncCaller
from picturetime_gateway.timelapse import service
from picturetime_gateway.timelapse.schemas import TimelapseOut

router = APIRouter(tags=["timelapse"])


@router.put(
    "/api/v1/timelapse",
    status_code=201,
    response_model=TimelapseOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={400: {"description": "checksum mismatch or not an MP4"}, 413: {"description": "too large"}},
)
async def publish_timelapse(
    request: Request,
    caller: SyncCaller,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    x_content_sha256: Annotated[str, Header(description="hex SHA-256 of the body, verified")],
    x_timelapse_frames: Annotated[int, Header(ge=0)] = 0,
    x_timelapse_duration: Annotated[float, Header(ge=0)] = 0.0,
) -> TimelapseOut:
    """Upload a new timelapse version (the body is the MP4, streamed); older versions are pruned."""
    row = await service.publish(
        session, store, settings, caller.user, request.stream(), sha256=x_content_sha256,
        published=service.Published(x_timelapse_frames, x_timelapse_duration),
    )  # fmt: skip
    return TimelapseOut.of(row)


@router.get(
    "/api/v1/timelapse/latest", response_model=TimelapseOut, responses={404: {"description": "none yet"}}
)
async def latest_timelapse(caller: AnyCaller, session: SessionDep) -> TimelapseOut:
    """The newest published timelapse version."""
    return TimelapseOut.of(await service.newest(session))
