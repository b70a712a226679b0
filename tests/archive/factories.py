"""Factories for archive tests: catalog rows as the gateway writes them, with real objects in S3."""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import secrets
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from minio import Minio
from PIL import Image
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from picturetime_archive.settings import ArchiveOptions, ArchiveSettings
from picturetime_common.db.models import (
    Album,
    ApiKey,
    Frame,
    Photo,
    Project,
    TimelapseVersion,
    User,
    WebSession,
    album_photos,
)
from picturetime_gateway.settings import GatewaySettings
from tests.support.stack import s3_as


@functools.cache  # the same bytes every time: encode each kind once (a year of daily rows asks ~800 times)
def image_bytes(width: int, height: int, *, color: tuple[int, int, int] = (180, 90, 40), orientation: int = 0,
                gps: bool = False) -> bytes:  # fmt: skip
    """A JPEG with a gradient (so resizing has something to do), and EXIF when asked."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    overlay = Image.new("RGB", (width, height), color)
    image = Image.blend(image, overlay, 0.5)
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if gps:
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd[1], gps_ifd[2] = "N", (48.0, 51.0, 30.0)
        gps_ifd[3], gps_ifd[4] = "E", (2.0, 17.0, 40.0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


@functools.cache
def huge_png(width: int = 12000, height: int = 12000, color: tuple[int, int, int] = (200, 100, 50)) -> bytes:
    """A PNG of one colour that is small on disk (about 450 KB) and huge decoded (432 MB as RGB).

    Written row by row with zlib, so making it never holds the pixels in memory."""
    row = b"\x00" + bytes(color) * width  # filter type 0, then the row's pixels
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


# What the aligner records of a face looking at the camera, eyes open (`face_quality`).
GOOD_FACE = {"roll_deg": 0.4, "yaw": 0.02, "strong_yaw": False, "ear": 0.29, "eyes_closed": False, "faces": 1}


@dataclass
class Catalog:
    """Inserts catalog rows the way the gateway would have written them, with real objects in S3."""

    engine: Engine
    s3: Minio
    settings: ArchiveSettings
    _piwigo_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def _add(self, row: Any) -> Any:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(row)
        return row

    def user(self, name: str | None = None, role: str = "admin", *, password_hash: str | None = None) -> User:
        return self._add(
            User(name=name or f"owner-{uuid.uuid4().hex[:6]}", role=role, password_hash=password_hash)
        )

    def api_key(self, user: User, scopes: str = "upload") -> ApiKey:
        """A key as the gateway stores it: only its SHA-256 and its prefix."""
        secret = "pt_" + secrets.token_urlsafe(24)
        return self._add(ApiKey(user_id=user.id, label="phone", prefix=secret[:10], scopes=scopes,
                                key_hash=hashlib.sha256(secret.encode()).hexdigest()))  # fmt: skip

    def signed_in(self, user: User, *, expired: bool = False, key: ApiKey | None = None) -> str:
        """A browser session as the gateway's login makes it (with `key`: a Piwigo session opened
        with that key): the cookie value is returned."""
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + (timedelta(days=-1) if expired else timedelta(days=30))
        self._add(WebSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), user_id=user.id,
                             csrf_token=secrets.token_urlsafe(16), expires_at=expires,
                             api_key_id=key.id if key else None))  # fmt: skip
        return token

    def photo(
        self,
        owner: User,
        *,
        kind: str = "portfolio",
        width: int = 1600,
        height: int = 1000,
        taken_at: datetime | None = None,
        offset_minutes: int = 0,
        title: str = "",
        description: str = "",
        exif: dict[str, Any] | None = None,
        gps: dict[str, float] | None = None,
        show_location: bool = False,
        image: bytes | None = None,
        content_type: str = "image/jpeg",
        upload: bool = True,
        status: str | None = None,
    ) -> Photo:
        body = image if image is not None else image_bytes(width, height)
        sha = hashlib.sha256(body + uuid.uuid4().bytes).hexdigest()
        key = f"2024/06/{sha}.{content_type.removeprefix('image/').replace('jpeg', 'jpg')}"
        if upload:
            self.s3.put_object(self.settings.buckets.originals, key, io.BytesIO(body), len(body))
        photo = Photo(
            owner_id=owner.id, piwigo_id=next(self._piwigo_ids), sha256=sha, bucket=self.settings.buckets.originals, key=key,
            content_type=content_type, size=len(body), kind=kind, width=width, height=height,
            taken_at=taken_at or datetime.now(UTC), utc_offset_minutes=offset_minutes, exif=exif or {},
            status=status or ("aligned" if kind == "daily" else "stored"), title=title, description=description, gps=gps,
            show_location=show_location,
        )  # fmt: skip
        return self._add(photo)

    def frame(
        self, photo: Photo, *, image: bytes | None = None, upload: bool = True, confidence: float = 0.99,
        quality: dict[str, Any] | None = None,
    ) -> Frame:  # fmt: skip
        """An aligned frame; `quality` as the aligner measures it (a good face when not given)."""
        body = image if image is not None else image_bytes(1080, 1350, color=(60, 120, 200))
        key = f"2024/06/{photo.id}-abc.jpg"
        if upload:
            self.s3.put_object(self.settings.buckets.frames, key, io.BytesIO(body), len(body))
        frame = Frame(
            photo_id=photo.id, bucket=self.settings.buckets.frames, key=key, params_hash="abc",
            sha256=hashlib.sha256(body).hexdigest(), size=len(body), width=1080, height=1350,
            matrix=[[1, 0, 0], [0, 1, 0]], left_eye=[400, 500], right_eye=[680, 500], confidence=confidence,
            quality=GOOD_FACE if quality is None else quality,
        )  # fmt: skip
        return self._add(frame)

    def day(
        self, owner: User, taken_at: datetime, *, offset_minutes: int = 0, upload: bool = False,
        confidence: float = 0.99, quality: dict[str, Any] | None = None, image: bytes | None = None,
        status: str = "aligned",
    ) -> Photo:  # fmt: skip
        """A daily photo with its aligned frame (objects only when `upload`)."""
        photo = self.photo(owner, kind="daily", width=1080, height=1350, taken_at=taken_at,
                           offset_minutes=offset_minutes, upload=upload, status=status)  # fmt: skip
        self.frame(photo, upload=upload, confidence=confidence, quality=quality, image=image)
        return photo

    def album(
        self, owner: User, name: str, photos: list[Photo] = (), *, visibility: str = "public",  # type: ignore[assignment]
        cover: Photo | None = None, description: str = "",
    ) -> Album:  # fmt: skip
        album = self._add(Album(owner_id=owner.id, name=name, slug=name.lower().replace(" ", "-"),
                                visibility=visibility, description=description,
                                cover_photo_id=cover.id if cover else None))  # fmt: skip
        if photos:
            with self.engine.begin() as conn:
                conn.execute(insert(album_photos), [{"album_id": album.id, "photo_id": p.id} for p in photos])
        return album

    def project(
        self, owner: User, title: str, *, visibility: str = "public", body: str = "", summary: str = "",
        cover: Photo | None = None, album: Album | None = None, show_timelapse: bool = False, position: int = 0,
    ) -> Project:  # fmt: skip
        return self._add(Project(
            owner_id=owner.id, slug=title.lower().replace(" ", "-"), title=title, summary=summary,
            body_markdown=body, cover_photo_id=cover.id if cover else None, position=position,
            visibility=visibility, album_id=album.id if album else None, show_timelapse=show_timelapse,
        ))  # fmt: skip

    def timelapse(self, body: bytes, *, frames: int = 10, version: str | None = None) -> TimelapseVersion:
        version = version or datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + uuid.uuid4().hex[:4]
        key = f"{version}.mp4"
        self.s3.put_object(self.settings.buckets.timelapse, key, io.BytesIO(body), len(body))
        return self._add(TimelapseVersion(
            version=version, bucket=self.settings.buckets.timelapse, key=key,
            sha256=hashlib.sha256(body).hexdigest(), size=len(body), frames=frames, duration=frames / 24,
        ))  # fmt: skip


def archive_settings_from(gateway_settings: GatewaySettings, **options: Any) -> ArchiveSettings:
    """The archive's settings beside a test gateway, with the archive's own S3 identity."""
    base = ArchiveOptions(cache_ttl_seconds=30, prerender_frames=False, page_size=20)
    common = gateway_settings.model_dump(exclude={"gateway", "s3"})
    return ArchiveSettings(
        **common, s3=s3_as(gateway_settings.s3, "archive"), archive=base.model_copy(update=options)
    )
