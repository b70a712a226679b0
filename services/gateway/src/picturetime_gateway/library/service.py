"""The library page: the owner's albums for its menus, and small pictures of each photo.

A picture is made here the first time it is asked for, from the original (upright, JPEG-decoded at
a reduced scale) or, once the original has expired after mirroring, from the aligned frame, and
kept in the media bucket under the photo's renditions prefix (removed with the photo); browsers keep
it an hour. The archive's signed renditions belong to the public site's origin and key.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO

from minio.error import S3Error
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from picturetime_common.db.models import Album, User
from picturetime_common.object_keys import renditions_prefix
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.photos import service as photos
from picturetime_gateway.uploads import service as uploads

SIZES = (360, 1280)  # a grid tile (2x its CSS size), the detail view
SPOOL_IN_MEMORY = 16 * 1024 * 1024
MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchBucket")
SOURCE_META = "x-amz-meta-library-source"


async def albums_of(session: AsyncSession, owner: User) -> Sequence[tuple[Album, int]]:
    return await uploads.albums_of(session, owner)


def fitted_size(size: int) -> int:
    """The smallest standard size at least `size` (the largest for anything bigger)."""
    return next((s for s in SIZES if s >= size), SIZES[-1])


@dataclass(frozen=True)
class Picture:
    """Where a photo's small picture comes from: the original first, then its frame."""

    photo_id: str
    sources: list[tuple[str, str]]
    source_tag: str  # names both sources: a new frame gives a new tag
    etag: str


async def picture_of(session: AsyncSession, owner_id: int, photo_id: str, size: int) -> Picture:
    """One of the owner's photos (in the trash too); another account's is not found."""
    photo, frame = await photos.owned_photo(session, owner_id, photo_id)
    sources = [(photo.bucket, photo.key)]
    tag = photo.sha256[:20]
    if frame is not None:
        sources.append((frame.bucket, frame.key))
        tag += "-" + frame.sha256[:20]
    return Picture(photo.id.hex, sources, tag, f'"{tag}-{size}"')


def picture_key(photo_id: str, size: int) -> str:
    return f"{renditions_prefix(photo_id)}library-{size}.jpg"


async def picture_jpeg(store: ObjectStore, media_bucket: str, picture: Picture, size: int) -> bytes:
    """The picture upright as a JPEG whose long side is at most `size`: kept, or made and kept."""
    jpeg = await run_in_threadpool(_kept_or_made, store, media_bucket, picture, size)
    if jpeg is None:
        raise GatewayError(
            404, "picture_unavailable", "neither the original nor a frame of this photo can be shown"
        )
    return jpeg


def _kept_or_made(store: ObjectStore, media_bucket: str, picture: Picture, size: int) -> bytes | None:
    key = picture_key(picture.photo_id, size)
    try:
        stat = store.client.stat_object(media_bucket, key)
        if (stat.metadata or {}).get(SOURCE_META) == picture.source_tag:
            return b"".join(store.read(media_bucket, key))
    except S3Error as exc:
        if exc.code not in MISSING:
            raise
    for bucket, source in picture.sources:
        jpeg = _reduced(store, bucket, source, size)
        if jpeg is not None:
            store.client.put_object(
                media_bucket, key, BytesIO(jpeg), len(jpeg), content_type="image/jpeg",
                metadata={"library-source": picture.source_tag},
            )  # fmt: skip
            return jpeg
    return None


def _reduced(store: ObjectStore, bucket: str, key: str, long_side: int) -> bytes | None:
    """The object upright, reduced to fit `long_side`, as a JPEG; None if it is gone or unreadable."""
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            for chunk in store.read(bucket, key):
                spool.write(chunk)
            spool.seek(0)
            with Image.open(spool) as image:
                # A JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the cost.
                image.draft("RGB", (long_side, long_side))
                pixels = ImageOps.exif_transpose(image).convert("RGB")
                pixels.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
                out = BytesIO()
                pixels.save(out, "JPEG", quality=82)
                return out.getvalue()
    except S3Error as exc:
        if exc.code in MISSING:
            return None
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
