"""Archive settings: the common ones plus the `PT_ARCHIVE__…` group."""

from __future__ import annotations

import hashlib
from typing import Self

from pydantic import BaseModel, Field, model_validator

from picturetime_common.daypick import REVIEW_CONFIDENCE
from picturetime_common.settings import PLACEHOLDER_SECRETS, CommonSettings


class ArchiveOptions(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    site_title: str = "Picture Time"
    owner_name: str = ""
    # The site's public origin (https://example.org) for feeds, sitemaps and Open Graph tags;
    # without it they use the origin the request came to.
    public_url: str = ""
    latest_frames: int = 12
    # Signs rendition URLs, so a private photo's media is never at a guessable address.
    # Empty in dev: derived from the S3 secret (stable across restarts); required in prod.
    media_secret: str = ""
    page_size: int = Field(default=60, ge=10, le=200)
    # A day's frame is never one the gateway's review queue holds: keep this equal to
    # PT_GATEWAY__REVIEW_CONFIDENCE, the confidence under which a frame waits for review.
    review_confidence: float = Field(default=REVIEW_CONFIDENCE, ge=0.0, le=1.0)
    # Cached aggregates (heatmap, counts, album sizes) live this long even if an event is missed.
    cache_ttl_seconds: float = Field(default=30.0, ge=0)
    # Renditions made at once (in worker threads); the rest wait their turn. With the limits
    # below, this bounds the memory renditions take: tens of MB each, a HEIC up to 7 bytes a pixel.
    rendition_threads: int = Field(default=2, ge=1)
    # Sources with more pixels are refused, not decoded: rows may predate the gateway's limit.
    rendition_max_pixels: int = Field(default=200_000_000, ge=1)
    # HEIC is decoded whole (one at a time): larger ones are refused.
    rendition_max_whole_pixels: int = Field(default=50_000_000, ge=1)
    # Make the gallery renditions of a frame as soon as it is aligned (frames expire after mirroring).
    prerender_frames: bool = True


class ArchiveSettings(CommonSettings):
    archive: ArchiveOptions = ArchiveOptions()

    @model_validator(mode="after")
    def _media_secret_outside_dev(self) -> Self:
        if self.env == "prod" and self.archive.media_secret in PLACEHOLDER_SECRETS:
            raise ValueError("PT_ARCHIVE__MEDIA_SECRET is empty or a placeholder; set a random secret")
        return self

    @property
    def media_key(self) -> bytes:
        """The HMAC key of media URLs."""
        if self.archive.media_secret:
            return self.archive.media_secret.encode()
        return hashlib.sha256(b"picturetime-archive-media:" + self.s3.secret_key.encode()).digest()
