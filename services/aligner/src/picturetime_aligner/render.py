"""Warping a photo onto the output canvas by a similarity matrix, and encoding the frame."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .decode import ImageSource, Level
from .geometry import apply, as_affine, compose, invert, scale_about, scale_of, similarity
from .models import AlignmentSettings

# Render from the coarsest decode whose pixels are dense enough at output scale: a reduced
# (DCT-scaled) decode may be upscaled by up to this factor, which is invisible in the frame and
# saves most of the decode's IDCT and colour work (a 12 MP selfie whose face needs scale 0.56 is
# decoded at 1/2 and upscaled 1.12 times).
MAX_UPSCALE = 1.25
# ... and a decode already made (for detection) is used up to this factor rather than decoding
# again finer: a face at the border between two levels costs one decode, not two.
REUSE_UPSCALE = 1.45
# Below this scale a bilinear warp skips source pixels; the source is box-halved first.
MIN_WARP_SCALE = 0.5
BG_REDUCTION = 8  # the blurred background is computed at 1/8 of the canvas
BG_SIGMA = 3.0  # ... and blurred with this sigma there (about 24 output pixels)
MAX_BG_ZOOM = 4.0


def warp(
    level: Level,
    matrix: np.ndarray,
    dsize: tuple[int, int],
    border_mode: int = cv2.BORDER_REPLICATE,
    border_value=(0, 0, 0),
    dst: np.ndarray | None = None,
) -> np.ndarray:
    """warpAffine a level by a full-resolution -> destination matrix, shrinking first if needed."""
    m = compose(as_affine(matrix), level.to_full)
    s = scale_of(m)
    if s < MIN_WARP_SCALE:
        # Bilinear sampling aliases below 1/2; box-halve the source until it does not.
        level = level.halved(math.floor(math.log2(1.0 / s)))
        m = compose(as_affine(matrix), level.to_full)
    flags = cv2.INTER_LINEAR
    if dst is not None:
        return cv2.warpAffine(level.image, m, dsize, dst=dst, flags=flags, borderMode=border_mode)
    return cv2.warpAffine(
        level.image, m, dsize, flags=flags, borderMode=border_mode, borderValue=border_value
    )


def needed_reduction(source: ImageSource, matrix: np.ndarray, max_upscale: float = MAX_UPSCALE) -> int:
    """The largest decode reduction whose pixels are still dense enough for the output."""
    s = scale_of(matrix)
    fits = [r for r in source.reductions() if s * r <= max_upscale]
    return max(fits, default=1)


def _cover_zoom(matrix: np.ndarray, image_size: tuple[int, int], dsize: tuple[int, int]) -> float:
    """Smallest zoom about the canvas centre after which the whole canvas shows the image."""
    w, h = image_size
    inv = invert(matrix)
    centre = ((dsize[0] - 1) / 2, (dsize[1] - 1) / 2)
    p0 = apply(inv, centre)
    if not (0 <= p0[0] <= w - 1 and 0 <= p0[1] <= h - 1):
        return MAX_BG_ZOOM
    corners = np.array([[0, 0], [dsize[0] - 1, 0], [0, dsize[1] - 1], [dsize[0] - 1, dsize[1] - 1]], float)
    inv_k = 1.0
    for v in apply(inv, corners) - p0:
        for d, lo, hi in ((v[0], -p0[0], w - 1 - p0[0]), (v[1], -p0[1], h - 1 - p0[1])):
            if d > 1e-9:
                inv_k = min(inv_k, hi / d)
            elif d < -1e-9:
                inv_k = min(inv_k, lo / d)
    return min(MAX_BG_ZOOM, 1.0 / max(inv_k, 1.0 / MAX_BG_ZOOM))


def _covers(matrix: np.ndarray, image_size: tuple[int, int], dsize: tuple[int, int]) -> bool:
    """Whether every canvas pixel samples inside the photo (corners suffice for an affine map)."""
    w, h = image_size
    corners = np.array([[0, 0], [dsize[0] - 1, 0], [0, dsize[1] - 1], [dsize[0] - 1, dsize[1] - 1]], float)
    src = apply(invert(matrix), corners)
    margin = 4.0  # full-resolution pixels: a reduced decode's outermost pixel centres sit inside the edge
    return bool(
        (src >= margin).all() and (src[:, 0] <= w - 1 - margin).all() and (src[:, 1] <= h - 1 - margin).all()
    )


def blurred_background(level: Level, matrix: np.ndarray, full_size, dsize: tuple[int, int]) -> np.ndarray:
    """A blurred copy of the photo, zoomed to cover the canvas, computed at low resolution."""
    w, h = dsize
    bw, bh = max(8, round(w / BG_REDUCTION)), max(8, round(h / BG_REDUCTION))
    zoom = _cover_zoom(matrix, full_size, dsize)
    to_small = np.array([[bw / w, 0, 0.5 * bw / w - 0.5], [0, bh / h, 0.5 * bh / h - 0.5]])
    centre = ((w - 1) / 2, (h - 1) / 2)
    m = compose(to_small, scale_about(zoom, centre), matrix, level.to_full)
    # No prefilter: point-sampling aliasing is averaged away by the blur, and this stays cheap.
    small = cv2.warpAffine(level.image, m, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    small = cv2.GaussianBlur(small, (0, 0), BG_SIGMA, borderType=cv2.BORDER_REFLECT101)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def render(source: ImageSource, matrix, settings: AlignmentSettings) -> np.ndarray:
    """Render the aligned BGR frame for a full-resolution-upright -> output matrix."""
    m = as_affine(matrix)
    dsize = settings.size
    level = source.finest_needed(needed_reduction(source, m), needed_reduction(source, m, REUSE_UPSCALE))
    if settings.background == "solid":
        r, g, b = settings.fill
        return warp(level, m, dsize, cv2.BORDER_CONSTANT, (b, g, r))
    if settings.background == "edge" or _covers(m, source.size, dsize):
        # When the photo covers the whole canvas there is no border to fill: skip the background.
        return warp(level, m, dsize, cv2.BORDER_REPLICATE)
    # The background is sampled at 1/8 of the canvas from a box-halved copy (already cached when
    # the aligner detected on it), so aligning and re-rendering give the same pixels.
    s_bg = scale_of(compose(m, level.to_full)) / BG_REDUCTION
    halvings = max(0, math.floor(math.log2(0.25 / s_bg))) if s_bg < 0.25 else 0
    canvas = blurred_background(level.halved(halvings), m, source.size, dsize)
    return warp(level, m, dsize, cv2.BORDER_TRANSPARENT, dst=canvas)


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    """Encode a BGR frame as baseline JPEG."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def rescale_matrix(matrix, from_settings: AlignmentSettings, to_settings: AlignmentSettings) -> np.ndarray:
    """Convert a stored matrix to other output settings (size, eye line, eye distance)."""
    # The stored matrix puts the eyes exactly on from_settings' targets, so inverting it recovers
    # the eye points; a new similarity then puts them on the new targets. Works for any aspect.
    m = as_affine(matrix)
    left, right = apply(invert(m), np.array(from_settings.target_eyes()))
    return similarity(tuple(left), tuple(right), *to_settings.target_eyes())


def render_frame(image_bytes: bytes, matrix, settings: AlignmentSettings) -> bytes:
    """Re-render a frame from the original bytes and a stored matrix, without detecting again.

    The matrix must be for ``settings``' output size; to render at another size or eye
    placement, convert it first with ``rescale_matrix(matrix, stored_settings, settings)``
    (for the same aspect ratio and eye fractions that is just a uniform scale of the canvas).
    Raises ``UndecodableImage`` (a ValueError) for bytes that are not an image.
    """
    source = ImageSource(image_bytes)
    # One decode at the resolution the output needs; the background is sampled from it too.
    frame = render(source, as_affine(matrix), settings)
    return encode_jpeg(frame, settings.jpeg_quality)
