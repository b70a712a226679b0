"""Accepting photos: plan where bytes stream, validate, deduplicate, then record with the event.

Nothing is committed (no row, no event, no object at its final key) until every check passed;
objects a failed request streamed are removed before its error goes out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import io
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import obstore
from fastapi import Request
from minio import Minio
from minio.commonconfig import REPLACE, ComposeSource, CopySource, Tags
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Photo, User, utcnow
from picturetime_common.events import PhotoUploaded
from picturetime_common.filenames import time_in_name
from picturetime_common.s3 import EPHEMERAL, object_exists
from picturetime_gateway.albums import repository as albums
from picturetime_gateway.outbox.repository import add_event
from picturetime_gateway.photos import repository as photos
from picturetime_gateway.settings import GatewaySettings
from picturetime_gateway.uploads import repository
from picturetime_gateway.uploads.errors import RejectedUpload
from picturetime_gateway.uploads.formats import FileType, check_raw_size, sniff, stem_of
from picturetime_gateway.uploads.jpeg import JpegScanner, first_scan_within
from picturetime_gateway.uploads.metadata import ImageInfo, inspect_image, original_key, taken_at_from_head
from picturetime_gateway.uploads.objects import object_store
from picturetime_gateway.uploads.streaming import (
    FileStart,
    Planner,
    ReceivedFile,
    ReceivedForm,
    Target,
    discard_received,
    put_options,
    receive_multipart,
    wait_stored,
)

log = logging.getLogger(__name__)
KINDS = ("daily", "portfolio")
INCOMING = "incoming/"  # temporary keys of uploads whose checksum is not known in advance
MAX_COPY = 5 * 1024**3  # a single S3 CopyObject; larger objects are composed from part copies
MAX_FILES = 2  # a photo and its RAW


@dataclass
class UploadOptions:
    kind: str = "daily"
    taken_at: datetime | None = None  # the capture time, over the file's EXIF (a wrong camera clock)
    file_time: datetime | None = None  # the file's modification time: when neither EXIF nor name dates it
    album: str | None = None
    album_visibility: str = "private"
    tags: list[str] = field(default_factory=list)
    title: str = ""
    description: str = ""
    show_location: bool = False
    declared_sha256: str | None = None
    replace_photo: Photo | None = None  # Piwigo's image_id: new bytes for an existing photo


@dataclass
class UploadResult:
    photo: Photo
    created: bool  # a new photo row
    raw_added: bool = False
    duplicate: bool = False  # nothing new was stored


@dataclass
class _Plan:
    kind: FileType
    moment: datetime | None = None
    duplicate_of: Photo | None = None
    checked_sha256: str | None = None  # no photo of the owner had this checksum when planned
    photo: Photo | None = None  # for a RAW: the photo it belongs to, when known up front
    # A JPEG whose headers all sit in its first bytes is checked as it streams, never spooled.
    scanner: JpegScanner | None = None


def parse_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def parse_taken_at(value: str | None, tz: ZoneInfo, field: str = "taken_at") -> datetime | None:
    """A time form field (ISO 8601; without an offset, in the owner's zone)."""
    if not value or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RejectedUpload(
            f"invalid_{field}", f"{field} must be an ISO 8601 time such as 2024-06-13T08:00:00+02:00", 422
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def options_from_form(
    form: ReceivedForm, settings: GatewaySettings, defaults: UploadOptions
) -> UploadOptions:
    """Upload options from the API's form fields (`defaults` for fields a client left out)."""
    tz = ZoneInfo(settings.gateway.timezone)
    options = dataclasses.replace(defaults)
    options.kind = form.get("kind", options.kind) or options.kind
    options.taken_at = parse_taken_at(form.get("taken_at"), tz) or options.taken_at
    options.file_time = parse_taken_at(form.get("file_time"), tz, "file_time") or options.file_time
    options.album = (form.get("album") or "").strip()[:200] or options.album
    options.album_visibility = form.get("album_visibility", options.album_visibility) or "private"
    options.tags = albums.clean_tags(form.fields.get("tags", [])) or options.tags
    options.title = (form.get("title") or options.title)[:255]
    options.description = form.get("description") or options.description
    options.show_location = parse_bool(form.get("show_location")) or options.show_location
    return options


def check_options(options: UploadOptions) -> None:
    if options.kind not in KINDS:
        raise RejectedUpload("invalid_kind", f"kind must be one of {', '.join(KINDS)}", 422)
    if options.album_visibility not in albums.VISIBILITIES:
        raise RejectedUpload("invalid_visibility", "album_visibility must be public or private", 422)
    if options.declared_sha256 is not None:
        declared = options.declared_sha256.strip().lower()
        if len(declared) != 64 or any(c not in "0123456789abcdef" for c in declared):
            raise RejectedUpload("invalid_sha256", "X-Content-SHA256 must be 64 hexadecimal digits", 400)
        options.declared_sha256 = declared


class Uploads:
    """One request's uploads for one owner: plans targets while bytes stream, then records them."""

    def __init__(
        self, session: AsyncSession, s3: Minio, settings: GatewaySettings, owner: User | None,
        options: UploadOptions,
    ) -> None:  # fmt: skip
        self.session, self.s3, self.settings, self.owner = session, s3, settings, owner
        self.options = options
        self.tz = ZoneInfo(settings.gateway.timezone)
        self.bucket = settings.buckets.originals
        self.stores = functools.partial(object_store, settings.s3)  # the data path for file bytes
        self._first_file = True
        self.replaced_key: str | None = None  # an overwritten photo's old object, for removal after commit

    @property
    def owner_id(self) -> int:
        if self.owner is None:
            raise RejectedUpload("unauthenticated", "authenticate before sending the file", 401)
        return self.owner.id

    def _time_in_name(self, filename: str | None) -> datetime | None:
        """The time a file name carries (IMG_20200613_081530.jpg), in the owner's zone."""
        moment = time_in_name(filename or "")
        return moment.replace(tzinfo=self.tz) if moment is not None else None

    # -- while the body streams ------------------------------------------------------------
    async def plan(self, start: FileStart) -> Target:
        """Decide from a file's first bytes what it is and where its bytes go."""
        kind = sniff(start.head, start.filename)
        declared = self.options.declared_sha256 if self._first_file else None
        self._first_file = False
        if kind.raw:
            return await self._plan_raw(start, kind, declared)
        options = self.options
        early = parse_taken_at((start.fields.get("taken_at") or [None])[-1], self.tz) or options.taken_at
        file_time = parse_taken_at((start.fields.get("file_time") or [None])[-1], self.tz, "file_time")
        moment = (
            early
            or await asyncio.to_thread(taken_at_from_head, start.head, self.tz)
            or self._time_in_name(start.filename)
            or file_time
            or options.file_time
            or utcnow()
        )
        plan = _Plan(kind, moment=moment)
        target = Target(
            content_type=kind.content_type, spool=True, sha256=declared, context=plan,
            on_spooled=self._inspector(kind),
        )  # fmt: skip
        read_head = None
        if kind.name == "JPEG" and (first_scan := first_scan_within(start.head)):
            plan.scanner = JpegScanner()
            target.watch, target.on_spooled = plan.scanner.feed, None
            read_head = functools.partial(
                inspect_image, io.BytesIO(start.head), kind, max_pixels=self.settings.gateway.max_pixels,
                tz=self.tz, jpeg_first_scan=first_scan,
            )  # fmt: skip
        # Without a declared checksum (or when replacing a photo) the key, which names the
        # checksum, is known only at the end: the bytes wait in the spool file (never in memory)
        # and go to S3 once, under their final key, after validation.
        if declared is not None and options.replace_photo is None:
            target.spool = plan.scanner is None
            key = original_key(self.owner_id, moment, declared, kind.ext)
            # Both questions at once: the catalog's and the object store's.
            stored = asyncio.ensure_future(asyncio.to_thread(object_exists, self.s3, self.bucket, key))
            try:
                existing = await photos.photo_by_sha256(self.session, self.owner_id, declared)
            finally:
                already = await stored
            if existing is not None:
                plan.duplicate_of = existing
                target.spool = False
                return target  # hash only, to verify the claim; nothing is stored
            plan.checked_sha256 = declared
            if not already:  # else this account's bytes are stored (an earlier request's): reuse them
                # Stream straight to the final key (deleted if the bytes disagree).
                kind_now = (start.fields.get("kind") or [options.kind])[-1]
                target.bucket, target.key, target.tags = self.bucket, key, self._tags(kind_now)
        if read_head is not None:
            # Every header is in the head: read them (size, EXIF, the pixel limit) while the rest
            # of the file streams; the scanner still has to find the file whole.
            target.early = asyncio.ensure_future(asyncio.to_thread(read_head))
        return target

    async def _plan_raw(self, start: FileStart, kind: FileType, declared: str | None) -> Target:
        photo = await repository.photo_by_stem(self.session, self.owner_id, stem_of(start.filename))
        plan = _Plan(kind, photo=photo)
        target = Target(content_type=kind.content_type, sha256=declared, context=plan)
        if photo is None or declared is None:
            return self._incoming(target)
        key = original_key(self.owner_id, photo.taken_at_local, declared, kind.ext)
        if photo.raw_key == key or await asyncio.to_thread(object_exists, self.s3, self.bucket, key):
            return target
        target.bucket, target.key = self.bucket, key
        return target

    def _inspector(self, kind: FileType) -> Callable[[Path], Awaitable[ImageInfo]]:
        async def inspect(path: Path) -> ImageInfo:
            max_pixels = self.settings.gateway.max_pixels
            return await asyncio.to_thread(inspect_image, path, kind, max_pixels=max_pixels, tz=self.tz)

        return inspect

    def _incoming(self, target: Target) -> Target:
        target.bucket, target.key = self.bucket, f"{INCOMING}{uuid.uuid4().hex}"
        return target

    def _tags(self, kind: str | None = None) -> dict[str, str]:
        # Daily originals are ephemeral: once mirrored home, lifecycle expiry may take them.
        return {EPHEMERAL: "true"} if (kind or self.options.kind) == "daily" else {}

    # -- once the body is in ---------------------------------------------------------------
    async def record(self, form: ReceivedForm) -> UploadResult:
        """Validate and record what streamed in; on any error remove what this request stored."""
        kept: set[str] = set()
        try:
            result = await self._record(form, kept)
            for received in form.files:  # every object whole in S3 before the catalog commits
                await wait_stored(received)
        except BaseException:
            await discard_received(self.s3, form)
            raise
        await discard_received(self.s3, form, keep=kept)
        return result

    async def _record(self, form: ReceivedForm, kept: set[str]) -> UploadResult:
        images = [f for f in form.files if not f.target.context.kind.raw]
        raws = [f for f in form.files if f.target.context.kind.raw]
        if not form.files:
            raise RejectedUpload("missing_file", "the request carries no file", 400)
        if len(images) > 1 or len(raws) > 1:
            raise RejectedUpload(
                "too_many_files", "send one photo per request (and at most one RAW file)", 400
            )
        # A declared checksum was compared as the first file ended, before its upload completed.
        for received in form.files:
            if received.size == 0:
                raise RejectedUpload("empty_file", f"{received.filename} is empty", 422)
        result: UploadResult | None = None
        if images:
            result = await self._record_image(images[0], kept)
        if raws:
            raw = raws[0]
            photo = result.photo if result and stem_of(images[0].filename) == stem_of(raw.filename) else None
            photo = photo or raw.target.context.photo
            photo = photo or await repository.photo_by_stem(
                self.session, self.owner_id, stem_of(raw.filename)
            )
            if photo is None:
                raise RejectedUpload(
                    "no_matching_photo",
                    f"a RAW file is kept beside its photo: upload the JPEG named like {stem_of(raw.filename)}.jpg first",
                    409,
                )
            added = await self._record_raw(raw, photo, kept)
            if result is None:
                result = UploadResult(photo, created=False, raw_added=added, duplicate=not added)
            else:
                result.raw_added = added
                result.duplicate = result.duplicate and not added
        assert result is not None
        await self._organise(result.photo)
        return result

    async def _record_image(self, received: ReceivedFile, kept: set[str]) -> UploadResult:
        plan: _Plan = received.target.context
        options = self.options
        replacing = options.replace_photo
        existing = plan.duplicate_of
        if existing is None and plan.checked_sha256 != received.sha256:
            existing = await photos.photo_by_sha256(self.session, self.owner_id, received.sha256)
        if existing is not None:
            log.info("gateway.photo.duplicate photo=%s sha256=%s", existing.id.hex, received.sha256)
            _keep_if_shared(received, existing.key, kept)
            return UploadResult(existing, created=False, duplicate=True)
        early, received.early = received.early, None
        if plan.scanner is not None:
            # Its structure was checked as it streamed; its headers were read from its head then.
            plan.scanner.close()
            assert early is not None
            info = await early
        else:
            assert received.spool_path is not None
            # Usually already decoded while the last part was still on its way to S3.
            info = await early if early is not None else await self._inspector(plan.kind)(received.spool_path)
        moment = (
            options.taken_at
            or info.taken_at
            or self._time_in_name(received.filename)
            or options.file_time
            or plan.moment
            or utcnow()
        )
        key = original_key(self.owner_id, moment, received.sha256, plan.kind.ext)
        await self._place(received, key, self._tags())
        kept.add(key)
        fields = dict(
            sha256=received.sha256, bucket=self.bucket, key=key, content_type=plan.kind.content_type,
            size=received.size, original_name=received.filename, width=info.width, height=info.height,
            taken_at=moment, utc_offset_minutes=_offset_minutes(moment), exif=info.exif, gps=info.gps,
        )  # fmt: skip
        if replacing is not None:
            old_key = replacing.key
            for name, value in fields.items():
                setattr(replacing, name, value)
            replacing.status = "pending" if replacing.kind == "daily" else "stored"
            replacing.uploaded_at = utcnow()
            await self.session.flush()
            if old_key != key:
                self.replaced_key = old_key
            if replacing.kind == "daily":
                self._announce(replacing)
            return UploadResult(replacing, created=False)
        photo = Photo(
            owner_id=self.owner_id, piwigo_id=await photos.free_piwigo_id(self.session, self.owner_id),
            kind=options.kind, status="pending" if options.kind == "daily" else "stored",
            title=options.title, description=options.description, show_location=options.show_location, **fields,
        )  # fmt: skip
        try:
            async with self.session.begin_nested():
                self.session.add(photo)
                await self.session.flush()
        except IntegrityError:
            # The same bytes raced in from another request: answer with the winner.
            winner = await photos.photo_by_sha256(self.session, self.owner_id, received.sha256)
            if winner is None:
                raise
            if winner.key != key:
                kept.discard(key)
            return UploadResult(winner, created=False, duplicate=True)
        if options.kind == "daily":
            self._announce(photo)
        log.info(
            "gateway.photo.stored photo=%s sha256=%s kind=%s", photo.id.hex, received.sha256, options.kind
        )
        return UploadResult(photo, created=True)

    def _announce(self, photo: Photo) -> None:
        add_event(
            self.session,
            PhotoUploaded(
                photo_id=photo.id.hex, bucket=photo.bucket, key=photo.key, sha256=photo.sha256,
                taken_at=photo.taken_at_local, content_type=photo.content_type,
            ),
        )  # fmt: skip

    async def _record_raw(self, received: ReceivedFile, photo: Photo, kept: set[str]) -> bool:
        plan: _Plan = received.target.context
        check_raw_size(plan.kind, received.head, received.size)
        key = original_key(self.owner_id, photo.taken_at_local, received.sha256, plan.kind.ext)
        if photo.raw_key == key:
            _keep_if_shared(received, key, kept)
            return False
        if photo.raw_key:
            raise RejectedUpload(
                "raw_exists", f"the photo {photo.original_name} already has a different RAW file", 409
            )
        await self._place(received, key, {})
        kept.add(key)
        photo.raw_key, photo.raw_content_type, photo.raw_size = key, plan.kind.content_type, received.size
        await self.session.flush()
        log.info("gateway.photo.raw_added photo=%s key=%s", photo.id.hex, key)
        return True

    async def _place(self, received: ReceivedFile, key: str, tags: dict[str, str]) -> None:
        """Bring the streamed bytes to their content-addressed key (server-side copy if needed)."""
        target = received.target
        await wait_stored(received)
        if received.stored and target.key == key:
            if target.tags != tags:
                await asyncio.to_thread(_set_tags, self.s3, self.bucket, key, tags)
            return
        if await asyncio.to_thread(object_exists, self.s3, self.bucket, key):
            if EPHEMERAL not in tags:
                await asyncio.to_thread(_keep_forever, self.s3, self.bucket, key)
            return
        if not received.stored and received.spool_path is not None:
            # Straight from the spool file, read and sent by obstore.
            await obstore.put_async(
                self.stores(self.bucket), key, received.spool_path,
                **put_options(target.content_type, tags),
            )  # fmt: skip
            received.stored, target.bucket, target.key = True, self.bucket, key
            return
        assert received.stored and target.key, "bytes not stored and no object to reuse"
        await asyncio.to_thread(_copy, self.s3, self.bucket, target.key, key, received.size, tags)

    async def _organise(self, photo: Photo) -> None:
        options = self.options
        if options.album:
            album = await albums.get_or_create_album(
                self.session, self.owner_id, options.album, options.album_visibility
            )
            await albums.add_to_album(self.session, album, photo.id)
        if options.tags:
            await albums.tag_photo(self.session, photo.id, options.tags)


def _keep_if_shared(received: ReceivedFile, key: str, kept: set[str]) -> None:
    """Bytes that streamed to a key a catalog row already names (a racing request stored the
    same file first) are that row's object now: never remove them as this request's leftovers."""
    if received.stored and received.target.key == key:
        kept.add(key)


def _copy(s3: Minio, bucket: str, source: str, key: str, size: int, tags: dict[str, str]) -> None:
    object_tags = Tags.new_object_tags()
    object_tags.update(tags)
    if size <= MAX_COPY:
        s3.copy_object(
            bucket, key, CopySource(bucket, source), tags=object_tags or None,
            tagging_directive=REPLACE if tags else None,
        )  # fmt: skip
    else:
        s3.compose_object(bucket, key, [ComposeSource(bucket, source)], tags=object_tags or None)


def _set_tags(s3: Minio, bucket: str, key: str, tags: dict[str, str]) -> None:
    if tags:
        object_tags = Tags.new_object_tags()
        object_tags.update(tags)
        s3.set_object_tags(bucket, key, object_tags)
    else:
        s3.delete_object_tags(bucket, key)


def _keep_forever(s3: Minio, bucket: str, key: str) -> None:
    """A kept (portfolio) photo reuses this object (left by an earlier request of the account):
    it must never expire as an ephemeral one."""
    current = dict(s3.get_object_tags(bucket, key) or {})
    if EPHEMERAL in current:
        current.pop(EPHEMERAL)
        if current:
            tags = Tags.new_object_tags()
            tags.update(current)
            s3.set_object_tags(bucket, key, tags)
        else:
            s3.delete_object_tags(bucket, key)


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


OptionsFrom = Callable[[ReceivedForm, UploadOptions], Awaitable[UploadOptions]]


async def receive_and_record(
    request: Request,
    uploads: Uploads,
    *,
    plan: Planner | None = None,
    options_from: OptionsFrom | None = None,
) -> tuple[UploadResult, ReceivedForm]:
    """The whole upload path of one request: stream the body in, then validate and record it.

    `options_from` turns the received form fields into the options (defaults: the API's fields).
    """
    check_options(uploads.options)
    settings, s3 = uploads.settings, uploads.s3
    spool_dir = settings.data_dir / "spool"
    spool_dir.mkdir(parents=True, exist_ok=True)
    form = await receive_multipart(
        request, s3, uploads.stores, plan or uploads.plan, max_file_bytes=settings.gateway.max_upload_bytes,
        max_files=MAX_FILES, spool_dir=spool_dir,
    )  # fmt: skip
    try:
        if options_from is None:
            uploads.options = options_from_form(form, settings, uploads.options)
        else:
            uploads.options = await options_from(form, uploads.options)
        check_options(uploads.options)
    except BaseException:
        await discard_received(s3, form)
        raise
    return await uploads.record(form), form
