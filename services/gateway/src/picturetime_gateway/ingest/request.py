"""One upload request: its owner, its options (from the client's form fields), the catalog session
and the object store it writes to."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from picturetime_common.db.models import Photo, User
from picturetime_common.enums import AlbumVisibility, PhotoKind
from picturetime_common.filenames import time_in_name
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.albums.service import clean_tags
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.multipart import FormFields
from picturetime_gateway.settings import GatewaySettings

MAX_FILES = 2  # a photo and its RAW


@dataclass
class UploadOptions:
    kind: PhotoKind = PhotoKind.DAILY
    taken_at: datetime | None = None  # the capture time, over the file's EXIF (a wrong camera clock)
    file_time: datetime | None = None  # the file's modification time: when neither EXIF nor name dates it
    album: str | None = None
    album_visibility: AlbumVisibility = AlbumVisibility.PRIVATE
    tags: list[str] = field(default_factory=list)
    title: str = ""
    description: str = ""
    show_location: bool = False
    declared_sha256: str | None = None
    replace_photo: Photo | None = None  # Piwigo's image_id: new bytes for an existing photo


@dataclass
class Upload:
    """What one request's upload path works with and decides as it goes."""

    session: AsyncSession
    store: ObjectStore
    settings: GatewaySettings
    owner: User | None
    options: UploadOptions
    files_started: int = 0
    # Objects this request stored that the catalog now names: never removed as leftovers.
    kept: set[str] = field(default_factory=set)

    @property
    def owner_id(self) -> int:
        if self.owner is None:
            raise RejectedUpload("unauthenticated", "authenticate before sending the file", 401)
        return self.owner.id

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.gateway.timezone)

    @property
    def bucket(self) -> str:
        return self.settings.buckets.originals

    def time_in_name(self, filename: str | None) -> datetime | None:
        """The time a file name carries (IMG_20200613_081530.jpg), in the owner's zone."""
        moment = time_in_name(filename or "")
        return moment.replace(tzinfo=self.tz) if moment is not None else None


def parse_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def parse_taken_at(value: str | None, tz: ZoneInfo, name: str = "taken_at") -> datetime | None:
    """A time form field (ISO 8601; without an offset, in the owner's zone)."""
    if not value or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RejectedUpload(
            f"invalid_{name}", f"{name} must be an ISO 8601 time such as 2024-06-13T08:00:00+02:00", 422
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def parse_kind(value: str) -> PhotoKind:
    try:
        return PhotoKind(value)
    except ValueError:
        raise RejectedUpload("invalid_kind", f"kind must be one of {', '.join(PhotoKind)}", 422) from None


def parse_visibility(value: str) -> AlbumVisibility:
    try:
        return AlbumVisibility(value)
    except ValueError:
        raise RejectedUpload(
            "invalid_visibility", "album_visibility must be public or private", 422
        ) from None


def options_from_form(
    fields: FormFields, settings: GatewaySettings, defaults: UploadOptions
) -> UploadOptions:
    """Upload options from the API's form fields (`defaults` for fields a client left out)."""
    tz = ZoneInfo(settings.gateway.timezone)
    options = dataclasses.replace(defaults)
    kind = fields.get("kind", options.kind) or options.kind
    options.taken_at = parse_taken_at(fields.get("taken_at"), tz) or options.taken_at
    options.file_time = parse_taken_at(fields.get("file_time"), tz, "file_time") or options.file_time
    options.album = (fields.get("album") or "").strip()[:200] or options.album
    visibility = fields.get("album_visibility", options.album_visibility) or AlbumVisibility.PRIVATE
    options.tags = clean_tags(fields.all("tags")) or options.tags
    options.title = (fields.get("title") or options.title)[:255]
    options.description = fields.get("description") or options.description
    options.show_location = parse_bool(fields.get("show_location")) or options.show_location
    options.kind, options.album_visibility = parse_kind(kind), parse_visibility(visibility)
    return options


def check_sha256(options: UploadOptions) -> None:
    """The client's declared checksum, normalised; refused unless it is 64 hexadecimal digits."""
    if options.declared_sha256 is not None:
        declared = options.declared_sha256.strip().lower()
        if len(declared) != 64 or any(c not in "0123456789abcdef" for c in declared):
            raise RejectedUpload("invalid_sha256", "X-Content-SHA256 must be 64 hexadecimal digits", 400)
        options.declared_sha256 = declared
