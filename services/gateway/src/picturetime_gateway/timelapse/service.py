"""Publishing the timelapse the sync agent encoded: each version an object of its own, a
`latest.json` pointer to the newest, and only the newest few kept."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import TimelapseVersion, User, utcnow
from picturetime_common.events import TimelapsePublished
from picturetime_common.object_keys import TIMELAPSE_LATEST, timelapse_key
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.aftercommit import remove_after_commit
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.outbox.service import add_event
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.timelapse import repository
from picturetime_gateway.timelapse.repository import latest
from picturetime_gateway.timelapse.schemas import TimelapseOut

__all__ = ["Published", "latest", "newest", "publish"]


@dataclass(frozen=True)
class Published:
    frames: int
    duration: float


async def publish(
    session: AsyncSession, store: ObjectStore, settings: GatewaySettings, uploader: User, body: AsyncIterator[bytes],
    *, sha256: str, published: Published,
) -> TimelapseVersion:  # fmt: skip
    """Store a new version (the MP4, streamed through a temporary file and checked against its
    SHA-256), point `latest.json` at it and prune the versions past the newest few: their rows go
    with this transaction, their objects once it has committed."""
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as spool:
        async for chunk in body:
            digest.update(chunk)
            size += len(chunk)
            spool.write(chunk)
        received = digest.hexdigest()
        if received != sha256.strip().lower():
            raise GatewayError(400, "sha256_mismatch", "X-Content-SHA256 does not match the received bytes")
        spool.seek(0)
        head = spool.read(12)
        if size < 12 or head[4:8] != b"ftyp":
            raise GatewayError(400, "not_mp4", "the body is not an MP4 file")
        spool.seek(0)
        created = utcnow()
        version = f"{created:%Y%m%dT%H%M%S%fZ}-{received[:8]}"
        bucket, key = settings.buckets.timelapse, timelapse_key(version)
        await store.put(bucket, key, spool, content_type="video/mp4")
    row = TimelapseVersion(
        version=version, bucket=bucket, key=key, sha256=received, size=size, frames=published.frames,
        duration=published.duration, uploaded_by=uploader.id, created_at=created,
    )  # fmt: skip
    await repository.add(session, row)
    pointer = json.dumps(TimelapseOut.of(row).model_dump(mode="json")).encode()
    await store.put(bucket, TIMELAPSE_LATEST, pointer, content_type="application/json")
    for old in await repository.older_than_newest(session, settings.gateway.timelapse_versions_kept):
        remove_after_commit(session, store, old.bucket, old.key)
        await repository.delete(session, old)
    add_event(session, TimelapsePublished(version=version, key=key, frames=row.frames, duration=row.duration))
    return row


async def newest(session: AsyncSession) -> TimelapseVersion:
    row = await latest(session)
    if row is None:
        raise GatewayError(404, "not_found", "no timelapse has been published yet")
    return row
