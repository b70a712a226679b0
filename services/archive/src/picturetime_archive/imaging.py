"""Decode a photo for a rendition without ever holding all its pixels.

JPEG, PNG and WebP go through libvips' `thumbnail`: JPEG and WebP are decoded already reduced
(shrink-on-load), and PNG is read in strips and shrunk as it streams, so memory follows the width of
the image and of the rendition, not its pixel count. HEIC goes through pillow-heif, which can only
decode a whole image: it is refused above `max_whole_pixels`, and the caller runs it alone. Nothing
above `max_pixels` is decoded at all: a catalog row may predate the gateway's upload limit.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import pyvips

log = logging.getLogger(__name__)

# Renditions are made once and kept: caching decoded images between calls would only hold memory.
pyvips.cache_set_max(0)
# Only libvips' own, fuzzed loaders (no ImageMagick, MATLAB, …), whatever the file claims to be.
pyvips.block_untrusted_set(True)

STREAMED = {"jpegload": "jpeg", "pngload": "png", "webpload": "webp"}
WHOLE = {"heifload": "heif"}


class Unrenderable(Exception):
    """A source no rendition can be made of; `reason` is a short code for logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Probe:
    """What the header says: the format and the size, before any pixel is decoded."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_whole(self) -> bool:
        """Whether decoding holds every pixel at once (HEIC), so it must run alone."""
        return self.format in WHOLE.values()


def probe(path: Path, *, max_pixels: int, max_whole_pixels: int) -> Probe:
    """Read the header only; refuse what is not a photo or too large to decode."""
    try:
        header = pyvips.Image.new_from_file(str(path))
        loader = str(header.get("vips-loader"))
        found = Probe(STREAMED.get(loader) or WHOLE.get(loader) or loader, header.width, header.height)
    except pyvips.Error:
        found = _probe_with_pillow(path)
    if found.format not in (*STREAMED.values(), *WHOLE.values()):
        raise Unrenderable("unsupported_format", f"{found.format} is not a photo format")
    limit = max_whole_pixels if found.decoded_whole else max_pixels
    if found.pixels > limit:
        raise Unrenderable(
            "too_many_pixels", f"{found.width}x{found.height} ({found.format}) is above {limit} pixels"
        )
    return found


def _probe_with_pillow(path: Path) -> Probe:
    """libvips builds without an HEVC decoder cannot read HEIC headers: Pillow (pillow-heif) can."""
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind = "heif" if image.format in ("HEIF", "HEIC") else str(image.format).lower()
                return Probe(kind, image.width, image.height)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise Unrenderable("undecodable", str(exc)) from exc


def render(path: Path, found: Probe, width: int, fmt: str) -> bytes:
    """Upright (EXIF orientation applied), at most `width` wide (never enlarged), without EXIF."""
    if found.decoded_whole:
        return _render_whole(path, width, fmt)
    try:
        # The height bound is only there because libvips needs one: the width decides.
        image = pyvips.Image.thumbnail(str(path), width, height=10_000_000, size="down", fail_on="truncated")
        if image.interpretation != "srgb":  # 16-bit, greyscale, CMYK: 8-bit sRGB for browsers
            image = image.colourspace("srgb")
        if fmt == "jpg":
            if image.hasalpha():
                image = image.flatten(background=[255, 255, 255])
            # EXIF is dropped on purpose: it may hold the location, which stays private.
            return bytes(image.jpegsave_buffer(Q=82, optimize_coding=True, interlace=True, keep="icc"))
        return bytes(image.webpsave_buffer(Q=80, effort=4, keep="icc"))
    except pyvips.Error as exc:
        raise Unrenderable("undecodable", str(exc).strip().splitlines()[-1]) from exc


def _render_whole(path: Path, width: int, fmt: str) -> bytes:
    import io

    from PIL import Image, ImageOps

    _register_heif()
    try:
        with warnings.catch_warnings():
            # probe() bounded the pixel count; Pillow's own threshold is lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                icc = image.info.get("icc_profile")
                picture = ImageOps.exif_transpose(image)
                picture = picture.convert("RGB") if picture.mode != "RGB" else picture
    except (OSError, ValueError) as exc:
        raise Unrenderable("undecodable", str(exc)) from exc
    new_width = max(1, min(width, picture.width))
    if new_width != picture.width:
        size = (new_width, max(1, round(picture.height * new_width / picture.width)))
        picture = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    if fmt == "webp":
        picture.save(out, "WEBP", quality=80, method=4, icc_profile=icc)
    else:
        picture.save(out, "JPEG", quality=82, optimize=True, progressive=True, icc_profile=icc)
    return out.getvalue()


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
