"""The library page: the owner's albums for its menus, and small pictures of each photo.

Thumbnails are made here, on request, from the original (upright, JPEG-decoded at a reduced scale)
or, once the original has expired after mirroring, from the aligned frame; browsers keep them an
hour. The archive's signed renditions belong to the public site's origin and key.
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
from picturetime_common.objectstore import ObjectStore
from picturetime_gateway.errors import GatewayError
from picturetime_gateway.photos import service as photos
from picturetime_gateway.uploads import service as uploads

SIZES = (360, 1280)  # a grid tile (2x its CSS size), the detail view
SPOOL_IN_MEMORY = 16 * 1024 * 1024
MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchBucket")


async def albums_of(session: AsyncSession, owner: User) -> Sequence[tuple[Album, int]]:
    return await uploads.albums_of(session, owner)


def fitted_size(size: int) -> int:
    """The smallest standard size at least `size` (the largest for anything bigger)."""
    return next((s for s in SIZES if s >= size), SIZES[-1])


@dataclass(frozen=True)
class Picture:
    """Where a photo's small picture comes from: the original first, then its frame."""

    sources: list[tuple[str, str]]
    etag: str  # names both sources and the size: a new frame gives a new tag


async def picture_of(session: AsyncSession, owner_id: int, photo_id: str, size: int) -> Picture:
    """One of the owner's photos (in the trash too); another account's is not found."""
    photo, frame = await photos.owned_photo(session, owner_id, photo_id)
    sources = [(photo.bucket, photo.key)]
    tag = photo.sha256[:20]
    if frame is not None:
        sources.append((frame.bucket, frame.key))
        tag += "-" + frame.sha256[:20]
    return Picture(sources, f'"{tag}-{size}"')


async def reduced_jpeg(store: ObjectStore, picture: Picture, size: int) -> bytes:
    """The picture upright as a JPEG whose long side is at most `size`."""
    for bucket, key in picture.sources:
        jpeg = await run_in_threadpool(_reduced, store, bucket, key, size)
        if jpeg is not None:
            return jpeg
    raise GatewayError(
        404, "picture_unavailable", "neither the original nor a frame of this photo can be shown"
    )


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
