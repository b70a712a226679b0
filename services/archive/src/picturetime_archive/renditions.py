"""Resized photos (WebP and JPEG), made once from the original or the aligned frame, kept in `media`.

The source is copied to a temporary file and decoded reduced (`imaging`), a few at a time
(`DecodeSlots`), so no rendition request can take the archive's memory with it.

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
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from minio import Minio
from minio.error import S3Error

from picturetime_archive import imaging
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
        self.url = lru_cache(maxsize=65536)(self._url)
        self.srcset = lru_cache(maxsize=32768)(self._srcset)

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
        parts: list[str] = []
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
    kept: bool = True  # False when storing it in `media` failed


class DecodeSlots:
    """At most `size` renditions decode at once; one that decodes a whole image runs alone.

    The slots bound the archive's memory: a streamed decode costs tens of MB, a whole one up to
    about 7 bytes a pixel.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = asyncio.Semaphore(size)
        self._whole = asyncio.Lock()  # one whole decode gathers the slots at a time: no deadlock

    @asynccontextmanager
    async def hold(self, *, alone: bool) -> AsyncIterator[None]:
        if not alone:
            async with self._free:
                yield
            return
        async with self._whole:
            taken = 0
            try:
                for _ in range(self.size):
                    await self._free.acquire()
                    taken += 1
                yield
            finally:
                for _ in range(taken):
                    self._free.release()


@dataclass(frozen=True)
class Limits:
    """Sources larger than these are refused rather than decoded (see `imaging`)."""

    max_pixels: int = 200_000_000
    max_whole_pixels: int = 50_000_000


class Renditions:
    """Makes renditions in worker threads (one at a time per key) and remembers where they are."""

    def __init__(
        self, s3: Minio, bucket: str, *, threads: int = 2, limits: Limits | None = None, remember: int = 4096
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.limits = limits or Limits()
        self.made = 0
        self.slots = DecodeSlots(threads)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._known: OrderedDict[str, Stored] = OrderedDict()
        self._refused: OrderedDict[str, str] = OrderedDict()  # key -> source checksum
        self._remember_max = remember

    async def ensure(self, tile: Tile, width: int, fmt: str) -> Stored | None:
        """The stored rendition, made now if missing or stale; None when none can be made."""
        key = object_key(tile.id, width, fmt)
        known = self._known.get(key)
        if known is not None and known.source_sha256 == tile.source_sha256:
            return known
        if self._refused.get(key) == tile.source_sha256:
            return None
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
            return self._remember(self._known, key, existing)
        with tempfile.TemporaryDirectory(prefix="pt-rendition-") as folder:
            try:
                body = await self._make(tile, width, fmt, Path(folder) / "source")
            except S3Error as exc:
                if exc.code not in MISSING:
                    raise
                # The source expired (frames do, once mirrored): an older rendition beats none.
                log.warning("archive.rendition.source_missing photo=%s key=%s", tile.id, tile.source_key)
                return existing
            except imaging.Unrenderable as exc:
                log.warning(
                    "archive.rendition.refused photo=%s reason=%s detail=%s", tile.id, exc.reason, exc
                )
                self._remember(self._refused, key, tile.source_sha256)
                return existing
        made = await asyncio.to_thread(self._store, tile, width, fmt, key, body)
        self.made += 1
        if made.kept:
            self._remember(self._known, key, replace(made, body=None))
        return made

    async def _make(self, tile: Tile, width: int, fmt: str, source: Path) -> bytes:
        """Copy the source to disk and decode it reduced, within a slot (the whole slots for HEIC)."""
        async with self.slots.hold(alone=False):  # the copy too: it bounds the temporary disk space
            await asyncio.to_thread(self.s3.fget_object, tile.source_bucket, tile.source_key, str(source))
            found = await asyncio.to_thread(imaging.probe, source, **asdict(self.limits))
            if not found.decoded_whole:
                return await asyncio.to_thread(imaging.render, source, found, width, fmt)
        async with self.slots.hold(alone=True):
            return await asyncio.to_thread(imaging.render, source, found, width, fmt)

    def _remember(self, memo: OrderedDict[str, Any], key: str, value: Any) -> Any:
        memo[key] = value
        memo.move_to_end(key)
        while len(memo) > self._remember_max:
            memo.popitem(last=False)
        return value

    def forget(self, photo_id: uuid.UUID) -> None:
        prefix = f"renditions/{photo_id.hex}/"
        for memo in (self._known, self._refused):
            for key in [k for k in memo if k.startswith(prefix)]:
                del memo[key]

    def _stat(self, key: str) -> Stored | None:
        try:
            stat = self.s3.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in MISSING:
                return None
            raise
        source = (stat.metadata or {}).get(SOURCE_META, "")
        return Stored((stat.etag or "").strip('"'), int(stat.size or 0), source)

    def _store(self, tile: Tile, width: int, fmt: str, key: str, body: bytes) -> Stored:
        """Keep the rendition in `media`; if that fails, it is still served (and made again next time)."""
        try:
            result = self.s3.put_object(
                self.bucket, key, io.BytesIO(body), len(body), content_type=FORMATS[fmt][1],
                metadata={"source-sha256": tile.source_sha256, "photo-id": tile.id.hex},
            )  # fmt: skip
        except S3Error as exc:
            log.error("archive.rendition.not_kept photo=%s key=%s error=%s", tile.id, key, exc.code)
            etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
            return Stored(etag, len(body), tile.source_sha256, body, kept=False)
        log.info(
            "archive.rendition.made photo=%s width=%d format=%s bytes=%d", tile.id, width, fmt, len(body)
        )
        return Stored((result.etag or "").strip('"'), len(body), tile.source_sha256, body)
