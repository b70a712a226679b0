"""Photos and their frames as their owner sees them; the Piwigo id and UTC offset every new photo gets."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from picturetime_common.db.models import Frame, Photo, utcnow
from picturetime_common.enums import PhotoKind, PhotoStatus
from picturetime_common.events import LibraryChanged, PhotoDeleted, PhotoUploaded
from picturetime_common.ids import parse_id
from picturetime_common.object_keys import renditions_prefix
from picturetime_common.objectstore import ObjectStore
from picturetime_common.s3 import EPHEMERAL
from picturetime_gateway.aftercommit import after_commit, remove_after_commit, run_after_commit
from picturetime_gateway.albums import service as albums
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.outbox.service import add_event
from picturetime_gateway.photos import repository
from picturetime_gateway.photos.repository import (
    ORDERS,
    PhotoFilter,
    frame_of_photo,
    frames_for_owner,
    mark_mirrored,
    photo_by_id,
    photo_by_piwigo_id,
    photo_by_sha256,
    photos_by_piwigo_ids,
    photos_of_owner,
    piwigo_ids,
    piwigo_ids_by_md5,
    piwigo_ids_by_name,
    unmirrored_frames,
    waiting_counts,
)
from picturetime_gateway.photos.schemas import BulkRequest, LibraryPhotoOut, PhotoPage, PhotoPatch

__all__ = [
    "PhotoFilter",
    "as_utc",
    "bulk",
    "delete_photos",
    "empty_trash",
    "expire_trash",
    "frame_of_photo",
    "frames_for_owner",
    "free_piwigo_id",
    "list_library",
    "mark_mirrored",
    "offset_minutes",
    "owned_frame",
    "owned_photo",
    "parse_id",
    "patch_photo",
    "photo_by_id",
    "photo_by_piwigo_id",
    "photo_by_sha256",
    "photos_by_piwigo_ids",
    "photos_of_owner",
    "piwigo_ids",
    "piwigo_ids_by_md5",
    "piwigo_ids_by_name",
    "restore_photos",
    "trash",
    "trash_photos",
    "unmirrored_frames",
    "waiting_counts",
]  # fmt: skip

log = logging.getLogger(__name__)
MAX_PIWIGO_ID = 0x1FFFFFFF  # Darktable prints image ids into 10 bytes: at most 9 digits


async def owned_photo(session: AsyncSession, owner_id: int, photo_id: str) -> tuple[Photo, Frame | None]:
    """One of the owner's photos and its frame; another account's photo is not found."""
    parsed = parse_id(photo_id)
    photo = await repository.photo_for_owner(session, owner_id, parsed) if parsed else None
    if photo is None:
        raise GatewayError(404, "not_found", "no such photo")
    return photo, await frame_of_photo(session, photo.id)


async def owned_frame(session: AsyncSession, owner_id: int, frame_id: str) -> Frame:
    parsed = parse_id(frame_id)
    frame = await repository.frame_for_owner(session, owner_id, parsed) if parsed else None
    if frame is None:
        raise GatewayError(404, "not_found", "no such frame")
    return frame


async def free_piwigo_id(session: AsyncSession, owner_id: int) -> int:
    """A Piwigo image id none of the owner's photos has (a random one: nothing to contend on)."""
    while True:
        value = secrets.randbelow(MAX_PIWIGO_ID) + 1
        if await photo_by_piwigo_id(session, owner_id, value) is None:
            return value


def offset_minutes(moment: datetime) -> int:
    """A capture time's UTC offset, which places a photo on its local calendar day."""
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


async def delete_photos(session: AsyncSession, store: ObjectStore, owner_id: int, doomed: list[Photo]) -> int:
    """Delete these photos of the owner's at once (no trash): their rows now, and their original, RAW
    and frame objects once the deletion has committed (`pt.photo.deleted` tells the archive). How
    many went."""
    for photo in doomed:
        add_event(session, PhotoDeleted(photo_id=photo.id.hex, owner=owner_id))
        remove_after_commit(session, store, photo.bucket, photo.key)
        if photo.raw_key:
            remove_after_commit(session, store, photo.bucket, photo.raw_key)
        frame = await frame_of_photo(session, photo.id)
        if frame is not None:
            remove_after_commit(session, store, frame.bucket, frame.key)
    await repository.delete_photo_rows(session, owner_id, [p.id for p in doomed])
    for photo in doomed:
        session.expunge(photo)
    return len(doomed)


# ---- the library: list, edit, trash -------------------------------------------------------------

FUTURE_SLACK = timedelta(days=1)  # as on upload: a capture time further ahead is a wrong clock
EXPIRE_BATCH = 200


