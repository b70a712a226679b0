"""Where a file's bytes go while they stream in, decided from its first bytes: the placement plan.

A photo whose client declared its checksum streams straight to its final key (unless the account
already has those bytes, or the photo is being replaced); any other photo waits in a spool file on
disk until its checksum names its key. A RAW file streams to its final key when its photo is
known, else to a temporary `incoming/` key. A JPEG whose headers all sit in its first bytes is
checked as it streams (never spooled), and its headers are read while the rest arrives.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from datetime import datetime

from picturetime_common.db.models import Photo, utcnow
from picturetime_common.enums import PhotoKind
from picturetime_common.object_keys import incoming_key, original_key
from picturetime_common.s3 import EPHEMERAL
from picturetime_gateway.ingest import repository
from picturetime_gateway.ingest.formats import FileType, sniff, stem_of
from picturetime_gateway.ingest.jpeg import JpegScanner, first_scan_within
from picturetime_gateway.ingest.metadata import ImageInfo, inspect_image, taken_at_from_head
from picturetime_gateway.ingest.multipart import FileStart
from picturetime_gateway.ingest.request import Upload, parse_taken_at
from picturetime_gateway.photos import service as photos


@dataclass(frozen=True)
class Destination:
    bucket: str
    key: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Placement:
    """What one file is, and what happens to its bytes while they stream in."""

    kind: FileType
    # Where the bytes stream as they arrive; None: nowhere yet (spooled, or only hashed).
    stream_to: Destination | None = None
    spool: bool = False  # a full copy on disk, to decode and check before anything commits
    expected_sha256: str | None = None  # the client's claim: bytes that differ are never stored
    # Fed every block as it passes: a JPEG's structure, checked at the speed of a byte scan.
    scanner: JpegScanner | None = None
    # Its headers (size, EXIF, the pixel limit), read from the head while the rest streams.
    head_info: asyncio.Future[ImageInfo] | None = None
    moment: datetime | None = None  # the best capture time known from the head
    duplicate_of: Photo | None = None  # the account holds these bytes already: hash only, store nothing
    checked_sha256: str | None = None  # no photo of the owner had this checksum when planned
    photo: Photo | None = None  # a RAW file's photo, when known up front
    # The account's object with these bytes at the key planned from the head (an earlier request that
    # never committed left it): nothing is streamed; the bytes are taken from it, wherever they end.
    reuse: Destination | None = None


def ephemeral_tags(kind: str) -> dict[str, str]:
    """Daily originals are ephemeral: once mirrored home, lifecycle expiry may take them."""
    return {EPHEMERAL: "true"} if kind == PhotoKind.DAILY else {}


async def plan(start: FileStart, upload: Upload) -> Placement:
    """Decide from a file's first bytes what it is and where its bytes go."""
    kind = sniff(start.head, start.filename)
    declared = upload.options.declared_sha256 if upload.files_started == 0 else None
    upload.files_started += 1
    if kind.raw:
        return await _plan_raw(start, kind, declared, upload)
    return await _plan_image(start, kind, declared, upload)


async def _plan_image(start: FileStart, kind: FileType, declared: str | None, upload: Upload) -> Placement:
    options, tz = upload.options, upload.tz
    early = parse_taken_at(start.fields.get("taken_at"), tz) or options.taken_at
    file_time = parse_taken_at(start.fields.get("file_time"), tz, "file_time")
    moment = (
        early
        or await asyncio.to_thread(taken_at_from_head, start.head, tz)
        or upload.time_in_name(start.filename)
        or file_time
        or options.file_time
        or utcnow()
    )
    placement = Placement(kind, spool=True, expected_sha256=declared, moment=moment)
    first_scan = first_scan_within(start.head) if kind.name == "JPEG" else 0
    if first_scan:
        placement.scanner = JpegScanner()
    # Without a declared checksum (or when replacing a photo) the key, which names the checksum, is
    # known only at the end: the bytes wait in the spool file (never in memory) and go to the
    # object store once, under their final key, after validation.
    if declared is not None and options.replace_photo is None:
        placement.spool = placement.scanner is None  # a scanned JPEG needs no copy on disk
        key = original_key(upload.owner_id, moment, declared, kind.ext)
        # Both questions at once: the catalog's and the object store's.
        stored = asyncio.ensure_future(upload.store.exists(upload.bucket, key))
        try:
            existing = await photos.photo_by_sha256(upload.session, upload.owner_id, declared)
        finally:
            already = await stored
        if existing is not None:
            # Hash only, to verify the claim; nothing is stored.
            placement.duplicate_of, placement.spool, placement.scanner = existing, False, None
            return placement
        placement.checked_sha256 = declared
        if already:
            # This account's bytes are stored (an earlier request's). The key is only a guess while
            # form fields may still follow the file (a `taken_at` after it): the final key is known
            # once the form is in, and the bytes go there from this object (`sink.settle`).
            placement.reuse = Destination(upload.bucket, key)
        else:
            # Stream straight to the planned key (never completed if the bytes disagree).
            kind_now = start.fields.get("kind") or options.kind
            placement.stream_to = Destination(upload.bucket, key, ephemeral_tags(kind_now))
    if placement.scanner is not None:
        # Every header is in the head: read them while the rest of the file streams; the scanner
        # still has to find the file whole.
        max_pixels = upload.settings.gateway.max_pixels
        placement.head_info = asyncio.ensure_future(
            asyncio.to_thread(
                inspect_image, io.BytesIO(start.head), kind, max_pixels=max_pixels, tz=tz,
                jpeg_first_scan=first_scan,
            )
        )  # fmt: skip
    return placement


async def _plan_raw(start: FileStart, kind: FileType, declared: str | None, upload: Upload) -> Placement:
    photo = await repository.photo_by_stem(upload.session, upload.owner_id, stem_of(start.filename))
    placement = Placement(kind, expected_sha256=declared, photo=photo)
    if photo is None or declared is None:
        placement.stream_to = Destination(upload.bucket, incoming_key())
        return placement
    key = original_key(upload.owner_id, photo.taken_at_local, declared, kind.ext)
    if photo.raw_key != key and not await upload.store.exists(upload.bucket, key):
        placement.stream_to = Destination(upload.bucket, key)
    return placement
