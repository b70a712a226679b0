"""What an uploaded image holds: checked pixels, dimensions, capture time, camera and location."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO, Any

import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

from picturetime_common.exif import capture_time
from picturetime_gateway.ingest.errors import RejectedUpload
from picturetime_gateway.ingest.formats import FileType, tiff_ifd0_tags
from picturetime_gateway.ingest.jpeg import verify_jpeg

pillow_heif.register_heif_opener()
PILLOW_FORMATS = {"JPEG": ["JPEG"], "PNG": ["PNG"], "WEBP": ["WEBP"], "HEIF": ["HEIF"]}
DECOMPRESS_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    taken_at: datetime | None
    exif: dict[str, Any] = field(default_factory=dict)
    gps: dict[str, float] | None = None


def _too_many(width: int, height: int, max_pixels: int) -> RejectedUpload:
    return RejectedUpload(
        "too_many_pixels", f"{width}x{height} is more than the limit of {max_pixels} pixels", 413
    )


def inspect_image(
    path: Path | IO[bytes], kind: FileType, *, max_pixels: int, tz: tzinfo, jpeg_first_scan: int | None = None
) -> ImageInfo:
    """Open, bound and fully check an image of a sniffed type; raises RejectedUpload.

    `jpeg_first_scan`: the JPEG's structure was already checked as it streamed (JpegScanner) and
    `path` holds its first bytes, up to and past the start of its image data."""
    try:
        with warnings.catch_warnings():
            # Our own pixel limit decides; Pillow's warning threshold is lower than a big camera's.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF": judged by our own check
            with Image.open(path, formats=PILLOW_FORMATS[kind.name]) as image:
                width, height = image.size
                if width < 1 or height < 1:
                    raise RejectedUpload("corrupt_image", "the image has no pixels", 422)
                if width * height > max_pixels:
                    raise _too_many(width, height, max_pixels)
                raw_exif = image.info.get("exif")
                if raw_exif:
                    _check_exif_block(raw_exif)
                exif = image.getexif()
                if kind.name == "PNG":
                    assert isinstance(path, Path), "PNG files are checked from the complete spool file"
                    _check_png(path, width, height)
                elif kind.name == "JPEG":
                    assert image.fp is not None, "an image opened from a file keeps it open"
                    verify_jpeg(image.fp, jpeg_first_scan)  # the file Pillow already has open
                else:
                    image.load()
    except RejectedUpload:
        raise
    except Image.DecompressionBombError as exc:
        raise RejectedUpload(
            "too_many_pixels", f"the image is too large to decode safely: {exc}", 413
        ) from None
    except UnidentifiedImageError:
        raise RejectedUpload(
            "corrupt_image", f"the file starts like a {kind.name} image but cannot be read as one", 422
        ) from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, RuntimeError) as exc:
        raise RejectedUpload("corrupt_image", f"the image could not be decoded: {exc}", 422) from None
    summary, taken_at, gps = exif_summary(exif, tz)
    summary["width"], summary["height"] = width, height
    return ImageInfo(width, height, taken_at, summary, gps)


def _check_exif_block(raw: bytes) -> None:
    """An EXIF block must be a well-formed TIFF structure: garbage there is refused, not ignored."""
    data = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    if tiff_ifd0_tags(data) is None:
        raise RejectedUpload("corrupt_metadata", "the image's EXIF block is not valid EXIF data", 422)


def _check_png(path: Path, width: int, height: int) -> None:
    """Walk every chunk (CRC-checked) and inflate the pixel stream without keeping it.

    Bounded memory for any size, and a truncated or corrupt stream fails here.
    """
    with path.open("rb") as fp:
        if fp.read(8) != b"\x89PNG\r\n\x1a\n":
            raise RejectedUpload("corrupt_image", "the PNG signature is damaged", 422)
        inflater = zlib.decompressobj()
        produced = 0
        ended = False
        interlaced = False
        bits = channels = 0
        while True:
            header = fp.read(8)
            if len(header) < 8:
                break
            length, ctype = struct.unpack(">I4s", header)
            if length > 0x7FFFFFFF:
                raise RejectedUpload("corrupt_image", "a PNG chunk has an impossible length", 422)
            data = fp.read(length)
            crc = fp.read(4)
            if len(data) < length or len(crc) < 4:
                raise RejectedUpload("corrupt_image", "the PNG is truncated", 422)
            if zlib.crc32(ctype + data) != struct.unpack(">I", crc)[0]:
                raise RejectedUpload(
                    "corrupt_image", f"the PNG chunk {ctype.decode('latin-1')!r} is corrupt", 422
                )
            if ctype == b"IHDR":
                bits, color, interlaced = data[8], data[9], data[12] == 1
                channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color, 0)
            elif ctype == b"IDAT":
                try:
                    out = inflater.decompress(data, DECOMPRESS_CHUNK)
                    produced += len(out)
                    while inflater.unconsumed_tail:
                        out = inflater.decompress(inflater.unconsumed_tail, DECOMPRESS_CHUNK)
                        produced += len(out)
                except zlib.error as exc:
                    raise RejectedUpload(
                        "corrupt_image", f"the PNG pixel data is corrupt: {exc}", 422
                    ) from None
            elif ctype == b"IEND":
                ended = True
                break
    if not ended or not inflater.eof:
        raise RejectedUpload(
            "corrupt_image", "the PNG is truncated: its pixel data or end marker is missing", 422
        )
    if not interlaced and channels:
        expected = height * (1 + (width * channels * bits + 7) // 8)
        if produced < expected:
            raise RejectedUpload("corrupt_image", "the PNG holds fewer pixels than its header declares", 422)


def taken_at_from_head(head: bytes, tz: tzinfo) -> datetime | None:
    """The EXIF capture time from a file's first bytes, before the rest has arrived (best effort)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(head), formats=["JPEG", "PNG", "WEBP"]) as image:
                return exif_summary(image.getexif(), tz)[1]
    except Exception:  # a header that Pillow cannot parse from a prefix: decided after the full read
        return None


