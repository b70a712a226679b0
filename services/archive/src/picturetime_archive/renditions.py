"""Resized photos (WebP and JPEG), made once from the original or the aligned frame, kept in `media`.

A rendition's URL carries an HMAC of (photo, width, format, source checksum) made with a server
secret, so nobody can guess the address of a private photo's media, and a realigned frame gets
new URLs that browsers may cache forever. The object `renditions/{photo_id}/{width}.{fmt}`
remembers the checksum of its source, so a stale one is remade.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import logging
import uuid
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from minio import Minio
from minio.error import S3Error

from picturetime_archive.repository import Tile

log = logging.getLogger(__name__)

WIDTHS = (320, 640, 1280, 2048)
FORMATS = {"webp": ("WEBP", "image/webp"), "jpg": ("JPEG", "image/jpeg")}
SOURCE_META = "x-amz-meta-source-sha256"
MISSING = ("NoSuchKey", "NoSuchObject", "ResourceNotFound")
# Frames are made for the galleries of the timelapse: these are made as soon as one is aligned.
PRERENDER_WIDTHS = (320, 640, 1280)


def signature(key: bytes, photo_id: uuid.UUID, width: int, fmt: str, source_sha256: str) -> str:
    message = f"{photo_id.hex}:{width}:{fmt}:{source_sha256}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def object_key(photo_id: uuid.UUID, width: int, fmt: str) -> str:
    return f"renditions/{photo_id.hex}/{width}.{fmt}"


class Signer:
    """Rendition URLs and `srcset` values for tiles."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        # Pages show the same tiles again and again: remember their URLs (tiles are immutable).
        self.url = lru_cache(maxsize=65536)(self._url)  # type: ignore[method-assign]
        self.srcset = lru_cache(maxsize=32768)(self._srcset)  # type: ignore[method-assign]

    def _url(self, tile: Tile, width: int, fmt: str = "jpg") -> str:
        width = self.fit(tile, width)
        sig = signature(self.key, tile.id, width, fmt, tile.source_sha256)
        return f"/media/photos/{tile.id.hex}/{sig}/{width}.{fmt}"

    def valid(self, tile: Tile, width: int, fmt: str, sig: str) -> bool:
        expected = signature(self.key, tile.id, width, fmt, tile.source_sha256)
        return hmac.compare_digest(expected, sig)

    @staticmethod
    def widths(tile: Tile) -> list[int]:
        """The rendition widths worth offering: smaller than the source, and one at least as wide."""
        fitting = [w for w in WIDTHS if w < tile.width]
        larger = [w for w in WIDTHS if w >= tile.width]
        return fitting + larger[:1]

    @staticmethod
    def fit(tile: Tile, width: int) -> int:
        """The standard width closest above `width` that the source can fill (or the largest one)."""
        offered = Signer.widths(tile)
        return next((w for w in offered if w >= width), offered[-1])

    def _srcset(self, tile: Tile, fmt: str, *, up_to: int = WIDTHS[-1]) -> str:
        parts = []
        for width in self.widths(tile):
            if width > up_to and parts:
                break
            parts.append(f"{self.url(tile, width, fmt)} {min(width, tile.width)}w")
        return ", ".join(parts)


@dataclass(frozen=True)
class Stored:
    etag: str
    size: int
    source_sha256: str
    body: bytes | None = None  # the bytes, when this request just made them


