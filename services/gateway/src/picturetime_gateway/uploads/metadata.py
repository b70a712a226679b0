"""What an uploaded image really is: sniffed type, dimensions, capture time and EXIF summary."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from PIL import ExifTags, Image, UnidentifiedImageError

# Pillow format name → (extension, content type) of the formats the gateway keeps.
FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
CHUNK = 1024 * 1024


class RejectedUpload(ValueError):
    def __init__(self, code: str, detail: str, status: int = 415) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class ImageInfo:
    ext: str
    content_type: str
    width: int
    height: int
    taken_at: datetime | None
    exif: dict[str, Any] = field(default_factory=dict)


def sha256_of(stream: BinaryIO) -> tuple[str, int]:
    stream.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


def inspect_image(stream: BinaryIO, *, max_pixels: int, tz: tzinfo) -> ImageInfo:
    """Sniff and fully check an image without trusting its name; raises RejectedUpload."""
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            if image.format not in FORMATS:
                raise RejectedUpload(
                    "unsupported_type",
                    f"{image.format or 'this'} files are not accepted; send JPEG, PNG or WebP",
                )
            width, height = image.size
            if width * height > max_pixels:
                raise RejectedUpload(
                    "too_many_pixels", f"{width}x{height} is more than {max_pixels} pixels", 413
                )
            exif = image.getexif()
            # Decoding at 1/8 scale still reads every byte, so a truncated file fails here, cheaply.
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
    except RejectedUpload:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RejectedUpload("unsupported_type", f"not a readable image: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise RejectedUpload("corrupt_image", f"the image could not be decoded: {exc}", 422) from None
    finally:
        stream.seek(0)
    ext, content_type = FORMATS[image.format]
    summary, taken_at = _exif_summary(exif, tz)
    return ImageInfo(ext, content_type, width, height, taken_at, summary)


def _exif_summary(exif: Image.Exif, tz: tzinfo) -> tuple[dict[str, Any], datetime | None]:
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # malformed IFDs are common in the wild; metadata is best effort
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
    taken_at = _parse_exif_time(
        sub.get(ExifTags.Base.DateTimeOriginal), sub.get(ExifTags.Base.OffsetTimeOriginal), tz
    )
    return summary, taken_at


def _parse_exif_time(value: object, offset: object, tz: tzinfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip("\x00")
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(offset, str):
        try:
            return datetime.strptime(f"{text[:19]} {offset.strip()}", "%Y:%m:%d %H:%M:%S %z")
        except ValueError:
            pass
    return moment.replace(tzinfo=tz)


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, int | float | bool):
        return value
    try:
        return float(value)  # type: ignore[arg-type]  # IFDRational
    except (TypeError, ValueError):
        return str(value)


def original_key(taken_at: datetime, sha256: str, ext: str) -> str:
    return f"{taken_at:%Y}/{taken_at:%m}/{sha256}.{ext}"


def safe_name(name: str | None) -> str:
    """The file's base name for display only: never used as a path."""
    base = Path((name or "").replace("\\", "/")).name
    return "".join(ch for ch in base if ch.isprintable())[:255]
