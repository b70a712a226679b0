"""Decoding with EXIF orientation applied, at the lowest resolution that does the job."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import pillow_heif
import simplejpeg
from PIL import Image, UnidentifiedImageError

from .geometry import compose, invert, orientation_affine

EXIF_ORIENTATION = 0x0112
# libjpeg scales the IDCT by these factors, so a reduced JPEG decode costs much less than a full one.
JPEG_REDUCTIONS = (1, 2, 4, 8)
_CV2_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


# Phones send HEIC; the library reads it whoever calls it (the service, the backfill job, the CLI).
pillow_heif.register_heif_opener()


class UndecodableImage(ValueError):
    """The bytes are not an image this service can decode."""


@dataclass(frozen=True)
class Level:
    """One decoded copy of the image, upright, with its mapping to full-resolution upright pixels."""

    image: np.ndarray  # BGR uint8, upright
    reduction: int  # 1 = full resolution
    to_full: np.ndarray  # 2x3: level pixels -> full-resolution upright pixels
    _halves: dict = field(default_factory=dict, compare=False, repr=False)

    def halved(self, times: int) -> Level:
        """This level box-filtered down by 2**times (cached): a cheap, alias-free shrink."""
        if times <= 0:
            return self
        if times not in self._halves:
            parent = self.halved(times - 1)
            h, w = parent.image.shape[:2]
            if w < 2 or h < 2:
                return parent
            # An exact halving with INTER_AREA is a 2x2 box average, pixel u covering [2u, 2u+2).
            even = parent.image[: h // 2 * 2, : w // 2 * 2]
            small = cv2.resize(even, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            to_parent = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5]])
            self._halves[times] = Level(small, parent.reduction * 2, compose(parent.to_full, to_parent))
        return self._halves[times]


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to pixel data (the inverse of what the camera stored)."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(image), -1)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def _reduced_to_raw(r: int) -> np.ndarray:
    # A reduced pixel i averages raw pixels [i*r, (i+1)*r), so its centre is at i*r + (r-1)/2.
    return np.array([[r, 0.0, (r - 1) / 2], [0.0, r, (r - 1) / 2]])


class ImageSource:
    """Lazily decodes one encoded image at the reductions asked for, caching each."""

    def __init__(self, data: bytes):
        if not data:
            raise UndecodableImage("empty input")
        self._data = data
        self._buf = np.frombuffer(data, dtype=np.uint8)
        self._levels: dict[int, Level] = {}
        try:
            # Opening is lazy: it reads the header and EXIF only, no pixels.
            with Image.open(io.BytesIO(data)) as im:
                self.format = im.format or ""
                self.raw_size = im.size
                try:
                    orientation = int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
                except Exception:
                    orientation = 1  # corrupt EXIF must not make a good picture unusable
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise UndecodableImage("undecodable") from exc
        self.orientation = orientation if 1 <= orientation <= 8 else 1
        self._raw_to_upright, self.size = orientation_affine(self.orientation, *self.raw_size)

    @property
    def is_jpeg(self) -> bool:
        """Whether reduced decodes are cheap (JPEG DCT scaling)."""
        return self.format == "JPEG"

    def reductions(self) -> tuple[int, ...]:
        """Reductions that are cheaper to decode than the full image."""
        return JPEG_REDUCTIONS if self.is_jpeg else (1,)

    def decoded(self) -> list[Level]:
        """Levels decoded so far, finest first."""
        return [self._levels[r] for r in sorted(self._levels)]

    def level(self, reduction: int) -> Level:
        """Decode (or reuse) the image at a reduction; formats without DCT scaling give full size."""
        r = max((x for x in self.reductions() if x <= max(1, reduction)), default=1)
        if r not in self._levels:
            self._levels[r] = self._decode(r)
        return self._levels[r]

    def finest_needed(self, max_reduction: int, tolerated: int | None = None) -> Level:
        """The coarsest already-decoded level at least as fine as max_reduction, else the finest
        decoded one at least as fine as ``tolerated`` (a coarser level that is still good
        enough, so that a borderline face is not decoded twice), else decode max_reduction."""
        usable = [lv for lv in self.decoded() if lv.reduction <= max_reduction]
        if usable:
            return usable[-1]
        near = [lv for lv in self.decoded() if lv.reduction <= (tolerated or 0)]
        return near[0] if near else self.level(max_reduction)

    def _decode(self, r: int) -> Level:
        raw = self._decode_jpeg(r) if self.is_jpeg else None
        if raw is None and self.format in ("JPEG", "PNG", "WEBP", "BMP", "TIFF"):
            raw = cv2.imdecode(self._buf, _CV2_REDUCED[r] | cv2.IMREAD_IGNORE_ORIENTATION)
        if raw is None:
            raw = self._decode_pil(r)
        if raw is None and r > 1:
            return self._decode(1)
        if raw is None or raw.size == 0:
            raise UndecodableImage("undecodable")
        h, w = raw.shape[:2]
        actual_r = self.raw_size[0] / w
        if r > 1 and not math.isclose(actual_r, r, rel_tol=0.2):
            r = max(1, round(actual_r))
        level_orient, _ = orientation_affine(self.orientation, w, h)
        to_full = compose(self._raw_to_upright, _reduced_to_raw(r), invert(level_orient))
        return Level(np.ascontiguousarray(orient(raw, self.orientation)), r, to_full)

    def _decode_jpeg(self, r: int) -> np.ndarray | None:
        """libjpeg-turbo through simplejpeg: the same pixels as OpenCV's decoder, about a sixth
        faster; None for what it cannot decode (CMYK, say), which OpenCV or Pillow then try."""
        w, h = self.raw_size
        try:  # the smallest DCT scale whose output is at least 1/r of the image: exactly 1/r
            return simplejpeg.decode_jpeg(
                self._data, colorspace="BGR", min_width=math.ceil(w / r), min_height=math.ceil(h / r)
            )
        except (ValueError, RuntimeError):
            return None

    def _decode_pil(self, r: int) -> np.ndarray | None:
        try:
            with Image.open(io.BytesIO(self._data)) as im:
                if r > 1:
                    im.draft("RGB", (im.size[0] // r, im.size[1] // r))
                rgb = np.asarray(im.convert("RGB"))
        except Exception:
            return None
        if r > 1 and rgb.shape[1] != math.ceil(self.raw_size[0] / r):
            return None  # draft did not scale exactly; the caller falls back to full size
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
