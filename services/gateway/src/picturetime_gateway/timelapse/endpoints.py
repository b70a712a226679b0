"""Publishing the timelapse the sync agent encoded."""

from __future__ import annotations

import hashlib
import json
import tempfile
from datetime import datetime
from io import BytesIO
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from picturetime_common.db.models import TimelapseVersion, utcnow
from picturetime_common.events import TimelapsePublished
from picturetime_gateway.deps import AnyCaller, S3Dep, SessionDep, SettingsDep, SyncCaller
from picturetime_gateway.errors import ApiError
from picturetime_gateway.outbox.repository import add_event
from picturetime_gateway.timelapse import repository

router = APIRouter(tags=["timelapse"])
LATEST = "latest.json"


class TimelapseOut(BaseModel):
    version: str
    key: str
    sha256: str
    size: int
    frames: int
    duration: float
    created_at: datetime

    @classmethod
    def of(cls, row: TimelapseVersion) -> TimelapseOut:
        return cls(version=row.version, key=row.key, sha256=row.sha256, size=row.size, frames=row.frames,
                   duration=row.duration, created_at=row.created_at)  # fmt: skip


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
    s3: S3Dep,
    settings: SettingsDep,
    x_content_sha256: Annotated[str, Header(description="hex SHA-256 of the body, verified")],
    x_timelapse_frames: Annotated[int, Header(ge=0)] = 0,
    x_timelapse_duration: Annotated[float, Header(ge=0)] = 0.0,
) -> TimelapseOut:
    """Upload a new timelapse version (the body is the MP4, streamed); older versions are pruned."""
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as spool:
        async for chunk in request.stream():
            digest.update(chunk)
            size += len(chunk)
            spool.write(chunk)
        sha256 = digest.hexdigest()
        if sha256 != x_content_sha256.strip().lower():
            raise ApiError(400, "sha256_mismatch", "X-Content-SHA256 does not match the received bytes")
        spool.seek(0)
        head = spool.read(12)
        if size < 12 or head[4:8] != b"ftyp":
            raise ApiError(400, "not_mp4", "the body is not an MP4 file")
        spool.seek(0)
        created = utcnow()
        version = f"{created:%Y%m%dT%H%M%S%fZ}-{sha256[:8]}"
        bucket = settings.buckets.timelapse
        key = f"{version}.mp4"
        await run_in_threadpool(s3.put_object, bucket, key, spool, size, content_type="video/mp4")
    row = TimelapseVersion(
        version=version, bucket=bucket, key=key, sha256=sha256, size=size, frames=x_timelapse_frames,
        duration=x_timelapse_duration, uploaded_by=caller.user.id, created_at=created,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    pointer = json.dumps(TimelapseOut.of(row).model_dump(mode="json")).encode()
    await run_in_threadpool(
        s3.put_object, bucket, LATEST, BytesIO(pointer), len(pointer), content_type="application/json"
    )
    for old in await repository.older_than_newest(session, settings.gateway.timelapse_versions_kept):
        await run_in_threadpool(s3.remove_object, old.bucket, old.key)
        await session.delete(old)
    add_event(session, TimelapsePublished(version=version, key=key, frames=row.frames, duration=row.duration))
    return TimelapseOut.of(row)


@router.get(
    "/api/v1/timelapse/latest", response_model=TimelapseOut, responses={404: {"description": "none yet"}}
)
async def latest_timelapse(caller: AnyCaller, session: SessionDep) -> TimelapseOut:
    """The newest published timelapse version."""
    row = await repository.latest(session)
    if row is None:
        raise ApiError(404, "not_found", "no timelapse has been published yet")
    return TimelapseOut.of(row)
