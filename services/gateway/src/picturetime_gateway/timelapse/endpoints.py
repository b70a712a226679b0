"""Publishing the timelapse the sync agent encoded."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Request

from picturetime_gateway.deps import (
    AccountCaller,
    AdminCaller,
    AnyCaller,
    Caller,
    SessionDep,
    SettingsDep,
    StoreDep,
    SyncCaller,
)
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.timelapse import service
from picturetime_gateway.timelapse.schemas import (
    PictureTimeIn,
    PictureTimeOut,
    SiteOwnerIn,
    SiteOwnerOut,
    TimelapseOut,
)

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
    """Upload a new version of your timelapse (the body is the MP4, streamed); your older versions
    are pruned, nobody else's."""
    row = await service.publish(
        session, store, settings, caller.user, request.stream(), sha256=x_content_sha256,
        published=service.Published(x_timelapse_frames, x_timelapse_duration),
    )  # fmt: skip
    return TimelapseOut.of(row)


@router.get(
    "/api/v1/timelapse/latest", response_model=TimelapseOut, responses={404: {"description": "none yet"}}
)
async def latest_timelapse(caller: AnyCaller, session: SessionDep) -> TimelapseOut:
    """Your newest published timelapse version."""
    return TimelapseOut.of(await service.newest(session, caller.user))


async def _picture_time(session: SessionDep, caller: Caller) -> PictureTimeOut:
    owner = await service.site_owner(session)
    mine = owner is not None and owner.id == caller.user.id
    page = "/picture-time" if mine else f"/u/{quote(caller.user.name, safe='')}/picture-time"
    return PictureTimeOut(public=caller.user.picture_time_public, site_owner=mine, page=page)


@router.get("/api/v1/picture-time", response_model=PictureTimeOut)
async def picture_time(caller: AnyCaller, session: SessionDep) -> PictureTimeOut:
    """Whether your Picture Time is public, and where the public site shows it."""
    return await _picture_time(session, caller)


@router.put("/api/v1/picture-time", response_model=PictureTimeOut)
async def set_picture_time(body: PictureTimeIn, caller: AccountCaller, session: SessionDep) -> PictureTimeOut:
    """Make your Picture Time public (your daily frames with their dates, and your timelapse) or private."""
    await service.set_picture_time_public(session, caller.user, body.public)
    return await _picture_time(session, caller)


@router.get("/api/v1/site/owner", response_model=SiteOwnerOut)
async def site_owner(caller: AnyCaller, session: SessionDep) -> SiteOwnerOut:
    """Whose Picture Time the site's /picture-time page and home page show."""
    owner = await service.site_owner(session)
    if owner is None:
        raise GatewayError(404, "not_found", "the site has no admin yet")
    return SiteOwnerOut(name=owner.name)


@router.put(
    "/api/v1/site/owner",
    response_model=SiteOwnerOut,
    responses={403: {"description": "not the site's owner"}},
)
async def set_site_owner(body: SiteOwnerIn, caller: AdminCaller, session: SessionDep) -> SiteOwnerOut:
    """Hand the site to another admin (only the site's owner may)."""
    return SiteOwnerOut(name=(await service.set_site_owner(session, caller.user, body.name)).name)
