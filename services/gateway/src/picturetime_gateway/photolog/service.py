"""Photolog's upload form onto the gateway's upload path, and Picture Time's seed status.

Photolog clients post `photo_file` with `tags` (comma-separated) and `skip`; they authenticate with
a Picture Time API key (upload scope) sent as `Authorization: Bearer`, as the `X-PHOTOLOG-SECRET`
header, or as the `secret` form field placed before the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Frame, TimelapseVersion, User
from picturetime_common.enums import PhotoKind
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.albums.service import clean_tags
from picturetime_gateway.auth import service as auth
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.service import (
    FileStart,
    FormFields,
    Ingested,
    Upload,
    UploadOptions,
    ingest,
    parse_kind,
)
from picturetime_gateway.photos import service as photos
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.timelapse import service as timelapse

WAITING_LIMIT = 500
UNAUTHENTICATED = "send an API key as 'Authorization: Bearer <key>', X-PHOTOLOG-SECRET or the secret field"


def unauthenticated() -> GatewayError:
    return GatewayError(401, "unauthenticated", UNAUTHENTICATED, {"WWW-Authenticate": "Bearer"})


async def key_owner(session: AsyncSession, secret: str) -> User:
    """The owner of an API key with the upload scope."""
    key = await auth.authenticate_key(session, secret.strip())
    if key is None:
        raise GatewayError(
            401, "invalid_api_key", "the API key is unknown or revoked", {"WWW-Authenticate": "Bearer"}
        )
    if not auth.has_upload_scope(key):
        raise GatewayError(403, "missing_scope", "this API key lacks the 'upload' scope")
    return key.user


@dataclass(frozen=True)
class PhotologDoor:
    """Photolog's form: the photo in `photo_file`, the key (if not in a header) in `secret` before
    it, and `tags`, `target_date`, `kind`, `album`."""

    tz: ZoneInfo

    async def admit(self, start: FileStart, upload: Upload) -> None:
        if start.field != "photo_file":
            raise RejectedUpload("invalid_request", "send the photo in the 'photo_file' field", 400)
        if upload.owner is None:
            secret = start.fields.get("secret") or ""
            if not secret:
                raise RejectedUpload("unauthenticated", UNAUTHENTICATED, 401)
            upload.owner = await key_owner(upload.session, secret)

    async def options(self, fields: FormFields, upload: Upload) -> UploadOptions:
        if upload.owner is None:
            raise RejectedUpload("unauthenticated", UNAUTHENTICATED, 401)
        options = upload.options
        options.kind = parse_kind(fields.get("kind") or options.kind)
        options.album = (fields.get("album") or "").strip() or None
        options.tags = clean_tags(fields.all("tags"), slug=True)
        if day := (fields.get("target_date") or "").strip():
            try:
                date = datetime.strptime(day, "%Y-%m-%d").date()
            except ValueError:
                raise RejectedUpload(
                    "invalid_target_date", "target_date must look like 2024-06-13", 422
                ) from None
            options.taken_at = datetime.combine(date, time(12), self.tz)
        return options


async def upload(
    request: Request,
    session: AsyncSession,
    store: ObjectStore,
    settings: GatewaySettings,
    uploader: User | None,
) -> Ingested:
    """A Photolog upload, as a daily photo unless the form says otherwise."""
    if uploader is None and not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise unauthenticated()
    upload = Upload(session, store, settings, uploader, UploadOptions(kind=PhotoKind.DAILY))
    return await ingest(request, upload, PhotologDoor(ZoneInfo(settings.gateway.timezone)))


@dataclass(frozen=True)
class Waiting:
    frames: Sequence[Frame]
    more: bool
    counts: dict[str, int]
    timelapse: TimelapseVersion | None


async def waiting(session: AsyncSession, owner_id: int) -> Waiting:
    """What waits for the home sync agent: frames to mirror, photos still aligning, the video."""
    frames = await photos.unmirrored_frames(session, owner_id, WAITING_LIMIT + 1)
    counts = await photos.waiting_counts(session, owner_id)
    return Waiting(
        frames[:WAITING_LIMIT], len(frames) > WAITING_LIMIT, counts, await timelapse.latest(session, owner_id)
    )
