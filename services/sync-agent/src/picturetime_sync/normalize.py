"""No flicker: each frame's exposure and white balance pulled toward a slowly moving reference of the face.

Daily photos differ in exposure and white balance; played at 24 a second that flickers. The aligner
puts the eyes at fixed points of every frame (ARCHITECTURE.md, the alignment contract), so the same
rectangle of every frame holds the face. For each frame we measure the face's median linear R, G, B
(in logs, so an exposure or white-balance change is an offset); the reference of a frame is a robust
level-and-trend fit over the previous WINDOW frames (causal: appending days never changes the
corrections of earlier frames, so an append still encodes only the new frames). Each frame then gets
one gain per channel in linear light that brings its face onto the reference: a global curve, applied
through a 256-entry table per channel, so there is no halo (nothing spatial) and no banding beyond
the 8-bit steps of the gain itself. A real change that lasts (a tan, a new haircut's shade, grey hair)
moves the reference with it and stays; a one-day swing is taken out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

NORMALIZE = ("none", "face")
EYE_LINE = 0.42  # the aligner's default eye line, a fraction of the frame height
EYE_DISTANCE = 0.28  # ... and distance between the eyes, a fraction of the frame width
WINDOW = 61  # frames in the reference fit (about two months of days)
ITER = 2
MIN_TREND = 8  # fewer frames than this: the reference is their median, no trend
MAX_EV = 2.0  # no correction beyond ±2 EV per channel (a frame that far off is not exposure)
STATS_SCALE = 8  # face statistics come from an up to 1/8 scale decode (libjpeg's DCT scaling: cheap)
STATS_WIDTH = 128  # ... at least this wide, so that the face is some 40 pixels across

_SRGB = np.arange(256, dtype=np.float64) / 255.0
_LINEAR = np.where(_SRGB <= 0.04045, _SRGB / 12.92, ((_SRGB + 0.055) / 1.055) ** 2.4)


def face_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The inner face (brows to mouth, cheek to cheek) in a frame aligned to the contract."""
    d = EYE_DISTANCE * width
    cx, ey = width / 2, EYE_LINE * height
    box = (cx - 0.6 * d, ey - 0.3 * d, cx + 0.6 * d, ey + 1.2 * d)
    x0, y0, x1, y1 = (round(v) for v in box)
    return max(0, x0), max(0, y0), min(width, max(x0 + 1, x1)), min(height, max(y0 + 1, y1))


def face_stats(rgb: np.ndarray) -> list[float] | None:
    """log of the face region's median linear R, G, B; None when the face is black or clipped."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = face_box(w, h)
    region = rgb[y0:y1, x0:x1].reshape(-1, 3)
    med = _LINEAR[np.median(region, axis=0).astype(np.intp)]
    if (med <= 1e-4).any() or (med >= 0.999).any():
        return None
    return [round(math.log(v), 5) for v in med]


def frame_stats(path: Path, size: tuple[int, int]) -> list[float] | None:
    """face_stats of a frame file as the encoder will see it (cover-fit to `size`), from a small decode."""
    scale = max(1, min(STATS_SCALE, size[0] // STATS_WIDTH))
    small = (max(8, size[0] // scale), max(8, size[1] // scale))
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", small)
            upright = ImageOps.exif_transpose(img).convert("RGB")
            fitted = ImageOps.fit(upright, small, Image.Resampling.BILINEAR)
            return face_stats(np.asarray(fitted))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def reference_gains(
    stats: Sequence[Sequence[float] | None], previous: Sequence[list[float] | None] = ()
) -> list[list[float] | None]:
    """Per frame, the log gain per channel that moves its face onto the reference (None: no stats).

    `previous` holds the gains of the leading frames whose statistics are unchanged since they were
    computed: the reference is causal, so those stay as they were (an append fits only its new days)."""
    n = len(stats)
    values = np.full((n, 3), np.nan)
    for i, s in enumerate(stats):
        if s is not None:
            values[i] = s
    ok = ~np.isnan(values[:, 0])
    index = np.flatnonzero(ok)
    gains: list[list[float] | None] = [None] * n
    limit = MAX_EV * math.log(2)
    # The first WINDOW frames share one window, which moves until there are that many.
    keep = len(previous) if int(ok[: len(previous)].sum()) >= WINDOW else 0
    gains[:keep] = previous[:keep]
    for k, i in enumerate(index):
        if i < keep:
            continue
        # the WINDOW measured frames up to this one; the first ones share the first window
        lo = max(0, k - WINDOW + 1) if k >= WINDOW - 1 else 0
        hi = lo + min(WINDOW, len(index))
        ref = _robust_line(values[index[lo:hi]], k - lo)
        g = np.clip(ref - values[i], -limit, limit)
        gains[i] = [round(float(v), 4) for v in g]
    return gains


def _robust_line(window: np.ndarray, at: int) -> np.ndarray:
    """A least-squares line through the window's values (per channel), refitted without outlier days, at `at`."""
    m = len(window)
    if m < MIN_TREND:
        return np.median(window, axis=0)
    x = np.arange(m, dtype=np.float64)
    design = np.stack([np.ones(m), x - x.mean()], axis=1)
    weights = np.ones((m, 1))
    for _ in range(ITER):
        coef = np.linalg.lstsq(design * weights, window * weights, rcond=None)[0]
        residual = np.abs(window - design @ coef).max(axis=1, keepdims=True)
        scale = 3.0 * max(float(np.median(residual)), 1e-3)
        weights = (residual <= scale).astype(np.float64)  # a day far off every other is not the trend
    return coef[0] + coef[1] * (at - x.mean())


def gain_tables(log_gains: Sequence[float]) -> list[int]:
    """PIL `point` tables (R, G, B concatenated) applying each gain in linear light."""
    table: list[int] = []
    for lg in log_gains:
        lin = np.clip(_LINEAR * math.exp(lg), 0.0, 1.0)
        srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)
        table.extend(np.clip(np.rint(srgb * 255), 0, 255).astype(np.uint8).tolist())
    return table


def apply_gains(rgb: np.ndarray, log_gains: Sequence[float] | None) -> np.ndarray:
    """The frame with its per-channel gains applied (unchanged when there are none, or all are 0)."""
    if log_gains is None or not any(log_gains):
        return rgb
    return np.asarray(Image.fromarray(rgb).point(gain_tables(log_gains)))
