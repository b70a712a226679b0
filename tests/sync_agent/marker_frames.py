"""Synthetic frames with a decodable marker (the frame number as black/white bands)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

BITS = 8  # frame numbers 0..255 as 8 horizontal bands (survive cover-fit crops of the width)
W, H = 1080, 1350


def marker_image(number: int, size: tuple[int, int] = (W, H)) -> Image.Image:
    """An RGB image whose horizontal bands spell `number` in binary (white = 1, black = 0)."""
    w, h = size
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    for bit in range(BITS):
        if number >> bit & 1:
            arr[bit * h // BITS : (bit + 1) * h // BITS] = 255
    return Image.fromarray(arr)


def read_marker(rgb: np.ndarray) -> int:
    """Decode the number drawn by marker_image from a decoded video frame."""
    h = rgb.shape[0]
    number = 0
    for bit in range(BITS):
        band = rgb[bit * h // BITS : (bit + 1) * h // BITS]
        # the centre half of each band, away from chroma bleeding at the edges
        q = band.shape[0] // 4
        if band[q:-q, :, 1].mean() > 128:
            number |= 1 << bit
    return number


def write_frame(path: Path, number: int, size: tuple[int, int] = (W, H)) -> Path:
    """Save a marker frame as JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    marker_image(number, size).save(path, quality=90)
    return path