class Renditions:
    """Makes renditions in worker threads (one at a time per key) and remembers where they are."""

    def __init__(self, s3: Minio, bucket: str, *, threads: int = 2, remember: int = 4096) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.made = 0
        self._work = asyncio.Semaphore(threads)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._known: OrderedDict[str, Stored] = OrderedDict()
        self._remember = remember

    async def ensure(self, tile: Tile, width: int, fmt: str) -> Stored | None:
        """The stored rendition, made now if missing or stale; None when its source is gone too."""
        key = object_key(tile.id, width, fmt)
        known = self._known.get(key)
        if known is not None and known.source_sha256 == tile.source_sha256:
            return known
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._ensure_locked(tile, width, fmt, key)
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _ensure_locked(self, tile: Tile, width: int, fmt: str, key: str) -> Stored | None:
        known = self._known.get(key)
        if known is not None and known.source_sha256 == tile.source_sha256:
            return known  # made while this request waited for the lock
        existing = await asyncio.to_thread(self._stat, key)
        if existing is not None and existing.source_sha256 == tile.source_sha256:
            return self._remember_stored(key, existing)
        async with self._work:
            try:
                made = await asyncio.to_thread(self._make, tile, width, fmt, key)
            except S3Error as exc:
                if exc.code not in MISSING:
                    raise
                # The source expired (frames do, once mirrored): an older rendition beats none.
                log.warning("archive.rendition.source_missing photo=%s key=%s", tile.id, tile.source_key)
                return existing
        self.made += 1
        self._remember_stored(key, Stored(made.etag, made.size, made.source_sha256))
        return made

    def _remember_stored(self, key: str, stored: Stored) -> Stored:
        self._known[key] = stored
        self._known.move_to_end(key)
        while len(self._known) > self._remember:
            self._known.popitem(last=False)
        return stored

    def forget(self, photo_id: uuid.UUID) -> None:
        prefix = f"renditions/{photo_id.hex}/"
        for key in [k for k in self._known if k.startswith(prefix)]:
            del self._known[key]

    def _stat(self, key: str) -> Stored | None:
        try:
            stat = self.s3.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in MISSING:
                return None
            raise
        source = (stat.metadata or {}).get(SOURCE_META, "")
        return Stored((stat.etag or "").strip('"'), int(stat.size or 0), source)

    def _make(self, tile: Tile, width: int, fmt: str, key: str) -> Stored:
        response = self.s3.get_object(tile.source_bucket, tile.source_key)
        try:
            original = response.read()
        finally:
            response.close()
            response.release_conn()
        body = render(original, width, fmt)
        result = self.s3.put_object(
            self.bucket, key, io.BytesIO(body), len(body), content_type=FORMATS[fmt][1],
            metadata={"source-sha256": tile.source_sha256, "photo-id": tile.id.hex},
        )  # fmt: skip
        log.info(
            "archive.rendition.made photo=%s width=%d format=%s bytes=%d", tile.id, width, fmt, len(body)
        )
        return Stored((result.etag or "").strip('"'), len(body), tile.source_sha256, body)


def render(original: bytes, width: int, fmt: str) -> bytes:
    """Decode (HEIC too), turn upright, shrink to `width` (never enlarge), encode without metadata."""
    from PIL import Image, ImageOps

    _register_heif()
    with warnings.catch_warnings():
        # The gateway bounded the pixel count at upload; Pillow's own threshold is lower.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(original)) as image:
            upright_width = image.height if _turned(image) else image.width
            scale = min(1.0, width / upright_width) if upright_width else 1.0
            if image.format == "JPEG" and scale < 0.5:
                # Decode at a reduced scale: much faster, and the result is resized below anyway.
                image.draft("RGB", (int(image.width * scale) + 1, int(image.height * scale) + 1))
            icc = image.info.get("icc_profile")
            picture = ImageOps.exif_transpose(image)
            picture = picture.convert("RGB") if picture.mode != "RGB" else picture
    new_width = max(1, min(width, picture.width))
    if new_width != picture.width:
        size = (new_width, max(1, round(picture.height * new_width / picture.width)))
        picture = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    # EXIF is dropped on purpose: it may hold the location, which stays private.
    if fmt == "webp":
        picture.save(out, "WEBP", quality=80, method=4, icc_profile=icc)
    else:
        picture.save(out, "JPEG", quality=82, optimize=True, progressive=True, icc_profile=icc)
    return out.getvalue()


def _turned(image: object) -> bool:
    try:
        return image.getexif().get(0x0112) in (5, 6, 7, 8)  # type: ignore[attr-defined]
    except Exception:
        return False


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # HEIC originals then fail to decode; everything else works
            log.warning("archive.rendition.no_heif_support")
        _heif_registered = True