def as_utc(moment: datetime | None) -> datetime | None:
    """A time given without an offset is UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _cursor(order: str, photo: Photo) -> str:
    column, _ = ORDERS[order]
    value = photo.uploaded_at if column.key == "uploaded_at" else photo.taken_at
    raw = json.dumps({"o": order, "v": value.isoformat(), "i": photo.id.hex}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(order: str, cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, photo_id = datetime.fromisoformat(data["v"]), uuid.UUID(hex=data["i"])
        same_order = data["o"] == order
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise GatewayError(400, "bad_cursor", "the cursor is not one this API gave") from None
    if not same_order or value.tzinfo is None:
        raise GatewayError(400, "bad_cursor", "the cursor belongs to another order; start again without it")
    return value, photo_id


async def _listed(session: AsyncSession, rows: Sequence[tuple[Photo, Frame | None]]) -> list[LibraryPhotoOut]:
    ids = [photo.id for photo, _ in rows]
    tags = await repository.tags_by_photo(session, ids) if ids else {}
    in_albums = await repository.albums_by_photo(session, ids) if ids else {}
    return [
        LibraryPhotoOut.listed(photo, frame, tags.get(photo.id, []), in_albums.get(photo.id, []))
        for photo, frame in rows
    ]


async def list_library(
    session: AsyncSession, owner_id: int, found: PhotoFilter, order: str, cursor: str | None, limit: int
) -> PhotoPage:
    """A page of the owner's photos, newest first (by upload or capture), after `cursor`."""
    rows = await repository.list_photos(session, owner_id, found, order, _after(order, cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return PhotoPage(
        items=await _listed(session, rows), next_cursor=_cursor(order, rows[-1][0]) if more else None
    )


async def _owned_live(session: AsyncSession, owner_id: int, photo_id: str) -> Photo:
    photo, _ = await owned_photo(session, owner_id, photo_id)
    if photo.deleted_at is not None:
        raise GatewayError(409, "in_trash", "the photo is in the trash: restore it first")
    return photo


async def _checked(session: AsyncSession, owner_id: int, patch: PhotoPatch) -> PhotoPatch:
    """The patch, refused whole (nothing changed) when any part of it cannot be done."""
    if patch.taken_at is not None:
        patch = patch.model_copy(update={"taken_at": as_utc(patch.taken_at)})
        assert patch.taken_at is not None
        if patch.taken_at > utcnow() + FUTURE_SLACK:
            raise GatewayError(
                422,
                "future_taken_at",
                f"the capture time {patch.taken_at.isoformat()} is more than a day ahead",
            )
    if patch.albums is not None:
        for album_id in set(patch.albums):
            if await albums.album_for_owner(session, owner_id, album_id) is None:
                raise GatewayError(404, "album_not_found", f"you have no album {album_id}")
    if patch.tags is not None:
        patch = patch.model_copy(update={"tags": albums.clean_tags(patch.tags)})
    return patch


async def _apply(session: AsyncSession, store: ObjectStore, photo: Photo, patch: PhotoPatch) -> None:
    """Change one photo (the patch was checked); re-file it for the timelapse when its day or kind moved."""
    if patch.title is not None:
        photo.title = patch.title
    if patch.description is not None:
        photo.description = patch.description
    if patch.show_location is not None:
        photo.show_location = patch.show_location
    if patch.tags is not None:
        await albums.set_tags(session, photo.id, patch.tags)
    if patch.albums is not None:
        await albums.set_albums(session, photo.owner_id, photo.id, patch.albums)
    before = (photo.kind, photo.taken_at, photo.utc_offset_minutes)
    if patch.kind is not None:
        photo.kind = patch.kind
    if patch.taken_at is not None:
        photo.taken_at, photo.utc_offset_minutes = patch.taken_at, offset_minutes(patch.taken_at)
    if (photo.kind, photo.taken_at, photo.utc_offset_minutes) != before:
        await _refile(session, store, photo, kind_changed=photo.kind != before[0])


async def _refile(session: AsyncSession, store: ObjectStore, photo: Photo, *, kind_changed: bool) -> None:
    """The frame of a photo whose day or kind changed is filed under the old day (its key and the home
    mirror's folder carry the date): drop it, and ask the aligner for a new one if it is still a daily
    photo. The sync agent then mirrors the new frame under the new day."""
    frame = await frame_of_photo(session, photo.id)
    if frame is not None:
        remove_after_commit(session, store, frame.bucket, frame.key)
        await session.delete(frame)
    photo.failure_reason, photo.failure_detail = None, None
    bucket, key = photo.bucket, photo.key
    if photo.kind == PhotoKind.DAILY:
        photo.status = PhotoStatus.PENDING
        add_event(
            session,
            PhotoUploaded(
                photo_id=photo.id.hex, bucket=photo.bucket, key=photo.key, sha256=photo.sha256,
                taken_at=photo.taken_at_local, content_type=photo.content_type,
            ),
        )  # fmt: skip
        if kind_changed:  # a daily original may expire once mirrored home
            after_commit(session, lambda: store.add_tags(bucket, key, {EPHEMERAL: "true"}))
    else:
        photo.status = PhotoStatus.STORED
        if kind_changed:  # a portfolio original is kept for good
            after_commit(session, lambda: store.drop_tags(bucket, key, EPHEMERAL))


def _changed(session: AsyncSession, owner_id: int, photos: Sequence[Photo]) -> None:
    if photos:
        add_event(session, LibraryChanged(owner=owner_id, photo_ids=[p.id.hex for p in photos]))


async def patch_photo(
    session: AsyncSession, store: ObjectStore, owner_id: int, photo_id: str, patch: PhotoPatch
) -> LibraryPhotoOut:
    photo = await _owned_live(session, owner_id, photo_id)
    await _apply(session, store, photo, await _checked(session, owner_id, patch))
    await session.flush()
    _changed(session, owner_id, [photo])
    return (await _listed(session, [(photo, await frame_of_photo(session, photo.id))]))[0]


async def _owned_many(session: AsyncSession, owner_id: int, photo_ids: Sequence[str]) -> list[Photo]:
    """The owner's photos of these ids, all of them or a 404 (nothing changed)."""
    parsed = [parse_id(value) for value in photo_ids]
    wanted = {value for value in parsed if value is not None}
    found = list(await repository.photos_for_owner(session, owner_id, list(wanted))) if wanted else []
    if None in parsed or len(found) != len(wanted):
        raise GatewayError(404, "not_found", "no such photo (one of the ids is not one of your photos)")
    return found


async def trash_photos(session: AsyncSession, owner_id: int, photo_ids: Sequence[str]) -> int:
    """Move photos to the trash (hidden everywhere, restorable); how many moved."""
    return await trash(session, owner_id, await _owned_many(session, owner_id, photo_ids))


async def trash(session: AsyncSession, owner_id: int, photos: Sequence[Photo]) -> int:
    """Move these photos of the owner's to the trash; how many were not there yet."""
    moved = [p for p in photos if p.owner_id == owner_id and p.deleted_at is None]
    now = utcnow()
    for photo in moved:
        photo.deleted_at = now
    _changed(session, owner_id, moved)
    return len(moved)


async def restore_photos(session: AsyncSession, owner_id: int, photo_ids: Sequence[str]) -> int:
    back = [p for p in await _owned_many(session, owner_id, photo_ids) if p.deleted_at is not None]
    for photo in back:
        photo.deleted_at = None
    _changed(session, owner_id, back)
    return len(back)


async def bulk(session: AsyncSession, store: ObjectStore, owner_id: int, request: BulkRequest) -> int:
    """One action on many photos: all of them, or (on any refusal) none."""
    if request.action == "delete":
        return await trash_photos(session, owner_id, request.ids)
    if request.action == "restore":
        return await restore_photos(session, owner_id, request.ids)
    if request.patch is None:
        raise GatewayError(422, "patch_missing", "send the changes as `patch` with the action `patch`")
    photos = await _owned_many(session, owner_id, request.ids)
    if any(p.deleted_at is not None for p in photos):
        raise GatewayError(409, "in_trash", "some of the photos are in the trash: restore them first")
    patch = await _checked(session, owner_id, request.patch)
    for photo in photos:
        await _apply(session, store, photo, patch)
    _changed(session, owner_id, photos)
    return len(photos)


async def _remove_for_good(
    session: AsyncSession, store: ObjectStore, media_bucket: str, owner_id: int, doomed: Sequence[Photo]
) -> int:
    for photo in doomed:
        _remove_renditions_after_commit(session, store, media_bucket, photo.id)
    return await delete_photos(session, store, owner_id, list(doomed))


def _remove_renditions_after_commit(
    session: AsyncSession, store: ObjectStore, media_bucket: str, photo_id: uuid.UUID
) -> None:
    async def remove() -> None:
        await store.remove_prefix(media_bucket, renditions_prefix(photo_id.hex))

    after_commit(session, remove)


async def empty_trash(session: AsyncSession, store: ObjectStore, media_bucket: str, owner_id: int) -> int:
    """Remove the owner's trashed photos for good: files, frames, renditions and rows."""
    deleted = 0
    while doomed := await repository.trashed_photos(session, owner_id, None, EXPIRE_BATCH):
        deleted += await _remove_for_good(session, store, media_bucket, owner_id, doomed)
    return deleted


async def expire_trash(
    sessionmaker: async_sessionmaker[AsyncSession], store: ObjectStore, media_bucket: str, days: float
) -> int:
    """Remove for good the photos trashed longer ago than `days` (the housekeeping loop calls it)."""
    before = utcnow() - timedelta(days=days)
    deleted = 0
    while True:
        async with sessionmaker() as session:
            async with session.begin():
                doomed = await repository.trashed_photos(session, None, before, EXPIRE_BATCH)
                by_owner: dict[int, list[Photo]] = {}
                for photo in doomed:
                    by_owner.setdefault(photo.owner_id, []).append(photo)
                for owner_id, theirs in by_owner.items():
                    deleted += await _remove_for_good(session, store, media_bucket, owner_id, theirs)
            await run_after_commit(session)
        if len(doomed) < EXPIRE_BATCH:
            break
    if deleted:
        log.info("gateway.trash.expired photos=%d", deleted)
    return deleted
