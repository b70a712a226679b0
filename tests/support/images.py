"""Small real images with chosen EXIF, made in memory."""

from __future__ import annotations

import io
import random
from datetime import datetime

from PIL import Image


def jpeg(
    width: int = 64,
    height: int = 48,
    *,
    taken: datetime | None = None,
    offset: str | None = None,
    seed: int | None = None,
) -> bytes:
    """A JPEG of noise (so every call differs unless seeded) with DateTimeOriginal when given."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    exif = Image.Exif()
    if taken is not None:
        sub = exif.get_ifd(0x8769)
        sub[36867] = taken.strftime("%Y:%m:%d %H:%M:%S")
        if offset:
            sub[36881] = offset
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def png(width: int = 32, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def with_exif(
    fmt: str = "JPEG",
    *,
    ifd0: dict[int, object] | None = None,
    exif_ifd: dict[int, object] | None = None,
    seed: int = 0,
) -> bytes:
    """A small photo (JPEG or HEIF) of noise with exactly these EXIF tags (IFD0 and the Exif IFD)."""
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (64, 48), rng.randbytes(64 * 48 * 3))
    exif = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    sub = exif.get_ifd(0x8769)
    for tag, value in (exif_ifd or {}).items():
        sub[tag] = value
    out = io.BytesIO()
    image.save(out, fmt, quality=85, exif=exif.tobytes())
    return out.getvalue()