def exif_summary(
    exif: Image.Exif, tz: tzinfo
) -> tuple[dict[str, Any], datetime | None, dict[str, float] | None]:
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # malformed sub-IFDs are common in the wild; metadata is best effort
        sub = {}
    summary: dict[str, Any] = {}
    for name, value in (
        ("make", exif.get(ExifTags.Base.Make)),
        ("model", exif.get(ExifTags.Base.Model)),
        ("orientation", exif.get(ExifTags.Base.Orientation)),
        ("lens", sub.get(ExifTags.Base.LensModel)),
        ("exposure_time", sub.get(ExifTags.Base.ExposureTime)),
        ("f_number", sub.get(ExifTags.Base.FNumber)),
        ("iso", sub.get(ExifTags.Base.ISOSpeedRatings)),
        ("focal_length", sub.get(ExifTags.Base.FocalLength)),
    ):
        if value is not None:
            summary[name] = _jsonable(value)
    taken_at = capture_time(exif)
    if taken_at is not None and taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=tz)  # the camera's wall clock, in the owner's zone
    return summary, taken_at, _gps(exif)


def _gps(exif: Image.Exif) -> dict[str, float] | None:
    """Decimal degrees (and altitude) from the GPS IFD; stored privately, never in the EXIF summary."""
    try:
        info = exif.get_ifd(ExifTags.IFD.GPSInfo)
        lat = _degrees(info[ExifTags.GPS.GPSLatitude], info.get(ExifTags.GPS.GPSLatitudeRef, "N"))
        lon = _degrees(info[ExifTags.GPS.GPSLongitude], info.get(ExifTags.GPS.GPSLongitudeRef, "E"))
    except Exception:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    found = {"latitude": round(lat, 7), "longitude": round(lon, 7)}
    try:
        altitude = float(info[ExifTags.GPS.GPSAltitude])
        below = info.get(ExifTags.GPS.GPSAltitudeRef) in (1, b"\x01")
        found["altitude"] = round(-altitude if below else altitude, 2)
    except Exception:
        pass
    return found


def _degrees(value: Any, ref: Any) -> float:
    d, m, s = (float(part) for part in value)
    sign = -1 if str(ref).strip("\x00 ").upper() in ("S", "W") else 1
    return sign * (d + m / 60 + s / 3600)


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    if isinstance(value, str):
        return value.rstrip("\x00").strip()
    if isinstance(value, int | float | bool):
        return value
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        value = value[0] / value[1] if value[1] else float("nan")  # a (numerator, denominator) pair
    try:
        number = float(value)  # type: ignore[arg-type]  # IFDRational
    except (TypeError, ValueError, ZeroDivisionError):
        return str(value)
    return round(number, 6) if number == number else None  # NaN from 0/0 rationals
