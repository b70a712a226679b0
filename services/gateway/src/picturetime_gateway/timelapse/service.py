"""Every account's own Picture Time: publishing the timelapse its sync agent encoded (each version an
object of its own, only the account's newest few kept), whether it is public, and whose Picture Time
the site shows (the site's owner: an explicit setting, else the first admin). The timelapse bucket's
`latest.json` points at the site owner's newest version."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import TimelapseVersion, User, utcnow
from picturetime_common.enums import Role
from picturetime_common.events import PictureTimeShared, TimelapsePublished
from picturetime_common.object_keys import TIMELAPSE_LATEST, timelapse_key
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.aftercommit import remove_after_commit
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.outbox.service import add_event
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.timelapse import repository
from picturetime_gateway.timelapse.schemas import TimelapseOut

__all__ = [
    "Published", "claim_site_if_unowned", "latest", "newest", "publish", "set_picture_time_public",
    "set_site_owner", "site_owner",
]  # fmt: skip


@dataclass(frozen=True)
class Published:
    frames: int
    duration: float


async def publish(
    session: AsyncSession, store: ObjectStore, settings: GatewaySettings, uploader: User, body: AsyncIterator[bytes],
    *, sha256: str, published: Published,
) -> TimelapseVersion:  # fmt: skip
    """Store a new version of the uploader's timelapse (the MP4, streamed through a temporary file
    and checked against its SHA-256) and prune the uploader's versions past the newest few: their
    rows go with this transaction, their objects once it has committed. Another account's versions
    are never touched; `latest.json` moves only for the site's owner."""
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
        duration=published.duration, uploaded_by=uploader.id, owner_id=uploader.id, created_at=created,
    )  # fmt: skip
    await repository.add(session, row)
    owner = await site_owner(session)
    if owner is not None and owner.id == uploader.id:
        pointer = json.dumps(TimelapseOut.of(row).model_dump(mode="json")).encode()
        await store.put(bucket, TIMELAPSE_LATEST, pointer, content_type="application/json")
    kept = settings.gateway.timelapse_versions_kept
    for old in await repository.older_than_newest(session, uploader.id, kept):
        remove_after_commit(session, store, old.bucket, old.key)
        await repository.delete(session, old)
    add_event(session, TimelapsePublished(version=version, key=key, frames=row.frames, duration=row.duration))
    return row


async def latest(session: AsyncSession, owner_id: int) -> TimelapseVersion | None:
    """The account's newest timelapse version, if any."""
    return await repository.latest(session, owner_id)


async def newest(session: AsyncSession, owner: User) -> TimelapseVersion:
    row = await repository.latest(session, owner.id)
    if row is None:
        raise GatewayError(404, "not_found", "you have not published a timelapse yet")
    return row


async def site_owner(session: AsyncSession) -> User | None:
    """Whose Picture Time the site shows: the one set, else the first admin."""
    found = await repository.site_settings(session)
    if found is not None and found.owner_id is not None:
        owner = await repository.user_by_id(session, found.owner_id)
        if owner is not None:
            return owner
    return await repository.first_admin(session)


async def set_picture_time_public(session: AsyncSession, user: User, public: bool) -> None:
    """Make the account's Picture Time public (its frames and their dates, its timelapse) or private;
    the public site forgets what it cached at once."""
    user.picture_time_public = public
    owner = await site_owner(session)
    add_event(
        session, PictureTimeShared(owner_id=user.id, public=public, site_owner_id=owner.id if owner else None)
    )


async def set_site_owner(session: AsyncSession, caller: User, name: str) -> User:
    """Hand the site to another admin; only the site's owner may."""
    current = await site_owner(session)
    if current is None or current.id != caller.id:
        raise GatewayError(403, "not_site_owner", "only the site's owner may choose who owns the site")
    new = await repository.user_by_name(session, name.strip())
    if new is None or new.role != Role.ADMIN:
        raise GatewayError(422, "invalid_owner", "the site's owner must be an existing admin account")
    found = await repository.site_settings(session)
    if found is None:
        await repository.add_site_settings(session, new.id)
    else:
        found.owner_id = new.id
    add_event(
        session, PictureTimeShared(owner_id=new.id, public=new.picture_time_public, site_owner_id=new.id)
    )
    return new


async def claim_site_if_unowned(session: AsyncSession, admin: User) -> bool:
    """A site's first admin becomes its owner, with a public Picture Time (as `make up` expects)."""
    found = await repository.site_settings(session)
    if found is not None and found.owner_id is not None:
        return False
    first = await repository.first_admin(session)
    if first is None or first.id != admin.id:
        return False
    if found is None:
        await repository.add_site_settings(session, admin.id)
    else:
        found.owner_id = admin.id
    admin.picture_time_public = True
    return True
