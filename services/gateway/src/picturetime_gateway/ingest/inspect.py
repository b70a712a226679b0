"""Inspection: is a received photo a whole, valid image within the limits, and what does it say
(dimensions, capture time, camera, location)? The checks themselves are in `formats`, `jpeg` and
`metadata`; this module runs them at the right moment, off the event loop."""

from __future__ import annotations

import asyncio
import io
import warnings
from datetime import tzinfo
from typing import IO, Any

from PIL import Image

from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.formats import HEAD_BYTES, FileType, sniff
from picturetime_gateway.ingest.jpeg import verify_jpeg
from picturetime_gateway.ingest.metadata import ImageInfo, exif_summary, inspect_image
from picturetime_gateway.ingest.request import Upload
from picturetime_gateway.ingest.sink import ReceivedFile


def begin_inspection(received: ReceivedFile, upload: Upload) -> asyncio.Future[ImageInfo] | None:
    """Start decoding a spooled photo as soon as its last byte is on disk, so it runs while its
    upload completes (a JPEG checked as it streamed needs no decode)."""
    placement = received.placement
    if received.spool_path is None or placement.scanner is not None or placement.kind.raw:
        return None
    return asyncio.ensure_future(_inspect_spooled(received, upload))


async def inspected(received: ReceivedFile, upload: Upload) -> ImageInfo:
    """What the photo says, once every check passed; raises RejectedUpload."""
    placement = received.placement
    if placement.scanner is not None:
        # Its structure was checked as it streamed; its headers were read from its head then.
        placement.scanner.close()
        assert placement.head_info is not None
        return await placement.head_info
    inspection, received.inspection = received.inspection, None
    # Usually decoded already, while the last part was still on its way to the object store.
    return await inspection if inspection is not None else await _inspect_spooled(received, upload)


async def _inspect_spooled(received: ReceivedFile, upload: Upload) -> ImageInfo:
    assert received.spool_path is not None
    return await asyncio.to_thread(
        inspect_image, received.spool_path, received.placement.kind,
        max_pixels=upload.settings.gateway.max_pixels, tz=upload.tz,
    )  # fmt: skip


def inspect_whole_file(
    stream: IO[bytes], filename: str, *, max_pixels: int, tz: tzinfo
) -> tuple[FileType, dict[str, Any]]:
    """A photo sent whole rather than streamed (the backfill's original): its type, sniffed and
    checked against its name, and its EXIF summary, once it decodes within the pixel limit."""
    stream.seek(0)
    kind = sniff(stream.read(HEAD_BYTES), filename)
    if kind.raw:
        raise RejectedUpload("unsupported_type", "send the JPEG, PNG, WebP or HEIC original, not a RAW file")
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream, formats=[kind.name]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise RejectedUpload(
                        "too_many_pixels",
                        f"{width}x{height} is more than the limit of {max_pixels} pixels",
                        413,
                    )
                exif, _, _ = exif_summary(image.getexif(), tz)
                if kind.name != "JPEG":
                    image.load()
        if kind.name == "JPEG":
            verify_jpeg(stream)
    except RejectedUpload:
        raise
    except Exception as exc:
        raise RejectedUpload("corrupt_image", f"the original cannot be decoded: {exc}", 422) from None
    stream.seek(0)
    return kind, exif


def verify_whole_jpeg(data: bytes) -> None:
    """A JPEG in memory is whole and its headers decode; raises RejectedUpload (corrupt_image)."""
    verify_jpeg(io.BytesIO(data))
