"""Recording what streamed in: the photo row (new, or replacing a photo's bytes), its RAW file,
albums and tags, and the `pt.photo.uploaded` event in the same transaction (the outbox)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from picturetime_common.daypick import FUTURE_SLACK
from picturetime_common.db.models import Photo, utcnow
from picturetime_common.enums import PhotoKind, PhotoStatus
from picturetime_common.events import PhotoUploaded
from picturetime_common.object_keys import original_key
from picturetime_gateway.aftercommit import remove_after_commit
from picturetime_gateway.albums import service as albums
from picturetime_gateway.ingest import repository
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.formats import check_raw_size, stem_of
from picturetime_gateway.ingest.inspect import inspected
from picturetime_gateway.ingest.plan import Destination, ephemeral_tags
from picturetime_gateway.ingest.request import Upload
from picturetime_gateway.ingest.sink import ReceivedFile, settle
from picturetime_gateway.outbox.service import add_event
from picturetime_gateway.photos import service as photos

log = logging.getLogger(__name__)


@dataclass
class Ingested:
    """What an upload came to."""

    photo: Photo
    created: bool  # a new photo row
    raw_added: bool = False
    duplicate: bool = False  # nothing new was stored


async def record(upload: Upload, files: list[ReceivedFile]) -> Ingested:
    """Validate and record the received photo and/or RAW file."""
    images = [f for f in files if not f.placement.kind.raw]
    raws = [f for f in files if f.placement.kind.raw]
    if not files:
        raise RejectedUpload("missing_file", "the request carries no file", 400)
    if len(images) > 1 or len(raws) > 1:
        raise RejectedUpload("too_many_files", "send one photo per request (and at most one RAW file)", 400)
    # A declared checksum was compared as the first file ended, before its upload completed.
    for received in files:
        if received.size == 0:
            raise RejectedUpload("empty_file", f"{received.filename} is empty", 422)
    result: Ingested | None = None
    if images:
        result = await _record_image(upload, images[0])
    if raws:
        raw = raws[0]
        photo = result.photo if result and stem_of(images[0].filename) == stem_of(raw.filename) else None
        photo = photo or raw.placement.photo
        photo = photo or await repository.photo_by_stem(
            upload.session, upload.owner_id, stem_of(raw.filename)
        )
        if photo is None:
            raise RejectedUpload(
                "no_matching_photo",
                f"a RAW file is kept beside its photo: upload the JPEG named like {stem_of(raw.filename)}.jpg first",
                409,
            )
        added = await _record_raw(upload, raw, photo)
        if result is None:
            result = Ingested(photo, created=False, raw_added=added, duplicate=not added)
        else:
            result.raw_added = added
            result.duplicate = result.duplicate and not added
    assert result is not None
    await _organise(upload, result.photo)
    return result


async def _record_image(upload: Upload, received: ReceivedFile) -> Ingested:
    placement, options, session = received.placement, upload.options, upload.session
    existing = placement.duplicate_of
    if existing is None and placement.checked_sha256 != received.sha256:
        existing = await photos.photo_by_sha256(session, upload.owner_id, received.sha256)
    if existing is not None:
        log.info("gateway.photo.duplicate photo=%s sha256=%s", existing.id.hex, received.sha256)
        _keep_if_shared(upload, received, existing.key)
        await _remove_leftover(upload, received, existing.key)
        existing.md5 = existing.md5 or received.md5  # a photo stored before MD5s were kept
        existing.deleted_at = None  # the same bytes again bring a photo back from the trash
        return Ingested(existing, created=False, duplicate=True)
    info = await inspected(received, upload)
    moment = (
        options.taken_at
        or info.taken_at
        or upload.time_in_name(received.filename)
        or options.file_time
        or placement.moment
        or utcnow()
    )
    if moment > utcnow() + FUTURE_SLACK:  # a wrong clock or a forged date: never a day to show
        raise RejectedUpload(
            "future_taken_at",
            f"the capture time {moment.isoformat()} is more than a day in the future; "
            "set the camera's clock, or send taken_at",
            422,
        )
    key = original_key(upload.owner_id, moment, received.sha256, placement.kind.ext)
    await settle(upload.store, received, Destination(upload.bucket, key, ephemeral_tags(options.kind)))
    upload.kept.add(key)
    fields: dict[str, Any] = dict(
        sha256=received.sha256, md5=received.md5, bucket=upload.bucket, key=key,
        content_type=placement.kind.content_type,
        size=received.size, original_name=received.filename, width=info.width, height=info.height,
        taken_at=moment, utc_offset_minutes=photos.offset_minutes(moment), exif=info.exif, gps=info.gps,
    )  # fmt: skip
    replacing = options.replace_photo
    if replacing is not None:
        return await _replace(upload, replacing, fields)
    photo = Photo(
        owner_id=upload.owner_id, piwigo_id=await photos.free_piwigo_id(session, upload.owner_id),
        kind=options.kind, status=_first_status(options.kind), title=options.title,
        description=options.description, show_location=options.show_location, **fields,
    )  # fmt: skip
    try:
        async with session.begin_nested():
            session.add(photo)
            await session.flush()
    except IntegrityError:
        # The same bytes raced in from another request: answer with the winner.
        winner = await photos.photo_by_sha256(session, upload.owner_id, received.sha256)
        if winner is None:
            raise
        if winner.key != key:
            upload.kept.discard(key)
        return Ingested(winner, created=False, duplicate=True)
    await _remove_leftover(upload, received, key)
    if options.kind == PhotoKind.DAILY:
        _announce(upload, photo)
    log.info("gateway.photo.stored photo=%s sha256=%s kind=%s", photo.id.hex, received.sha256, options.kind)
    return Ingested(photo, created=True)


async def _replace(upload: Upload, photo: Photo, fields: dict[str, Any]) -> Ingested:
    """New bytes for an existing photo (Piwigo's overwrite); its old original goes after the commit."""
    old_bucket, old_key = photo.bucket, photo.key
    for name, value in fields.items():
        setattr(photo, name, value)
    photo.status = _first_status(photo.kind)
    photo.uploaded_at = utcnow()
    await upload.session.flush()
    if old_key != photo.key and not await repository.photos_with_key(upload.session, old_bucket, old_key):
        remove_after_commit(upload.session, upload.store, old_bucket, old_key)
    if photo.kind == PhotoKind.DAILY:
        _announce(upload, photo)
    return Ingested(photo, created=False)


def _first_status(kind: PhotoKind) -> PhotoStatus:
    return PhotoStatus.PENDING if kind == PhotoKind.DAILY else PhotoStatus.STORED


def _announce(upload: Upload, photo: Photo) -> None:
    add_event(upload.session, uploaded_event(photo))


def uploaded_event(photo: Photo) -> PhotoUploaded:
    """The event that asks the aligner for the photo's frame."""
    return PhotoUploaded(
        photo_id=photo.id.hex, bucket=photo.bucket, key=photo.key, sha256=photo.sha256,
        taken_at=photo.taken_at_local, content_type=photo.content_type,
    )  # fmt: skip


async def _record_raw(upload: Upload, received: ReceivedFile, photo: Photo) -> bool:
    kind = received.placement.kind
    check_raw_size(kind, received.head, received.size)
    key = original_key(upload.owner_id, photo.taken_at_local, received.sha256, kind.ext)
    if photo.raw_key == key:
        _keep_if_shared(upload, received, key)
        return False
    if photo.raw_key:
        raise RejectedUpload(
            "raw_exists", f"the photo {photo.original_name} already has a different RAW file", 409
        )
    await settle(upload.store, received, Destination(upload.bucket, key))
    upload.kept.add(key)
    photo.raw_key, photo.raw_content_type, photo.raw_size = key, kind.content_type, received.size
    await upload.session.flush()
    log.info("gateway.photo.raw_added photo=%s key=%s", photo.id.hex, key)
    return True


def _keep_if_shared(upload: Upload, received: ReceivedFile, key: str) -> None:
    """Bytes that streamed to a key a catalog row already names (a racing request stored the
    same file first) are that row's object now: never remove them as this request's leftovers."""
    if any(at is not None and at.key == key for at in (received.stored_at, received.copied_to)):
        upload.kept.add(key)


async def _remove_leftover(upload: Upload, received: ReceivedFile, key: str) -> None:
    """The object an earlier, uncommitted request left at another key than the photo's is nobody's:
    it goes after the commit (the photo row now holds the checksum, so no other request can claim it)."""
    leftover = received.placement.reuse
    if leftover is None or leftover.key == key or leftover.key in upload.kept:
        return
    if not await repository.photos_with_key(upload.session, leftover.bucket, leftover.key):
        remove_after_commit(upload.session, upload.store, leftover.bucket, leftover.key)


async def _organise(upload: Upload, photo: Photo) -> None:
    options = upload.options
    if options.album:
        album = await albums.get_or_create_album(
            upload.session, upload.owner_id, options.album, options.album_visibility
        )
        await albums.add_to_album(upload.session, album, photo.id)
    if options.tags:
        await albums.tag_photo(upload.session, photo.id, options.tags)
